import { Hono } from 'hono';
import { z } from 'zod';
import { parseBody, requireQuery } from '../../validation.ts';
import { requireUser, type AuthVariables } from '../auth/session.middleware.ts';
import type { DashboardBucketsUsecases } from './buckets.usecases.ts';

type BucketsEnv = { Variables: AuthVariables & { requestId: string } };

// Shape only; the naming rules and the limit live in the bucket use cases (shared with S3).
const createBucketSchema = z.object({ name: z.string().max(255) });

/**
 * `/api/buckets`: the signed-in account's buckets. Scoped to `c.get('user')`: another account's
 * bucket of the same name is simply not there (404 `buckets.not_found` on delete).
 */
export function createBucketsRoutes(deps: { buckets: DashboardBucketsUsecases }) {
  const { buckets } = deps;
  const app = new Hono<BucketsEnv>();
  app.use('*', requireUser);

  app.get('/', (c) => c.json({ buckets: buckets.list(c.get('user')!.id) }));

  app.post('/', async (c) => {
    const body = await parseBody(c, createBucketSchema);
    if (!body.ok) return body.response;
    return c.json(await buckets.create(c.get('user')!.id, body.value.name), 201);
  });

  app.delete('/', async (c) => {
    const name = requireQuery(c, 'name');
    if (!name.ok) return name.response;
    await buckets.remove(c.get('user')!.id, name.value);
    return c.json({ success: true });
  });

  return app;
}
