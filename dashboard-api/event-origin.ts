import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { EventOrigin } from '../src/events/domain-event.ts';

/**
 * The origin recorded in the domain events of a dashboard request: the signed-in user (as a
 * `session`, or as an `admin` on /api/admin) and the socket's address (no proxy header trusted).
 */
export function requestOrigin(c: Context, kind: 'session' | 'admin', userId: string): EventOrigin {
  const address = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress;
  return { actor: { kind, id: userId }, ...(address ? { clientAddress: address } : {}) };
}
