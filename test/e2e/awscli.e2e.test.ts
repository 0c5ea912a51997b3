/**
 * The aws CLI (v1, botocore) against the real gateway: `aws s3` high-level commands and `aws s3api`.
 * Every transfer is checked byte for byte (sha256 of what comes back vs. what went up).
 */
import { DeleteObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { awsCli, describeRun, describeTree, ensureOk, hashFile, hashTree, md5, sha256, writeRandomFile, writeTree, type CliHarness, type RunResult } from '../support/clients.ts';

const MiB = 1024 * 1024;
const TIMEOUT = 120_000;

/** Keys the gateway holds under a prefix, via the SDK (independent of the CLI under test). */
async function listKeys(s3: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((object) => object.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

function json(result: RunResult): any {
  ensureOk(result);
  try {
    return JSON.parse(result.stdout);
  } catch {
    throw new Error(`stdout is not JSON\n${describeRun(result)}`);
  }
}

/** Lines of `aws s3 ls`: `PRE name/` or `date time size name`. */
function parseLs(stdout: string): { prefixes: string[]; objects: { size: number; name: string }[] } {
  const prefixes: string[] = [];
  const objects: { size: number; name: string }[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const pre = /^\s+PRE (.+)$/.exec(line);
    if (pre) {
      prefixes.push(pre[1]!);
      continue;
    }
    const object = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+(\d+) (.+)$/.exec(line);
    if (!object) throw new Error(`unexpected ls line: ${JSON.stringify(line)}`);
    objects.push({ size: Number(object[1]), name: object[2]! });
  }
  return { prefixes, objects };
}

describe('aws CLI against the gateway', () => {
  let server: TestServer;
  let account: TestAccount;
  let cli: CliHarness;
  let s3: S3Client;
  let work: string;

  beforeAll(async () => {
    server = await startTestServer();
    account = await server.createAccount();
    s3 = server.client(account);
    cli = awsCli(server.endpoint, account);
    work = join(cli.home, 'work');
    mkdirSync(work);
  });
  afterAll(async () => {
    s3?.destroy();
    cli?.cleanup();
    await server?.close();
  });

  it('s3 cp uploads and downloads a small file and a 20 MiB (multipart) file byte for byte', { timeout: TIMEOUT }, async () => {
    const small = join(work, 'small.txt');
    writeFileSync(small, 'hello from the aws cli\n'.repeat(100));
    const big = join(work, 'big.bin');
    const bigSums = writeRandomFile(big, 20 * MiB);

    const upSmall = ensureOk(await cli.run(['s3', 'cp', small, 's3://default/cp/small.txt']));
    expect(upSmall.stdout).toContain('upload:');
    ensureOk(await cli.run(['s3', 'cp', big, 's3://default/cp/big.bin']));

    // 20 MiB with the default 8 MiB threshold/chunk size: a 3-part multipart upload (8 + 8 + 4 MiB).
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 'cp/big.bin' }));
    expect(head.ContentLength).toBe(20 * MiB);
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}-3"$/);
    const smallHead = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 'cp/small.txt' }));
    expect(smallHead.ETag).toBe(`"${md5(readFileSync(small))}"`);

    const down = join(work, 'down');
    ensureOk(await cli.run(['s3', 'cp', 's3://default/cp/small.txt', join(down, 'small.txt')]));
    ensureOk(await cli.run(['s3', 'cp', 's3://default/cp/big.bin', join(down, 'big.bin')]));
    expect(await hashFile(join(down, 'small.txt'))).toBe(await hashFile(small));
    expect(await hashFile(join(down, 'big.bin'))).toBe(bigSums.sha256);

    // Streaming to stdout is a plain GET too.
    const cat = ensureOk(await cli.run(['s3', 'cp', 's3://default/cp/small.txt', '-']));
    expect(cat.stdout).toBe(readFileSync(small, 'utf8'));

    // Server-side copy of the multipart object (CopyObject/UploadPartCopy, depending on size).
    ensureOk(await cli.run(['s3', 'cp', 's3://default/cp/big.bin', 's3://default/cp/big-copy.bin']));
    ensureOk(await cli.run(['s3', 'cp', 's3://default/cp/big-copy.bin', join(down, 'big-copy.bin')]));
    expect(await hashFile(join(down, 'big-copy.bin'))).toBe(bigSums.sha256);

    // Upload from stdin (unknown length): 9 MiB is read in 8 MiB chunks and sent as a 2-part multipart upload.
    const piped = randomBytes(9 * MiB);
    ensureOk(await cli.run(['s3', 'cp', '-', 's3://default/cp/from-stdin.bin'], { input: piped }));
    const pipedHead = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 'cp/from-stdin.bin' }));
    expect(pipedHead.ContentLength).toBe(piped.length);
    expect(pipedHead.ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
    ensureOk(await cli.run(['s3', 'cp', 's3://default/cp/from-stdin.bin', join(down, 'from-stdin.bin')]));
    expect(await hashFile(join(down, 'from-stdin.bin'))).toBe(sha256(piped));

    // `s3 presign` makes a SigV4 query-string URL that a plain HTTP client can use.
    const presigned = ensureOk(await cli.run(['s3', 'presign', 's3://default/cp/small.txt', '--expires-in', '120'])).stdout.trim();
    expect(presigned).toContain('X-Amz-Signature=');
    const fetched = await fetch(presigned);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer()).equals(readFileSync(small))).toBe(true);

    // mv = copy + delete.
    ensureOk(await cli.run(['s3', 'mv', 's3://default/cp/small.txt', 's3://default/cp/moved small+.txt']));
    expect(await listKeys(s3, 'default', 'cp/')).toEqual(['cp/big-copy.bin', 'cp/big.bin', 'cp/from-stdin.bin', 'cp/moved small+.txt']);

    ensureOk(await cli.run(['s3', 'rm', '--recursive', 's3://default/cp/']));
    expect(await listKeys(s3, 'default', 'cp/')).toEqual([]);
    rmSync(big);
    rmSync(down, { recursive: true });
  });

  const tree: Record<string, string | Buffer> = {
    'top.txt': 'top level file\n',
    'a/one.txt': 'one\n',
    'a/b/two.txt': 'two\n',
    'a/b/c/three.bin': Buffer.alloc(70_000, 7),
    'with space/file name.txt': 'spaces in dir and file name\n',
    'ünïcødé/文件 ñ.txt': 'unicode path\n',
    'plus+sign/a+b=c.txt': 'plus and equals\n',
    'percent%20literal.txt': 'a literal percent-twenty\n',
    'empty.txt': '',
  };

  it('s3 sync uploads a nested tree with awkward names, syncs back identically and is idempotent', { timeout: TIMEOUT }, async () => {
    const source = join(work, 'sync-src');
    writeTree(source, tree);

    const up = ensureOk(await cli.run(['s3', 'sync', source, 's3://default/tree/']));
    expect(up.stdout.match(/^upload: /gm)?.length, describeRun(up)).toBe(Object.keys(tree).length);
    expect(await listKeys(s3, 'default', 'tree/')).toEqual(
      Object.keys(tree)
        .map((key) => `tree/${key}`)
        .sort(),
    );

    // Nothing changed: a second sync transfers nothing (sizes and timestamps from the listing match).
    const again = ensureOk(await cli.run(['s3', 'sync', source, 's3://default/tree/']));
    expect(again.stdout.trim(), describeRun(again)).toBe('');

    const back = join(work, 'sync-back');
    ensureOk(await cli.run(['s3', 'sync', 's3://default/tree/', back]));
    expect(await hashTree(back)).toEqual(describeTree(tree));

    // --delete removes what is gone locally, and only that.
    unlinkSync(join(source, 'a/b/two.txt'));
    writeFileSync(join(source, 'top.txt'), 'changed, and longer than before\n');
    const withDelete = ensureOk(await cli.run(['s3', 'sync', '--delete', source, 's3://default/tree/']));
    expect(withDelete.stdout).toContain('delete: s3://default/tree/a/b/two.txt');
    expect(withDelete.stdout).toContain('upload: ');
    const expected = { ...tree, 'top.txt': 'changed, and longer than before\n' } as Record<string, string | Buffer>;
    delete expected['a/b/two.txt'];
    expect(await listKeys(s3, 'default', 'tree/')).toEqual(
      Object.keys(expected)
        .map((key) => `tree/${key}`)
        .sort(),
    );

    const back2 = join(work, 'sync-back-2');
    ensureOk(await cli.run(['s3', 'sync', 's3://default/tree/', back2]));
    expect(await hashTree(back2)).toEqual(describeTree(expected));
    rmSync(back, { recursive: true });
    rmSync(back2, { recursive: true });
  });

  it('s3 ls lists buckets, a prefix non-recursively and recursively', { timeout: TIMEOUT }, async () => {
    const buckets = ensureOk(await cli.run(['s3', 'ls']));
    expect(
      buckets.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(' ').at(-1)),
    ).toEqual(['default']);

    const flat = parseLs(ensureOk(await cli.run(['s3', 'ls', 's3://default/tree/'])).stdout);
    expect(flat.prefixes).toEqual(['a/', 'plus+sign/', 'with space/', 'ünïcødé/']);
    expect(flat.objects).toEqual([
      { size: 0, name: 'empty.txt' },
      { size: Buffer.byteLength('a literal percent-twenty\n'), name: 'percent%20literal.txt' },
      { size: Buffer.byteLength('changed, and longer than before\n'), name: 'top.txt' },
    ]);

    const recursive = parseLs(ensureOk(await cli.run(['s3', 'ls', '--recursive', 's3://default/tree/'])).stdout);
    expect(recursive.prefixes).toEqual([]);
    expect(recursive.objects.map((object) => object.name)).toEqual(
      [
        'tree/a/b/c/three.bin',
        'tree/a/one.txt',
        'tree/empty.txt',
        'tree/percent%20literal.txt',
        'tree/plus+sign/a+b=c.txt',
        'tree/top.txt',
        'tree/with space/file name.txt',
        'tree/ünïcødé/文件 ñ.txt',
      ].sort(),
    );
    expect(recursive.objects.find((object) => object.name === 'tree/a/b/c/three.bin')?.size).toBe(70_000);

    // A prefix that does not end in "/" lists what starts with it, like S3.
    const partial = parseLs(ensureOk(await cli.run(['s3', 'ls', 's3://default/tree/p'])).stdout);
    expect(partial.prefixes).toEqual(['plus+sign/']);
    expect(partial.objects.map((object) => object.name)).toEqual(['percent%20literal.txt']);

    // An empty listing exits 1 with no output; a missing bucket fails with NoSuchBucket.
    const empty = await cli.run(['s3', 'ls', 's3://default/nothing-here/']);
    expect(empty.code, describeRun(empty)).toBe(1);
    expect(empty.stdout).toBe('');
    const missing = await cli.run(['s3', 'ls', 's3://no-such-bucket-here/']);
    expect(missing.code, describeRun(missing)).not.toBe(0);
    expect(missing.stderr).toContain('NoSuchBucket');
  });

  it('s3 rm removes single objects and whole prefixes', { timeout: TIMEOUT }, async () => {
    const single = ensureOk(await cli.run(['s3', 'rm', 's3://default/tree/with space/file name.txt']));
    expect(single.stdout).toContain('delete: s3://default/tree/with space/file name.txt');
    const unicode = ensureOk(await cli.run(['s3', 'rm', 's3://default/tree/ünïcødé/文件 ñ.txt']));
    expect(unicode.stdout).toContain('delete: ');
    const keys = await listKeys(s3, 'default', 'tree/');
    expect(keys).not.toContain('tree/with space/file name.txt');
    expect(keys).not.toContain('tree/ünïcødé/文件 ñ.txt');
    expect(keys).toContain('tree/plus+sign/a+b=c.txt');

    const recursive = ensureOk(await cli.run(['s3', 'rm', '--recursive', 's3://default/tree/a/']));
    expect(recursive.stdout.match(/^delete: /gm)?.length).toBe(2);
    expect(await listKeys(s3, 'default', 'tree/a/')).toEqual([]);

    const rest = ensureOk(await cli.run(['s3', 'rm', '--recursive', 's3://default/tree/']));
    expect(rest.stdout.match(/^delete: /gm)?.length).toBe(4);
    expect(await listKeys(s3, 'default', 'tree/')).toEqual([]);
  });

  it('s3 mb and rb create and remove buckets (rb --force empties it first)', { timeout: TIMEOUT }, async () => {
    const made = ensureOk(await cli.run(['s3', 'mb', 's3://cli-made']));
    expect(made.stdout).toContain('make_bucket: cli-made');
    const again = await cli.run(['s3', 'mb', 's3://cli-made']);
    expect(again.code, describeRun(again)).not.toBe(0);
    expect(again.stderr).toContain('BucketAlreadyOwnedByYou');

    const buckets = ensureOk(await cli.run(['s3', 'ls']));
    expect(
      buckets.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(' ').at(-1)),
    ).toEqual(['cli-made', 'default']);
    const location = json(await cli.run(['s3api', 'get-bucket-location', '--bucket', 'cli-made']));
    expect(location.LocationConstraint).toBe('eu-central-1');

    writeFileSync(join(work, 'in-bucket.txt'), 'x');
    ensureOk(await cli.run(['s3', 'cp', join(work, 'in-bucket.txt'), 's3://cli-made/x/in-bucket.txt']));
    const notEmpty = await cli.run(['s3', 'rb', 's3://cli-made']);
    expect(notEmpty.code, describeRun(notEmpty)).not.toBe(0);
    expect(notEmpty.stderr).toContain('BucketNotEmpty');

    const forced = ensureOk(await cli.run(['s3', 'rb', '--force', 's3://cli-made']));
    expect(forced.stdout).toContain('remove_bucket: cli-made');
    const after = ensureOk(await cli.run(['s3', 'ls']));
    expect(
      after.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(' ').at(-1)),
    ).toEqual(['default']);
    await expect(s3.send(new HeadBucketCommand({ Bucket: 'cli-made' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  });

  it('s3api put-object with metadata and tagging, head-object, get-object and get-object-tagging', { timeout: TIMEOUT }, async () => {
    const body = join(work, 'meta.json');
    const contents = JSON.stringify({ hello: 'world', n: [1, 2, 3] });
    writeFileSync(body, contents);
    const put = json(
      await cli.run([
        's3api',
        'put-object',
        '--bucket',
        'default',
        '--key',
        'api/meta object+1.json',
        '--body',
        body,
        '--content-type',
        'application/json',
        '--cache-control',
        'no-cache',
        '--metadata',
        'owner=cli,project-id=42',
        '--tagging',
        'env=test&team=storage',
      ]),
    );
    expect(put.ETag).toBe(`"${md5(contents)}"`);

    const head = json(await cli.run(['s3api', 'head-object', '--bucket', 'default', '--key', 'api/meta object+1.json']));
    expect(head.ContentLength).toBe(Buffer.byteLength(contents));
    expect(head.ETag).toBe(`"${md5(contents)}"`);
    expect(head.ContentType).toBe('application/json');
    expect(head.CacheControl).toBe('no-cache');
    expect(head.Metadata).toEqual({ owner: 'cli', 'project-id': '42' });

    const out = join(work, 'meta-out.json');
    const got = json(await cli.run(['s3api', 'get-object', '--bucket', 'default', '--key', 'api/meta object+1.json', out]));
    expect(got.ContentLength).toBe(Buffer.byteLength(contents));
    expect(got.Metadata).toEqual({ owner: 'cli', 'project-id': '42' });
    expect(readFileSync(out, 'utf8')).toBe(contents);

    const tagging = json(await cli.run(['s3api', 'get-object-tagging', '--bucket', 'default', '--key', 'api/meta object+1.json']));
    const sortTags = (tags: { Key: string; Value: string }[]) => [...tags].sort((a, b) => a.Key.localeCompare(b.Key));
    expect(sortTags(tagging.TagSet)).toEqual([
      { Key: 'env', Value: 'test' },
      { Key: 'team', Value: 'storage' },
    ]);
    ensureOk(
      await cli.run([
        's3api',
        'put-object-tagging',
        '--bucket',
        'default',
        '--key',
        'api/meta object+1.json',
        '--tagging',
        JSON.stringify({ TagSet: [{ Key: 'replaced', Value: 'yes' }] }),
      ]),
    );
    const replaced = json(await cli.run(['s3api', 'get-object-tagging', '--bucket', 'default', '--key', 'api/meta object+1.json']));
    expect(replaced.TagSet).toEqual([{ Key: 'replaced', Value: 'yes' }]);

    const missingGet = await cli.run(['s3api', 'get-object', '--bucket', 'default', '--key', 'api/missing', join(work, 'never')]);
    expect(missingGet.code, describeRun(missingGet)).not.toBe(0);
    expect(missingGet.stderr).toContain('NoSuchKey');

    ensureOk(await cli.run(['s3api', 'delete-object', '--bucket', 'default', '--key', 'api/meta object+1.json']));
    expect(await listKeys(s3, 'default', 'api/')).toEqual([]);
  });

  it('s3api list-objects-v2 paginates with --max-items / --starting-token and --page-size', { timeout: TIMEOUT }, async () => {
    const keys = Array.from({ length: 7 }, (_, i) => `page/key-${String(i).padStart(2, '0')}`);
    const pageDir = join(work, 'page');
    writeTree(pageDir, Object.fromEntries(keys.map((key) => [key.slice('page/'.length), 'tiny'])));
    ensureOk(await cli.run(['s3', 'cp', '--recursive', pageDir, 's3://default/page/']));

    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const args = ['s3api', 'list-objects-v2', '--bucket', 'default', '--prefix', 'page/', '--max-items', '3'];
      if (token) args.push('--starting-token', token);
      const page = json(await cli.run(args));
      pages += 1;
      expect(page.Contents.length).toBeLessThanOrEqual(3);
      for (const object of page.Contents) {
        expect(object.Size).toBe(4);
        expect(object.ETag).toBe(`"${md5('tiny')}"`);
      }
      seen.push(...page.Contents.map((object: { Key: string }) => object.Key));
      token = page.NextToken;
    } while (token && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(keys);

    // --page-size makes the CLI fetch 2 keys per request and stitch the result together (continuation tokens).
    const stitched = json(await cli.run(['s3api', 'list-objects-v2', '--bucket', 'default', '--prefix', 'page/', '--page-size', '2']));
    expect(stitched.Contents.map((object: { Key: string }) => object.Key)).toEqual(keys);

    // --no-paginate returns the one raw page with its continuation token.
    const raw = json(await cli.run(['s3api', 'list-objects-v2', '--bucket', 'default', '--prefix', 'page/', '--max-keys', '4', '--no-paginate']));
    expect(raw.Contents.map((object: { Key: string }) => object.Key)).toEqual(keys.slice(0, 4));
    expect(raw.IsTruncated).toBe(true);
    expect(raw.KeyCount).toBe(4);
    expect(raw.NextContinuationToken).toBeTruthy();

    // delete-objects: several keys at once, including one that never existed (S3 reports it deleted too).
    const deleteSpec = join(work, 'delete.json');
    writeFileSync(deleteSpec, JSON.stringify({ Objects: [...keys, 'page/never-existed'].map((Key) => ({ Key })), Quiet: false }));
    const deleted = json(await cli.run(['s3api', 'delete-objects', '--bucket', 'default', '--delete', `file://${deleteSpec}`]));
    expect(deleted.Deleted.map((entry: { Key: string }) => entry.Key).sort()).toEqual([...keys, 'page/never-existed'].sort());
    expect(deleted.Errors ?? []).toEqual([]);
    expect(await listKeys(s3, 'default', 'page/')).toEqual([]);
  });

  it('s3api runs a low-level multipart upload: create, upload-part, list-parts, complete', { timeout: TIMEOUT }, async () => {
    const part1 = join(work, 'part1.bin');
    const part2 = join(work, 'part2.bin');
    const sums1 = writeRandomFile(part1, 5 * MiB);
    const sums2 = writeRandomFile(part2, 1234);
    const key = 'mpu/low level+ü.bin';

    const created = json(
      await cli.run(['s3api', 'create-multipart-upload', '--bucket', 'default', '--key', key, '--content-type', 'application/x-parts', '--metadata', 'via=s3api']),
    );
    expect(created.Bucket).toBe('default');
    expect(created.Key).toBe(key);
    const uploadId: string = created.UploadId;
    expect(uploadId).toBeTruthy();

    const uploads = json(await cli.run(['s3api', 'list-multipart-uploads', '--bucket', 'default']));
    expect(uploads.Uploads.map((upload: { UploadId: string; Key: string }) => [upload.Key, upload.UploadId])).toContainEqual([key, uploadId]);

    const p1 = json(await cli.run(['s3api', 'upload-part', '--bucket', 'default', '--key', key, '--upload-id', uploadId, '--part-number', '1', '--body', part1]));
    const p2 = json(await cli.run(['s3api', 'upload-part', '--bucket', 'default', '--key', key, '--upload-id', uploadId, '--part-number', '2', '--body', part2]));
    expect(p1.ETag).toBe(`"${sums1.md5}"`);
    expect(p2.ETag).toBe(`"${sums2.md5}"`);

    const parts = json(await cli.run(['s3api', 'list-parts', '--bucket', 'default', '--key', key, '--upload-id', uploadId]));
    expect(parts.Parts.map((part: { PartNumber: number; Size: number; ETag: string }) => [part.PartNumber, part.Size, part.ETag])).toEqual([
      [1, 5 * MiB, p1.ETag],
      [2, 1234, p2.ETag],
    ]);

    const spec = join(work, 'parts.json');
    const partEntry = (number: number, result: { ETag: string; ChecksumCRC32?: string }) =>
      result.ChecksumCRC32 ? { PartNumber: number, ETag: result.ETag, ChecksumCRC32: result.ChecksumCRC32 } : { PartNumber: number, ETag: result.ETag };
    writeFileSync(spec, JSON.stringify({ Parts: [partEntry(1, p1), partEntry(2, p2)] }));
    const completed = json(
      await cli.run(['s3api', 'complete-multipart-upload', '--bucket', 'default', '--key', key, '--upload-id', uploadId, '--multipart-upload', `file://${spec}`]),
    );
    const expectedEtag = `"${createHash('md5')
      .update(Buffer.concat([Buffer.from(sums1.md5, 'hex'), Buffer.from(sums2.md5, 'hex')]))
      .digest('hex')}-2"`;
    expect(completed.ETag).toBe(expectedEtag);
    expect(completed.Key).toBe(key);

    const head = json(await cli.run(['s3api', 'head-object', '--bucket', 'default', '--key', key]));
    expect(head.ContentLength).toBe(5 * MiB + 1234);
    expect(head.ETag).toBe(expectedEtag);
    expect(head.ContentType).toBe('application/x-parts');
    expect(head.Metadata).toEqual({ via: 's3api' });

    const out = join(work, 'mpu-out.bin');
    ensureOk(await cli.run(['s3api', 'get-object', '--bucket', 'default', '--key', key, out]));
    const expectedSha = sha256(Buffer.concat([readFileSync(part1), readFileSync(part2)]));
    expect(await hashFile(out)).toBe(expectedSha);

    // An aborted upload disappears from the listing and its id is no longer usable.
    const aborted = json(await cli.run(['s3api', 'create-multipart-upload', '--bucket', 'default', '--key', 'mpu/aborted']));
    ensureOk(await cli.run(['s3api', 'abort-multipart-upload', '--bucket', 'default', '--key', 'mpu/aborted', '--upload-id', aborted.UploadId]));
    const gone = await cli.run(['s3api', 'list-parts', '--bucket', 'default', '--key', 'mpu/aborted', '--upload-id', aborted.UploadId]);
    expect(gone.code, describeRun(gone)).not.toBe(0);
    expect(gone.stderr).toContain('NoSuchUpload');

    await s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: key }));
    expect(await listKeys(s3, 'default', 'mpu/')).toEqual([]);
  });
});
