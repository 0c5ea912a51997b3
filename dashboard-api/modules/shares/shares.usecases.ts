import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BucketsUsecases } from '../../../src/buckets/buckets.usecases.ts';
import type { Clock } from '../../../src/clock.ts';
import type { UserRow } from '../../../src/db/schema.ts';
import type { ShareRow } from '../../../src/db/shares.schema.ts';
import { isS3Error, type S3Error } from '../../../src/errors/s3-errors.ts';
import { domainEvent, type EventOrigin } from '../../../src/events/domain-event.ts';
import type { DomainEvent } from '../../../src/events/events.ts';
import { scopeAllows } from '../../../src/keys/key-scope.ts';
import type { KeyStore } from '../../../src/keys/key-store.ts';
import type { RateLimiter, RateLimitRule } from '../../../src/limits/rate-limiter.ts';
import type { ObjectsService } from '../../../src/objects/objects.service.ts';
import { keyPrincipal, sessionPrincipal, type Principal } from '../../../src/objects/principal.ts';
import type { ByteRangeSpec, GetObjectOutput } from '../../../src/storage/storage-backend.ts';
import type { FilesUsecases } from '../files/files.usecases.ts';
import {
  emptyPrefixError,
  invalidShareError,
  passwordRequiredError,
  shareGoneError,
  shareNotFoundError,
  shareRateLimitedError,
  slugTakenError,
  wrongPasswordError,
} from './shares.errors.ts';
import type { SharesRepository } from './shares.repository.ts';
import { isUniqueViolation } from '../../../src/db/database-errors.ts';
import { zipStream, type ZipEntrySource } from './zip-stream.ts';

export type SharesUsecases = ReturnType<typeof createSharesUsecases>;

export const EXPIRES_IN = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000, never: null } as const;
export type ExpiresIn = keyof typeof EXPIRES_IN;

/** Custom slugs: URL-safe without escaping, long enough not to be a guess of someone else's. */
export const SLUG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$/;
/** What `/s/{code}` accepts at all: generated codes (base64url) and slugs. Anything else is 404 without a query. */
const CODE_PATTERN = /^[A-Za-z0-9_-]{3,64}$/;
const MAX_PASSWORD_LENGTH = 256;
const MAX_FILE_NAME_BYTES = 255;
/**
 * Characters a shown or saved name must not carry: control characters (C0, DEL, C1: header
 * injection, truncation at NUL), the path separators, and the Unicode bidi controls, with which
 * `invoice<U+202E>fdp.exe` reads as `invoiceexe.pdf` on the landing page, in a save dialog or an
 * extracted folder.
 */
const UNSAFE_NAME_CHARS = /[\p{Cc}/\\\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;
const UNSAFE_NAME_CHARS_ALL = new RegExp(UNSAFE_NAME_CHARS.source, 'gu');
/** Keys listed per page while a folder share's zip is written (one page in memory at a time). */
const ZIP_LIST_PAGE = 200;
/** The actor of events caused through a public link: nobody signed in. */
const SHARE_LINK_ACTOR = { kind: 'system', id: 'share-link' } as const;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, stored: string): Promise<boolean>;
}

export interface CreateShareInput {
  bucket: string;
  objectKey: string;
  fileName?: string;
  password?: string;
  expiresIn: ExpiresIn;
  maxDownloads?: number | null;
  customSlug?: string;
}

export interface UpdateShareInput {
  id: string;
  /** null removes the password. */
  password?: string | null;
  expiresIn?: ExpiresIn;
  /** null removes the limit. */
  maxDownloads?: number | null;
  active?: boolean;
}

/** A share as its owner sees it (never the password hash, never the creating key). */
export interface ShareView {
  id: string;
  code: string;
  url: string;
  bucket: string;
  objectKey: string;
  kind: 'file' | 'folder';
  fileName: string;
  passwordProtected: boolean;
  downloads: number;
  views: number;
  maxDownloads: number | null;
  expiresAt: string | null;
  active: boolean;
  createdAt: string;
}

/** What anyone with the link may learn: no owner, bucket, key or backend name. */
export interface PublicShareInfo {
  code: string;
  fileName: string;
  kind: 'file' | 'folder';
  /** Bytes of the file; null for a folder (its zip is built while it is sent). */
  size: number | null;
  contentType: string;
  expiresAt: string | null;
  passwordProtected: boolean;
  downloadsRemaining: number | null;
}

export type ShareDownload =
  | { kind: 'file'; fileName: string; object: GetObjectOutput; size: number; contentType: string; etag: string; lastModified: Date }
  | { kind: 'zip'; fileName: string; body: Readable }
  | { kind: 'unsatisfiable'; size: number };

export interface PublicRequest {
  /** The client's address as the server saw it: the rate limits' key. */
  clientAddress: string;
  signal?: AbortSignal;
}

const newShareCode = () => randomBytes(9).toString('base64url'); // 72 bits
const newShareId = () => `share_${randomBytes(12).toString('base64url')}`;
const isFolderKey = (key: string) => key.endsWith('/');

/** At most `maxBytes` of UTF-8, cut between characters (a file name the share's own limit then accepts). */
function truncateUtf8(value: string, maxBytes: number): string {
  if (Buffer.byteLength(value) <= maxBytes) return value;
  let bytes = 0;
  let end = 0;
  for (const char of value) {
    bytes += Buffer.byteLength(char);
    if (bytes > maxBytes) break;
    end += char.length;
  }
  return value.slice(0, end);
}

/** The rest of `chunks` after its already read `first` (returning the delegate when the reader goes away). */
async function* startingWith(first: IteratorResult<Buffer>, chunks: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  if (first.done) return;
  yield first.value;
  yield* chunks;
}

/** The last segment of a key (a folder's name for a prefix), for the default file name. */
function baseName(key: string): string {
  const trimmed = key.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** Keys may hold any character; in an entry name these are `_`: `\\` is a separator to Windows extractors, control and bidi characters garble or disguise names. */
const UNSAFE_ENTRY_CHARS = /[\p{Cc}\\\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu;

/**
 * A zip entry name that cannot climb out of the folder it is extracted into (`..`, absolute,
 * empty segments, `\\` separators, a leading `C:` drive) nor pass for another name.
 */
export function zipEntryName(relativeKey: string): string {
  return relativeKey
    .replace(UNSAFE_ENTRY_CHARS, '_')
    .replace(/^([A-Za-z]):/, '$1_')
    .split('/')
    .map((segment) => (segment === '' || segment === '.' || segment === '..' ? '_' : segment))
    .join('/');
}

/** The refusals meaning "what the share points at is not there (for its owner) any more". */
const isGoneError = (error: unknown) => isS3Error(error, 'NoSuchKey') || isS3Error(error, 'NoSuchBucket') || isS3Error(error, 'AccessDenied');

/**
 * Share links (issue #16). Rules live here; routes parse and render.
 *
 * - Reads go through the objects service with the OWNER's principal (the creating access key's,
 *   when a key created the share), so scope, bucket resolution and deactivation are the same rules
 *   as every door: a revoked or expired key, a deactivated account, a deleted or re-created bucket,
 *   or a deleted object make the link answer 410 and serve no byte.
 * - A share serves the object's CURRENT content: versioning does not exist yet. When it lands, a
 *   share keeps following the current version (what the owner shares is "this file", and
 *   overwriting it is how owners fix a shared document); pinning a version would be an opt-in
 *   `versionId` column then.
 * - Downloads are counted by one SQL UPDATE whose WHERE holds every condition (active, not expired,
 *   under its limit), with `share.downloaded` appended in the same transaction: exact across
 *   processes sharing the database. A file's object is opened first and the count taken before
 *   any byte is sent, so a deleted object costs no download; a folder's zip counts once.
 * - Password attempts are counted per share and per client address BEFORE the hash is computed
 *   (the KDF is the expensive part an attacker would make us pay), every attempt alike: the limiter
 *   cannot un-count a right guess, and one attempt per visitor is what the form needs.
 */
export function createSharesUsecases(deps: {
  repository: SharesRepository;
  objects: ObjectsService;
  buckets: Pick<BucketsUsecases, 'resolve'>;
  accounts: { findById(id: string): Promise<UserRow | undefined> };
  keyStore: Pick<KeyStore, 'lookup'>;
  files: Pick<FilesUsecases, 'upload'>;
  passwords: PasswordHasher;
  clock: Clock;
  limiter: RateLimiter;
  /** RATE_LIMIT_SHARE_ACCESS; undefined: off. */
  accessRule: RateLimitRule | undefined;
  /** RATE_LIMIT_SHARE_PASSWORD; undefined: off. */
  passwordRule: RateLimitRule | undefined;
  eventLog?: { append(events: DomainEvent[]): Promise<unknown> };
}) {
  const { repository, objects, clock, limiter } = deps;

  const view = (row: ShareRow, baseUrl: string): ShareView => ({
    id: row.id,
    code: row.code,
    url: `${baseUrl}/s/${row.code}`,
    bucket: row.bucket,
    objectKey: row.objectKey,
    kind: row.kind === 'prefix' ? 'folder' : 'file',
    fileName: row.fileName,
    passwordProtected: row.passwordHash !== null,
    downloads: row.downloads,
    views: row.views,
    maxDownloads: row.maxDownloads,
    expiresAt: row.expiresAt ? row.expiresAt.toISOString() : null,
    active: row.active,
    createdAt: row.createdAt.toISOString(),
  });

  const expiresAtOf = (expiresIn: ExpiresIn): Date | null => {
    const ms = EXPIRES_IN[expiresIn];
    return ms === null ? null : new Date(clock.now().getTime() + ms);
  };

  const checkPassword = (password: string) => {
    if (password.length === 0 || password.length > MAX_PASSWORD_LENGTH) throw invalidShareError(`A share password is 1 to ${MAX_PASSWORD_LENGTH} characters long.`);
  };

  const checkMaxDownloads = (max: number | null | undefined) => {
    if (max !== null && max !== undefined && (!Number.isSafeInteger(max) || max < 1 || max > 1_000_000_000)) {
      throw invalidShareError('maxDownloads is a whole number from 1 to 1000000000 (or null for no limit).');
    }
  };

  /**
   * Whether `principal` may see and manage the share: a session, every share of its account; an
   * access key, only shares of what its scope could read (buckets, prefix, permission). A link is
   * a read of its object: listing one hands out its code, and editing one (removing its password,
   * lifting its limit) opens it, so a scoped key must not reach the account's other links.
   */
  const manages = (principal: Principal, row: ShareRow): boolean =>
    row.ownerId === principal.accountId &&
    (principal.scope === undefined ||
      scopeAllows(
        principal.scope,
        row.kind === 'prefix' ? { action: 'list', bucket: row.bucket, prefix: row.objectKey } : { action: 'read', bucket: row.bucket, key: row.objectKey },
      ));

  const ownedShare = async (principal: Principal, id: string): Promise<ShareRow> => {
    const row = await repository.findById(id);
    // Another account's share, or one outside the key's scope, answers exactly like a missing one.
    if (!row || !manages(principal, row)) throw shareNotFoundError();
    return row;
  };

  /**
   * Who reads on the share's behalf, or undefined when its owner can no longer read: the creating
   * key (if any) must still authenticate (the KeyStore drops revoked, expired and deactivated
   * accounts' keys), else the account must be active.
   */
  const ownerPrincipal = async (row: ShareRow, clientAddress: string): Promise<Principal | undefined> => {
    if (row.accessKeyId !== null) {
      const key = await deps.keyStore.lookup(row.accessKeyId);
      if (!key || key.userId !== row.ownerId) return undefined;
      return { ...keyPrincipal(key, clientAddress), actor: SHARE_LINK_ACTOR };
    }
    const owner = await deps.accounts.findById(row.ownerId);
    if (owner?.status !== 'active') return undefined;
    return { ...sessionPrincipal(row.ownerId, clientAddress), actor: SHARE_LINK_ACTOR };
  };

  /** The share behind a public code, checked in order: unknown (404), then every reason it stopped working (410). */
  const livePublicShare = async (code: string, clientAddress: string): Promise<{ row: ShareRow; principal: Principal }> => {
    const row = CODE_PATTERN.test(code) ? await repository.findByCode(code) : undefined;
    if (!row) throw shareNotFoundError();
    if (!row.active) throw shareGoneError('This share link was deactivated by its owner.');
    if (row.expiresAt !== null && row.expiresAt.getTime() <= clock.now().getTime()) throw shareGoneError('This share link has expired.');
    if (row.maxDownloads !== null && row.downloads >= row.maxDownloads) throw shareGoneError('This share link has reached its download limit.');
    const principal = await ownerPrincipal(row, clientAddress);
    // The bucket must still be the one the share was made for (not deleted, not re-created under its name).
    const resolution = principal ? await deps.buckets.resolve(row.ownerId, row.bucket) : undefined;
    if (!principal || resolution?.kind !== 'owned' || resolution.bucket.id !== row.bucketId) throw shareGoneError('What this link shared is no longer available.');
    return { row, principal };
  };

  async function passwordGate(row: ShareRow, password: string | undefined, clientAddress: string): Promise<void> {
    if (row.passwordHash === null) return;
    if (password === undefined || password === '') throw passwordRequiredError();
    if (deps.passwordRule) {
      // Both budgets are spent by every attempt, and checked before the KDF runs.
      const [perShare, perAddress] = await Promise.all([
        limiter.check(`share:password:share:${row.id}`, deps.passwordRule),
        limiter.check(`share:password:ip:${clientAddress}`, deps.passwordRule),
      ]);
      const denied = [perShare, perAddress].find((result) => !result.allowed);
      if (denied && !denied.allowed) throw shareRateLimitedError(denied.retryAfterSeconds, 'password attempts');
    }
    if (password.length > MAX_PASSWORD_LENGTH || !(await deps.passwords.verify(password, row.passwordHash))) throw wrongPasswordError();
  }

  async function claim(row: ShareRow, clientAddress: string): Promise<ShareRow> {
    return (
      (await repository.transaction(async () => {
        const claimed = await repository.claimDownload(row.id, clock.now().getTime());
        if (!claimed) return undefined;
        const origin: EventOrigin = { actor: SHARE_LINK_ACTOR, clientAddress };
        await deps.eventLog?.append([
          domainEvent(clock, 'share.downloaded', row.ownerId, origin, {
            bucket: row.bucket,
            key: row.objectKey,
            detail: { shareId: row.id, kind: row.kind, downloads: claimed.downloads },
          }),
        ]);
        return claimed;
      })) ?? throwGone()
    );
  }
  const throwGone = (): never => {
    throw shareGoneError('This share link has reached its download limit or is no longer available.');
  };

  /** A folder share whose files were all deleted is gone like a file share whose object was. */
  async function ensureFolderHasFiles(row: ShareRow, principal: Principal, signal?: AbortSignal): Promise<void> {
    try {
      const page = await objects.listObjects(principal, { bucket: row.bucket, prefix: row.objectKey, maxKeys: 2, signal });
      if (page.contents.some((summary) => summary.key !== row.objectKey)) return;
    } catch (error) {
      if (!isGoneError(error)) throw error;
    }
    throw shareGoneError('The shared folder is empty or was deleted.');
  }

  /** Every object under the folder, page by page, each opened only when the zip reaches it. */
  async function* folderEntries(row: ShareRow, principal: Principal, signal?: AbortSignal): AsyncGenerator<ZipEntrySource> {
    let startAfter: string | undefined;
    for (;;) {
      const page = await objects.listObjects(principal, { bucket: row.bucket, prefix: row.objectKey, startAfter, maxKeys: ZIP_LIST_PAGE, signal });
      for (const summary of page.contents) {
        const relative = summary.key.slice(row.objectKey.length);
        if (relative === '') continue; // the folder's own marker object
        yield {
          name: zipEntryName(relative),
          size: summary.size,
          modified: summary.lastModified,
          open: async () => {
            try {
              const object = await objects.getObject(principal, { bucket: row.bucket, key: summary.key, signal });
              return object.bytes ?? object.body;
            } catch (error) {
              if (isS3Error(error, 'NoSuchKey')) return undefined; // deleted since the listing
              throw error;
            }
          },
        };
      }
      if (!page.isTruncated || page.nextMarker === undefined) return;
      startAfter = page.nextMarker;
    }
  }

  /** The options of a new share, checked before anything is read or stored. */
  function checkShareOptions(input: Omit<CreateShareInput, 'bucket' | 'objectKey' | 'expiresIn'>): void {
    if (input.customSlug !== undefined && !SLUG_PATTERN.test(input.customSlug)) {
      throw invalidShareError('customSlug is 3 to 64 letters, digits, "-" or "_", starting with a letter or digit.');
    }
    if (input.password !== undefined) checkPassword(input.password);
    checkMaxDownloads(input.maxDownloads);
    if (input.fileName !== undefined) checkFileName(input.fileName);
  }

  function checkFileName(fileName: string): void {
    if (fileName === '' || Buffer.byteLength(fileName) > MAX_FILE_NAME_BYTES || UNSAFE_NAME_CHARS.test(fileName)) {
      throw invalidShareError(`fileName is 1 to ${MAX_FILE_NAME_BYTES} bytes, without "/", "\\", control or bidi control characters.`);
    }
  }

  async function createShare(principal: Principal, input: CreateShareInput, baseUrl: string): Promise<ShareView> {
    const folder = isFolderKey(input.objectKey);
    if (input.objectKey === '' || Buffer.byteLength(input.objectKey) > 1024) throw invalidShareError('objectKey is 1 to 1024 bytes long.');
    checkShareOptions(input);
    const fileName = input.fileName ?? (folder ? `${baseName(input.objectKey) || 'files'}.zip` : baseName(input.objectKey) || 'download');
    checkFileName(fileName);
    // The caller must be able to read what it shares, by the same rules as a download (scope, bucket, existence).
    if (folder) {
      const page = await objects.listObjects(principal, { bucket: input.bucket, prefix: input.objectKey, maxKeys: 2 });
      if (!page.contents.some((summary) => summary.key !== input.objectKey)) throw emptyPrefixError();
    } else {
      await objects.headObject(principal, { bucket: input.bucket, key: input.objectKey });
    }
    const resolution = await deps.buckets.resolve(principal.accountId, input.bucket);
    if (resolution.kind !== 'owned') throw shareNotFoundError(); // deleted between the check and now
    const passwordHash = input.password === undefined ? null : await deps.passwords.hash(input.password);
    const origin: EventOrigin = { actor: principal.actor, clientAddress: principal.clientAddress };
    const id = newShareId();
    const row = await (async () => {
      try {
        return await repository.transaction(async () => {
          const inserted = await repository.insert({
            id,
            code: input.customSlug ?? newShareCode(),
            ownerId: principal.accountId,
            accessKeyId: principal.actor.kind === 'key' ? principal.actor.id : null,
            bucketId: resolution.bucket.id,
            bucket: input.bucket,
            objectKey: input.objectKey,
            kind: folder ? 'prefix' : 'object',
            fileName,
            passwordHash,
            expiresAt: expiresAtOf(input.expiresIn),
            maxDownloads: input.maxDownloads ?? null,
            createdAt: clock.now(),
          });
          await deps.eventLog?.append([
            domainEvent(clock, 'share.created', principal.accountId, origin, {
              bucket: input.bucket,
              key: input.objectKey,
              detail: { shareId: id, kind: inserted.kind },
            }),
          ]);
          return inserted;
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw slugTakenError();
        throw error;
      }
    })();
    return view(row, baseUrl);
  }

  return {
    /** Public access as a whole, per client address (RATE_LIMIT_SHARE_ACCESS), before anything is looked up. */
    async admitPublic(clientAddress: string): Promise<void> {
      if (!deps.accessRule) return;
      const result = await limiter.check(`share:access:ip:${clientAddress}`, deps.accessRule);
      if (!result.allowed) throw shareRateLimitedError(result.retryAfterSeconds, 'share link requests');
    },

    create: createShare,

    /**
     * Uploads into the account's `default` bucket under `shares/<id>/` (a fresh folder per share, so
     * a second upload of the same name never changes what an earlier link serves) and shares it.
     */
    async upload(
      principal: Principal,
      input: { body: Readable; fileName: string; contentType: string; reserveBytes: number; signal?: AbortSignal },
      options: Omit<CreateShareInput, 'bucket' | 'objectKey'>,
      baseUrl: string,
    ): Promise<ShareView> {
      const name = truncateUtf8(input.fileName.replace(UNSAFE_NAME_CHARS_ALL, '_'), 200) || 'file';
      // Refused options cost no upload: checked before the body is stored.
      checkShareOptions(options);
      const key = `shares/${randomBytes(6).toString('base64url')}/${name}`;
      await deps.files.upload(principal, { bucket: 'default', key, body: input.body, reserveBytes: input.reserveBytes, contentType: input.contentType, signal: input.signal });
      try {
        return await createShare(principal, { ...options, bucket: 'default', objectKey: key, fileName: options.fileName ?? name }, baseUrl);
      } catch (error) {
        // A slug taken meanwhile, or a key that may write but not read: the upload existed only for this share.
        await objects.deleteObject(principal, { bucket: 'default', key }).catch(() => undefined);
        throw error;
      }
    },

    async list(principal: Principal, baseUrl: string): Promise<ShareView[]> {
      return (await repository.listByOwner(principal.accountId)).filter((row) => manages(principal, row)).map((row) => view(row, baseUrl));
    },

    async update(principal: Principal, input: UpdateShareInput, baseUrl: string): Promise<ShareView> {
      await ownedShare(principal, input.id);
      if (typeof input.password === 'string') checkPassword(input.password);
      checkMaxDownloads(input.maxDownloads);
      const changes: Parameters<SharesRepository['update']>[2] = {};
      if (input.password !== undefined) changes.passwordHash = input.password === null ? null : await deps.passwords.hash(input.password);
      if (input.expiresIn !== undefined) changes.expiresAt = expiresAtOf(input.expiresIn);
      if (input.maxDownloads !== undefined) changes.maxDownloads = input.maxDownloads;
      if (input.active !== undefined) changes.active = input.active;
      const row = Object.keys(changes).length > 0 ? await repository.update(input.id, principal.accountId, changes) : await repository.findById(input.id);
      if (!row) throw shareNotFoundError();
      return view(row, baseUrl);
    },

    /** Deactivates (the row stays, with its counts, so the owner's list keeps its history). */
    async deactivate(principal: Principal, id: string): Promise<void> {
      await ownedShare(principal, id);
      await repository.update(id, principal.accountId, { active: false });
    },

    /** The public facts of a live share; counts a view when `countView`. */
    async info(code: string, request: PublicRequest & { countView: boolean }): Promise<PublicShareInfo> {
      const { row, principal } = await livePublicShare(code, request.clientAddress);
      let size: number | null = null;
      let contentType = 'application/zip';
      if (row.kind === 'prefix') await ensureFolderHasFiles(row, principal, request.signal);
      if (row.kind === 'object') {
        try {
          const info = await objects.headObject(principal, { bucket: row.bucket, key: row.objectKey, signal: request.signal });
          size = info.size;
          contentType = info.contentType ?? 'application/octet-stream';
        } catch (error) {
          if (isGoneError(error)) throw shareGoneError('The shared file was deleted.');
          throw error;
        }
      }
      if (request.countView) await repository.countView(row.id);
      return {
        code: row.code,
        fileName: row.fileName,
        kind: row.kind === 'prefix' ? 'folder' : 'file',
        size,
        contentType,
        expiresAt: row.expiresAt ? row.expiresAt.toISOString() : null,
        passwordProtected: row.passwordHash !== null,
        downloadsRemaining: row.maxDownloads === null ? null : Math.max(0, row.maxDownloads - row.downloads),
      };
    },

    /**
     * The bytes: the password (if any) is checked under its rate limits, the object opened with the
     * owner's principal, then one download claimed atomically; a range is served as one download.
     */
    async download(code: string, request: PublicRequest & { password?: string; range?: ByteRangeSpec }): Promise<ShareDownload> {
      const { row, principal } = await livePublicShare(code, request.clientAddress);
      await passwordGate(row, request.password, request.clientAddress);
      if (row.kind === 'prefix') {
        await ensureFolderHasFiles(row, principal, request.signal);
        // Counted once the archive's first chunk exists (the first page listed, the first file
        // opened), as a file is counted once its object is open: a store failing before any byte
        // could be sent answers an error and costs the link nothing.
        const chunks = zipStream(folderEntries(row, principal, request.signal), request.signal);
        const first = await chunks.next();
        try {
          await claim(row, request.clientAddress);
        } catch (error) {
          await chunks.return(undefined); // closes the opened file and the spool
          throw error;
        }
        const body = Readable.from(startingWith(first, chunks), { objectMode: false });
        return { kind: 'zip', fileName: row.fileName, body };
      }
      let object: GetObjectOutput;
      try {
        object = await objects.getObject(principal, { bucket: row.bucket, key: row.objectKey, range: request.range, signal: request.signal });
      } catch (error) {
        if (isS3Error(error, 'InvalidRange')) {
          // A proxied store (RGW) may not say the size in its InvalidRange: ask for it then.
          const reported = Number((error as S3Error).details.ActualObjectSize);
          const size = Number.isSafeInteger(reported) ? reported : (await objects.headObject(principal, { bucket: row.bucket, key: row.objectKey, signal: request.signal })).size;
          return { kind: 'unsatisfiable', size };
        }
        if (isGoneError(error)) throw shareGoneError('The shared file was deleted.');
        throw error;
      }
      try {
        await claim(row, request.clientAddress);
      } catch (error) {
        // Nobody reads the opened body: close it (a proxied store's body errors as it is destroyed).
        object.body.on('error', () => undefined);
        object.body.destroy();
        throw error;
      }
      const info = object.info;
      return {
        kind: 'file',
        fileName: row.fileName,
        object,
        size: info.size,
        contentType: info.contentType ?? 'application/octet-stream',
        etag: info.etag,
        lastModified: info.lastModified,
      };
    },
  };
}
