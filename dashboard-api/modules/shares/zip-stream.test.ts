import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { zipEntryName } from './shares.usecases.ts';
import { zipStream, type ZipEntrySource } from './zip-stream.ts';

async function* entries(count: number, opened: { count: number }, body: (index: number) => Buffer): AsyncGenerator<ZipEntrySource> {
  for (let index = 0; index < count; index++) {
    yield {
      name: `dir/${index}.txt`,
      size: body(index).length,
      modified: new Date('2026-11-30T12:00:00Z'),
      open: async () => {
        opened.count += 1;
        return Readable.from([body(index)]);
      },
    };
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('zipStream', () => {
  it('opens an entry only when the reader gets to it (backpressure: nothing is read ahead)', async () => {
    const opened = { count: 0 };
    const stream = Readable.from(zipStream(entries(1000, opened, (index) => Buffer.alloc(64 * 1024, index))), { highWaterMark: 1 });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next(); // the first local header
    await new Promise((resolve) => setImmediate(resolve));
    // However many files follow, only the first (and at most the one being buffered) has been opened.
    expect(opened.count).toBeLessThanOrEqual(2);
    stream.destroy();
  });

  it('writes ZIP64 end records past 65535 entries, readable by python3 zipfile', async () => {
    const count = 65_600;
    async function* small(): AsyncGenerator<ZipEntrySource> {
      for (let index = 0; index < count; index++) {
        const bytes = Buffer.from(index % 1000 === 0 ? `file ${index}` : '');
        yield { name: `d/${index}`, size: bytes.length, modified: new Date('2026-11-30T12:00:00Z'), open: async () => bytes };
      }
    }
    const spoolDir = await mkdtemp(join(tmpdir(), 'cs-spool-'));
    const zip = await collect(Readable.from(zipStream(small(), undefined, spoolDir)));
    // The central directory went through a spool file (past 4096 entries), removed at the end.
    expect(await readdir(spoolDir)).toEqual([]);
    await rm(spoolDir, { recursive: true });
    // The ZIP64 end of central directory record and its locator precede the classic end record, which says 0xFFFF entries.
    expect(zip.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06]))).toBe(true);
    expect(zip.readUInt16LE(zip.length - 22 + 10)).toBe(0xffff);
    const dir = await mkdtemp(join(tmpdir(), 'cs-zip64-'));
    try {
      await writeFile(join(dir, 'a.zip'), zip);
      const script = 'import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nprint(len(z.infolist()), z.read("d/65000").decode())';
      const { stdout } = await promisify(execFile)('python3', ['-c', script, join(dir, 'a.zip')]);
      expect(stdout.trim()).toBe(`${count} file 65000`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('removes its spool file when the reader goes away mid-archive', async () => {
    const spoolDir = await mkdtemp(join(tmpdir(), 'cs-spool-'));
    const opened = { count: 0 };
    const stream = Readable.from(
      zipStream(
        entries(6000, opened, () => Buffer.alloc(0)),
        undefined,
        spoolDir,
      ),
    );
    for await (const _chunk of stream) {
      if (opened.count > 5000) break; // for-await's break destroys the stream, which returns the generator
    }
    // Readable.from's destroy awaits the generator's return (and so its cleanup) before 'close'.
    await finished(stream).catch(() => undefined);
    expect(await readdir(spoolDir)).toEqual([]);
    await rm(spoolDir, { recursive: true });
  });

  it('closes an opened file whose header was read when the reader goes away (a proxied store keeps the connection otherwise)', async () => {
    const body = new Readable({ read() {} }); // a store's response body: open until read or destroyed
    const archive = zipStream(
      (async function* () {
        yield { name: 'held.bin', size: 10, modified: new Date('2026-11-30T12:00:00Z'), open: async () => body };
      })(),
    );
    expect((await archive.next()).done).toBe(false); // the local header; the body is open
    await archive.return(undefined);
    expect(body.destroyed).toBe(true);
  });

  it('names entries so that no extraction can leave the folder', () => {
    expect(zipEntryName('../../etc/passwd')).toBe('_/_/etc/passwd');
    expect(zipEntryName('/abs//x/./y')).toBe('_/abs/_/x/_/y');
    expect(zipEntryName('ok/name.txt')).toBe('ok/name.txt');
  });
});
