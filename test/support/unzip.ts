import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A zip archive's entries as python3's zipfile reads them (name → hex bytes), after its own CRC
 * check (`testzip`). Asynchronous: the servers under test run in this process, and a blocked event
 * loop would let their keep-alive timers fire late and reset the next request's connection.
 */
export async function unzipWithPython(zip: Buffer): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'cs-zip-'));
  try {
    const file = join(dir, 'archive.zip');
    await writeFile(file, zip);
    const script =
      'import json,sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nbad=z.testzip()\nassert bad is None, bad\nprint(json.dumps({i.filename: z.read(i).hex() for i in z.infolist()}))';
    const { stdout } = await run('python3', ['-c', script, file], { maxBuffer: 512 * 1024 * 1024 });
    return JSON.parse(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
