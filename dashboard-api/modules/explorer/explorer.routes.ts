import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { sessionPrincipal } from '../../../src/objects/principal.ts';
import { clientSignal } from '../../../src/http/client-signal.ts';
import { z } from 'zod';
import { defineOperation } from '../../openapi/operations.ts';
import { parseQuery } from '../../validation.ts';
import { requireUser, type AuthVariables } from '../auth/session.middleware.ts';
import type { ExplorerUsecases } from './explorer.usecases.ts';

type ExplorerEnv = { Bindings: Partial<HttpBindings>; Variables: AuthVariables & { requestId: string } };

const entrySchema = z.union([
  z.object({ key: z.string(), type: z.literal('directory') }),
  z.object({
    key: z.string(),
    type: z.literal('file'),
    id: z.string().describe('The file id of the Simple REST API (`GET /api/v1/files/{id}`).'),
    size: z.number().int(),
    contentType: z.string(),
    lastModified: z.iso.datetime(),
  }),
]);

export const explorerOperations = {
  browse: defineOperation({
    method: 'get',
    path: '/api/explorer',
    tag: 'Storage explorer',
    auth: 'session',
    summary: 'List one folder of a bucket: sub-folders (`directory`) and files, a page at a time.',
    description: 'Folders are key prefixes up to the next `/`. Pass `cursor` from a page with `hasMore` to get the next one.',
    query: z.object({
      bucket: z.string().min(1).max(63).default('default'),
      prefix: z.string().max(1024).default('').describe('The folder, e.g. `documents/`; empty for the root.'),
      limit: z.coerce.number().int().min(1).max(1000).default(1000),
      cursor: z.string().min(1).max(2048).optional(),
    }),
    responses: {
      200: {
        description: 'One page of the folder.',
        schema: z.object({ files: z.array(entrySchema), prefix: z.string(), bucket: z.string(), hasMore: z.boolean(), cursor: z.string().nullable() }),
      },
      400: { description: '`invalid_request` or `files.invalid_cursor`.' },
      404: { description: '`buckets.not_found`.' },
    },
  }),
};

/** `/api/explorer`: browse the signed-in account's buckets folder by folder (session cookie, as the spec shows). */
export function createExplorerRoutes(deps: { explorer: ExplorerUsecases }) {
  const app = new Hono<ExplorerEnv>();
  app.use('*', requireUser);
  app.get('/', async (c) => {
    const query = parseQuery(c, explorerOperations.browse.query);
    if (!query.ok) return query.response;
    // A client that goes away cancels the listing's backend calls.
    const signal = c.env?.incoming && c.env.outgoing ? clientSignal(c.env.incoming, c.env.outgoing) : undefined;
    return c.json(await deps.explorer.browse(sessionPrincipal(c.get('user')!.id, c.env?.incoming?.socket.remoteAddress), { ...query.value, signal }));
  });
  return app;
}
