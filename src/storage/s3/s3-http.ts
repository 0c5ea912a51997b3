import { createHash, createHmac } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';
import { awsUriEncode, buildCanonicalRequest, buildStringToSign, EMPTY_SHA256 } from '../../s3-protocol/sigv4/canonical.ts';
import { createSigningKeyCache } from '../../s3-protocol/sigv4/signing-key-cache.ts';
import { S3Error } from '../../errors/s3-errors.ts';
import { parseBackendError } from './s3-xml.ts';

export interface S3HttpOptions {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  forcePathStyle: boolean;
  timeoutMs: number;
  maxConnections: number;
  /** Injected for tests: the signing time. */
  now?: () => Date;
}

export interface S3HttpRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  bucket?: string;
  key?: string;
  /** Sub-resources and parameters; `''` renders as a bare name (`?uploads`). */
  query?: Record<string, string | undefined>;
  headers?: Record<string, string | undefined>;
  /** A buffer is signed with its SHA-256; a stream is sent as UNSIGNED-PAYLOAD with its length. */
  body?: Buffer | Readable;
  bodyLength?: number;
  /** Statuses the caller handles itself (304, 412 for conditional reads); others become S3Errors. */
  passStatuses?: readonly number[];
  /**
   * The caller's cancellation: aborting it closes the upstream request, or the response body
   * being read (undici destroys it), and the call rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

export interface S3HttpResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

const UNSIGNED = 'UNSIGNED-PAYLOAD';

const isDotSegment = (segment: string) => segment === '.' || segment === '..';

/**
 * An object key as it travels in a request path or `x-amz-copy-source` (`wire`), and as it is
 * signed (`canonical`).
 *
 * Keys are sent verbatim, except keys with a `.` or `..` segment: forwarded as is, any HTTP
 * intermediary that normalises paths (RFC 3986 dot removal, WHATWG URL, nginx/Envoy path
 * normalisation) would resolve `incoming/../../cs-other/x` in bucket A into bucket
 * `cs-other`, another tenant's, and an intermediary that re-signs would make the store answer
 * it. Percent-encoding the dots does not help: WHATWG URL and RFC 3986 normalisation treat
 * `%2E%2E` as `..`. So every `/` of such a key is sent as `%2F`: the whole key is then one path
 * segment, which no normaliser resolves (none splits on `%2F`), and the store decodes it to the
 * same key. A key that is exactly `.` or `..` is one segment already and cannot be protected
 * (`/bucket/..` would become `/`, ListBuckets; `/bucket/.` `/bucket/`, a bucket-level request),
 * so it is refused.
 *
 * The canonical URI stays the decoded key re-encoded with `/` kept: RGW decodes the whole path
 * before signing (verified on Ceph 16: canonical `%2F` or `%2E` is SignatureDoesNotMatch). A
 * store that signs the path as sent (`%2F` kept) refuses dot-segment keys with
 * SignatureDoesNotMatch: they fail, never cross.
 */
export function encodeKey(key: string): { wire: string; canonical: string } {
  const canonical = awsUriEncode(key, false);
  if (!key.split('/').some(isDotSegment)) return { wire: canonical, canonical };
  if (isDotSegment(key)) {
    throw new S3Error(
      'InvalidArgument',
      'Object keys "." and ".." cannot be stored on the s3 storage backend: an HTTP proxy in front of the store could resolve them as path segments.',
      {
        details: { ArgumentName: 'key', ArgumentValue: key },
      },
    );
  }
  return { wire: awsUriEncode(key, true), canonical };
}

/** `x-amz-copy-source` for a key (one version of it): encoded as the request path would be (stores URL-decode it). */
export const copySourceHeader = (bucket: string, key: string, versionId?: string) =>
  `/${bucket}/${encodeKey(key).wire}${versionId === undefined ? '' : `?versionId=${encodeURIComponent(versionId)}`}`;

/** Node's and undici's names for "the backend is not there or not answering". */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ETIMEDOUT']);

export function isBackendUnavailable(error: unknown): boolean {
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError || error instanceof undiciErrors.ConnectTimeoutError) return true;
  if (error instanceof undiciErrors.SocketError) return true;
  const code = (error as { code?: string } | undefined)?.code;
  return code !== undefined && UNAVAILABLE_CODES.has(code);
}

/** A failure of undici's own connection to the backend (never of the client's request stream). */
function isBackendConnectionFailure(error: unknown): boolean {
  if (error instanceof undiciErrors.UndiciError) return isBackendUnavailable(error);
  return (error as { syscall?: string } | undefined)?.syscall === 'connect' && isBackendUnavailable(error);
}

/** 503 with Retry-After: S3 clients retry it with backoff, so a backend outage heals without user action. */
export function backendUnavailableError(cause: unknown): S3Error {
  return new S3Error('ServiceUnavailable', 'The storage backend is unavailable or too slow. Retry later.', {
    headers: { 'Retry-After': '1' },
    cause,
  });
}

/**
 * A minimal S3 client: SigV4-signed requests over one keep-alive undici pool, with bodies
 * streamed both ways. Backend error documents become S3Errors (code and status kept) here, so
 * nothing above this file sees HTTP or XML from the backend.
 */
export function createS3Http(options: S3HttpOptions) {
  const endpoint = new URL(options.endpoint);
  const basePath = endpoint.pathname.replace(/\/+$/, '');
  const origin = endpoint.origin;
  const now = options.now ?? (() => new Date());
  const signingKeys = createSigningKeyCache({ maxEntries: 4 });
  const agent = new Agent({
    connections: options.maxConnections,
    keepAliveTimeout: 30_000,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connect: { timeout: options.timeoutMs },
    // Pipelining would let one slow response hold up the next request on the connection.
    pipelining: 1,
  });

  /** `path` is sent, `canonicalPath` signed: they differ only for keys with dot segments (see encodeKey). */
  function target(bucket: string | undefined, key: string | undefined): { host: string; origin: string; path: string; canonicalPath: string } {
    if (!bucket) return { host: endpoint.host, origin, path: `${basePath}/`, canonicalPath: `${basePath}/` };
    const encoded = key === undefined ? undefined : encodeKey(key);
    if (options.forcePathStyle) {
      const prefix = `${basePath}/${bucket}`;
      return { host: endpoint.host, origin, path: encoded ? `${prefix}/${encoded.wire}` : prefix, canonicalPath: encoded ? `${prefix}/${encoded.canonical}` : prefix };
    }
    const host = `${bucket}.${endpoint.host}`;
    return { host, origin: `${endpoint.protocol}//${host}`, path: `${basePath}/${encoded?.wire ?? ''}`, canonicalPath: `${basePath}/${encoded?.canonical ?? ''}` };
  }

  function canonicalQuery(query: Record<string, string | undefined>): string {
    return Object.entries(query)
      .filter((entry): entry is [string, string] => entry[1] !== undefined)
      .map(([name, value]) => [awsUriEncode(name), awsUriEncode(value)] as const)
      .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
      .map(([name, value]) => `${name}=${value}`)
      .join('&');
  }

  function sign(method: string, host: string, canonicalPath: string, query: string, headers: Record<string, string>, payloadHash: string) {
    const date = now();
    const amzDate = date
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
    const day = amzDate.slice(0, 8);
    headers['x-amz-date'] = amzDate;
    headers['x-amz-content-sha256'] = payloadHash;
    headers.host = host;
    // Sign everything we send except hop-by-hop framing: the backend then checks it all.
    const names = Object.keys(headers)
      .filter((name) => name !== 'content-length' && name !== 'user-agent')
      .sort();
    const canonical = buildCanonicalRequest({
      method,
      canonicalUri: canonicalPath,
      canonicalQuery: query,
      signedHeaders: names,
      headerValues: names.map((name) => headers[name]!.trim().replace(/\s+/g, ' ')),
      payloadHash,
    });
    const scope = `${day}/${options.region}/s3/aws4_request`;
    const signature = createHmac('sha256', signingKeys.get(options.accessKeyId, options.secretAccessKey, day, options.region, 's3'))
      .update(buildStringToSign(amzDate, scope, canonical))
      .digest('hex');
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${options.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
    delete headers.host;
  }

  async function send(input: S3HttpRequest): Promise<S3HttpResponse> {
    const { host, origin: requestOrigin, path, canonicalPath } = target(input.bucket, input.key);
    const query = canonicalQuery(input.query ?? {});
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(input.headers ?? {})) if (value !== undefined) headers[name.toLowerCase()] = value;
    let payloadHash = EMPTY_SHA256;
    if (Buffer.isBuffer(input.body)) {
      payloadHash = createHash('sha256').update(input.body).digest('hex');
      headers['content-length'] = String(input.body.length);
    } else if (input.body) {
      // The gateway has already verified the client's payload signature and checksums; hashing
      // the stream again would need it buffered before the headers could be signed.
      payloadHash = UNSIGNED;
      if (input.bodyLength !== undefined) headers['content-length'] = String(input.bodyLength);
    }
    sign(input.method, host, canonicalPath, query, headers, payloadHash);
    if (!options.forcePathStyle && input.bucket) headers.host = host;

    let response: Dispatcher.ResponseData;
    try {
      // The dispatcher takes the path verbatim; a URL string would resolve `.`/`..` segments of
      // keys such as `dir/./x` and so break the signature and address another object.
      response = await agent.request({ origin: requestOrigin, path: `${path}${query ? `?${query}` : ''}`, method: input.method, headers, body: input.body, signal: input.signal });
    } catch (error) {
      // Cancelled by the caller (its client went away): its reason, not a backend outage.
      if (input.signal?.aborted) throw input.signal.reason;
      const bodyError = input.body && !Buffer.isBuffer(input.body) ? (input.body as Readable).errored : null;
      const mismatch = [error, bodyError].find((candidate) => (candidate as { code?: string } | null)?.code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
      if (mismatch) throw new S3Error('IncompleteBody', undefined, { cause: mismatch });
      // The client's body failed (disconnect, bad signature): that error, not a backend one. But
      // undici also destroys a streamed body with its own connection failure (a refused connect, a
      // reset backend socket): that one is the backend's, an outage (503), not a 500.
      if (bodyError && !(bodyError === error && isBackendConnectionFailure(error))) throw bodyError;
      if (isBackendUnavailable(error)) throw backendUnavailableError(error);
      throw error;
    }
    const { statusCode } = response;
    if (statusCode >= 300 && !input.passStatuses?.includes(statusCode)) {
      const text = input.method === 'HEAD' ? '' : await response.body.text().catch(() => '');
      throw parseBackendError(statusCode, text, response.headers);
    }
    return { statusCode, headers: response.headers, body: response.body };
  }

  /** Sends and reads the whole (small, XML) response body. */
  async function sendForText(input: S3HttpRequest): Promise<{ statusCode: number; headers: S3HttpResponse['headers']; text: string }> {
    const response = await send(input);
    try {
      return { statusCode: response.statusCode, headers: response.headers, text: await response.body.text() };
    } catch (error) {
      if (input.signal?.aborted) throw input.signal.reason;
      if (isBackendUnavailable(error)) throw backendUnavailableError(error);
      throw error;
    }
  }

  /** Sends and discards the response body (returning the connection to the pool). */
  async function sendAndDiscard(input: S3HttpRequest): Promise<S3HttpResponse['headers']> {
    const response = await send(input);
    await response.body.dump().catch(() => undefined);
    return response.headers;
  }

  return {
    send,
    sendForText,
    sendAndDiscard,
    async close() {
      await agent.close();
    },
  };
}

export type S3Http = ReturnType<typeof createS3Http>;

export const headerValue = (headers: S3HttpResponse['headers'], name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};
