import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import type { TestServer } from './cloudstorage.ts';

export const DASHBOARD_PASSWORD = 'a long enough password';
let emailCounter = 0;
export const newEmail = (prefix = 'user') => `${prefix}${++emailCounter}-${Date.now()}@example.com`;

export interface CallOptions {
  method?: string;
  body?: unknown;
  cookie?: string;
  /** Defaults to the server's own origin; `null` sends no Origin header. */
  origin?: string | null;
}

/** One dashboard API call over real HTTP; returns the response and its parsed JSON (undefined for empty bodies). */
export async function callApi(server: Pick<TestServer, 'apiEndpoint'>, path: string, options: CallOptions = {}) {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.cookie) headers.cookie = options.cookie;
  const origin = options.origin === undefined ? server.apiEndpoint : options.origin;
  if (origin !== null) headers.origin = origin;
  const response = await fetch(`${server.apiEndpoint}${path}`, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
  });
  const text = await response.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { response, status: response.status, json: (text ? JSON.parse(text) : undefined) as any };
}

export interface SignedUp {
  userId: string;
  email: string;
  cookie: string;
  /** The first access key created at sign-up (secret included). */
  firstKey: { id: string; name: string; accessKey: string; secretKey: string; createdAt: string };
}

/** Signs up through /api/auth/signup; throws unless it answers 201 with a session cookie. */
export async function signupViaApi(server: Pick<TestServer, 'apiEndpoint'>, email = newEmail()): Promise<SignedUp> {
  const result = await callApi(server, '/api/auth/signup', { body: { email, password: DASHBOARD_PASSWORD } });
  if (result.status !== 201) throw new Error(`signup failed: ${result.status} ${JSON.stringify(result.json)}`);
  const header = result.response.headers.getSetCookie().find((line) => line.startsWith('session='));
  if (!header) throw new Error('signup set no session cookie');
  return { userId: result.json.user.id, email, cookie: header.split(';')[0]!, firstKey: result.json.accessKey };
}

/** Signs up (any server with a dashboard API, spawned ones included): the first key as S3 credentials, and the session cookie. */
export async function signupForS3(server: Pick<TestServer, 'apiEndpoint'>, email = newEmail()): Promise<{ accessKeyId: string; secretAccessKey: string; cookie: string }> {
  const { firstKey, cookie } = await signupViaApi(server, email);
  return { accessKeyId: firstKey.accessKey, secretAccessKey: firstKey.secretKey, cookie };
}

/** An S3 client for a dashboard-issued key, without retries (a refusal shows at once). */
export function s3ClientFor(server: TestServer, key: { accessKey: string; secretKey: string }): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: 'eu-central-1',
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: key.accessKey, secretAccessKey: key.secretKey },
  });
}

/** The S3 error name of a ListBuckets with this key on the gateway, or 'ok'. */
export async function gatewayAnswer(server: TestServer, key: { accessKey: string; secretKey: string }): Promise<string> {
  const s3 = s3ClientFor(server, key);
  try {
    await s3.send(new ListBucketsCommand({}));
    return 'ok';
  } catch (error) {
    return (error as { name: string }).name;
  } finally {
    s3.destroy();
  }
}
