import { requestOrigin } from '../../event-origin.ts';
import { Hono } from 'hono';
import { z } from 'zod';
import { KEY_PERMISSIONS, type KeyScope } from '../../../src/keys/key-scope.ts';
import type { KeysUsecases } from '../../../src/keys/keys.usecases.ts';
import { defineOperation } from '../../openapi/operations.ts';
import { parseBody, parseQuery } from '../../validation.ts';
import { requireUser, type AuthVariables } from '../auth/session.middleware.ts';

type KeysEnv = { Variables: AuthVariables & { requestId: string } };

const keySummarySchema = z.object({
  id: z.string(),
  name: z.string(),
  accessKey: z.string(),
  createdAt: z.iso.datetime(),
  buckets: z.array(z.string()).nullable().describe('Bucket names the key is confined to; null: every bucket of the account.'),
  prefix: z.string().nullable().describe('Object-key prefix the key is confined to; null: any key.'),
  permission: z.enum(KEY_PERMISSIONS),
  expiresAt: z.iso.datetime().nullable().describe('The key stops working at this instant; null: never.'),
});

/** The key's scope as the API shows it: every field present, null when unrestricted. */
const scopeFields = (scope: KeyScope) => ({
  buckets: scope.buckets ? [...scope.buckets] : null,
  prefix: scope.prefix ?? null,
  permission: scope.permission,
  expiresAt: scope.expiresAt ?? null,
});

// Shapes only; the per-account limit lives in the keys use case.
export const keysOperations = {
  list: defineOperation({
    method: 'get',
    path: '/api/keys',
    tag: 'Access keys',
    auth: 'session',
    summary: "List the account's access keys (never their secrets).",
    responses: { 200: { description: 'The live keys.', schema: z.object({ keys: z.array(keySummarySchema) }) } },
  }),
  create: defineOperation({
    method: 'post',
    path: '/api/keys',
    tag: 'Access keys',
    auth: 'session',
    summary: 'Create an access key, optionally scoped; the secret is in this response only.',
    description:
      'A scoped key is confined to `buckets` (names need not exist yet), to object keys under `prefix`, to a `permission` ' +
      '(`read`: GET/HEAD/list; `write`: PUT/copy/multipart/DELETE; `readwrite`, the default) and stops working at `expiresAt`. ' +
      'A prefix-scoped key lists only with a request prefix under its own; only unrestricted keys create or delete buckets.',
    body: {
      schema: z.object({
        name: z.string().trim().max(64).optional().default(''),
        buckets: z.array(z.string().max(63)).min(1).max(100).optional(),
        prefix: z.string().max(1024).optional(),
        permission: z.enum(KEY_PERMISSIONS).optional(),
        expiresAt: z.iso.datetime({ offset: true }).optional(),
      }),
    },
    responses: {
      201: { description: 'The new key with its secret.', schema: keySummarySchema.extend({ secretKey: z.string() }) },
      400: { description: '`invalid_request` (shape) or `keys.invalid_scope`: an invalid bucket name or an `expiresAt` not in the future.' },
      409: { description: '`keys.limit_reached`: the account already has 5 keys.' },
    },
  }),
  revoke: defineOperation({
    method: 'delete',
    path: '/api/keys',
    tag: 'Access keys',
    auth: 'session',
    summary: 'Revoke a key; the S3 gateway refuses it from the next request.',
    query: z.object({ id: z.string().min(1) }),
    responses: { 200: { description: 'Revoked.', schema: z.object({ success: z.literal(true) }) }, 404: { description: '`keys.not_found`.' } },
  }),
};

/**
 * `/api/keys`: the signed-in account's S3 access keys. Everything is scoped to `c.get('user')`:
 * another account's key is indistinguishable from a missing one (404 `keys.not_found`). The
 * secret appears in the creation response only, never in the list.
 */
export function createKeysRoutes(deps: { keys: KeysUsecases }) {
  const { keys } = deps;
  const app = new Hono<KeysEnv>();
  app.use('*', requireUser);

  app.get('/', async (c) => {
    const list = await keys.listForUser(c.get('user')!.id);
    return c.json({ keys: list.map((key) => ({ id: key.id, name: key.name, accessKey: key.accessKeyId, createdAt: key.createdAt, ...scopeFields(key.scope) })) });
  });

  app.post('/', async (c) => {
    const body = await parseBody(c, keysOperations.create.body.schema);
    if (!body.ok) return body.response;
    const { name, buckets, prefix, permission, expiresAt } = body.value;
    const userId = c.get('user')!.id;
    const key = await keys.create(
      userId,
      name,
      { buckets, prefix, permission, expiresAt: expiresAt === undefined ? undefined : new Date(expiresAt) },
      requestOrigin(c, 'session', userId),
    );
    // The only response that ever carries this secret.
    c.header('Cache-Control', 'no-store');
    return c.json({ id: key.id, name: key.name, accessKey: key.accessKeyId, secretKey: key.secretAccessKey, createdAt: key.createdAt, ...scopeFields(key.scope) }, 201);
  });

  app.delete('/', async (c) => {
    const query = parseQuery(c, keysOperations.revoke.query);
    if (!query.ok) return query.response;
    await keys.revokeById(c.get('user')!.id, query.value.id, requestOrigin(c, 'session', c.get('user')!.id));
    return c.json({ success: true });
  });

  return app;
}
