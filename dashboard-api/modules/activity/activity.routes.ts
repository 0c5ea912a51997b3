import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { DOMAIN_EVENT_TYPES } from '../../../src/events/events.ts';
import { jsonError } from '../../errors.ts';
import { defineOperation } from '../../openapi/operations.ts';
import { requireAdmin } from '../admin/require-admin.middleware.ts';
import { requireUser, type AuthVariables } from '../auth/session.middleware.ts';
import type { ActivityQuery, ActivityUsecases } from './activity.usecases.ts';

type ActivityEnv = { Variables: AuthVariables & { requestId: string } };

const activityItemSchema = z.object({
  id: z.string().describe('The domain event id (unique).'),
  type: z.enum(DOMAIN_EVENT_TYPES),
  time: z.iso.datetime(),
  actor: z.object({
    kind: z.enum(['key', 'session', 'admin', 'system']),
    id: z.string().describe('Access key id for `key`; the user id for `session` and `admin`; a short name (`cli`) for `system`.'),
  }),
  clientAddress: z.string().nullable(),
  bucket: z.string().nullable().describe('The bucket name as the account sees it.'),
  key: z.string().nullable(),
  size: z.int().nullable(),
  etag: z.string().nullable(),
  contentType: z.string().nullable(),
  versionId: z.string().nullable(),
  detail: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe('Type-specific facts: `object.updated` → `{change}`; `key.*` → `{accessKeyId, name}`; `quota.*` → `{usedBytes, quotaBytes}`.'),
});
const nextCursorSchema = z.string().nullable().describe('Pass as `cursor` to get the next (older) page; null on the last page.');

const filterQuery = {
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('Page size, 1 to 500 (default 50).'),
  cursor: z.string().min(1).max(2048).optional().describe('`nextCursor` of the previous page (opaque).'),
  bucket: z.string().min(1).max(63).optional().describe('Only this bucket (the name as the account sees it).'),
  prefix: z.string().min(1).max(1024).optional().describe('Only object keys starting with this (case-sensitive).'),
  action: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== ''),
    )
    .pipe(z.array(z.enum(DOMAIN_EVENT_TYPES)).min(1))
    .optional()
    .describe(`Only these event types, comma-separated or repeated: ${DOMAIN_EVENT_TYPES.join(', ')}.`),
  from: z.iso.datetime({ offset: true }).optional().describe('Only events at or after this instant (ISO 8601).'),
  to: z.iso.datetime({ offset: true }).optional().describe('Only events before this instant (ISO 8601).'),
};

export const activityOperations = {
  list: defineOperation({
    method: 'get',
    path: '/api/activity',
    tag: 'Activity',
    auth: 'session',
    summary: "The account's activity log (object, bucket, key and quota events), newest first.",
    description:
      'Every change to the account, whichever door it came through (S3, the file API, the dashboard, the CLI), with who made it. ' +
      'Filters combine (AND); `action` values combine (OR). Cursor paging is exact: new events never shift older pages.',
    query: z.object(filterQuery),
    responses: {
      200: { description: 'One page of events.', schema: z.object({ items: z.array(activityItemSchema), nextCursor: nextCursorSchema }) },
      400: { description: '`activity.invalid_cursor` or `invalid_request`.' },
    },
  }),
  adminList: defineOperation({
    method: 'get',
    path: '/api/admin/activity',
    tag: 'Admin',
    auth: 'admin',
    summary: "Every account's activity log (or one account's), newest first.",
    query: z.object({ ...filterQuery, account: z.string().min(1).max(320).optional().describe('Only this account: a user id or an email.') }),
    responses: {
      200: {
        description: 'One page of events.',
        schema: z.object({ items: z.array(activityItemSchema.extend({ accountId: z.string() })), nextCursor: nextCursorSchema }),
      },
      400: { description: '`activity.invalid_cursor` or `invalid_request`.' },
      404: { description: '`activity.account_not_found`: `account` is an email no account has.' },
    },
  }),
};

/**
 * Like `parseQuery`, but a repeated `action` counts too (`?action=a&action=b` is `?action=a,b`):
 * `c.req.query()` keeps only the first value of a repeated name.
 */
function parseActivityQuery<T extends z.ZodObject>(c: Context, schema: T): { ok: true; value: z.output<T> } | { ok: false; response: Response } {
  const actions = c.req.queries('action');
  const parsed = schema.safeParse({ ...c.req.query(), ...(actions ? { action: actions.join(',') } : {}) });
  if (parsed.success) return { ok: true, value: parsed.data };
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'query'}: ${issue.message}`).join('; ');
  return { ok: false, response: jsonError(c, 400, 'invalid_request', `Invalid request: ${problems}.`) };
}

const toQuery = (value: z.output<z.ZodObject<typeof filterQuery>>): ActivityQuery => ({
  limit: value.limit,
  cursor: value.cursor,
  bucket: value.bucket,
  prefix: value.prefix,
  actions: value.action,
  from: value.from === undefined ? undefined : new Date(value.from),
  to: value.to === undefined ? undefined : new Date(value.to),
});

/** `GET /api/activity`: the signed-in account's own activity; the account comes from the session, never the query. */
export function createActivityRoutes(deps: { activity: ActivityUsecases }) {
  const app = new Hono<ActivityEnv>();
  app.use('*', requireUser);
  app.get('/', async (c) => {
    const query = parseActivityQuery(c, activityOperations.list.query);
    if (!query.ok) return query.response;
    return c.json(await deps.activity.listForAccount(c.get('user')!.id, toQuery(query.value)));
  });
  return app;
}

/** `GET /api/admin/activity`: administrators only (401 without a session, 403 `admin.forbidden` otherwise). */
export function createAdminActivityRoutes(deps: { activity: ActivityUsecases }) {
  const app = new Hono<ActivityEnv>();
  app.use('*', requireAdmin);
  app.get('/', async (c) => {
    const query = parseActivityQuery(c, activityOperations.adminList.query);
    if (!query.ok) return query.response;
    return c.json(await deps.activity.listForAdmin({ ...toQuery(query.value), account: query.value.account }));
  });
  return app;
}
