import type { Context } from 'hono';
import type { z } from 'zod';
import { jsonError } from './errors.ts';

/** Parses a JSON body against a zod shape; a malformed body becomes 400 `invalid_request`. */
export async function parseBody<T extends z.ZodType>(c: Context, schema: T): Promise<{ ok: true; value: z.output<T> } | { ok: false; response: Response }> {
  const raw: unknown = await c.req.json().catch(() => undefined);
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  const problems = raw === undefined ? 'the body must be JSON' : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ');
  return { ok: false, response: jsonError(c, 400, 'invalid_request', `Invalid request: ${problems}.`) };
}

/** A required, non-empty query parameter; its absence becomes 400 `invalid_request`. */
export function requireQuery(c: Context, name: string): { ok: true; value: string } | { ok: false; response: Response } {
  const value = c.req.query(name);
  if (value !== undefined && value !== '') return { ok: true, value };
  return { ok: false, response: jsonError(c, 400, 'invalid_request', `Invalid request: the ${name} query parameter is required.`) };
}

/** Parses the query string against a zod object; a mismatch becomes 400 `invalid_request`. */
export function parseQuery<T extends z.ZodObject>(c: Context, schema: T): { ok: true; value: z.output<T> } | { ok: false; response: Response } {
  const parsed = schema.safeParse(c.req.query());
  if (parsed.success) return { ok: true, value: parsed.data };
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'query'}: ${issue.message}`).join('; ');
  return { ok: false, response: jsonError(c, 400, 'invalid_request', `Invalid request: ${problems}.`) };
}

/** Parses the path parameters against a zod object (the operation's `params`); a mismatch becomes 400 `invalid_request`. */
export function parseParams<T extends z.ZodObject>(c: Context, schema: T): { ok: true; value: z.output<T> } | { ok: false; response: Response } {
  const parsed = schema.safeParse(c.req.param());
  if (parsed.success) return { ok: true, value: parsed.data };
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'path'}: ${issue.message}`).join('; ');
  return { ok: false, response: jsonError(c, 400, 'invalid_request', `Invalid request: ${problems}.`) };
}
