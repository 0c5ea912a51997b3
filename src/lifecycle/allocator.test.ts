import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { allocatorAdvice, RECOMMENDED_GLIBC_TUNABLES, runtimeGlibcVersion } from './allocator.ts';

const root = new URL('../..', import.meta.url).pathname;

/**
 * Page faults of a child that allocates and frees 256 KiB buffers as a streaming GET does, under
 * the given GLIBC_TUNABLES.
 */
function faultsOfBufferChurn(tunables: string): number {
  const script = `
    const { readFileSync } = require('node:fs');
    const minorFaults = () => Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[7]);
    const burst = () => { for (let i = 0; i < 64; i++) Buffer.allocUnsafe(256 * 1024).fill(1); globalThis.gc(); };
    for (let i = 0; i < 20; i++) burst();
    const before = minorFaults();
    for (let i = 0; i < 40; i++) burst();
    process.stdout.write(String(minorFaults() - before));`;
  const child = spawnSync(process.execPath, ['--expose-gc', '-e', script], { env: { ...process.env, GLIBC_TUNABLES: tunables }, encoding: 'utf8' });
  expect(child.status, child.stderr).toBe(0);
  return Number(child.stdout);
}

/** The dynamic loader of this process (its `--list-tunables` shows what glibc parsed from GLIBC_TUNABLES). */
function dynamicLoader(): string | undefined {
  const report = process.report.getReport() as { sharedObjects?: string[] };
  return report.sharedObjects?.find((path) => /\/ld-linux[^/]*\.so/.test(path));
}

describe('glibc malloc settings', () => {
  /** `ld.so --list-tunables` exists from glibc 2.33. */
  const listsTunables = (() => {
    const [major, minor] = (runtimeGlibcVersion() ?? '0.0').split('.').map(Number);
    return major > 2 || (major === 2 && minor >= 33);
  })();

  it.runIf(listsTunables)('are understood by glibc (a misspelt tunable is ignored without a word)', () => {
    const loader = dynamicLoader();
    expect(loader).toBeDefined();
    const listed = spawnSync(loader!, ['--list-tunables'], { env: { GLIBC_TUNABLES: RECOMMENDED_GLIBC_TUNABLES }, encoding: 'utf8' });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^glibc\.malloc\.trim_threshold: 0x4000000 /m);
    expect(listed.stdout).toMatch(/^glibc\.malloc\.mmap_threshold: 0x400000 /m);
  });

  it.runIf(runtimeGlibcVersion() !== undefined)('keep freed streaming buffers mapped for reuse', () => {
    // 40 bursts of 64 × 256 KiB = 640 MiB churned, that is 164,000 pages: tuned, about 1,500
    // faults (the same pages reused). glibc's defaults usually give 60,000–120,000 but not always
    // (it moves its mmap threshold by itself, and some heap layouts never trim), so the contrast
    // is a setting that always churns: every buffer its own mmap, trimmed at once (about 160,000).
    const churning = faultsOfBufferChurn('glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072');
    const tuned = faultsOfBufferChurn(RECOMMENDED_GLIBC_TUNABLES);
    expect(churning).toBeGreaterThan(50_000);
    expect(tuned).toBeLessThan(10_000);
    expect(tuned * 10).toBeLessThan(churning);
  });

  it('are what the Docker image and npm start run with', () => {
    expect(readFileSync(`${root}/Dockerfile`, 'utf8')).toContain(`GLIBC_TUNABLES=${RECOMMENDED_GLIBC_TUNABLES} \\`);
    const scripts = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')).scripts as Record<string, string>;
    expect(scripts.start).toContain(`GLIBC_TUNABLES=\${GLIBC_TUNABLES-${RECOMMENDED_GLIBC_TUNABLES}} node dist/main.mjs`);
  });

  it('advise once on glibc when no malloc setting is given, and stay quiet otherwise', () => {
    expect(allocatorAdvice({}, () => '2.36')).toContain(`GLIBC_TUNABLES=${RECOMMENDED_GLIBC_TUNABLES}`);
    expect(allocatorAdvice({ GLIBC_TUNABLES: RECOMMENDED_GLIBC_TUNABLES }, () => '2.36')).toBeUndefined();
    // An operator's own choice (another threshold, jemalloc) is not second-guessed.
    expect(allocatorAdvice({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, () => '2.36')).toBeUndefined();
    expect(allocatorAdvice({ LD_PRELOAD: '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2' }, () => '2.36')).toBeUndefined();
    // An unrelated tunable is no malloc setting.
    expect(allocatorAdvice({ GLIBC_TUNABLES: 'glibc.rtld.optional_static_tls=2048' }, () => '2.36')).toContain('GLIBC_TUNABLES=');
    // musl and other platforms: nothing to say.
    expect(allocatorAdvice({}, () => undefined)).toBeUndefined();
  });
});
