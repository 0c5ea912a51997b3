import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * The one JSON error shape of the dashboard API: `{ error, detail, requestId }`, with a
 * namespaced machine-readable code (`keys.limit_reached`) and a sentence for people.
 */
export function jsonError(c: Context, status: ContentfulStatusCode, error: string, detail: string, headers: Record<string, string> = {}) {
  for (const [name, value] of Object.entries(headers)) c.header(name, value);
  return c.json({ error, detail, requestId: requestIdOf(c) }, status);
}

export function requestIdOf(c: Context): string {
  return (c.get('requestId' as never) as string | undefined) ?? 'unknown';
}
