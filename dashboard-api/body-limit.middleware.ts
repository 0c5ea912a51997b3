import type { Context, MiddlewareHandler } from 'hono';
import { jsonError } from './errors.ts';

/** Methods whose body @hono/node-server never hands to a handler: nothing to cap. */
const BODILESS = new Set(['GET', 'HEAD']);

function tooLarge(c: Context, maxBytes: number) {
  return jsonError(c, 413, 'payload_too_large', `The request body exceeds ${maxBytes} bytes, the most this endpoint reads (API_BODY_LIMIT_BYTES). Nothing was done.`);
}

/**
 * Caps request bodies before any handler reads them (413 `payload_too_large`), so an anonymous
 * client cannot make the process buffer hundreds of megabytes of "JSON" (the handlers' `c.req.json()`
 * reads the whole body into memory first).
 *
 * - A declared `Content-Length` over the cap is refused at once, with not one body byte read.
 * - Otherwise (a smaller length, or a chunked body with no length at all) the body is read here,
 *   counting bytes as they arrive: the first chunk past the cap ends the reading and answers 413,
 *   so at most `maxBytes` (plus one chunk) is ever held. The handler then reads the in-memory copy,
 *   never the socket.
 * - `streamed(c)` names the routes that stream their body to storage themselves (the file upload):
 *   they are not capped here, since they never buffer it.
 *
 * The unread rest of a refused body is left to @hono/node-server, which discards it for a moment
 * after the response (so the client sees the 413 instead of a reset) and then closes the socket.
 */
export function bodyLimit(options: { maxBytes: number; streamed?: (c: Context) => boolean }): MiddlewareHandler {
  const { maxBytes } = options;
  return async (c, next) => {
    if (BODILESS.has(c.req.method) || options.streamed?.(c)) return next();
    const declared = c.req.header('content-length');
    const chunked = c.req.header('transfer-encoding') !== undefined;
    // Node's parser has already refused malformed lengths and a length beside Transfer-Encoding.
    if (!chunked) {
      if (declared === undefined || declared === '0') return next();
      if (Number(declared) > maxBytes) return tooLarge(c, maxBytes);
    }
    const body = c.req.raw.body;
    if (!body) return next();

    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch {
        // The client went away mid-body: nothing to process and probably nobody to answer.
        return jsonError(c, 400, 'invalid_request', 'The request body ended before it was complete.');
      }
      if (result.done) break;
      size += result.value.byteLength;
      if (size > maxBytes) {
        reader.cancel().catch(() => undefined);
        return tooLarge(c, maxBytes);
      }
      chunks.push(result.value);
    }
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    c.req.raw = new Request(c.req.raw, { body: bytes });
    return next();
  };
}
