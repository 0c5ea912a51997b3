import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  /** `<Code>` of an S3 XML error body, if any. */
  code?: string;
  sawContinue: boolean;
}

export interface RawRequest {
  method: string;
  /** Raw request target as sent on the wire, e.g. `/bucket/a%20b?tagging`. */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Send headers first and the body only after `100 Continue`. */
  expectContinue?: boolean;
}

/**
 * A request to `endpoint` whose body the test writes itself (part of it, then a cut or the end),
 * for what sendRaw cannot do: a client that stalls or goes away mid-body.
 */
export function openRequest(
  endpoint: string,
  req: { method: string; path: string; headers: Record<string, string> },
  onResponse?: (response: IncomingMessage) => void,
): ClientRequest {
  const url = new URL(endpoint);
  return httpRequest({ host: url.hostname, port: url.port, method: req.method, path: req.path, headers: req.headers }, onResponse);
}

/** Sends exactly the bytes asked for (no client-side path normalisation), over node:http. */
export function sendRaw(endpoint: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(endpoint);
  const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...req.headers };
    if (body !== undefined && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) headers['content-length'] = String(body.length);
    if (req.expectContinue) headers.expect = '100-continue';
    let sawContinue = false;
    const outgoing = httpRequest({ host: url.hostname, port: url.port, method: req.method, path: req.path, headers, setHost: headers.host === undefined });
    outgoing.on('continue', () => {
      sawContinue = true;
      outgoing.end(body);
    });
    outgoing.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => {
        const buffer = Buffer.concat(chunks);
        const text = buffer.toString('utf8');
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: buffer, text, code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1], sawContinue });
      });
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    if (!req.expectContinue) outgoing.end(body);
  });
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

function splitPath(path: string): { pathname: string; query: Record<string, string | string[]> } {
  const questionMark = path.indexOf('?');
  const pathname = questionMark === -1 ? path : path.slice(0, questionMark);
  const query: Record<string, string | string[]> = {};
  if (questionMark !== -1) {
    for (const part of path.slice(questionMark + 1).split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const name = decodeURIComponent(eq === -1 ? part : part.slice(0, eq));
      query[name] = eq === -1 ? '' : decodeURIComponent(part.slice(eq + 1));
    }
  }
  return { pathname, query };
}

export function signer(credentials: Credentials, region = 'eu-central-1', signingDate?: () => Date) {
  return new SignatureV4({ credentials, region, service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: false, ...(signingDate ? {} : {}) });
}

/**
 * Signs a raw request with @smithy/signature-v4 (header auth). `payloadHash` defaults to the body's
 * SHA-256; pass `UNSIGNED-PAYLOAD` or a wrong hash to test verification.
 */
export async function signRaw(
  endpoint: string,
  credentials: Credentials,
  req: RawRequest & { payloadHash?: string; signingDate?: Date; region?: string; host?: string },
): Promise<RawRequest> {
  const url = new URL(endpoint);
  const body = req.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
  const payloadHash = req.payloadHash ?? createHash('sha256').update(body).digest('hex');
  const { pathname, query } = splitPath(req.path);
  const host = req.host ?? url.host;
  const signed = await signer(credentials, req.region).sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: host.split(':')[0],
      port: url.port ? Number(url.port) : undefined,
      path: pathname,
      query,
      headers: { host, 'x-amz-content-sha256': payloadHash, ...req.headers },
    },
    { signingDate: req.signingDate },
  );
  return { ...req, headers: signed.headers as Record<string, string> };
}

export async function presignRaw(endpoint: string, credentials: Credentials, req: { method: string; path: string; expiresIn: number; signingDate?: Date }): Promise<string> {
  const url = new URL(endpoint);
  const { pathname, query } = splitPath(req.path);
  const presigned = await signer(credentials).presign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: pathname,
      query,
      // Presigned URLs never sign the payload, as @aws-sdk/s3-request-presigner does.
      headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    },
    { expiresIn: req.expiresIn, signingDate: req.signingDate, unsignableHeaders: new Set(['x-amz-content-sha256']) },
  );
  const search = Object.entries(presigned.query ?? {})
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`)
    .join('&');
  return `${pathname}?${search}`;
}
