import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import { z } from 'zod';
import { isAppError } from '../../../src/errors/app-errors.ts';
import { clientSignal } from '../../../src/http/client-signal.ts';
import type { KeyStore } from '../../../src/keys/key-store.ts';
import { keyPrincipal, sessionPrincipal, type Principal } from '../../../src/objects/principal.ts';
import { parseRange } from '../../../src/storage/conditions.ts';
import { jsonError, requestIdOf } from '../../errors.ts';
import { defineOperation } from '../../openapi/operations.ts';
import { parseBody, parseParams, parseQuery, requireQuery } from '../../validation.ts';
import type { AuthVariables } from '../auth/session.middleware.ts';
import { apiKeyAuth, apiKeyCredential, type ApiKeyVariables } from '../files/api-key.middleware.ts';
import { invalidUploadError, lengthRequiredError } from '../files/files.errors.ts';
import { contentDisposition, objectBodyResponse } from '../files/files.routes.ts';
import { readFilePart } from '../files/multipart-upload.ts';
import { renderMessagePage, renderSharePage, SHARE_PAGE_HEADERS } from './shares.page.ts';
import { EXPIRES_IN, type ExpiresIn, type ShareDownload, type SharesUsecases } from './shares.usecases.ts';

type SharesEnv = { Bindings: Partial<HttpBindings>; Variables: AuthVariables & Partial<ApiKeyVariables> & { requestId: string } };

const expiresIn = z.enum(Object.keys(EXPIRES_IN) as [ExpiresIn, ...ExpiresIn[]]);
const shareSchema = z.object({
  id: z.string(),
  code: z.string(),
  url: z.string(),
  bucket: z.string(),
  objectKey: z.string(),
  kind: z.enum(['file', 'folder']),
  fileName: z.string(),
  passwordProtected: z.boolean(),
  downloads: z.number().int(),
  views: z.number().int(),
  maxDownloads: z.number().int().nullable(),
  expiresAt: z.iso.datetime().nullable(),
  active: z.boolean(),
  createdAt: z.iso.datetime(),
});
const publicInfoSchema = z.object({
  code: z.string(),
  fileName: z.string(),
  kind: z.enum(['file', 'folder']),
  size: z.number().int().nullable(),
  contentType: z.string(),
  expiresAt: z.iso.datetime().nullable(),
  passwordProtected: z.boolean(),
  downloadsRemaining: z.number().int().nullable(),
});
const maxDownloads = z.number().int().min(1).max(1_000_000_000);
const createBody = z.object({
  bucket: z.string().min(1).max(63),
  objectKey: z.string().min(1).max(1024).describe('An object key, or a folder prefix ending in `/` (downloaded as a zip).'),
  fileName: z.string().min(1).max(255).optional(),
  /** The spec's example sends the size too; it is ignored (the object's own size is what is served). */
  fileSize: z.number().optional(),
  password: z.string().min(1).max(256).optional(),
  expiresIn: expiresIn.default('7d'),
  maxDownloads: maxDownloads.nullable().optional(),
  customSlug: z.string().min(3).max(64).optional(),
});
const updateBody = z.object({
  id: z.string().min(1).max(64),
  password: z.string().min(1).max(256).nullable().optional().describe('null removes the password.'),
  expiresIn: expiresIn.optional().describe('A new expiry counted from now.'),
  maxDownloads: maxDownloads.nullable().optional().describe('null removes the limit.'),
  active: z.boolean().optional(),
});
const uploadQuery = z.object({
  fileName: z.string().min(1).max(255).optional(),
  expiresIn: expiresIn.default('7d'),
  maxDownloads: z.coerce.number().int().min(1).max(1_000_000_000).optional(),
  customSlug: z.string().min(3).max(64).optional(),
});
const codeParams = z.object({ code: z.string().min(1).max(128) });
const downloadBody = z.object({ password: z.string().max(1024).optional() });

const PUBLIC_TAG = 'Share links (public)';
const OWNER_TAG = 'Share links';
const publicErrors = {
  404: { description: '`shares.not_found`: no such code.' },
  410: { description: '`shares.gone`: expired, download limit reached, deactivated, or what it shared is gone (deleted, owner deactivated, bucket lost).' },
  429: { description: '`shares.rate_limited` (RATE_LIMIT_SHARE_ACCESS per client address), with Retry-After.' },
};
const downloadResponses = {
  200: { description: 'The bytes (a folder share: a zip archive), with Content-Disposition naming the file.', contentType: '*/*' },
  206: { description: 'One requested range (files only), with Content-Range.', contentType: '*/*' },
  401: { description: '`shares.password_required` or `shares.wrong_password`.' },
  416: { description: '`shares.range_not_satisfiable`, with `Content-Range: bytes */SIZE`.' },
  ...publicErrors,
  429: {
    description:
      '`shares.rate_limited`: RATE_LIMIT_SHARE_ACCESS per address, or RATE_LIMIT_SHARE_PASSWORD password attempts per share and per address (checked before any hash is computed); Retry-After.',
  },
};

export const sharesOperations = {
  create: defineOperation({
    method: 'post',
    path: '/api/shares',
    tag: OWNER_TAG,
    auth: 'session',
    summary: 'Create a share link for an existing object (or a folder prefix ending in `/`). Session or API key (X-API-Key).',
    body: { schema: createBody },
    responses: {
      201: { description: 'Created.', schema: shareSchema },
      400: { description: '`invalid_request` or `shares.invalid_request`.' },
      403: { description: "`storage.forbidden`: outside the API key's scope." },
      404: { description: '`storage.not_found` (no such object), `buckets.not_found` or `shares.empty_folder`.' },
      409: { description: '`shares.slug_taken`.' },
    },
  }),
  upload: defineOperation({
    method: 'post',
    path: '/api/shares/upload',
    tag: OWNER_TAG,
    auth: 'session',
    summary: "Upload a file (multipart part `file`) into the account's `default` bucket under `shares/` and share it in one step.",
    description: 'Options in the query string; a password (never in a URL) in the `X-Share-Password` header, or set later with PATCH.',
    query: uploadQuery,
    rawBody: { contentTypes: ['multipart/form-data'], description: 'A form with a `file` part.' },
    responses: {
      201: { description: 'Uploaded and shared.', schema: shareSchema },
      400: { description: '`files.invalid_upload` or `invalid_request`.' },
      411: { description: '`files.length_required`.' },
      413: { description: '`files.quota_exceeded`.' },
    },
  }),
  list: defineOperation({
    method: 'get',
    path: '/api/shares',
    tag: OWNER_TAG,
    auth: 'session',
    summary: "The account's share links, newest first, with their counts.",
    responses: { 200: { description: 'The list.', schema: z.object({ shares: z.array(shareSchema) }) } },
  }),
  update: defineOperation({
    method: 'patch',
    path: '/api/shares',
    tag: OWNER_TAG,
    auth: 'session',
    summary: "Change a share's password, expiry, download limit or active flag.",
    body: { schema: updateBody },
    responses: { 200: { description: 'Updated.', schema: shareSchema }, 404: { description: '`shares.not_found` (also for another account’s share).' } },
  }),
  remove: defineOperation({
    method: 'delete',
    path: '/api/shares',
    tag: OWNER_TAG,
    auth: 'session',
    summary: 'Deactivate a share link (it answers 410 from then on).',
    query: z.object({ id: z.string().min(1).max(64) }),
    responses: { 200: { description: 'Deactivated.', schema: z.object({ success: z.literal(true) }) }, 404: { description: '`shares.not_found`.' } },
  }),
  apiDownload: defineOperation({
    method: 'get',
    path: '/api/shares/download',
    tag: PUBLIC_TAG,
    auth: 'none',
    summary: 'Public download by code (the spec’s endpoint); a password-protected share needs POST with the password in the body.',
    query: z.object({ code: z.string().min(1).max(128) }),
    responses: downloadResponses,
  }),
  apiDownloadPost: defineOperation({
    method: 'post',
    path: '/api/shares/download',
    tag: PUBLIC_TAG,
    auth: 'none',
    summary: 'Public download by code with the password in a JSON or form body.',
    query: z.object({ code: z.string().min(1).max(128) }),
    body: { schema: downloadBody },
    responses: downloadResponses,
  }),
  page: defineOperation({
    method: 'get',
    path: '/s/{code}',
    tag: PUBLIC_TAG,
    auth: 'none',
    summary: 'The landing page (HTML, no JavaScript, strict CSP): name, size, expiry, a password form when protected, a download button.',
    params: codeParams,
    responses: {
      200: { description: 'The page.', contentType: 'text/html' },
      404: { description: 'Unknown code (HTML).', contentType: 'text/html' },
      410: { description: 'No longer available (HTML).', contentType: 'text/html' },
    },
  }),
  info: defineOperation({
    method: 'get',
    path: '/s/{code}/info',
    tag: PUBLIC_TAG,
    auth: 'none',
    summary: 'The public facts of a share as JSON (no owner, bucket or key).',
    params: codeParams,
    responses: { 200: { description: 'The share.', schema: publicInfoSchema }, ...publicErrors },
  }),
  download: defineOperation({
    method: 'get',
    path: '/s/{code}/download',
    tag: PUBLIC_TAG,
    auth: 'none',
    summary: 'Download (Range supported). Password-protected shares need POST.',
    params: codeParams,
    responses: downloadResponses,
  }),
  downloadPost: defineOperation({
    method: 'post',
    path: '/s/{code}/download',
    tag: PUBLIC_TAG,
    auth: 'none',
    summary: 'Download with the password in the body (the landing page’s form, or JSON). Errors are HTML pages for form posts, JSON otherwise.',
    params: codeParams,
    body: { schema: downloadBody, contentType: 'application/x-www-form-urlencoded' },
    responses: downloadResponses,
  }),
};

const clientAddressOf = (c: Context<SharesEnv>) => c.env?.incoming?.socket.remoteAddress ?? 'unknown';
const signalOf = (c: Context<SharesEnv>): AbortSignal | undefined => (c.env?.incoming && c.env.outgoing ? clientSignal(c.env.incoming, c.env.outgoing) : undefined);

/** The password from a form or JSON body; undefined without one (the body is small: the API body cap applies). */
async function passwordOf(c: Context<SharesEnv>): Promise<string | undefined> {
  if (c.req.method !== 'POST') return undefined;
  const type = c.req.header('content-type') ?? '';
  if (/^application\/json\b/i.test(type)) {
    const parsed = downloadBody.safeParse(await c.req.json().catch(() => undefined));
    return parsed.success ? parsed.data.password : undefined;
  }
  if (/^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i.test(type)) {
    const form = await c.req.parseBody();
    return typeof form.password === 'string' ? form.password : undefined;
  }
  return undefined;
}

/** A browser's form post (the landing page) gets HTML pages for its errors; scripts get JSON. */
const wantsHtml = (c: Context) =>
  /^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i.test(c.req.header('content-type') ?? '') || /\btext\/html\b/.test(c.req.header('accept') ?? '');

const PAGE_TITLES: Record<number, string> = { 404: 'Link not found', 410: 'Link no longer available', 429: 'Too many requests' };

/** An AppError of the public routes as an HTML page; anything else goes on to the app's JSON error handler. */
function htmlError(c: Context<SharesEnv>, error: unknown): Response {
  if (!isAppError(error) || PAGE_TITLES[error.status] === undefined) throw error;
  const headers: Record<string, string> = { ...SHARE_PAGE_HEADERS };
  if (error.retryAfter !== undefined) headers['Retry-After'] = String(error.retryAfter);
  const message = error.status === 404 ? 'There is no share link with this address. Check the link you were given.' : error.detail;
  return c.body(renderMessagePage(PAGE_TITLES[error.status]!, message, requestIdOf(c)), error.status as ContentfulStatusCode, headers);
}

function downloadResponse(result: Exclude<ShareDownload, { kind: 'unsatisfiable' }>): Response {
  const headers: Record<string, string> = {
    'Content-Disposition': contentDisposition(result.fileName),
    // Public bytes of someone's account: never rendered as a page of ours, never cached by a shared cache.
    'Content-Security-Policy': "sandbox; default-src 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'private, no-store',
    'Referrer-Policy': 'no-referrer',
  };
  if (result.kind === 'zip') {
    headers['Content-Type'] = 'application/zip';
    return new Response(Readable.toWeb(result.body) as unknown as ReadableStream<Uint8Array<ArrayBuffer>>, { status: 200, headers });
  }
  headers['Content-Type'] = result.contentType;
  headers['Accept-Ranges'] = 'bytes';
  headers.ETag = result.etag;
  headers['Last-Modified'] = result.lastModified.toUTCString();
  return objectBodyResponse(result.object, result.size, headers);
}

/**
 * `/api/shares`: the owner's routes (session cookie, or an access key for scripts) and the
 * spec's public `GET|POST /api/shares/download?code=`. Thin: parse, call the use cases, render.
 */
export function createSharesApiRoutes(deps: { shares: SharesUsecases; keyStore: KeyStore; publicUrl: string | undefined }) {
  const { shares } = deps;
  const app = new Hono<SharesEnv>();
  const baseUrlOf = (c: Context) => deps.publicUrl?.replace(/\/+$/, '') ?? new URL(c.req.url).origin;
  const keyAuth = apiKeyAuth(deps.keyStore) as unknown as MiddlewareHandler<SharesEnv>;
  /** A signed-in session, else an access key (X-API-Key / Bearer), else 401. */
  const owner: MiddlewareHandler<SharesEnv> = async (c, next) => {
    if (c.get('user')) return next();
    if (apiKeyCredential(c) === undefined) return jsonError(c, 401, 'auth.unauthenticated', 'Sign in, or send an API key (X-API-Key: ACCESS_KEY:SECRET_KEY).');
    return keyAuth(c, next);
  };
  const principalOf = (c: Context<SharesEnv>): Principal => {
    const user = c.get('user');
    return user ? sessionPrincipal(user.id, clientAddressOf(c)) : keyPrincipal(c.get('apiKey')!, clientAddressOf(c));
  };

  const publicDownload = async (c: Context<SharesEnv>) => {
    const query = parseQuery(c, sharesOperations.apiDownload.query);
    if (!query.ok) return query.response;
    const clientAddress = clientAddressOf(c);
    await shares.admitPublic(clientAddress);
    if (c.req.method === 'HEAD') return headResponse(c, shares, query.value.code);
    const result = await shares.download(query.value.code, { clientAddress, password: await passwordOf(c), range: parseRange(c.req.header('range')), signal: signalOf(c) });
    if (result.kind === 'unsatisfiable') return unsatisfiable(c, result.size);
    return downloadResponse(result);
  };
  app.get('/download', publicDownload);
  app.post('/download', publicDownload);

  app.post('/upload', owner, async (c) => {
    const query = parseQuery(c, sharesOperations.upload.query);
    if (!query.ok) return query.response;
    const declared = c.req.header('content-length');
    if (declared === undefined || !/^\d{1,15}$/.test(declared)) throw lengthRequiredError();
    const contentType = c.req.header('content-type') ?? '';
    if (!/^multipart\/form-data\b/i.test(contentType)) throw invalidUploadError('Send multipart/form-data with a "file" part.');
    const password = c.req.header('x-share-password');
    const source = c.env?.incoming ?? (c.req.raw.body ? Readable.fromWeb(c.req.raw.body as NodeWebReadableStream) : Readable.from([]));
    const part = await readFilePart(source, contentType);
    let share;
    try {
      const { fileName, ...options } = query.value;
      share = await shares.upload(
        principalOf(c),
        { body: part.stream, fileName: part.filename ?? fileName ?? 'file', contentType: part.contentType, reserveBytes: Number(declared), signal: signalOf(c) },
        { ...options, fileName, password: password === undefined || password === '' ? undefined : password },
        baseUrlOf(c),
      );
    } catch (error) {
      part.discard();
      throw part.formError() ?? error;
    }
    await part.finished.catch(() => undefined);
    return c.json(share, 201);
  });

  app.post('/', owner, async (c) => {
    const body = await parseBody(c, sharesOperations.create.body.schema);
    if (!body.ok) return body.response;
    const { fileSize: _ignored, ...input } = body.value;
    return c.json(await shares.create(principalOf(c), input, baseUrlOf(c)), 201);
  });

  app.get('/', owner, async (c) => c.json({ shares: await shares.list(principalOf(c), baseUrlOf(c)) }));

  app.patch('/', owner, async (c) => {
    const body = await parseBody(c, sharesOperations.update.body.schema);
    if (!body.ok) return body.response;
    return c.json(await shares.update(principalOf(c), body.value, baseUrlOf(c)));
  });

  app.delete('/', owner, async (c) => {
    const id = requireQuery(c, 'id');
    if (!id.ok) return id.response;
    await shares.deactivate(principalOf(c), id.value);
    return c.json({ success: true as const });
  });

  return app;
}

/**
 * HEAD of a download (Hono answers HEAD with the GET route): the headers a GET would carry, from
 * the share's public facts, without opening the object or spending a download (link checkers).
 */
async function headResponse(c: Context<SharesEnv>, shares: SharesUsecases, code: string): Promise<Response> {
  const info = await shares.info(code, { clientAddress: clientAddressOf(c), countView: false, signal: signalOf(c) });
  const headers: Record<string, string> = { 'Content-Type': info.contentType, 'Content-Disposition': contentDisposition(info.fileName), 'Cache-Control': 'private, no-store' };
  if (info.size !== null) headers['Content-Length'] = String(info.size);
  return new Response(null, { status: 200, headers });
}

const unsatisfiable = (c: Context, size: number) =>
  jsonError(c, 416, 'shares.range_not_satisfiable', `The requested range is not within the file's ${size} bytes.`, { 'Content-Range': `bytes */${size}` });

/** `/s/{code}`: the public landing page, its JSON facts and the download. Everything here is rate limited per client address first. */
export function createSharePublicRoutes(deps: { shares: SharesUsecases }) {
  const { shares } = deps;
  const app = new Hono<SharesEnv>();

  app.get('/:code', async (c) => {
    const params = parseParams(c, sharesOperations.page.params);
    if (!params.ok) return params.response;
    try {
      const clientAddress = clientAddressOf(c);
      await shares.admitPublic(clientAddress);
      const info = await shares.info(params.value.code, { clientAddress, countView: true, signal: signalOf(c) });
      return c.body(renderSharePage(info), 200, SHARE_PAGE_HEADERS);
    } catch (error) {
      return htmlError(c, error);
    }
  });

  app.get('/:code/info', async (c) => {
    const params = parseParams(c, sharesOperations.info.params);
    if (!params.ok) return params.response;
    const clientAddress = clientAddressOf(c);
    await shares.admitPublic(clientAddress);
    return c.json(await shares.info(params.value.code, { clientAddress, countView: true, signal: signalOf(c) }));
  });

  const download = async (c: Context<SharesEnv>) => {
    const params = parseParams(c, sharesOperations.download.params);
    if (!params.ok) return params.response;
    const html = wantsHtml(c);
    const clientAddress = clientAddressOf(c);
    try {
      await shares.admitPublic(clientAddress);
      if (c.req.method === 'HEAD') return await headResponse(c, shares, params.value.code);
      const result = await shares.download(params.value.code, { clientAddress, password: await passwordOf(c), range: parseRange(c.req.header('range')), signal: signalOf(c) });
      if (result.kind === 'unsatisfiable') return unsatisfiable(c, result.size);
      return downloadResponse(result);
    } catch (error) {
      if (!html) throw error;
      // The landing page's form: a wrong or missing password shows the form again with the reason.
      if (isAppError(error, 'shares.wrong_password') || isAppError(error, 'shares.password_required')) {
        try {
          const info = await shares.info(params.value.code, { clientAddress, countView: false });
          return c.body(renderSharePage(info, { error: error.detail }), 401, SHARE_PAGE_HEADERS);
        } catch (cause) {
          return htmlError(c, cause);
        }
      }
      return htmlError(c, error);
    }
  };
  app.get('/:code/download', download);
  app.post('/:code/download', download);

  return app;
}
