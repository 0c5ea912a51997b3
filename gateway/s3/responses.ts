import type { ServerResponse } from 'node:http';

export const XML_CONTENT_TYPE = 'application/xml';

/**
 * What an S3 handler answers: status, headers and a small body (XML documents, empty answers).
 * Object bodies are streamed by their handler straight to the socket, which then answers
 * `RESPONSE_ALREADY_SENT`. A plain record rather than a web `Response`: the gateway writes it to
 * the Node response in one `writeHead` + `end`, without building and re-reading a fetch object
 * on every request (see `writeReply`).
 */
export interface S3Reply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string | null;
}

/** The handler already wrote (or destroyed) the response itself. */
export const RESPONSE_ALREADY_SENT: S3Reply = Object.freeze({ status: 0, headers: Object.freeze({}) as Record<string, string>, body: null });

export function xmlResponse(body: string, status = 200, headers: Record<string, string> = {}): S3Reply {
  return { status, headers: { 'Content-Type': XML_CONTENT_TYPE, ...headers }, body };
}

export function emptyResponse(status: number, headers: Record<string, string> = {}): S3Reply {
  return { status, headers, body: null };
}

/** Writes `reply` to the Node response: one `writeHead` and one `end`. */
export function writeReply(reply: S3Reply, outgoing: ServerResponse): void {
  if (reply === RESPONSE_ALREADY_SENT || outgoing.headersSent || outgoing.destroyed) return;
  const { headers, body } = reply;
  if (body === null) {
    outgoing.writeHead(reply.status, headers);
    outgoing.end();
    return;
  }
  headers['Content-Length'] = String(Buffer.byteLength(body));
  outgoing.writeHead(reply.status, headers);
  outgoing.end(body);
}
