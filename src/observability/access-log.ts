import type { IncomingMessage, ServerResponse } from 'node:http';
import { pathOf } from '../http/request-path.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from './metrics.ts';

/**
 * One access line (and one metrics observation) per request, on both ports.
 *
 * Cost model: the server's `request` listener (`createAccessLog(...).s3`/`.api`, prepended by the
 * composition root) creates one small record per request and hangs it on the IncomingMessage;
 * the apps fill in what only they know (account, key id, operation, bucket, error code) with
 * `noteS3Request`/`noteApiRequest`/`noteError`, a property check and a few assignments; one
 * module-level `close` listener on the response (no closure per request) observes the metrics and
 * writes the line. `close` follows `finish` for a completed response and also fires when the
 * client goes away first, so every request is seen exactly once.
 */

const RECORD = Symbol('cloudstorage.accessRecord');

interface Sink {
  server: 's3' | 'api';
  logger: Logger;
  metrics: Metrics;
  /** Write the line (ACCESS_LOG on and LOG_LEVEL at most info); metrics are observed either way. */
  log: boolean;
}

class AccessRecord {
  requestId: string | undefined = undefined;
  accountId: string | undefined = undefined;
  keyId: string | undefined = undefined;
  /** S3 operation (`PutObject`) or dashboard route pattern (`/api/v1/files/:id`). */
  operation: string | undefined = undefined;
  bucket: string | undefined = undefined;
  /** The error code answered (`NoSuchKey`, `files.quota_exceeded`), when the app rendered one. */
  error: string | undefined = undefined;
  readonly start = performance.now();
  readonly readAtStart: number;
  readonly writtenAtStart: number;
  constructor(
    readonly sink: Sink,
    readonly incoming: IncomingMessage,
  ) {
    this.readAtStart = incoming.socket.bytesRead;
    this.writtenAtStart = incoming.socket.bytesWritten;
  }
}

type WithRecord = { [RECORD]?: AccessRecord };

const recordOf = (incoming: IncomingMessage | undefined): AccessRecord | undefined => (incoming as (IncomingMessage & WithRecord) | undefined)?.[RECORD];

/** The gateway, as it starts a request: its id (its response head carries it, but is not kept where the line could read it). */
export function noteRequestId(incoming: IncomingMessage, requestId: string): void {
  const record = recordOf(incoming);
  if (record !== undefined) record.requestId = requestId;
}

/** The gateway, once the request is authenticated and its operation known. `bucket` as the account names it. */
export function noteS3Request(incoming: IncomingMessage, accountId: string, keyId: string, operation: { op: string; bucket?: string }): void {
  const record = recordOf(incoming);
  if (record === undefined) return;
  record.accountId = accountId;
  record.keyId = keyId;
  record.operation = operation.op;
  record.bucket = operation.bucket;
}

/** The dashboard API, after its handler: request id, matched route, and who was authenticated (session or access key). */
export function noteApiRequest(incoming: IncomingMessage | undefined, requestId: string, route: string, accountId: string | undefined, keyId: string | undefined): void {
  const record = recordOf(incoming);
  if (record === undefined) return;
  record.requestId = requestId;
  record.operation = route;
  record.accountId = accountId;
  record.keyId = keyId;
}

/** The error code a door answered (S3 code or JSON `error`): logged, and quota refusals counted. */
export function noteError(incoming: IncomingMessage | undefined, code: string): void {
  const record = recordOf(incoming);
  if (record !== undefined) record.error = code;
}

export interface AccessLogOptions {
  logger: Logger;
  metrics: Metrics;
  /** Whether lines are written (ACCESS_LOG and LOG_LEVEL ≤ info). Metrics are observed regardless. */
  enabled: boolean;
}

/** `request` (and `checkContinue`) listeners for the two servers; prepend them so timing starts first. */
export function createAccessLog(options: AccessLogOptions) {
  const listener = (server: Sink['server']) => {
    const sink: Sink = { server, logger: options.logger, metrics: options.metrics, log: options.enabled };
    return function beginAccessRecord(incoming: IncomingMessage, outgoing: ServerResponse): void {
      (incoming as IncomingMessage & WithRecord)[RECORD] = new AccessRecord(sink, incoming);
      outgoing.on('close', onResponseClose);
    };
  };
  return { s3: listener('s3'), api: listener('api') };
}

/** Body bytes of a request: its declared length once received in full; else what its socket read meanwhile (chunked or cut short: approximate). */
function bytesIn(record: AccessRecord): number {
  const { incoming } = record;
  const declared = incoming.headers['content-length'];
  if (incoming.complete && declared !== undefined) return Number(declared) || 0;
  if (incoming.complete && incoming.headers['transfer-encoding'] === undefined) return 0;
  return Math.max(0, incoming.socket.bytesRead - record.readAtStart);
}

const CONTENT_LENGTH = /\r\ncontent-length: *(\d+)\r\n/i;

/** Body bytes of a response: its Content-Length once sent in full; else what went to the socket minus the head (chunked, headers given to writeHead, or cut short). */
function bytesOut(record: AccessRecord, outgoing: ServerResponse, status: number | undefined): number {
  if (status === undefined) return 0;
  if (record.incoming.method === 'HEAD' || status === 204 || status === 304) return 0;
  const head = (outgoing as ServerResponse & { _header?: string | null })._header;
  if (outgoing.writableFinished) {
    // A head written from a flat array (the S3 gateway's writeS3Head) is not kept as headers: its
    // Content-Length is read from the head itself. (The socket count below would also hold a
    // `100 Continue` sent before it.)
    const declared = outgoing.getHeader('content-length') ?? (head ? CONTENT_LENGTH.exec(head)?.[1] : undefined);
    if (declared !== undefined) return Number(declared) || 0;
  }
  // The response's own socket (`outgoing.socket` is detached by now); its head is Node's `_header`
  // string (latin1: one char per byte). A chunked body's final `0\r\n\r\n` is framing, not body;
  // the per-chunk size lines still count (a few bytes per chunk: approximate for streamed bodies).
  const terminator = outgoing.writableFinished && outgoing.chunkedEncoding ? 5 : 0;
  return Math.max(0, record.incoming.socket.bytesWritten - record.writtenAtStart - (head?.length ?? 0) - terminator);
}

function onResponseClose(this: ServerResponse): void {
  const record = recordOf(this.req);
  if (record === undefined) return;
  const { sink, incoming } = record;
  const seconds = (performance.now() - record.start) / 1000;
  // No status reached the client when it left before the head was sent.
  const status = this.headersSent ? this.statusCode : undefined;
  const received = bytesIn(record);
  const sent = bytesOut(record, this, status);
  const operation = record.operation ?? 'unknown';
  if (sink.server === 's3') sink.metrics.s3Request(operation, status, seconds, received, sent);
  else sink.metrics.apiRequest(incoming.method ?? 'GET', operation, status, seconds, received, sent);
  const { error } = record;
  // S3 `QuotaExceeded`; JSON doors `files.quota_exceeded` (or another door's `<door>.quota_exceeded`).
  if (error !== undefined && (error === 'QuotaExceeded' || error.endsWith('quota_exceeded'))) sink.metrics.quotaRefused(sink.server);
  if (!sink.log) return;
  sink.logger.info('access', {
    server: sink.server,
    requestId: record.requestId ?? (this.getHeader('x-amz-request-id') as string | undefined),
    method: incoming.method,
    path: pathOf(incoming.url),
    // S3: the operation (`PutObject`); dashboard API: the route pattern (`/api/v1/files/:id`).
    operation,
    bucket: record.bucket,
    accountId: record.accountId,
    keyId: record.keyId,
    status: status ?? null,
    error,
    bytesIn: received,
    bytesOut: sent,
    durationMs: Math.round(seconds * 1e5) / 100,
    aborted: this.writableFinished ? undefined : true,
  });
}
