/**
 * s3cmd (2.x, SigV4, path style over plain HTTP) against the real gateway: put/get (incl. its 15 MiB-chunk
 * multipart), ls/la/du/info, recursive put/get/sync, cp/mv, del and mb/rb. Bytes are compared by sha256.
 */
import { HeadObjectCommand, ListBucketsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { describeRun, describeTree, ensureOk, hashFile, hashTree, md5, s3cmd, writeRandomFile, writeTree, type CliHarness } from '../support/clients.ts';

const MiB = 1024 * 1024;
const TIMEOUT = 120_000;

/** `s3cmd ls` lines: `DIR s3://…/` or `YYYY-MM-DD HH:MM  SIZE  s3://…`. */
function parseLs(stdout: string): { dirs: string[]; objects: { size: number; url: string }[] } {
  const dirs: string[] = [];
  const objects: { size: number; url: string }[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const dir = /^\s+DIR\s+(s3:\/\/.+)$/.exec(line);
    if (dir) {
      dirs.push(dir[1]!);
      continue;
    }
    const object = /^\d{4}-\d\d-\d\d \d\d:\d\d\s+(\d+)\s+(s3:\/\/.+)$/.exec(line);
    if (!object) throw new Error(`unexpected s3cmd ls line: ${JSON.stringify(line)}`);
    objects.push({ size: Number(object[1]), url: object[2]! });
  }
  return { dirs, objects };
}

describe('s3cmd against the gateway', () => {
  let server: TestServer;
  let account: TestAccount;
  let cli: CliHarness;
  let s3: S3Client;
  let work: string;
  let bigSums: { sha256: string; md5: string; size: number };

  async function remoteKeys(bucket: string, prefix = ''): Promise<string[]> {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return (page.Contents ?? []).map((object) => object.Key!).sort();
  }

  beforeAll(async () => {
    server = await startTestServer();
    account = await server.createAccount();
    s3 = server.client(account);
    cli = s3cmd(server.endpoint, account);
    work = join(cli.home, 'work');
  });
  afterAll(async () => {
    s3?.destroy();
    cli?.cleanup();
    await server?.close();
  });

  it('put and get a small file and a 20 MiB file (multipart, 15 MiB chunks) byte for byte', { timeout: TIMEOUT }, async () => {
    const small = join(work, 'small.txt');
    writeTree(work, { 'small.txt': 's3cmd small file\n'.repeat(64) });
    const big = join(work, 'big.bin');
    bigSums = writeRandomFile(big, 20 * MiB);

    const putSmall = ensureOk(await cli.run(['put', small, 's3://default/s3cmd/small.txt']));
    expect(putSmall.stdout).toContain('upload: ');
    ensureOk(await cli.run(['put', big, 's3://default/s3cmd/big.bin']));

    const smallHead = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 's3cmd/small.txt' }));
    expect(smallHead.ETag).toBe(`"${md5(readFileSync(small))}"`);
    expect(smallHead.ContentType).toBe('text/plain');
    const bigHead = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 's3cmd/big.bin' }));
    expect(bigHead.ContentLength).toBe(20 * MiB);
    expect(bigHead.ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
    // s3cmd records the whole-file md5 in its attrs header, since the multipart ETag is not an md5.
    expect(bigHead.Metadata?.['s3cmd-attrs']).toContain(`md5:${bigSums.md5}`);

    const down = join(work, 'down');
    ensureOk(await cli.run(['get', 's3://default/s3cmd/small.txt', join(down, 'small.txt')]));
    ensureOk(await cli.run(['get', 's3://default/s3cmd/big.bin', join(down, 'big.bin')]));
    expect(await hashFile(join(down, 'small.txt'))).toBe(await hashFile(small));
    expect(await hashFile(join(down, 'big.bin'))).toBe(bigSums.sha256);

    // `get` to stdout.
    const cat = ensureOk(await cli.run(['get', 's3://default/s3cmd/small.txt', '-']));
    expect(cat.stdout).toBe(readFileSync(small, 'utf8'));

    const info = ensureOk(await cli.run(['info', 's3://default/s3cmd/big.bin']));
    expect(info.stdout).toMatch(/File size:\s+20971520/);
    expect(info.stdout).toMatch(new RegExp(`MD5 sum:\\s+${bigSums.md5}`));

    const missing = await cli.run(['get', 's3://default/s3cmd/missing.txt', join(down, 'missing.txt')]);
    expect(missing.code, describeRun(missing)).not.toBe(0);
    expect(missing.stderr).toMatch(/does not exist|404/);
    rmSync(down, { recursive: true });
    rmSync(big);
  });

  const tree: Record<string, string | Buffer> = {
    'root.txt': 'root\n',
    'x/y/z/deep.txt': 'deep\n',
    'x/y/side.bin': Buffer.alloc(40_000, 3),
    'with space/name with space.txt': 'spaced\n',
    'ünï/文件.txt': 'unicode\n',
    'plus+/a+b.txt': 'plus\n',
  };

  it('put -r / get -r / sync a tree with spaces, unicode and plus signs', { timeout: TIMEOUT }, async () => {
    const source = join(work, 'tree');
    writeTree(source, tree);
    const put = ensureOk(await cli.run(['put', '-r', `${source}/`, 's3://default/tree/']));
    expect(put.stdout.match(/^upload: /gm)?.length, describeRun(put)).toBe(Object.keys(tree).length);
    expect(await remoteKeys('default', 'tree/')).toEqual(
      Object.keys(tree)
        .map((path) => `tree/${path}`)
        .sort(),
    );

    const down = join(work, 'tree-down');
    mkdirSync(down);
    ensureOk(await cli.run(['get', '-r', 's3://default/tree/', `${down}/`]));
    expect(await hashTree(down)).toEqual(describeTree(tree));
    rmSync(down, { recursive: true });

    // sync: nothing to do when nothing changed (md5 compared to the listed ETag), then only the change.
    const idle = ensureOk(await cli.run(['sync', `${source}/`, 's3://default/tree/']));
    expect(idle.stdout).not.toMatch(/^upload: /m);
    writeFileSync(join(source, 'root.txt'), 'root, changed\n');
    const changed = ensureOk(await cli.run(['sync', '--delete-removed', `${source}/`, 's3://default/tree/']));
    expect(changed.stdout.match(/^upload: /gm)?.length, describeRun(changed)).toBe(1);
    expect(changed.stdout).toContain("'s3://default/tree/root.txt'");

    const back = join(work, 'tree-back');
    mkdirSync(back);
    ensureOk(await cli.run(['sync', 's3://default/tree/', `${back}/`]));
    expect(await hashTree(back)).toEqual(describeTree({ ...tree, 'root.txt': 'root, changed\n' }));
    rmSync(back, { recursive: true });
  });

  it('ls, ls -r, la and du list the expected names and sizes', { timeout: TIMEOUT }, async () => {
    const buckets = ensureOk(await cli.run(['ls']))
      .stdout.trim()
      .split('\n');
    expect(buckets.map((line) => line.split(/\s+/).at(-1))).toEqual(['s3://default']);

    const flat = parseLs(ensureOk(await cli.run(['ls', 's3://default/tree/'])).stdout);
    expect(flat.dirs).toEqual(['s3://default/tree/plus+/', 's3://default/tree/with space/', 's3://default/tree/x/', 's3://default/tree/ünï/']);
    expect(flat.objects).toEqual([{ size: Buffer.byteLength('root, changed\n'), url: 's3://default/tree/root.txt' }]);

    const recursive = parseLs(ensureOk(await cli.run(['ls', '-r', 's3://default/tree/'])).stdout);
    expect(recursive.dirs).toEqual([]);
    expect(recursive.objects.map((entry) => entry.url).sort()).toEqual(
      Object.keys(tree)
        .map((path) => `s3://default/tree/${path}`)
        .sort(),
    );
    expect(recursive.objects.find((entry) => entry.url.endsWith('side.bin'))?.size).toBe(40_000);

    const all = parseLs(ensureOk(await cli.run(['la'])).stdout);
    expect(all.dirs).toEqual(['s3://default/s3cmd/', 's3://default/tree/']);

    const du = ensureOk(await cli.run(['du', 's3://default/tree/']));
    const total = Object.entries(tree).reduce((sum, [path, contents]) => sum + (path === 'root.txt' ? Buffer.byteLength('root, changed\n') : Buffer.byteLength(contents)), 0);
    expect(du.stdout).toMatch(new RegExp(`^\\s*${total}\\s+${Object.keys(tree).length} objects s3://default/tree/`));

    const noBucket = await cli.run(['ls', 's3://no-such-bucket-s3cmd/']);
    expect(noBucket.code, describeRun(noBucket)).not.toBe(0);
    expect(noBucket.stderr).toContain('NoSuchBucket');
  });

  it('cp and mv copy server-side; del removes single objects and, with --force, prefixes', { timeout: TIMEOUT }, async () => {
    ensureOk(await cli.run(['cp', 's3://default/tree/with space/name with space.txt', 's3://default/copies/copied+1.txt']));
    ensureOk(await cli.run(['mv', 's3://default/tree/ünï/文件.txt', 's3://default/copies/moved ü.txt']));
    expect(await remoteKeys('default', 'copies/')).toEqual(['copies/copied+1.txt', 'copies/moved ü.txt']);
    expect(await remoteKeys('default', 'tree/ünï/')).toEqual([]);
    const copied = ensureOk(await cli.run(['get', 's3://default/copies/copied+1.txt', '-']));
    expect(copied.stdout).toBe('spaced\n');
    const moved = ensureOk(await cli.run(['get', 's3://default/copies/moved ü.txt', '-']));
    expect(moved.stdout).toBe('unicode\n');

    // cp of the 20 MiB multipart object, server-side.
    ensureOk(await cli.run(['cp', 's3://default/s3cmd/big.bin', 's3://default/copies/big.bin']));
    const bigDown = join(work, 'big-copy.bin');
    ensureOk(await cli.run(['get', 's3://default/copies/big.bin', bigDown]));
    expect(await hashFile(bigDown)).toBe(bigSums.sha256);
    rmSync(bigDown);

    const single = ensureOk(await cli.run(['del', 's3://default/copies/copied+1.txt']));
    expect(single.stdout).toContain("delete: 's3://default/copies/copied+1.txt'");
    expect(await remoteKeys('default', 'copies/')).toEqual(['copies/big.bin', 'copies/moved ü.txt']);

    const recursive = ensureOk(await cli.run(['del', '-r', 's3://default/tree/']));
    expect(recursive.stdout.match(/^delete: /gm)?.length, describeRun(recursive)).toBe(Object.keys(tree).length - 1);
    expect(await remoteKeys('default', 'tree/')).toEqual([]);
    // Emptying a whole bucket needs --force.
    const refused = await cli.run(['del', '-r', 's3://default/']);
    expect(refused.code, describeRun(refused)).not.toBe(0);
    expect(await remoteKeys('default')).toEqual(['copies/big.bin', 'copies/moved ü.txt', 's3cmd/big.bin', 's3cmd/small.txt']);
    ensureOk(await cli.run(['del', '-r', '--force', 's3://default/']));
    expect(await remoteKeys('default')).toEqual([]);
  });

  it('mb and rb create and remove buckets, with the S3 errors for duplicates and non-empty buckets', { timeout: TIMEOUT }, async () => {
    const made = ensureOk(await cli.run(['mb', 's3://s3cmd-made']));
    expect(made.stdout).toContain("Bucket 's3://s3cmd-made/' created");
    const twice = await cli.run(['mb', 's3://s3cmd-made']);
    expect(twice.code, describeRun(twice)).not.toBe(0);
    expect(twice.stderr).toContain('BucketAlreadyOwnedByYou');
    const buckets = await s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((bucket) => bucket.Name)).toEqual(['default', 's3cmd-made']);

    writeTree(work, { 'in-bucket.txt': 'in bucket\n' });
    ensureOk(await cli.run(['put', join(work, 'in-bucket.txt'), 's3://s3cmd-made/in-bucket.txt']));
    const notEmpty = await cli.run(['rb', 's3://s3cmd-made']);
    expect(notEmpty.code, describeRun(notEmpty)).not.toBe(0);
    expect(notEmpty.stderr).toContain('BucketNotEmpty');

    ensureOk(await cli.run(['del', 's3://s3cmd-made/in-bucket.txt']));
    const removed = ensureOk(await cli.run(['rb', 's3://s3cmd-made']));
    expect(removed.stdout).toContain("Bucket 's3://s3cmd-made/' removed");
    const after = await s3.send(new ListBucketsCommand({}));
    expect(after.Buckets?.map((bucket) => bucket.Name)).toEqual(['default']);
  });
});
