import type { ServerResponse } from 'node:http';
import { newRequestId } from '../../src/ids.ts';

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

const REQUEST_ID = Symbol('cloudstorage.s3RequestId');
type WithRequestId = ServerResponse & { [REQUEST_ID]?: string };

/** Gives the response its request id, which every head written by `writeS3Head` carries. */
export function startS3Response(outgoing: ServerResponse, requestId: string): void {
  (outgoing as WithRequestId)[REQUEST_ID] = requestId;
}

/** The id `startS3Response` gave the response, if any. */
export function requestIdOf(outgoing: ServerResponse): string | undefined {
  return (outgoing as WithRequestId)[REQUEST_ID];
}

const HEAD_FIELDS = Symbol('cloudstorage.s3HeadFields');
type WithHeadFields = ServerResponse & { [HEAD_FIELDS]?: string[] };

/**
 * Adds fields to every head `writeS3Head` writes for this response, whatever the handler answers
 * (the X-RateLimit-* headers, decided before the handler runs). Kept on the response rather than
 * set with `setHeader`, which would send Node down its merge path for the whole head. The same
 * name given again replaces the value. Names must be in the case they are sent in; a handler's
 * header of the same name (same case) wins.
 */
export function addS3HeadFields(outgoing: ServerResponse, fields: Record<string, string>): void {
  const target = outgoing as WithHeadFields;
  let list = target[HEAD_FIELDS];
  if (!list) {
    list = [];
    target[HEAD_FIELDS] = list;
  }
  for (const name in fields) {
    let at = 0;
    while (at < list.length && list[at] !== name) at += 2;
    list[at] = name;
    list[at + 1] = fields[name]!;
  }
}

/**
 * Writes an S3 response head: the request id (`x-amz-request-id`, `x-amz-id-2`), `Server`, the
 * response's `addS3HeadFields`, then `headers`. As one flat array, not `setHeader` calls up front
 * and an object to merge: Node then builds the head straight from the array instead of storing,
 * lower-casing and re-reading every header (about 10 % of a bare server's CPU per response,
 * measured with 10 headers). Headers a request set with `setHeader` (CORS) are still merged by
 * Node, `headers` winning.
 */
export function writeS3Head(outgoing: ServerResponse, status: number, headers: Record<string, string>): void {
  const requestId = requestIdOf(outgoing) ?? newRequestId();
  const head: string[] = ['x-amz-request-id', requestId, 'x-amz-id-2', requestId, 'Server', 'CloudStorage'];
  const fields = (outgoing as WithHeadFields)[HEAD_FIELDS];
  if (fields) {
    for (let i = 0; i < fields.length; i += 2) if (!(fields[i]! in headers)) head.push(fields[i]!, fields[i + 1]!);
  }
  for (const name in headers) head.push(name, headers[name]!);
  outgoing.writeHead(status, head);
}

/** Writes `reply` to the Node response: one `writeHead` and one `end`. */
export function writeReply(reply: S3Reply, outgoing: ServerResponse): void {
  if (reply === RESPONSE_ALREADY_SENT || outgoing.headersSent || outgoing.destroyed) return;
  const { headers, body } = reply;
  if (body === null) {
    writeS3Head(outgoing, reply.status, headers);
    outgoing.end();
    return;
  }
  headers['Content-Length'] = String(Buffer.byteLength(body));
  writeS3Head(outgoing, reply.status, headers);
  outgoing.end(body);
}
