/**
 * Collects data files no index row references: what a process killed between renaming a file
 * into data/ and committing it leaves behind (outside any quota, forever), and the rare file whose
 * unlink failed. Also empties tmp/ of dead writers.
 *
 * Safety rests on file ownership (file-owners.ts): a file is a candidate only if its owner is
 * dead, so it can never become referenced later; whether it is referenced now is read from one
 * consistent snapshot of the index, taken after the candidates were listed (a file moving from a
 * part row to an object row during the scan is seen in one of them). Files of live owners,
 * including this process's own, are left alone; they are collected once their owner is gone.
 * Files named before owners existed (a bare uuid) are collected only once older than a grace
 * period, the one place an age is used: their writer, if still running, is an older build.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { Clock } from '../../clock.ts';
import { forgetOwner, listOwners, ownerLiveness, ownerOfFile, type Liveness } from './file-owners.ts';

export interface OrphanSweepOptions {
  dataRoot: string;
  tmpDir: string;
  ownersDir: string;
  indexFile: string;
  /** This process's owner id: its files are never candidates. */
  self: string;
  /**
   * `crashed` (at startup): files of owners that died holding their lock, cheap when nothing
   * crashed. `all` (periodic): files of every owner not alive, and old legacy files.
   */
  scope: 'crashed' | 'all';
  clock: Clock;
  /** Age (ctime and mtime) after which an unreferenced legacy file is collected. */
  legacyGraceMs: number;
  /** Files this process is reading (their unlink is deferred until the read ends). */
  inUse(file: string): boolean;
  signal?: AbortSignal;
  /** Candidates per index scan: bounds memory on a huge store (each batch rescans the index). */
  batchSize?: number;
  /** Index rows read per event-loop turn. */
  pageSize?: number;
}

export interface SweepReport {
  files: number;
  bytes: number;
  tmpEntries: number;
  owners: number;
}

/** Staging lock files older than this were left by a claim that died half-way. */
const STALE_CLAIM_MS = 10 * 60_000;

export async function sweepOrphans(options: OrphanSweepOptions): Promise<SweepReport> {
  const report: SweepReport = { files: 0, bytes: 0, tmpEntries: 0, owners: 0 };
  const batchSize = options.batchSize ?? 100_000;
  const aborted = () => options.signal?.aborted === true;

  // Owners whose lock files exist now. One found crashed stays dead, so the verdict is final;
  // all its files exist already and the listing below sees every one of them.
  const { ids, staging } = await listOwners(options.ownersDir);
  const verdicts = new Map<string, Liveness>();
  for (const id of ids) if (id !== options.self) verdicts.set(id, ownerLiveness(options.ownersDir, id));
  const crashedAtStart = [...verdicts].filter(([, verdict]) => verdict === 'crashed').map(([id]) => id);
  if (options.scope === 'crashed' && crashedAtStart.length === 0) {
    await sweepTmp(options, verdicts, report);
    return report;
  }

  /**
   * Asked only after a file of `id` was listed: an owner creates its lock before any file, so an
   * id first met here without a lock file is gone for good, never one not yet started.
   */
  const collectible = (id: string) => {
    if (id === options.self) return false;
    let verdict = verdicts.get(id);
    if (verdict === undefined) {
      verdict = ownerLiveness(options.ownersDir, id);
      verdicts.set(id, verdict);
    }
    return options.scope === 'all' ? verdict !== 'alive' : verdict === 'crashed';
  };

  await sweepTmp(options, verdicts, report, collectible);

  const candidates = new Set<string>();
  const flush = async () => {
    if (candidates.size === 0) return;
    await dropReferenced(options, candidates);
    for (const file of candidates) {
      if (options.inUse(file)) continue;
      const target = path.join(options.dataRoot, file.slice(0, 2), file);
      try {
        const { size } = await fs.promises.stat(target);
        await fs.promises.unlink(target);
        report.files++;
        report.bytes += size;
      } catch {
        // Already unlinked by another sweeper or by the delete that orphaned it.
      }
    }
    candidates.clear();
  };

  const now = options.clock.now().getTime();
  for (let shard = 0; shard < 256 && !aborted(); shard++) {
    const dir = path.join(options.dataRoot, shard.toString(16).padStart(2, '0'));
    let names: string[];
    try {
      names = await fs.promises.readdir(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const owner = ownerOfFile(name);
      if (owner === undefined) continue; // not ours to judge
      if (owner === 'legacy') {
        if (options.scope !== 'all') continue;
        try {
          const stat = await fs.promises.stat(path.join(dir, name));
          if (now - Math.max(stat.ctimeMs, stat.mtimeMs) < options.legacyGraceMs) continue;
        } catch {
          continue;
        }
      } else if (!collectible(owner)) {
        continue;
      }
      candidates.add(name);
    }
    if (candidates.size >= batchSize) await flush();
  }
  if (aborted()) return report;
  await flush();
  if (aborted()) return report;

  // Every file of these owners was judged above: their lock files have served their purpose.
  for (const id of crashedAtStart) {
    await forgetOwner(options.ownersDir, id);
    report.owners++;
  }
  for (const id of staging) {
    const file = path.join(options.ownersDir, `${id}.claiming`);
    const stat = await fs.promises.stat(file).catch(() => undefined);
    if (stat && now - stat.mtimeMs > STALE_CLAIM_MS) await fs.promises.rm(file, { force: true });
  }
  return report;
}

/** tmp/ holds bodies being received: an entry of a dead writer (or a legacy name) is garbage. */
async function sweepTmp(
  options: OrphanSweepOptions,
  verdicts: Map<string, Liveness>,
  report: SweepReport,
  collectible = (id: string) => id !== options.self && verdicts.get(id) === 'crashed',
) {
  let names: string[];
  try {
    names = await fs.promises.readdir(options.tmpDir);
  } catch {
    return;
  }
  for (const name of names) {
    const owner = ownerOfFile(name);
    // Anything not named by an owner is left over from a build that emptied tmp/ at every start.
    if (owner !== undefined && owner !== 'legacy' && !collectible(owner)) continue;
    await fs.promises.rm(path.join(options.tmpDir, name), { recursive: true, force: true });
    report.tmpEntries++;
  }
}

/**
 * Removes from `candidates` every file the index references, reading objects, noncurrent versions
 * and parts from one read transaction (a snapshot; writers carry on in WAL mode: a file moving
 * between the objects and versions tables, as an overwrite in a versioned bucket does, is seen in
 * one of them). Pages are read one event-loop turn
 * at a time so requests keep being served. Schema and segment encoding: fs-index.ts.
 */
async function dropReferenced(options: OrphanSweepOptions, candidates: Set<string>) {
  const pageSize = options.pageSize ?? 1000;
  const db = new Database(options.indexFile, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const objectsFirst = db.prepare("SELECT bucket, key, segments FROM objects WHERE segments <> '[]' ORDER BY bucket, key LIMIT ?");
    const objectsAfter = db.prepare("SELECT bucket, key, segments FROM objects WHERE (bucket, key) > (?, ?) AND segments <> '[]' ORDER BY bucket, key LIMIT ?");
    // Paged along the unique (bucket, key, version_id) index: a row-value seek per page.
    const versionsFirst = db.prepare("SELECT bucket, key, version_id, segments FROM versions WHERE segments <> '[]' ORDER BY bucket, key, version_id LIMIT ?");
    const versionsAfter = db.prepare(
      "SELECT bucket, key, version_id, segments FROM versions WHERE (bucket, key, version_id) > (?, ?, ?) AND segments <> '[]' ORDER BY bucket, key, version_id LIMIT ?",
    );
    const partsFirst = db.prepare('SELECT upload_id, part_number, file FROM parts WHERE file IS NOT NULL ORDER BY upload_id, part_number LIMIT ?');
    const partsAfter = db.prepare(
      'SELECT upload_id, part_number, file FROM parts WHERE (upload_id, part_number) > (?, ?) AND file IS NOT NULL ORDER BY upload_id, part_number LIMIT ?',
    );
    db.exec('BEGIN');
    try {
      type ObjectRow = { bucket: string; key: Buffer; segments: string };
      let last: ObjectRow | undefined;
      for (;;) {
        const rows = (last ? objectsAfter.all(last.bucket, last.key, pageSize) : objectsFirst.all(pageSize)) as ObjectRow[];
        for (const row of rows) for (const [file] of JSON.parse(row.segments) as [string, number][]) candidates.delete(file);
        if (rows.length < pageSize || candidates.size === 0) break;
        last = rows[rows.length - 1];
        await yieldToEventLoop();
      }
      type VersionRow = { bucket: string; key: Buffer; version_id: string; segments: string };
      let lastVersion: VersionRow | undefined;
      while (candidates.size > 0) {
        const rows = (lastVersion ? versionsAfter.all(lastVersion.bucket, lastVersion.key, lastVersion.version_id, pageSize) : versionsFirst.all(pageSize)) as VersionRow[];
        for (const row of rows) for (const [file] of JSON.parse(row.segments) as [string, number][]) candidates.delete(file);
        if (rows.length < pageSize) break;
        lastVersion = rows[rows.length - 1];
        await yieldToEventLoop();
      }
      type PartRow = { upload_id: string; part_number: number; file: string };
      let lastPart: PartRow | undefined;
      while (candidates.size > 0) {
        const rows = (lastPart ? partsAfter.all(lastPart.upload_id, lastPart.part_number, pageSize) : partsFirst.all(pageSize)) as PartRow[];
        for (const row of rows) candidates.delete(row.file);
        if (rows.length < pageSize) break;
        lastPart = rows[rows.length - 1];
        await yieldToEventLoop();
      }
    } finally {
      db.exec('COMMIT');
    }
  } finally {
    db.close();
  }
}
