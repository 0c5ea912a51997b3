import { describe, expect, it } from 'vitest';
import { isScopeExpired, scopeAllows, scopeCoversBucket, scopeOfRecord, UNRESTRICTED_SCOPE, type KeyScope } from './key-scope.ts';

describe('key scopes', () => {
  it('lets an unrestricted key do everything', () => {
    expect(scopeAllows(UNRESTRICTED_SCOPE, { action: 'read', bucket: 'any', key: 'k' })).toBe(true);
    expect(scopeAllows(UNRESTRICTED_SCOPE, { action: 'write', bucket: 'any', key: 'k' })).toBe(true);
    expect(scopeAllows(UNRESTRICTED_SCOPE, { action: 'list', bucket: 'any', prefix: '' })).toBe(true);
    expect(scopeAllows(UNRESTRICTED_SCOPE, { action: 'bucketInfo', bucket: 'any' })).toBe(true);
    expect(scopeAllows(UNRESTRICTED_SCOPE, { action: 'bucketAdmin' })).toBe(true);
  });

  it('separates read and write permissions; listing needs read', () => {
    const read: KeyScope = { permission: 'read' };
    const write: KeyScope = { permission: 'write' };
    const object = { bucket: 'b', key: 'k' };
    expect([scopeAllows(read, { action: 'read', ...object }), scopeAllows(read, { action: 'write', ...object })]).toEqual([true, false]);
    expect([scopeAllows(write, { action: 'read', ...object }), scopeAllows(write, { action: 'write', ...object })]).toEqual([false, true]);
    expect(scopeAllows(read, { action: 'list', bucket: 'b', prefix: '' })).toBe(true);
    expect(scopeAllows(write, { action: 'list', bucket: 'b', prefix: '' })).toBe(false);
    // Bucket facts are open to both; bucket creation only to keys that can write.
    expect(scopeAllows(write, { action: 'bucketInfo', bucket: 'b' })).toBe(true);
    expect(scopeAllows(read, { action: 'bucketInfo', bucket: 'b' })).toBe(true);
    expect(scopeAllows(read, { action: 'bucketAdmin' })).toBe(false);
    expect(scopeAllows(write, { action: 'bucketAdmin' })).toBe(true);
  });

  it('confines a bucket-scoped key to its buckets, and refuses it bucket administration', () => {
    const scope: KeyScope = { permission: 'readwrite', buckets: ['photos', 'backups'] };
    expect(scopeCoversBucket(scope, 'photos')).toBe(true);
    expect(scopeCoversBucket(scope, 'default')).toBe(false);
    expect(scopeAllows(scope, { action: 'write', bucket: 'backups', key: 'x' })).toBe(true);
    expect(scopeAllows(scope, { action: 'read', bucket: 'default', key: 'x' })).toBe(false);
    expect(scopeAllows(scope, { action: 'list', bucket: 'default', prefix: '' })).toBe(false);
    expect(scopeAllows(scope, { action: 'bucketInfo', bucket: 'default' })).toBe(false);
    expect(scopeAllows(scope, { action: 'bucketAdmin' })).toBe(false);
  });

  it('confines a prefix-scoped key to keys and listings under its prefix', () => {
    const scope: KeyScope = { permission: 'readwrite', prefix: 'photos/' };
    expect(scopeAllows(scope, { action: 'read', bucket: 'b', key: 'photos/cat.jpg' })).toBe(true);
    expect(scopeAllows(scope, { action: 'write', bucket: 'b', key: 'photos/' })).toBe(true);
    expect(scopeAllows(scope, { action: 'read', bucket: 'b', key: 'photos' })).toBe(false);
    expect(scopeAllows(scope, { action: 'write', bucket: 'b', key: 'docs/photos/x' })).toBe(false);
    expect(scopeAllows(scope, { action: 'list', bucket: 'b', prefix: 'photos/2026/' })).toBe(true);
    expect(scopeAllows(scope, { action: 'list', bucket: 'b', prefix: 'photos/' })).toBe(true);
    // `photos` would also match `photos-private/…`; the root lists everything.
    expect(scopeAllows(scope, { action: 'list', bucket: 'b', prefix: 'photos' })).toBe(false);
    expect(scopeAllows(scope, { action: 'list', bucket: 'b', prefix: '' })).toBe(false);
    expect(scopeAllows(scope, { action: 'bucketAdmin' })).toBe(false);
    // A batch delete may proceed; each of its keys is then checked on its own.
    expect(scopeAllows(scope, { action: 'writeSome', bucket: 'b' })).toBe(true);
    expect(scopeAllows({ ...scope, permission: 'read' }, { action: 'writeSome', bucket: 'b' })).toBe(false);
    expect(scopeAllows({ ...scope, buckets: ['other'] }, { action: 'writeSome', bucket: 'b' })).toBe(false);
  });

  it('expires at the instant given, not before', () => {
    const scope: KeyScope = { permission: 'readwrite', expiresAt: new Date('2026-01-01T00:00:00Z') };
    expect(isScopeExpired(scope, new Date('2025-12-31T23:59:59.999Z'))).toBe(false);
    expect(isScopeExpired(scope, new Date('2026-01-01T00:00:00Z'))).toBe(true);
    expect(isScopeExpired(UNRESTRICTED_SCOPE, new Date('2999-01-01T00:00:00Z'))).toBe(false);
  });

  it('reads stored columns: nulls are unrestricted', () => {
    expect(scopeOfRecord({ scopeBuckets: null, scopePrefix: null, permission: 'readwrite', expiresAt: null })).toEqual(UNRESTRICTED_SCOPE);
    const expiresAt = new Date('2030-01-01T00:00:00Z');
    expect(scopeOfRecord({ scopeBuckets: ['a'], scopePrefix: 'p/', permission: 'read', expiresAt })).toEqual({ buckets: ['a'], prefix: 'p/', permission: 'read', expiresAt });
  });
});
