import { Hono, type Context } from 'hono';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import { z } from 'zod';
import type { KeyStore } from '../../../src/keys/key-store.ts';
import { defineOperation } from '../../openapi/operations.ts';
import { parseBody, parseQuery } from '../../validation.ts';
import { invalidUploadError, lengthRequiredError } from '../files/files.errors.ts';
import { ownerAuth, ownerPrincipal, ownerSignal, type OwnerEnv } from './owner-auth.ts';
import { readVersionUpload } from './version-upload.ts';
import type { VersionsUsecases } from './versions.usecases.ts';

const TAG = 'Time Machine (versions)';
const versionSchema = z.object({
  versionId: z.string().describe("This API's id (`ver_…`): enough on its own for PATCH."),
  s3VersionId: z.string().describe('The id S3 clients see (`x-amz-version-id`).'),
  versionNumber: z.number().int().describe('1-based, in write order; never reused, also after retention pruned older versions.'),
  size: z.number().int(),
  createdAt: z.iso.datetime(),
  isCurrent: z.boolean(),
});
const fileSchema = z.object({
  key: z.string(),
  versionCount: z.number().int(),
  currentVersionId: z.string().nullable().describe('null when the file is deleted (its latest entry is a delete marker, e.g. in the trash).'),
  size: z.number().int().nullable(),
  updatedAt: z.iso.datetime(),
  deleted: z.boolean(),
});
const settingsSchema = z.object({
  bucket: z.string(),
  versioning: z.enum(['Unversioned', 'Enabled', 'Suspended']),
  maxVersions: z.number().int(),
  maxAgeDays: z.number().int(),
});
const errors = {
  403: { description: "`storage.forbidden`: outside the API key's scope." },
  404: { description: "`versions.not_found` or `buckets.not_found` (another account's bucket or version answers the same)." },
};

export const versionsOperations = {
  list: defineOperation({
    method: 'get',
    path: '/api/versions',
    tag: TAG,
    auth: 'session',
    summary: 'With `key`: every version of that file, newest first. Without: the versioned files of the bucket, a page at a time. Session or API key.',
    query: z.object({
      bucket: z.string().min(1).max(63),
      key: z.string().min(1).max(1024).optional(),
      prefix: z.string().max(1024).optional().describe('Files only: keys under this prefix.'),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      cursor: z.string().min(1).max(2048).optional(),
    }),
    responses: {
      200: {
        description: 'With `key`: `{bucket, key, versions}`; without: `{bucket, files, hasMore, cursor}`.',
        schema: z.union([
          z.object({ bucket: z.string(), key: z.string(), versions: z.array(versionSchema) }),
          z.object({ bucket: z.string(), files: z.array(fileSchema), hasMore: z.boolean(), cursor: z.string().nullable() }),
        ]),
      },
      400: { description: '`invalid_request` or `files.invalid_cursor`.' },
      ...errors,
    },
  }),
  upload: defineOperation({
    method: 'post',
    path: '/api/versions',
    tag: TAG,
    auth: 'session',
    summary: 'Upload a new version of a file (multipart: `file`, `bucket`, `key`). The bucket must have versioning Enabled.',
    description:
      'Streamed to storage when `bucket` and `key` precede the file part (or are given in the query string); otherwise the file part is ' +
      'spooled to a temporary file until they arrive. A Content-Length is required: the quota is reserved before the body is read.',
    query: z.object({ bucket: z.string().min(1).max(63).optional(), key: z.string().min(1).max(1024).optional() }),
    rawBody: { contentTypes: ['multipart/form-data'], description: 'A form with `file`, `bucket` and `key` parts.' },
    responses: {
      201: {
        description: 'Stored as the new current version.',
        schema: z.object({
          versionId: z.string(),
          s3VersionId: z.string(),
          key: z.string(),
          bucket: z.string(),
          size: z.number().int(),
          versionNumber: z.number().int(),
          createdAt: z.iso.datetime(),
        }),
      },
      400: { description: '`files.invalid_upload`: no `file` part, no bucket or key, or a malformed form.' },
      409: { description: '`versions.not_enabled`.' },
      411: { description: '`files.length_required`.' },
      413: { description: '`storage.quota_exceeded`: versions count toward the quota.' },
      ...errors,
    },
  }),
  restore: defineOperation({
    method: 'patch',
    path: '/api/versions',
    tag: TAG,
    auth: 'session',
    summary: 'Restore a version: its content becomes a new current version with the next number (journaled as `object.restored`).',
    body: {
      schema: z.object({
        versionId: z.string().min(1).max(4096).describe('An id this API returned, or an S3 version id with `bucket` and `key`.'),
        bucket: z.string().min(1).max(63).optional(),
        key: z.string().min(1).max(1024).optional(),
      }),
    },
    responses: {
      200: {
        description: 'Restored.',
        schema: z.object({ success: z.literal(true), restoredVersion: z.string(), newVersionNumber: z.number().int(), versionId: z.string().nullable() }),
      },
      400: { description: '`invalid_request` or `versions.invalid_request`.' },
      409: { description: '`versions.not_enabled`.' },
      ...errors,
    },
  }),
  settings: defineOperation({
    method: 'get',
    path: '/api/versions/settings',
    tag: TAG,
    auth: 'session',
    summary: "A bucket's versioning state and retention (versions kept per file, days a noncurrent version is kept).",
    query: z.object({ bucket: z.string().min(1).max(63) }),
    responses: { 200: { description: 'The settings.', schema: settingsSchema }, ...errors },
  }),
  updateSettings: defineOperation({
    method: 'put',
    path: '/api/versions/settings',
    tag: TAG,
    auth: 'session',
    summary: 'Enable or suspend versioning and set retention (a session or an unrestricted access key).',
    body: {
      schema: z.object({
        bucket: z.string().min(1).max(63),
        enabled: z.boolean().optional().describe('true: Enabled; false: Suspended (an unversioned bucket stays unversioned).'),
        maxVersions: z.number().int().min(1).max(10_000).optional(),
        maxAgeDays: z.number().int().min(1).max(36_500).optional(),
      }),
    },
    responses: { 200: { description: 'The settings now.', schema: settingsSchema }, 400: { description: '`invalid_request`.' }, ...errors },
  }),
};

function requestBody(c: Context<OwnerEnv>): Readable {
  const incoming = c.env?.incoming;
  if (incoming) return incoming;
  return c.req.raw.body ? Readable.fromWeb(c.req.raw.body as NodeWebReadableStream) : Readable.from([]);
}

/** `/api/versions`: the Time Machine API (session cookie, or an access key whose scope applies). Thin: parse, call the use cases, render. */
export function createVersionsRoutes(deps: { versions: VersionsUsecases; keyStore: KeyStore }) {
  const { versions } = deps;
  const app = new Hono<OwnerEnv>();
  app.use('*', ownerAuth(deps.keyStore));

  app.get('/settings', async (c) => {
    const query = parseQuery(c, versionsOperations.settings.query);
    if (!query.ok) return query.response;
    return c.json(await versions.settings(ownerPrincipal(c), query.value.bucket));
  });

  app.put('/settings', async (c) => {
    const body = await parseBody(c, versionsOperations.updateSettings.body.schema);
    if (!body.ok) return body.response;
    return c.json(await versions.updateSettings(ownerPrincipal(c), body.value));
  });

  app.get('/', async (c) => {
    const query = parseQuery(c, versionsOperations.list.query);
    if (!query.ok) return query.response;
    const { bucket, key, prefix, limit, cursor } = query.value;
    const principal = ownerPrincipal(c);
    const signal = ownerSignal(c);
    if (key !== undefined) return c.json(await versions.listVersions(principal, { bucket, key, signal }));
    return c.json(await versions.listFiles(principal, { bucket, prefix: prefix ?? principal.scope?.prefix, limit, cursor, signal }));
  });

  app.post('/', async (c) => {
    const query = parseQuery(c, versionsOperations.upload.query);
    if (!query.ok) return query.response;
    const declared = c.req.header('content-length');
    if (declared === undefined || !/^\d{1,15}$/.test(declared)) throw lengthRequiredError();
    const contentType = c.req.header('content-type') ?? '';
    if (!/^multipart\/form-data\b/i.test(contentType)) throw invalidUploadError('Send multipart/form-data with "file", "bucket" and "key" parts.');
    const form = await readVersionUpload(requestBody(c), contentType, query.value, () => versions.admitSpool(ownerPrincipal(c), Number(declared)));
    try {
      const { bucket, key } = form.fields;
      if (!bucket || !key) throw invalidUploadError('Name the bucket and the key: "bucket" and "key" form fields (or query parameters).');
      const created = await versions.upload(ownerPrincipal(c), {
        bucket,
        key,
        body: form.body,
        size: form.size,
        // The request's length bounds the part's size: the quota holds before any byte is stored.
        reserveBytes: form.size ?? Number(declared),
        contentType: form.contentType,
        signal: ownerSignal(c),
      });
      await form.finished.catch(() => undefined);
      return c.json(created, 201);
    } catch (error) {
      form.discard();
      throw form.formError() ?? error;
    } finally {
      await form.cleanup();
    }
  });

  app.patch('/', async (c) => {
    const body = await parseBody(c, versionsOperations.restore.body.schema);
    if (!body.ok) return body.response;
    return c.json(await versions.restore(ownerPrincipal(c), { ...body.value, signal: ownerSignal(c) }));
  });

  return app;
}
