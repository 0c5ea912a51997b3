import { createHmac } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { awsUriEncode, buildCanonicalRequest, buildStringToSign, canonicalQueryString, percentDecode, splitRawUrl } from '../../src/s3-protocol/sigv4/canonical.ts';

export interface NormalisingProxyOptions {
  /** The store behind the proxy, e.g. RGW's `http://127.0.0.1:40123`. */
  target: string;
  /**
   * Re-sign every forwarded request with these credentials (SigV4, RGW's canonical URI: the
   * decoded path re-encoded), as aws-sigv4-proxy or an authenticating sidecar does. Without it
   * the client's signature is forwarded, and the store refuses any request whose path the proxy
   * changed (SignatureDoesNotMatch).
   */
  resign?: { accessKeyId: string; secretAccessKey: string; region: string };
}

export interface NormalisingProxy {
  endpoint: string;
  /** Request targets as received, in order. */
  received: string[];
  /** Request targets as forwarded after normalisation, in order. */
  forwarded: string[];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']);

/**
 * Resolves `.`/`..` segments the way a WHATWG URL parser does (Node's `new URL`, and like it
 * many proxies and frameworks): `%2e`/`%2E` count as dots; `%2F` is not a separator.
 */
export function normaliseTarget(rawTarget: string): string {
  const url = new URL(rawTarget, 'http://normaliser.invalid');
  return url.pathname + url.search;
}

/**
 * A reverse proxy that normalises request paths before forwarding, as an ingress or API
 * gateway in front of an object store may: the setup in which a key with `..` segments
 * forwarded verbatim lands in another bucket. Bodies stream both ways.
 */
export async function startNormalisingProxy(options: NormalisingProxyOptions): Promise<NormalisingProxy> {
  const target = new URL(options.target);
  const received: string[] = [];
  const forwarded: string[] = [];

  const server = createServer((req, res) => {
    const rawTarget = req.url ?? '/';
    const normalised = normaliseTarget(rawTarget);
    received.push(rawTarget);
    forwarded.push(normalised);
    const headers: IncomingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value;
    if (options.resign) resign(req.method ?? 'GET', normalised, headers, target.host, options.resign);
    const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: normalised, headers }, (response) => {
      res.writeHead(response.statusCode ?? 502, response.headers);
      response.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.on('error', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    received,
    forwarded,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Replaces the Authorization header with one for the forwarded target, same headers and date. */
function resign(method: string, rawTarget: string, headers: IncomingHttpHeaders, host: string, credentials: NonNullable<NormalisingProxyOptions['resign']>): void {
  const authorization = String(headers.authorization ?? '');
  const signedHeaders = /SignedHeaders=([^,\s]+)/.exec(authorization)?.[1]?.split(';');
  const amzDate = headers['x-amz-date'];
  if (!signedHeaders || typeof amzDate !== 'string') return;
  headers.host = host;
  const { path, query } = splitRawUrl(rawTarget);
  const canonical = buildCanonicalRequest({
    method,
    canonicalUri: awsUriEncode(percentDecode(path), false),
    canonicalQuery: canonicalQueryString(query),
    signedHeaders,
    headerValues: signedHeaders.map((name) =>
      String(headers[name] ?? '')
        .trim()
        .replace(/\s+/g, ' '),
    ),
    payloadHash: String(headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD'),
  });
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${credentials.region}/s3/aws4_request`;
  let key = createHmac('sha256', `AWS4${credentials.secretAccessKey}`).update(day).digest();
  for (const part of [credentials.region, 's3', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  const signature = createHmac('sha256', key)
    .update(buildStringToSign(amzDate, scope, canonical))
    .digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`;
}
