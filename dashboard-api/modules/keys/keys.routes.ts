import { Hono } from 'hono';
import { z } from 'zod';
import type { KeysUsecases } from '../../../src/keys/keys.usecases.ts';
import { defineOperation } from '../../openapi/operations.ts';
import { parseBody, parseQuery } from '../../validation.ts';
import { requireUser, type AuthVariables } from '../auth/session.middleware.ts';

type KeysEnv = { Variables: AuthVariables & { requestId: string } };

const keySummarySchema = z.object({ id: z.string(), name: z.string(), accessKey: z.string(), createdAt: z.iso.datetime() });

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
    summary: 'Create an access key; the secret is in this response only.',
    body: { schema: z.object({ name: z.string().trim().max(64).optional().default('') }) },
    responses: {
      201: { description: 'The new key with its secret.', schema: keySummarySchema.extend({ secretKey: z.string() }) },
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

  app.get('/', (c) => {
    const list = keys.listForUser(c.get('user')!.id);
    return c.json({ keys: list.map((key) => ({ id: key.id, name: key.name, accessKey: key.accessKeyId, createdAt: key.createdAt })) });
  });

  app.post('/', async (c) => {
    const body = await parseBody(c, keysOperations.create.body.schema);
    if (!body.ok) return body.response;
    const key = keys.create(c.get('user')!.id, body.value.name);
    // The only response that ever carries this secret.
    c.header('Cache-Control', 'no-store');
    return c.json({ id: key.id, name: key.name, accessKey: key.accessKeyId, secretKey: key.secretAccessKey, createdAt: key.createdAt }, 201);
  });

  app.delete('/', (c) => {
    const query = parseQuery(c, keysOperations.revoke.query);
    if (!query.ok) return query.response;
    keys.revokeById(c.get('user')!.id, query.value.id);
    return c.json({ success: true });
  });

  return app;
}
