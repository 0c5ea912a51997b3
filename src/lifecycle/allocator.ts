/**
 * glibc malloc settings the server is meant to run with (issue #12's large-object figures).
 *
 * Streaming moves every byte through short-lived buffers: 64 KiB socket reads, 256 KiB file
 * reads. By default glibc serves allocations above a (moving) threshold with a fresh mmap and
 * returns freed memory at the top of the heap to the kernel (trim) as soon as 128 KiB are free.
 * V8 frees those buffers in bursts, at each garbage collection, so the heap shrinks and grows
 * again all the time and received bytes land in freshly faulted, zeroed pages. Same-run A/B on
 * the benchmark VM (bench/alloc-ab.bench.ts): a 64 MiB GET through the proxy backend, which the
 * gateway receives from the store, cost it 1.28 s of CPU per GiB instead of 2.08; fs-backend
 * transfers did not change measurably. A Node HTTP client receiving 256 MiB (the benchmarks' load
 * generator) went from about 220 to about 1,000 MiB/s.
 *
 * The settings: buffers up to 4 MiB come from the heap (not a private mmap each), and up to
 * 64 MiB of freed heap stay mapped for reuse. The cost is memory kept resident after a burst of
 * transfers; the RSS test (test/e2e/memory.e2e.test.ts) runs with these settings.
 *
 * glibc reads GLIBC_TUNABLES once, when the process starts, so this cannot be set from inside:
 * the Dockerfile, `npm start` and the test harness set it; a process started without it logs
 * `allocatorAdvice` once, at warn. Workers inherit the primary's environment. Other C libraries
 * (musl) ignore the variable.
 *
 * The 64 MiB is per process (so per worker) and covers the top of the heap; it is what may stay
 * resident after a burst, not a bound on the process's memory.
 */
export const RECOMMENDED_GLIBC_TUNABLES = 'glibc.malloc.trim_threshold=67108864:glibc.malloc.mmap_threshold=4194304';

/**
 * A one-line hint when this process runs on glibc without any malloc tunable set, else undefined
 * (an operator who set their own, or runs jemalloc through LD_PRELOAD, is not second-guessed).
 */
export function allocatorAdvice(env: NodeJS.ProcessEnv, glibcVersion: () => string | undefined): string | undefined {
  if ((env.GLIBC_TUNABLES ?? '').includes('glibc.malloc.')) return undefined;
  if ((env.LD_PRELOAD ?? '') !== '') return undefined;
  // Asked last: it takes a diagnostic report.
  if (glibcVersion() === undefined) return undefined;
  return `glibc malloc is untuned: received streams (GETs through the proxy backend) cost more CPU, about 1.6x per GiB measured. Start the server with GLIBC_TUNABLES=${RECOMMENDED_GLIBC_TUNABLES} (the Docker image and npm start do)`;
}

/** The glibc version this process runs on, undefined on other C libraries and platforms. */
export function runtimeGlibcVersion(): string | undefined {
  if (process.platform !== 'linux' || !process.report) return undefined;
  // Only the header is wanted: skip the network interfaces (the heap and handles are walked anyway).
  (process.report as { excludeNetwork?: boolean }).excludeNetwork = true; // Node ≥ 20.13; not in @types/node 20
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return header?.glibcVersionRuntime;
}
