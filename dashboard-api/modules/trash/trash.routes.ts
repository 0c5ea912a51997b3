import { Hono } from 'hono';
import { z } from 'zod';
import type { KeyStore } from '../../../src/keys/key-store.ts';
import type { TrashEntry, TrashUsecases } from '../../../src/trash/trash.usecases.ts';
import { defineOperation } from '../../openapi/operations.ts';
import { parseParams } from '../../validation.ts';
import { ownerAuth, ownerPrincipal, type OwnerEnv } from '../versions/owner-auth.ts';

const TAG = 'Trash';
const entrySchema = z.object({
  id: z.string(),
  bucket: z.string(),
  key: z.string(),
  size: z.number().int(),
  contentType: z.string().nullable(),
  trashedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime().describe('When it is purged for good (TRASH_RETENTION_DAYS after deletion).'),
});
const idParams = z.object({ id: z.string().min(1).max(64) });
const notFound = { 404: { description: "`trash.not_found` (another account's entry answers the same)." } };

export const trashOperations = {
  list: defineOperation({
    method: 'get',
    path: '/api/trash',
    tag: TAG,
    auth: 'session',
    summary: 'Files deleted through the dashboard or the REST API, newest first. Session or API key (a key sees what its scope could read).',
    responses: { 200: { description: 'The trash.', schema: z.object({ files: z.array(entrySchema), retentionDays: z.number().int() }) } },
  }),
  restore: defineOperation({
    method: 'post',
    path: '/api/trash/{id}/restore',
    tag: TAG,
    auth: 'session',
    summary: 'Put a file back where it was deleted from (journaled as `object.restored`).',
    params: idParams,
    responses: {
      200: { description: 'Restored.', schema: z.object({ success: z.literal(true), restored: entrySchema }) },
      403: { description: "`storage.forbidden`: outside the API key's scope." },
      409: { description: '`trash.bucket_gone` (the bucket was deleted) or `trash.key_exists` (an unversioned bucket holds a file under that key again).' },
      410: {
        description:
          '`trash.gone`: nothing came back (what the entry held was deleted meanwhile, e.g. by version id through S3, or a newer delete hides the key); the entry is removed.',
      },
      413: { description: '`storage.quota_exceeded`.' },
      ...notFound,
    },
  }),
  empty: defineOperation({
    method: 'post',
    path: '/api/trash/empty',
    tag: TAG,
    auth: 'session',
    summary: 'Delete everything in the trash for good.',
    responses: { 200: { description: 'Emptied.', schema: z.object({ success: z.literal(true), deleted: z.number().int() }) } },
  }),
  remove: defineOperation({
    method: 'delete',
    path: '/api/trash/{id}',
    tag: TAG,
    auth: 'session',
    summary: 'Delete one file in the trash for good.',
    params: idParams,
    responses: { 200: { description: 'Deleted.', schema: z.object({ success: z.literal(true) }) }, 403: { description: '`storage.forbidden`.' }, ...notFound },
  }),
};

const entryJson = (entry: TrashEntry) => ({ ...entry });

/** `/api/trash` (session cookie, or an access key whose scope applies). Thin: parse, call the trash use cases, render. */
export function createTrashRoutes(deps: { trash: TrashUsecases; keyStore: KeyStore }) {
  const { trash } = deps;
  const app = new Hono<OwnerEnv>();
  app.use('*', ownerAuth(deps.keyStore));

  app.get('/', async (c) => c.json({ files: (await trash.list(ownerPrincipal(c))).map(entryJson), retentionDays: trash.retentionDays }));

  app.post('/empty', async (c) => c.json({ success: true, deleted: await trash.empty(ownerPrincipal(c)) }));

  app.post('/:id/restore', async (c) => {
    const params = parseParams(c, trashOperations.restore.params);
    if (!params.ok) return params.response;
    return c.json({ success: true, restored: entryJson(await trash.restore(ownerPrincipal(c), params.value.id)) });
  });

  app.delete('/:id', async (c) => {
    const params = parseParams(c, trashOperations.remove.params);
    if (!params.ok) return params.response;
    await trash.purge(ownerPrincipal(c), params.value.id);
    return c.json({ success: true });
  });

  return app;
}
