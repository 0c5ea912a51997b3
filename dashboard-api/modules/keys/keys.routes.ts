import { Hono } from 'hono';
import { z } from 'zod';
import type { KeysUsecases } from '../../../src/keys/keys.usecases.ts';
import { parseBody, requireQuery } from '../../validation.ts';
import { requireUser, type AuthVariables } from '../auth/session.middleware.ts';

type KeysEnv = { Variables: AuthVariables & { requestId: string } };

// Shape only; the per-account limit lives in the keys use case.
const createKeySchema = z.object({ name: z.string().trim().max(64).optional().default('') });

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
    const body = await parseBody(c, createKeySchema);
    if (!body.ok) return body.response;
    const key = keys.create(c.get('user')!.id, body.value.name);
    // The only response that ever carries this secret.
    c.header('Cache-Control', 'no-store');
    return c.json({ id: key.id, name: key.name, accessKey: key.accessKeyId, secretKey: key.secretAccessKey, createdAt: key.createdAt }, 201);
  });

  app.delete('/', (c) => {
    const id = requireQuery(c, 'id');
    if (!id.ok) return id.response;
    keys.revokeById(c.get('user')!.id, id.value);
    return c.json({ success: true });
  });

  return app;
}
