import { requestOrigin } from '../../event-origin.ts';
import { Hono } from 'hono';
import { z } from 'zod';
import { defineOperation } from '../../openapi/operations.ts';
import { parseBody, parseQuery } from '../../validation.ts';
import { requireUser, type AuthVariables } from '../auth/session.middleware.ts';
import type { DashboardBucketsUsecases } from './buckets.usecases.ts';

type BucketsEnv = { Variables: AuthVariables & { requestId: string } };

const bucketSchema = z.object({ name: z.string(), createdAt: z.iso.datetime() });

// Shapes only; the naming rules and the limit live in the bucket use cases (shared with S3).
export const bucketsOperations = {
  list: defineOperation({
    method: 'get',
    path: '/api/buckets',
    tag: 'Buckets',
    auth: 'session',
    summary: "List the account's buckets.",
    responses: { 200: { description: 'The buckets, by name.', schema: z.object({ buckets: z.array(bucketSchema) }) } },
  }),
  create: defineOperation({
    method: 'post',
    path: '/api/buckets',
    tag: 'Buckets',
    auth: 'session',
    summary: 'Create a bucket (S3 naming rules; at most 10 per account).',
    body: { schema: z.object({ name: z.string().max(255) }) },
    responses: {
      201: { description: 'Created.', schema: bucketSchema },
      400: { description: '`buckets.invalid_name` or `buckets.limit_reached`.' },
      409: { description: '`buckets.already_exists`.' },
    },
  }),
  remove: defineOperation({
    method: 'delete',
    path: '/api/buckets',
    tag: 'Buckets',
    auth: 'session',
    summary: 'Delete an empty bucket.',
    query: z.object({ name: z.string().min(1) }),
    responses: {
      200: { description: 'Deleted.', schema: z.object({ success: z.literal(true) }) },
      404: { description: '`buckets.not_found`.' },
      409: { description: '`buckets.not_empty`.' },
    },
  }),
};

/**
 * `/api/buckets`: the signed-in account's buckets. Scoped to `c.get('user')`: another account's
 * bucket of the same name is simply not there (404 `buckets.not_found` on delete).
 */
export function createBucketsRoutes(deps: { buckets: DashboardBucketsUsecases }) {
  const { buckets } = deps;
  const app = new Hono<BucketsEnv>();
  app.use('*', requireUser);

  app.get('/', async (c) => c.json({ buckets: await buckets.list(c.get('user')!.id) }));

  app.post('/', async (c) => {
    const body = await parseBody(c, bucketsOperations.create.body.schema);
    if (!body.ok) return body.response;
    return c.json(await buckets.create(c.get('user')!.id, body.value.name, requestOrigin(c, 'session', c.get('user')!.id)), 201);
  });

  app.delete('/', async (c) => {
    const query = parseQuery(c, bucketsOperations.remove.query);
    if (!query.ok) return query.response;
    await buckets.remove(c.get('user')!.id, query.value.name, requestOrigin(c, 'session', c.get('user')!.id));
    return c.json({ success: true });
  });

  return app;
}
