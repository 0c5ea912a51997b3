import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { heldExclusively, type IndexWriters, registerIndexWriter, type WriterMode } from './index-writers.ts';

const dirs: string[] = [];
const opened: IndexWriters[] = [];
afterEach(() => {
  for (const writers of opened.splice(0)) writers.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-writers-'));
  dirs.push(dir);
  return dir;
}

/** Registers with the timer off (the test runs the rounds) and records every mode it is told of. */
async function register(dir: string, onChange?: (mode: WriterMode) => void) {
  const modes: WriterMode[] = [];
  const writers = await registerIndexWriter(dir, {
    timer: false,
    onModeChange: (mode) => {
      onChange?.(mode);
      modes.push(mode);
    },
  });
  opened.push(writers);
  return { writers, modes };
}

/** Runs the lone writer's rounds until `pending` settles (a newcomer waiting for its answer). */
async function answerWhile<T>(writers: IndexWriters, pending: Promise<T>): Promise<T> {
  let settled = false;
  void pending.finally(() => {
    settled = true;
  });
  while (!settled) {
    writers.poll();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return pending;
}

describe('index writers: is this process the only one that can commit to the index', () => {
  it('the first writer is alone; a newcomer knocks, and the lone writer goes shared before it lets go of its lock', async () => {
    const dir = tempDir();
    let exclusiveWhenTold: boolean | undefined;
    const first = await register(dir, (mode) => {
      if (mode === 'shared') exclusiveWhenTold = heldExclusively(dir);
    });
    expect(first.writers.mode).toBe('alone');
    expect(first.modes).toEqual(['alone']);
    // Without a knock, rounds change nothing.
    first.writers.poll();
    expect(first.writers.mode).toBe('alone');

    const second = await answerWhile(first.writers, register(dir));
    expect(second.writers.mode).toBe('shared');
    expect(first.writers.mode).toBe('shared');
    expect(first.modes).toEqual(['alone', 'shared']);
    // Told while it still held the lock exclusively: the newcomer could not have committed yet.
    expect(exclusiveWhenTold).toBe(true);
    // The knock is gone once answered.
    expect(fs.readdirSync(path.join(dir, 'index-writers')).filter((name) => name.startsWith('knock-'))).toEqual([]);
  });

  it('a shared writer becomes alone again once the others left, and not before', async () => {
    const dir = tempDir();
    const first = await register(dir);
    const second = await answerWhile(first.writers, register(dir));
    const third = await register(dir);
    expect(third.writers.mode).toBe('shared');

    for (const writer of [first, second, third]) writer.writers.poll();
    expect([first.writers.mode, second.writers.mode, third.writers.mode]).toEqual(['shared', 'shared', 'shared']);

    second.writers.close();
    first.writers.poll();
    expect(first.writers.mode).toBe('shared');
    third.writers.close();
    first.writers.poll();
    expect(first.writers.mode).toBe('alone');
    expect(first.modes).toEqual(['alone', 'shared', 'alone']);
    expect(heldExclusively(dir)).toBe(true);
  });

  it('a newcomer after a lone writer regained its lock knocks again and is answered', async () => {
    const dir = tempDir();
    const first = await register(dir);
    const second = await answerWhile(first.writers, register(dir));
    second.writers.close();
    first.writers.poll();
    expect(first.writers.mode).toBe('alone');
    const third = await answerWhile(first.writers, register(dir));
    expect([first.writers.mode, third.writers.mode]).toEqual(['shared', 'shared']);
  });

  it('a writer killed with SIGKILL while alone leaves nothing behind: the next one is alone', async () => {
    const dir = tempDir();
    const module = pathToFileURL(path.resolve(import.meta.dirname, 'index-writers.ts')).href;
    const script = `const { registerIndexWriter } = await import(${JSON.stringify(module)});
      const writers = await registerIndexWriter(${JSON.stringify(dir)}, { timer: false, onModeChange: () => {} });
      process.stdout.write(writers.mode + '\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    expect(line.toString().trim()).toBe('alone');
    expect(heldExclusively(dir)).toBe(true);
    child.kill('SIGKILL');
    await once(child, 'exit');

    const next = await register(dir);
    expect(next.writers.mode).toBe('alone');
  });

  it('a knock left by a newcomer that died waiting is removed once stale, and not answered', async () => {
    const dir = tempDir();
    const first = await register(dir);
    const stale = path.join(dir, 'index-writers', 'knock-0000000000000000');
    fs.writeFileSync(stale, '1');
    const hourAgo = new Date(Date.now() - 3_600_000);
    fs.utimesSync(stale, hourAgo, hourAgo);
    first.writers.poll();
    expect(first.writers.mode).toBe('alone');
    expect(fs.existsSync(stale)).toBe(false);
  });
});
