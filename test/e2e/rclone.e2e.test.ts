/**
 * rclone (Go, aws-sdk-go v1) against the real gateway: copy, sync, check, lsjson and multipart uploads.
 * The remote `cs` is `provider = Other`, path style, region eu-central-1 (see support/clients.ts).
 */
import { HeadObjectCommand, ListBucketsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { describeRun, describeTree, ensureOk, hashFile, hashTree, md5, rclone, writeRandomFile, writeTree, type CliHarness } from '../support/clients.ts';

const MiB = 1024 * 1024;
const TIMEOUT = 120_000;

interface LsjsonEntry {
  Path: string;
  Name: string;
  Size: number;
  ModTime: string;
  IsDir: boolean;
  Hashes?: Record<string, string>;
}

describe('rclone against the gateway', () => {
  let server: TestServer;
  let account: TestAccount;
  let cli: CliHarness;
  let s3: S3Client;
  let src: string;

  const tree: Record<string, string | Buffer> = {
    'readme.txt': 'top level\n',
    'docs/guide.md': '# guide\n'.repeat(50),
    'docs/deep/er/still.txt': 'nested three levels\n',
    'with space/file name.txt': 'spaces\n',
    'ünïcødé/数据 ñ.txt': 'unicode\n',
    'plus+dir/a+b=c&d.txt': 'plus, equals, ampersand\n',
    'docs/it\'s "quoted" <a>&b.txt': 'XML-special characters in the name\n',
    'empty.txt': '',
    'blob.bin': Buffer.alloc(MiB + 3, 0xab),
  };

  async function remoteKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'default', Prefix: prefix, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((object) => object.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  async function lsjson(args: string[]): Promise<LsjsonEntry[]> {
    const result = ensureOk(await cli.run(['lsjson', ...args]));
    return JSON.parse(result.stdout) as LsjsonEntry[];
  }

  beforeAll(async () => {
    server = await startTestServer();
    account = await server.createAccount();
    s3 = server.client(account);
    cli = rclone(server.endpoint, account);
    src = join(cli.home, 'src');
    writeTree(src, tree);
  });
  afterAll(async () => {
    s3?.destroy();
    cli?.cleanup();
    await server?.close();
  });

  it('copy uploads a local tree to default/prefix and copies it back byte for byte', { timeout: TIMEOUT }, async () => {
    const copied = await cli.run(['copy', src, 'cs:default/prefix', '-v']);
    expect(copied.code, describeRun(copied)).toBe(0);
    expect(copied.stderr).not.toMatch(/ERROR/);
    expect(await remoteKeys('prefix/')).toEqual(
      Object.keys(tree)
        .map((path) => `prefix/${path}`)
        .sort(),
    );

    const head = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 'prefix/blob.bin' }));
    expect(head.ContentLength).toBe(MiB + 3);
    expect(head.ETag).toBe(`"${md5(tree['blob.bin']!)}"`);
    // rclone keeps the modification time in user metadata.
    expect(head.Metadata?.mtime).toMatch(/^\d+(\.\d+)?$/);

    const down = join(cli.home, 'down');
    ensureOk(await cli.run(['copy', 'cs:default/prefix', down]));
    expect(await hashTree(down)).toEqual(describeTree(tree));
    // …and sets it back on download.
    expect(Math.floor(statSync(join(down, 'blob.bin')).mtimeMs / 1000)).toBe(Math.floor(statSync(join(src, 'blob.bin')).mtimeMs / 1000));
    rmSync(down, { recursive: true });

    // Copying again transfers nothing.
    const again = ensureOk(await cli.run(['copy', src, 'cs:default/prefix', '-v']));
    expect(again.stderr).toMatch(/There was nothing to transfer|Transferred:\s+0 B \/ 0 B/);
  });

  it('lsjson lists names, sizes, modification times and md5 hashes', { timeout: TIMEOUT }, async () => {
    const files = await lsjson(['-R', '--files-only', '--hash', 'cs:default/prefix']);
    const byPath = Object.fromEntries(files.map((entry) => [entry.Path, entry]));
    expect(Object.keys(byPath).sort()).toEqual(Object.keys(tree).sort());
    for (const [path, contents] of Object.entries(tree)) {
      const entry = byPath[path]!;
      const bytes = typeof contents === 'string' ? Buffer.from(contents) : contents;
      expect(entry.IsDir).toBe(false);
      expect(entry.Name).toBe(path.split('/').at(-1));
      expect(entry.Size, path).toBe(bytes.length);
      expect(entry.Hashes?.md5, path).toBe(md5(bytes));
      expect(Math.floor(Date.parse(entry.ModTime) / 1000), path).toBe(Math.floor(statSync(join(src, path)).mtimeMs / 1000));
    }

    const top = await lsjson(['cs:default/prefix']);
    expect(
      top
        .filter((entry) => entry.IsDir)
        .map((entry) => entry.Name)
        .sort(),
    ).toEqual(['docs', 'plus+dir', 'with space', 'ünïcødé']);
    expect(
      top
        .filter((entry) => !entry.IsDir)
        .map((entry) => entry.Name)
        .sort(),
    ).toEqual(['blob.bin', 'empty.txt', 'readme.txt']);

    const deep = await lsjson(['cs:default/prefix/docs/deep']);
    expect(deep.map((entry) => [entry.Name, entry.IsDir])).toEqual([['er', true]]);

    const buckets = await lsjson(['cs:']);
    expect(buckets.map((entry) => [entry.Name, entry.IsDir])).toEqual([['default', true]]);
  });

  it('check reports 0 differences, and finds a changed file', { timeout: TIMEOUT }, async () => {
    const byHash = await cli.run(['check', src, 'cs:default/prefix']);
    expect(byHash.code, describeRun(byHash)).toBe(0);
    expect(byHash.stderr).toContain('0 differences found');
    expect(byHash.stderr).toContain(`${Object.keys(tree).length} matching files`);

    // --download compares the bytes themselves, not the listed hashes.
    const byBytes = await cli.run(['check', '--download', src, 'cs:default/prefix']);
    expect(byBytes.code, describeRun(byBytes)).toBe(0);
    expect(byBytes.stderr).toContain('0 differences found');

    // Same size, different content: the md5 comparison must catch it.
    const changed = join(cli.home, 'changed');
    writeTree(changed, { ...tree, 'docs/guide.md': '# GUIDE\n'.repeat(50) });
    const differs = await cli.run(['check', changed, 'cs:default/prefix']);
    expect(differs.code, describeRun(differs)).toBe(1);
    expect(differs.stderr).toContain('1 differences found');
    expect(differs.stderr).toMatch(/docs\/guide\.md: (md5 )?(sizes|hash)? ?differ/);
    rmSync(changed, { recursive: true });
  });

  it('sync deletes remotely what was deleted locally and uploads what changed', { timeout: TIMEOUT }, async () => {
    unlinkSync(join(src, 'with space/file name.txt'));
    unlinkSync(join(src, 'docs/deep/er/still.txt'));
    writeFileSync(join(src, 'readme.txt'), 'top level, edited and longer\n');
    writeFileSync(join(src, 'new file+1.txt'), 'added after the first copy\n');
    const expected: Record<string, string | Buffer> = {
      ...tree,
      'readme.txt': 'top level, edited and longer\n',
      'new file+1.txt': 'added after the first copy\n',
    };
    delete expected['with space/file name.txt'];
    delete expected['docs/deep/er/still.txt'];

    const synced = await cli.run(['sync', src, 'cs:default/prefix', '-v']);
    expect(synced.code, describeRun(synced)).toBe(0);
    expect(synced.stderr).toMatch(/with space\/file name\.txt: Deleted/);
    expect(synced.stderr).toMatch(/docs\/deep\/er\/still\.txt: Deleted/);
    expect(await remoteKeys('prefix/')).toEqual(
      Object.keys(expected)
        .map((path) => `prefix/${path}`)
        .sort(),
    );

    const checked = await cli.run(['check', src, 'cs:default/prefix']);
    expect(checked.code, describeRun(checked)).toBe(0);
    expect(checked.stderr).toContain('0 differences found');

    const down = join(cli.home, 'down-sync');
    ensureOk(await cli.run(['sync', 'cs:default/prefix', down]));
    expect(await hashTree(down)).toEqual(describeTree(expected));
    rmSync(down, { recursive: true });
  });

  it('uploads a 30 MiB file in 5 MiB multipart chunks and downloads it intact', { timeout: TIMEOUT }, async () => {
    const big = join(cli.home, 'big', 'thirty.bin');
    const sums = writeRandomFile(big, 30 * MiB);
    const up = await cli.run(['copyto', big, 'cs:default/large/thirty.bin', '--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M', '--s3-upload-concurrency', '2', '-v']);
    expect(up.code, describeRun(up)).toBe(0);

    const head = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 'large/thirty.bin' }));
    expect(head.ContentLength).toBe(30 * MiB);
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}-6"$/);
    // For multipart uploads rclone stores the whole-file md5 in metadata, since the ETag is not one.
    expect(Buffer.from(head.Metadata?.md5chksum ?? '', 'base64').toString('hex')).toBe(sums.md5);

    const listed = await lsjson(['--hash', '--files-only', 'cs:default/large']);
    expect(listed.map((entry) => [entry.Name, entry.Size, entry.Hashes?.md5])).toEqual([['thirty.bin', 30 * MiB, sums.md5]]);

    const down = join(cli.home, 'big-down', 'thirty.bin');
    ensureOk(await cli.run(['copyto', 'cs:default/large/thirty.bin', down, '--multi-thread-streams', '4', '--multi-thread-cutoff', '10M']));
    expect(await hashFile(down)).toBe(sums.sha256);

    const checked = await cli.run(['check', '--download', join(cli.home, 'big'), 'cs:default/large']);
    expect(checked.code, describeRun(checked)).toBe(0);
    expect(checked.stderr).toContain('0 differences found');
    rmSync(join(cli.home, 'big'), { recursive: true });
    rmSync(join(cli.home, 'big-down'), { recursive: true });
  });

  it('mkdir/rmdir buckets, delete and purge', { timeout: TIMEOUT }, async () => {
    ensureOk(await cli.run(['mkdir', 'cs:rclone-made']));
    const buckets = await s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((bucket) => bucket.Name)).toEqual(['default', 'rclone-made']);
    ensureOk(await cli.run(['copyto', join(src, 'readme.txt'), 'cs:rclone-made/x/readme.txt']));
    const cat = ensureOk(await cli.run(['cat', 'cs:rclone-made/x/readme.txt']));
    expect(cat.stdout).toBe('top level, edited and longer\n');
    const notEmpty = await cli.run(['rmdir', 'cs:rclone-made']);
    expect(notEmpty.code, describeRun(notEmpty)).not.toBe(0);
    ensureOk(await cli.run(['purge', 'cs:rclone-made']));
    const after = await s3.send(new ListBucketsCommand({}));
    expect(after.Buckets?.map((bucket) => bucket.Name)).toEqual(['default']);

    ensureOk(await cli.run(['delete', 'cs:default/prefix', '--include', '*.txt']));
    expect(await remoteKeys('prefix/')).toEqual(['prefix/blob.bin', 'prefix/docs/guide.md']);
    ensureOk(await cli.run(['purge', 'cs:default/prefix']));
    expect(await remoteKeys('prefix/')).toEqual([]);
  });
});
