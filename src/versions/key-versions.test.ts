import { describe, expect, it } from 'vitest';
import type { ObjectVersionEntry } from '../storage/storage-backend.ts';
import { entriesToPrune } from './key-versions.ts';

const DAY = 86_400_000;
const NOW = new Date('2026-06-30T00:00:00Z');
const at = (daysAgo: number) => new Date(NOW.getTime() - daysAgo * DAY);
const version = (id: string, daysAgo: number, isLatest = false): ObjectVersionEntry => ({
  key: 'k',
  versionId: id,
  isLatest,
  lastModified: at(daysAgo),
  deleteMarker: false,
  size: 1,
  etag: '"e"',
});
const marker = (id: string, daysAgo: number, isLatest = false): ObjectVersionEntry => ({ ...version(id, daysAgo, isLatest), deleteMarker: true, size: 0, etag: '' });
const ids = (entries: ObjectVersionEntry[]) => entries.map((entry) => entry.versionId);

describe('entriesToPrune (Time Machine retention)', () => {
  it('keeps maxVersions versions, the current one included, and prunes the older ones', () => {
    const entries = Array.from({ length: 12 }, (_, index) => version(`v${12 - index}`, 0, index === 0));
    expect(ids(entriesToPrune(entries, { maxVersions: 10, maxAgeMs: 30 * DAY }, NOW))).toEqual(['v2', 'v1']);
  });

  it('ages a noncurrent version from when it stopped being current (the newer entry), not from its own write', () => {
    // v1 was written 90 days ago but replaced only yesterday: kept; v0 was replaced 40 days ago: pruned.
    const entries = [version('v2', 1, true), version('v1', 90), version('v0', 100)];
    expect(ids(entriesToPrune(entries, { maxVersions: 10, maxAgeMs: 30 * DAY }, NOW))).toEqual(['v0']);
  });

  it('never prunes the current version, however old', () => {
    expect(entriesToPrune([version('v1', 400, true)], { maxVersions: 1, maxAgeMs: DAY }, NOW)).toEqual([]);
  });

  it('keeps a latest delete marker while versions are under it, and prunes it once nothing is left and it is old', () => {
    const trashed = [marker('m', 5, true), version('v1', 10)];
    expect(ids(entriesToPrune(trashed, { maxVersions: 10, maxAgeMs: 30 * DAY }, NOW))).toEqual([]);
    const expired = [marker('m', 40, true), version('v1', 50)];
    expect(ids(entriesToPrune(expired, { maxVersions: 10, maxAgeMs: 30 * DAY }, NOW))).toEqual(['v1', 'm']);
  });

  it('prunes noncurrent delete markers by age only and does not count them as versions', () => {
    const entries = [version('v3', 0, true), marker('m2', 45), version('v2', 50), marker('m1', 60), version('v1', 70)];
    // m2 stopped being current when v3 was written (today): kept; everything under it was superseded long ago.
    expect(ids(entriesToPrune(entries, { maxVersions: 2, maxAgeMs: 30 * DAY }, NOW))).toEqual(['v2', 'm1', 'v1']);
    expect(ids(entriesToPrune(entries, { maxVersions: 2, maxAgeMs: 365 * DAY }, NOW))).toEqual(['v1']);
    expect(ids(entriesToPrune(entries, { maxVersions: 3, maxAgeMs: 365 * DAY }, NOW))).toEqual([]);
  });

  it("keeps a trash entry's marker and the version it hid, whatever their age, and still prunes older history", () => {
    const entries = [marker('m', 40, true), version('v2', 50), version('v1', 60)];
    expect(ids(entriesToPrune(entries, { maxVersions: 10, maxAgeMs: DAY }, NOW, new Set(['m'])))).toEqual(['v1']);
    const live = [version('v3', 1, true), marker('m', 40), version('v2', 50), version('v1', 60)];
    expect(ids(entriesToPrune(live, { maxVersions: 1, maxAgeMs: DAY }, NOW, new Set(['m'])))).toEqual(['v1']);
  });
});
