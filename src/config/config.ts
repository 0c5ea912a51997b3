import { z } from 'zod';
import { parseRateLimitRule, type RateLimitRule } from '../limits/rate-limiter.ts';

const bool = (fallback: boolean) =>
  z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
    .default(fallback)
    .transform((value) => value === true || value === 'true' || value === '1' || value === 'yes');

/** `LIMIT/WINDOW` (`100/1s`, `5/1m`) or `off`; parsed into a rule, undefined when off. */
const rateLimit = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx): RateLimitRule | undefined => {
      if (value.trim() === 'off') return undefined;
      try {
        return parseRateLimitRule(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    });

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

/**
 * The one configuration schema. Every key is an environment variable of the same name;
 * `describe` is its documentation (README "Configuration" is generated from the same list by
 * hand, and test/config.test.ts checks compose.yaml only sets variables that exist here).
 */
export const configSchema = z.object({
  HOST: z.string().default('0.0.0.0').describe('Interface both servers listen on.'),
  S3_PORT: port(9000).describe('Port of the S3 gateway.'),
  API_PORT: port(3000).describe('Port of the dashboard REST API.'),
  DATA_DIR: z.string().default('./data').describe('All local state: SQLite database, master key, filesystem object store.'),
  MASTER_KEY: z
    .string()
    .optional()
    .describe('32-byte key (64 hex chars or base64) encrypting access-key secrets at rest. Generated into DATA_DIR/master.key (mode 0600) when unset.'),
  S3_REGION: z.string().min(1).default('eu-central-1').describe('Region answered by GetBucketLocation.'),
  S3_REGION_STRICT: bool(false).describe('Reject signatures scoped to another region than S3_REGION.'),
  S3_DOMAIN: z.string().optional().describe('Base domain for virtual-hosted-style requests (bucket.S3_DOMAIN). Path-style always works.'),
  MAX_BUCKETS_PER_ACCOUNT: z.coerce.number().int().min(1).default(10).describe('Bucket limit per account (TooManyBuckets).'),
  STORAGE_BACKEND: z
    .enum(['fs', 's3'])
    .default('fs')
    .describe('Storage backend: fs (embedded filesystem under DATA_DIR) or s3 (proxy to MinIO, Ceph RGW, Garage, AWS S3…; needs BACKEND_S3_*).'),
  BACKEND_S3_ENDPOINT: z.url().optional().describe('s3 backend: endpoint URL, e.g. http://minio:9000 or https://s3.eu-central-1.amazonaws.com.'),
  BACKEND_S3_ACCESS_KEY: z.string().optional().describe('s3 backend: access key id of the backend account that owns the mapped buckets.'),
  BACKEND_S3_SECRET_KEY: z.string().optional().describe('s3 backend: secret access key of that account.'),
  BACKEND_S3_REGION: z.string().min(1).default('us-east-1').describe('s3 backend: region the backend expects in signatures.'),
  BACKEND_S3_FORCE_PATH_STYLE: bool(true).describe('s3 backend: address buckets as ENDPOINT/bucket (true) or bucket.ENDPOINT-host (false, virtual-hosted).'),
  BACKEND_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(30_000)
    .describe('s3 backend: connect and response-headers timeout, and the longest pause allowed within a body; beyond it the client gets 503 ServiceUnavailable.'),
  BACKEND_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(128).describe('s3 backend: keep-alive connection pool size.'),
  BACKEND_BUCKET_PREFIX: z
    .string()
    .regex(/^[a-z0-9-]{0,20}$/)
    .default('cs-')
    .describe('Prefix of the backend bucket names that account buckets map to.'),
  FS_FSYNC: bool(true).describe('fsync object data before an upload is acknowledged (turn off only for throwaway data).'),
  DEFAULT_QUOTA_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(10 * 1024 ** 3)
    .describe('Storage quota of an account without its own (bytes; `user set-quota` overrides per account).'),
  QUOTA_RESERVATION_TTL_MS: z.coerce.number().int().min(1000).default(3_600_000).describe('How long an upload in progress may hold quota before its reservation is reclaimed.'),
  REDIS_URL: z.string().optional().describe('Redis (redis://host:port/db) shared by all gateway processes for rate limits. Unset: in-process counters.'),
  REDIS_TIMEOUT_MS: z.coerce.number().int().min(1).default(100).describe('Upper bound for one Redis call; slower means Redis is treated as down (limits fail open).'),
  RATE_LIMIT_WRITE: rateLimit('100/1s').describe('S3 PUT/POST/DELETE per account, as LIMIT/WINDOW (e.g. 100/1s) or off.'),
  RATE_LIMIT_READ: rateLimit('300/1s').describe('S3 GET/HEAD per account.'),
  RATE_LIMIT_LIST: rateLimit('50/1s').describe('S3 listings (buckets, objects, parts, uploads) per account.'),
  RATE_LIMIT_DASHBOARD: rateLimit('30/1m').describe('Dashboard API requests per client (per account once signed in).'),
  RATE_LIMIT_LOGIN: rateLimit('5/1m').describe('Login attempts per account and per client address (used by the dashboard sign-in).'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info').describe('Log verbosity (JSON lines on stderr).'),
  PUBLIC_URL: z.string().url().optional().describe('Public URL of the dashboard API (https enables Secure cookies).'),
  SIGNUP_ENABLED: bool(true).describe(
    'Allow self-service sign-up on the dashboard API (POST /api/auth/signup). Off: accounts come from the CLI or an admin (POST /api/admin/users).',
  ),
  SESSION_TTL_MS: z.coerce
    .number()
    .int()
    .min(60_000)
    .max(400 * 24 * 3_600_000)
    .default(7 * 24 * 3_600_000)
    .describe('Lifetime of a dashboard sign-in session (absolute, from sign-in), in milliseconds.'),
  MAX_OBJECTS_PER_ACCOUNT: z.coerce
    .number()
    .int()
    .min(0)
    .default(1_000_000)
    .describe('Objects one account may hold (zero-byte objects cost no quota but still an index row); 0 = no limit.'),
  MAX_UPLOADS_PER_ACCOUNT: z.coerce.number().int().min(0).default(1_000).describe('Multipart uploads one account may have in progress; 0 = no limit.'),
  API_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 ** 2)
    .default(64 * 1024)
    .describe(
      'Largest request body the dashboard API reads (JSON, forms), in bytes; a bigger one is answered 413 before it is read. Streamed file uploads (POST /api/v1/files) are not bound by it.',
    ),
  ALLOWED_HOSTS: z
    .string()
    .default('')
    .transform((value, ctx): string[] => {
      const hosts = value
        .split(',')
        .map((entry) => entry.trim().toLowerCase())
        .filter((entry) => entry !== '');
      // Names only: a scheme, port or path here would never match a Host header and silently lock everyone out.
      const bad = hosts.filter((entry) => entry !== '*' && !/^(\.?[a-z0-9_-]+(\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])$/.test(entry));
      if (bad.length > 0)
        ctx.addIssue({ code: 'custom', message: `not host names: ${bad.join(', ')} (write e.g. storage.example.com, .example.com for subdomains, [fd00::1], or * for any)` });
      return hosts;
    })
    .describe(
      "Comma-separated host names the dashboard API answers to besides loopback names and PUBLIC_URL's host (`.example.com` includes subdomains, `*` any host); other Host headers get 421 invalid_host (DNS rebinding).",
    ),
  BODY_IDLE_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(60_000)
    .describe(
      'A request body (S3 upload, XML body, file API upload) that sends no byte for this long while the server is ready to read is cut: the upload is dropped and its quota freed. Slow uploads that keep moving are never cut; 0 = never.',
    ),
  MAX_CONCURRENT_UPLOADS_PER_ACCOUNT: z.coerce
    .number()
    .int()
    .min(0)
    .default(64)
    .describe('Uploads (PutObject, UploadPart, file API) one account may have in progress at once, per process; more answer 503 SlowDown (S3) or 429 (file API). 0 = no limit.'),
  FS_ORPHAN_SWEEP_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(3_600_000)
    .describe(
      'fs backend: period of the sweep deleting data files no object references whose writer process is gone (left by a crash between write and commit). One also runs at start. 0 = only at start.',
    ),
  FS_RESERVE_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(8 * 1024 * 1024)
    .describe(
      'fs backend: space kept in DATA_DIR/objects/space-reserve and released when a delete hits a full disk, so deletes can still free space (a 1,000-key DeleteObjects needs about 1 MiB). 0 = no reserve.',
    ),
  FS_MIN_FREE_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(256 * 1024 * 1024)
    .describe('fs backend: below this many free bytes on the filesystem of DATA_DIR, /_health/status reports the storage degraded (503).'),
  FS_MIN_FREE_PERCENT: z.coerce
    .number()
    .min(0)
    .max(100)
    .default(0)
    .describe('fs backend: the same threshold as a percentage of the filesystem size; the larger of the two applies. 0 = off.'),
  WORKERS: z
    .union([z.literal('auto'), z.coerce.number().int().min(1).max(1024)])
    .default(1)
    .describe(
      'Server processes sharing the two ports (node:cluster); `auto` = one per core. More than 1 needs REDIS_URL, so rate limits and quotas stay exact across them. MAX_CONCURRENT_UPLOADS_PER_ACCOUNT applies per process.',
    ),
  SHUTDOWN_GRACE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(25_000)
    .describe(
      'On SIGTERM/SIGINT: health answers 503, new connections are refused, and requests in flight get this long to finish before their connections are cut. A second signal exits at once.',
    ),
  ACCESS_LOG: bool(true).describe(
    'One JSON access line per request on both ports (at info: LOG_LEVEL=warn drops them too). Query strings, secrets and signatures are never logged.',
  ),
  METRICS_TOKEN: z
    .string()
    .min(16)
    .optional()
    .describe(
      'When set, GET /metrics (API port, Prometheus text format) requires `Authorization: Bearer <token>`. Unset: /metrics is open (scrape it on a private network; it holds no account, bucket or key names).',
    ),
  S3_SIGV2: bool(true).describe(
    'Accept AWS Signature Version 2 (`Authorization: AWS key:sig` and `?AWSAccessKeyId=&Expires=&Signature=` URLs, which boto3 presigns by default for us-east-1). false: such requests answer InvalidRequest (use AWS4-HMAC-SHA256).',
  ),
  RATE_LIMIT_SHARE_ACCESS: rateLimit('60/1m').describe('Public share-link requests (/s/{code}…, /api/shares/download) per client address.'),
  RATE_LIMIT_SHARE_PASSWORD: rateLimit('5/1m').describe(
    'Share password attempts per share and per client address, counted before any hash is computed (429 + Retry-After over it).',
  ),
  ALLOW_PUBLIC_ACCESS: bool(true).describe(
    'Allow canned ACLs public-read and authenticated-read (S3 x-amz-acl, PutBucketAcl/PutObjectAcl, POST uploads). false: setting one answers AccessDenied, and ACLs already stored grant nothing beyond the owner.',
  ),
  RATE_LIMIT_ANONYMOUS: rateLimit('600/1m').describe(
    'Unsigned S3 requests (anonymous reads of public-read objects and buckets) per client address; over it 503 SlowDown with Retry-After.',
  ),
  TIME_MACHINE_DEFAULT: bool(true).describe(
    'Buckets created through the dashboard or at sign-up (`default`) start with versioning Enabled (Time Machine). S3 CreateBucket buckets always start unversioned.',
  ),
  TIME_MACHINE_MAX_VERSIONS: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(10)
    .describe('Default retention: versions kept per file, the current one included (per bucket: PUT /api/versions/settings).'),
  TIME_MACHINE_MAX_AGE_DAYS: z.coerce
    .number()
    .int()
    .min(1)
    .max(36_500)
    .default(30)
    .describe('Default retention: a noncurrent version is pruned this many days after it stopped being current (per bucket: PUT /api/versions/settings).'),
  TRASH_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(1)
    .max(36_500)
    .default(30)
    .describe('Files in the trash (dashboard and REST API deletes) are purged for good this many days after deletion.'),
  TIME_MACHINE_SWEEP_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(60 * 60 * 1000)
    .describe('Period of the sweep that applies version retention to every versioned bucket and purges expired trash (0 = no periodic sweep; writes still prune their own key).'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional()
    .describe(
      'PostgreSQL (postgres://user:password@host:5432/db) holding all metadata (accounts, keys, buckets, sessions, events, the s3 backend catalog), shared by gateways on many hosts. Needs MASTER_KEY. Unset: SQLite under DATA_DIR.',
    ),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(1000).default(10).describe('With DATABASE_URL: at most this many PostgreSQL connections per server process.'),
  DATABASE_CONNECT_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(5000)
    .describe('With DATABASE_URL: a request waiting this long for a database connection is answered 503 (database unavailable).'),
});

/** Settings unusable without others (the proxy backend's endpoint and credentials, DATABASE_URL's MASTER_KEY): refuse to start rather than fail on the first request. */
const validatedConfigSchema = configSchema.superRefine((config, ctx) => {
  // Every gateway sharing the database must open the secrets it stores: a key generated into one
  // host's DATA_DIR would leave the others unable to authenticate anyone.
  if (config.DATABASE_URL && !config.MASTER_KEY) {
    ctx.addIssue({ code: 'custom', path: ['MASTER_KEY'], message: 'required with DATABASE_URL (every gateway sharing the database needs the same key)' });
  }
  if (config.STORAGE_BACKEND !== 's3') return;
  for (const name of ['BACKEND_S3_ENDPOINT', 'BACKEND_S3_ACCESS_KEY', 'BACKEND_S3_SECRET_KEY'] as const) {
    if (!config[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'required when STORAGE_BACKEND=s3' });
  }
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export class ConfigError extends Error {}

/** Validates once at startup; tests call it with a plain object instead of editing process.env. */
export function loadConfig(source: Record<string, unknown> = process.env): Config {
  const known = Object.fromEntries(
    Object.keys(configSchema.shape)
      .filter((name) => source[name] !== undefined && source[name] !== '')
      .map((name) => [name, source[name]]),
  );
  const parsed = validatedConfigSchema.safeParse(known);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new ConfigError(`Invalid configuration: ${problems}`);
  }
  return parsed.data;
}

export function configVariableNames(): string[] {
  return Object.keys(configSchema.shape);
}
