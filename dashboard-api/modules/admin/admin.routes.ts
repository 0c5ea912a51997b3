import { requestOrigin } from '../../event-origin.ts';
import { Hono } from 'hono';
import { z } from 'zod';
import { defineOperation } from '../../openapi/operations.ts';
import { parseBody, parseParams, parseQuery } from '../../validation.ts';
import type { AuthVariables } from '../auth/session.middleware.ts';
import type { AdminUsecases } from './admin.usecases.ts';
import { requireAdmin } from './require-admin.middleware.ts';

type AdminEnv = { Variables: AuthVariables & { requestId: string } };

const adminUserSchema = z.object({
  id: z.string(),
  email: z.string(),
  isAdmin: z.boolean(),
  status: z.enum(['active', 'deactivated']),
  createdAt: z.iso.datetime(),
  quotaBytes: z.int().describe('The quota the account is held to: its own, or DEFAULT_QUOTA_BYTES.'),
  defaultQuota: z.boolean().describe('True when the account follows DEFAULT_QUOTA_BYTES (no quota of its own).'),
  usedBytes: z.int().describe('Stored object bytes plus multipart uploads in progress: what the quota counts.'),
  keyCount: z.int().describe('Live (unrevoked) access keys.'),
  bucketCount: z.int(),
});
const adminKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  accessKey: z.string(),
  userId: z.string(),
  userEmail: z.string(),
  createdAt: z.iso.datetime(),
  revokedAt: z.iso.datetime().nullable(),
});
const nextCursorSchema = z.string().nullable().describe('Pass as `cursor` to get the next page; null on the last page.');
const pageQuery = {
  limit: z.coerce.number().int().min(1).max(100).default(50).describe('Page size, 1 to 100 (default 50).'),
  cursor: z.string().min(1).optional().describe('`nextCursor` of the previous page.'),
};
const idParams = z.object({ id: z.string().min(1) });
const quotaBytesSchema = z.int().min(0).describe('Storage quota in bytes.');

// Shapes only; the rules (who may do what, password length, uniqueness) live in the use cases. The
// string bounds are sign-up's: they keep absurd inputs away from the KDF.
export const adminOperations = {
  listUsers: defineOperation({
    method: 'get',
    path: '/api/admin/users',
    tag: 'Admin',
    auth: 'admin',
    summary: 'List every account with its state, quota and usage, oldest first.',
    query: z.object(pageQuery),
    responses: {
      200: { description: 'One page of users.', schema: z.object({ users: z.array(adminUserSchema), nextCursor: nextCursorSchema }) },
      400: { description: '`admin.invalid_cursor` or `invalid_request`.' },
    },
  }),
  createUser: defineOperation({
    method: 'post',
    path: '/api/admin/users',
    tag: 'Admin',
    auth: 'admin',
    summary: 'Create an account (first access key and `default` bucket, as sign-up); works with SIGNUP_ENABLED=false.',
    description: 'The access key secret is in this response only. No session is started for the new account.',
    body: {
      schema: z.object({
        email: z.string().max(320),
        password: z.string().max(1024),
        isAdmin: z.boolean().optional().default(false),
        quotaBytes: quotaBytesSchema.optional().describe('Storage quota in bytes; omit for DEFAULT_QUOTA_BYTES.'),
      }),
    },
    responses: {
      201: {
        description: 'The account, its first key (with secret) and bucket.',
        schema: z.object({
          user: adminUserSchema,
          accessKey: z.object({ id: z.string(), name: z.string(), accessKey: z.string(), secretKey: z.string(), createdAt: z.iso.datetime() }),
          bucket: z.string(),
        }),
      },
      400: { description: '`accounts.invalid_email`, `accounts.weak_password` or `invalid_request`.' },
      409: { description: '`accounts.email_taken`.' },
    },
  }),
  getUser: defineOperation({
    method: 'get',
    path: '/api/admin/users/{id}',
    tag: 'Admin',
    auth: 'admin',
    summary: 'One account with its state, quota and usage.',
    params: idParams,
    responses: { 200: { description: 'The user.', schema: z.object({ user: adminUserSchema }) }, 404: { description: '`admin.user_not_found`.' } },
  }),
  updateUser: defineOperation({
    method: 'patch',
    path: '/api/admin/users/{id}',
    tag: 'Admin',
    auth: 'admin',
    summary: 'Change an account: quota, status (deactivate/activate) and/or password.',
    description:
      "Deactivation ends the account's sessions and stops its access keys on the S3 gateway and the file API from the next request; " +
      "activation restores the keys (sessions are not revived: sign in again). A password reset ends all of the account's sessions. " +
      '`quotaBytes: null` returns the account to DEFAULT_QUOTA_BYTES. All changes are validated before any is applied.',
    params: idParams,
    body: {
      schema: z
        .strictObject({
          quotaBytes: quotaBytesSchema.nullable().optional(),
          status: z.enum(['active', 'deactivated']).optional(),
          password: z.string().max(1024).optional().describe('New password (at least 8 characters).'),
        })
        .refine((changes) => changes.quotaBytes !== undefined || changes.status !== undefined || changes.password !== undefined, {
          message: 'name at least one of quotaBytes, status, password',
        }),
    },
    responses: {
      200: { description: 'The user after the change.', schema: z.object({ user: adminUserSchema }) },
      400: { description: '`accounts.weak_password` or `invalid_request`.' },
      404: { description: '`admin.user_not_found`.' },
      409: { description: '`admin.cannot_deactivate_self`: an admin cannot deactivate their own account.' },
    },
  }),
  listKeys: defineOperation({
    method: 'get',
    path: '/api/admin/keys',
    tag: 'Admin',
    auth: 'admin',
    summary: "List every account's access keys (never their secrets), oldest first.",
    query: z.object({
      ...pageQuery,
      userId: z.string().min(1).optional().describe("Only this account's keys."),
      status: z.enum(['live', 'revoked', 'all']).default('live').describe('`live` (default): unrevoked keys; `revoked`; or `all`.'),
    }),
    responses: {
      200: { description: 'One page of keys.', schema: z.object({ keys: z.array(adminKeySchema), nextCursor: nextCursorSchema }) },
      400: { description: '`admin.invalid_cursor` or `invalid_request`.' },
    },
  }),
  revokeKey: defineOperation({
    method: 'post',
    path: '/api/admin/keys/{id}/revoke',
    tag: 'Admin',
    auth: 'admin',
    summary: "Revoke any account's access key; the S3 gateway refuses it from the next request.",
    params: idParams,
    responses: {
      200: { description: 'The revoked key.', schema: z.object({ key: adminKeySchema }) },
      404: { description: '`keys.not_found`: unknown or already revoked.' },
    },
  }),
};

/**
 * `/api/admin`: account and key administration across all accounts, for admins only
 * (`requireAdmin`: 401 without a session, 403 `admin.forbidden` otherwise). Create `--admin`
 * accounts with the CLI.
 */
export function createAdminRoutes(deps: { admin: AdminUsecases }) {
  const { admin } = deps;
  const app = new Hono<AdminEnv>();
  app.use('*', requireAdmin);

  app.get('/users', async (c) => {
    const query = parseQuery(c, adminOperations.listUsers.query);
    if (!query.ok) return query.response;
    const page = await admin.listUsers(query.value);
    return c.json({ users: page.items, nextCursor: page.nextCursor });
  });

  app.post('/users', async (c) => {
    const body = await parseBody(c, adminOperations.createUser.body.schema);
    if (!body.ok) return body.response;
    const { user, key, bucket } = await admin.createUser(body.value, requestOrigin(c, 'admin', c.get('user')!.id));
    // The only response that ever carries this secret.
    c.header('Cache-Control', 'no-store');
    return c.json({ user: user, accessKey: { id: key.id, name: key.name, accessKey: key.accessKeyId, secretKey: key.secretAccessKey, createdAt: key.createdAt }, bucket }, 201);
  });

  app.get('/users/:id', async (c) => {
    const params = parseParams(c, adminOperations.getUser.params);
    if (!params.ok) return params.response;
    return c.json({ user: await admin.getUser(params.value.id) });
  });

  app.patch('/users/:id', async (c) => {
    const params = parseParams(c, adminOperations.updateUser.params);
    if (!params.ok) return params.response;
    const body = await parseBody(c, adminOperations.updateUser.body.schema);
    if (!body.ok) return body.response;
    const user = await admin.updateUser(c.get('user')!.id, params.value.id, body.value);
    return c.json({ user: user });
  });

  app.get('/keys', async (c) => {
    const query = parseQuery(c, adminOperations.listKeys.query);
    if (!query.ok) return query.response;
    const page = await admin.listKeys(query.value);
    return c.json({ keys: page.items, nextCursor: page.nextCursor });
  });

  app.post('/keys/:id/revoke', async (c) => {
    const params = parseParams(c, adminOperations.revokeKey.params);
    if (!params.ok) return params.response;
    return c.json({ key: await admin.revokeKey(params.value.id, requestOrigin(c, 'admin', c.get('user')!.id)) });
  });

  return app;
}
