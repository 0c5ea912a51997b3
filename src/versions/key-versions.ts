import type { ObjectsService } from '../objects/objects.service.ts';
import type { Principal } from '../objects/principal.ts';
import type { ObjectVersionEntry } from '../storage/storage-backend.ts';
import { versionsOfKey } from '../storage/versions-of-key.ts';

/** Versions and markers a page asks for; a key with more is read in several pages. */
const PAGE = 1000;

/**
 * Every version and delete marker of exactly `key`, newest first, through the objects service
 * (the caller's scope and bucket resolution apply).
 */
export async function listKeyVersions(objects: ObjectsService, principal: Principal, bucket: string, key: string, signal?: AbortSignal): Promise<ObjectVersionEntry[]> {
  const out: ObjectVersionEntry[] = [];
  for await (const entry of versionsOfKey((page) => objects.listObjectVersions(principal, { bucket, signal, ...page }), key, PAGE)) out.push(entry);
  return out;
}

const NO_HELD_MARKERS: ReadonlySet<string> = new Set();

/** What retention keeps and prunes of one key. */
export interface RetentionPolicy {
  /** Versions kept, the current one included. */
  maxVersions: number;
  /** A noncurrent version (or marker) goes this long after it stopped being current. */
  maxAgeMs: number;
}

/**
 * The entries of one key (newest first, as `listKeyVersions`) that retention removes at `now`:
 * - the current version is always kept;
 * - a noncurrent version goes when `maxVersions` versions (current included) are already kept
 *   newer than it, or when it stopped being current (the time of the entry just newer than it,
 *   as S3's NoncurrentDays) more than `maxAgeMs` ago;
 * - a noncurrent delete marker goes by age alike (it holds no bytes, and counts for nothing);
 * - the latest delete marker (a deleted file, e.g. in the trash) stays while anything is under it,
 *   and goes by age once nothing is;
 * - a marker in `held` (a trash entry's: the file is restorable until TRASH_RETENTION_DAYS, which
 *   may be longer than the bucket's maxAgeDays) is never pruned, and the version just under it
 *   (the content the trash restores) is kept like a current one; the trash's purge removes both.
 */
export function entriesToPrune(entries: readonly ObjectVersionEntry[], policy: RetentionPolicy, now: Date, held: ReadonlySet<string> = NO_HELD_MARKERS): ObjectVersionEntry[] {
  const prune: ObjectVersionEntry[] = [];
  let kept = 0;
  let underHeldMarker = false;
  const expired = (index: number) => index > 0 && now.getTime() - entries[index - 1]!.lastModified.getTime() > policy.maxAgeMs;
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index]!;
    if (entry.deleteMarker) {
      underHeldMarker = held.has(entry.versionId);
      if (!underHeldMarker && !entry.isLatest && expired(index)) prune.push(entry);
      continue;
    }
    if (entry.isLatest || underHeldMarker) {
      underHeldMarker = false;
      kept++;
      continue;
    }
    if (kept >= policy.maxVersions || expired(index)) prune.push(entry);
    else kept++;
  }
  const latest = entries[0];
  if (
    latest?.deleteMarker &&
    latest.isLatest &&
    !held.has(latest.versionId) &&
    entries.length - 1 === prune.length &&
    now.getTime() - latest.lastModified.getTime() > policy.maxAgeMs
  )
    prune.push(latest);
  return prune;
}
