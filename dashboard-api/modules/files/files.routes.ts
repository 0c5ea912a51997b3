import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import { z } from 'zod';
import type { KeyStore } from '../../../src/keys/key-store.ts';
import { keyPrincipal } from '../../../src/objects/principal.ts';
import { parseRange } from '../../../src/storage/conditions.ts';
import type { GetObjectOutput } from '../../../src/storage/storage-backend.ts';
import { jsonError } from '../../errors.ts';
import { defineOperation } from '../../openapi/operations.ts';
import { parseParams, parseQuery } from '../../validation.ts';
import { apiKeyAuth, type ApiKeyVariables } from './api-key.middleware.ts';
import { invalidUploadError, lengthRequiredError } from './files.errors.ts';
import type { FileInfo, FilesPrincipal, FilesUsecases } from './files.usecases.ts';
import { readFilePart } from './multipart-upload.ts';
import { clientSignal } from '../../../src/http/client-signal.ts';
import { detachableBody } from '../../../src/http/link-streams.ts';

type FilesEnv = { Bindings: Partial<HttpBindings>; Variables: ApiKeyVariables & { requestId: string } };

const fileSchema = z.object({
  id: z.string().describe('Stable and opaque: the same for the life of the bucket and key, overwrites included, and for objects uploaded through S3.'),
  key: z.string(),
  bucket: z.string(),
  size: z.number().int(),
  contentType: z.string(),
  etag: z.string().describe('The S3 ETag without quotes.'),
  updatedAt: z.iso.datetime(),
});
const idParams = z.object({ id: z.string().min(1).max(2048) });

export const filesOperations = {
  upload: defineOperation({
    method: 'post',
    path: '/api/v1/files',
    tag: 'Files (Simple REST API)',
    auth: 'apiKey',
    summary: 'Upload a file: multipart form-data (part `file`) or a raw body named by `key`.',
    description:
      'The body is streamed to storage, never buffered. A Content-Length is required: the upload reserves that much quota ' +
      "(minus the size of the file it replaces) before its body is read. The file key is `key`, else the form part's file " +
      "name. The content type is the part's (multipart) or the request's (raw). Uploading to an existing key replaces the file.",
    query: z.object({
      bucket: z.string().min(1).max(63).default('default'),
      key: z.string().min(1).max(1024).optional().describe('The file key; required for raw bodies.'),
    }),
    rawBody: { contentTypes: ['multipart/form-data', 'application/octet-stream'], description: 'A form with a `file` part, or the file itself.' },
    responses: {
      201: { description: 'Stored.', schema: fileSchema.extend({ createdAt: z.iso.datetime() }) },
      400: { description: '`files.invalid_upload`: no `file` part, no key, a malformed form or a short body.' },
      403: { description: "`files.access_denied`: outside the key's scope." },
      404: { description: '`buckets.not_found`.' },
      411: { description: '`files.length_required`.' },
      413: {
        description:
          '`files.quota_exceeded`: the upload would exceed the storage quota (checked before the body and again, against the file it ' +
          'actually replaces, before it is stored) or MAX_OBJECTS_PER_ACCOUNT; nothing is stored and an existing file is kept.',
      },
      429: { description: '`files.too_many_uploads`: the account already has MAX_CONCURRENT_UPLOADS_PER_ACCOUNT uploads in progress (S3 and file API together).' },
    },
  }),
  list: defineOperation({
    method: 'get',
    path: '/api/v1/files',
    tag: 'Files (Simple REST API)',
    auth: 'apiKey',
    summary: "List a bucket's files in key order, a page at a time.",
    description: 'Pass `cursor` from one page to get the next. Without `prefix`, a prefix-scoped key lists its own prefix.',
    query: z.object({
      bucket: z.string().min(1).max(63).default('default'),
      prefix: z.string().max(1024).optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      cursor: z.string().min(1).max(2048).optional(),
    }),
    responses: {
      200: { description: 'One page.', schema: z.object({ files: z.array(fileSchema), hasMore: z.boolean(), cursor: z.string().nullable() }) },
      400: { description: '`invalid_request` or `files.invalid_cursor`.' },
      403: { description: '`files.access_denied`.' },
      404: { description: '`buckets.not_found`.' },
    },
  }),
  get: defineOperation({
    method: 'get',
    path: '/api/v1/files/{id}',
    tag: 'Files (Simple REST API)',
    auth: 'apiKey',
    summary: 'Download a file (streamed; one `Range` supported), or its metadata with `meta=true`.',
    params: idParams,
    query: z.object({ meta: z.enum(['true', 'false']).optional() }),
    responses: {
      200: {
        description: 'The bytes, with Content-Type, Content-Length, Content-Disposition, ETag and Accept-Ranges; with `meta=true`, the file as JSON (`fileSchema`).',
        contentType: '*/*',
      },
      206: { description: 'The requested range, with Content-Range.', contentType: '*/*' },
      403: { description: '`files.access_denied`.' },
      404: { description: '`files.not_found`.' },
      416: { description: '`files.range_not_satisfiable`, with `Content-Range: bytes */SIZE`.' },
    },
  }),
  remove: defineOperation({
    method: 'delete',
    path: '/api/v1/files/{id}',
    tag: 'Files (Simple REST API)',
    auth: 'apiKey',
    summary: 'Delete a file: it moves to the trash (`GET /api/trash`), restorable until purged; `permanent=true` deletes it for good.',
    params: idParams,
    query: z.object({ permanent: z.enum(['true', 'false']).optional() }),
    responses: {
      200: {
        description: 'Deleted (`trashId`: its entry in the trash, absent for a permanent delete).',
        schema: z.object({ success: z.literal(true), trashId: z.string().optional() }),
      },
      403: { description: '`files.access_denied`.' },
      404: { description: '`files.not_found`.' },
    },
  }),
};

const fileJson = (file: FileInfo) => ({
  id: file.id,
  key: file.key,
  bucket: file.bucket,
  size: file.size,
  contentType: file.contentType,
  etag: file.etag,
  updatedAt: file.updatedAt,
});

/** The request body as a Node stream: straight from the socket under @hono/node-server, else from the web body. */
function requestBody(c: Context<FilesEnv>): Readable {
  const incoming = c.env?.incoming;
  if (incoming) return incoming;
  return c.req.raw.body ? Readable.fromWeb(c.req.raw.body as NodeWebReadableStream) : Readable.from([]);
}

/** A client that went away mid-upload is no server failure to log: nothing was stored, and nobody reads the answer. */
function cutShort(source: Readable) {
  return source.destroyed && !source.readableEnded ? invalidUploadError('The request ended before the upload was complete; nothing was stored.') : undefined;
}

/**
 * RFC 6266: an ASCII `filename` for old clients (anything else replaced), and `filename*` with the
 * exact UTF-8 name when it is not plain ASCII.
 */
export function contentDisposition(key: string): string {
  const name = key.slice(key.lastIndexOf('/') + 1) || 'download';
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  if (ascii === name) return `attachment; filename="${name}"`;
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * An object read (one range, when one was asked) as the response to a download: 206 with its
 * Content-Range, else 200; `headers` (the caller's) gain the Content-Length. `size` is the whole object's.
 */
export function objectBodyResponse(object: GetObjectOutput, size: number, headers: Record<string, string>): Response {
  let status = 200;
  if (object.range) {
    status = 206;
    headers['Content-Range'] = `bytes ${object.range.start}-${object.range.end}/${size}`;
    headers['Content-Length'] = String(object.range.end - object.range.start + 1);
  } else {
    headers['Content-Length'] = String(size);
  }
  // Streamed with backpressure by @hono/node-server; a client that goes away cancels the stream, closing the file.
  const body = object.bytes ? (object.bytes as Uint8Array<ArrayBuffer>) : (Readable.toWeb(object.body) as unknown as ReadableStream<Uint8Array<ArrayBuffer>>);
  return new Response(body, { status, headers });
}

function downloadHeaders(file: FileInfo): Record<string, string> {
  return {
    'Content-Type': file.contentType,
    'Content-Disposition': contentDisposition(file.key),
    ETag: `"${file.etag}"`,
    'Last-Modified': file.updatedAt.toUTCString(),
    'Accept-Ranges': 'bytes',
    // Authenticated content: no shared cache may keep it; a stored content type must not be sniffed into HTML.
    'Cache-Control': 'private',
    'X-Content-Type-Options': 'nosniff',
  };
}

/**
 * `/api/v1/files`: the Simple REST API, authenticated by an access key pair (`X-API-Key` or
 * `Authorization: Bearer`, see api-key.middleware.ts) and bound by that key's scope. Thin
 * handlers: parse, call the files use cases, format.
 */
export function createFilesRoutes(deps: { files: FilesUsecases; keyStore: KeyStore }) {
  const { files } = deps;
  const app = new Hono<FilesEnv>();
  app.use('*', apiKeyAuth(deps.keyStore));
  const principalOf = (c: Context<FilesEnv>): FilesPrincipal => keyPrincipal(c.get('apiKey'), c.env?.incoming?.socket.remoteAddress);
  /** Aborts when the client goes away before the response finished: the backend work it started is cancelled. */
  const signalOf = (c: Context<FilesEnv>): AbortSignal | undefined => (c.env?.incoming && c.env.outgoing ? clientSignal(c.env.incoming, c.env.outgoing) : undefined);

  app.post('/', async (c) => {
    const query = parseQuery(c, filesOperations.upload.query);
    if (!query.ok) return query.response;
    const declared = c.req.header('content-length');
    if (declared === undefined || !/^\d{1,15}$/.test(declared)) throw lengthRequiredError();
    const length = Number(declared);
    const contentType = c.req.header('content-type') ?? 'application/octet-stream';
    const { bucket, key } = query.value;

    const source = requestBody(c);
    if (/^multipart\/form-data\b/i.test(contentType)) {
      const part = await readFilePart(source, contentType);
      let file;
      try {
        const name = key ?? part.filename;
        if (name === undefined) throw invalidUploadError('Name the file: give the "file" part a filename, or pass the key query parameter.');
        // The whole request length is an upper bound of the part's size: the quota holds before any byte is stored.
        file = await files.upload(principalOf(c), { bucket, key: name, body: part.stream, reserveBytes: length, contentType: part.contentType, signal: signalOf(c) });
      } catch (error) {
        part.discard();
        throw cutShort(source) ?? part.formError() ?? error;
      }
      // The file is stored once its part ended; what follows it in the form changes nothing.
      await part.finished.catch(() => undefined);
      return c.json({ ...fileJson(file), createdAt: file.createdAt }, 201);
    }

    if (key === undefined) throw invalidUploadError('A raw upload needs the key query parameter (or send multipart/form-data with a "file" part).');
    // The body through a stage of its own (a backend failing partway destroys what it reads, and the
    // request must survive to carry the error), opened only once the upload is accepted: a refused
    // request's body is then never touched, and Node drains it.
    const file = await files
      .upload(principalOf(c), { bucket, key, body: () => detachableBody(source), size: length, reserveBytes: length, contentType, signal: signalOf(c) })
      .catch((error: unknown) => {
        throw cutShort(source) ?? error;
      });
    return c.json({ ...fileJson(file), createdAt: file.createdAt }, 201);
  });

  app.get('/', async (c) => {
    const query = parseQuery(c, filesOperations.list.query);
    if (!query.ok) return query.response;
    const page = await files.list(principalOf(c), { ...query.value, signal: signalOf(c) });
    return c.json({ files: page.files.map(fileJson), hasMore: page.hasMore, cursor: page.cursor });
  });

  app.get('/:id', async (c) => {
    const params = parseParams(c, filesOperations.get.params);
    if (!params.ok) return params.response;
    const query = parseQuery(c, filesOperations.get.query);
    if (!query.ok) return query.response;
    const principal = principalOf(c);
    const signal = signalOf(c);
    if (query.value.meta === 'true') return c.json(fileJson(await files.head(principal, params.value.id, { signal })));
    if (c.req.method === 'HEAD') {
      // Hono answers HEAD with the GET route and drops the body: never open a stream nobody reads.
      const file = await files.head(principal, params.value.id, { signal });
      return new Response(null, { headers: { ...downloadHeaders(file), 'Content-Length': String(file.size) } });
    }

    const result = await files.download(principal, params.value.id, parseRange(c.req.header('range')), { signal });
    if (result.kind === 'unsatisfiable') {
      return jsonError(c, 416, 'files.range_not_satisfiable', `The requested range is not within the file's ${result.size} bytes.`, {
        'Content-Range': `bytes */${result.size}`,
      });
    }
    const { file, object } = result;
    const headers = downloadHeaders(file);
    return objectBodyResponse(object, file.size, headers);
  });

  app.delete('/:id', async (c) => {
    const params = parseParams(c, filesOperations.remove.params);
    if (!params.ok) return params.response;
    const query = parseQuery(c, filesOperations.remove.query);
    if (!query.ok) return query.response;
    const { trashId } = await files.remove(principalOf(c), params.value.id, { signal: signalOf(c), permanent: query.value.permanent === 'true' });
    return c.json({ success: true, ...(trashId !== undefined && { trashId }) });
  });

  return app;
}
