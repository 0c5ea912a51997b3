/**
 * The machine's ceiling for WORKERS=2 (issue #12: "≥ 1.6× where the load generator leaves room"):
 * a node:http server that answers GET /small with 4 KiB after burning BURN_US microseconds of CPU
 * (no allocation, no I/O), run as BURN_PROCESSES processes sharing the port through node:cluster as
 * the gateway's workers do. Its two-process ÷ one-process ratio is what perfect scaling of a server
 * of about the gateway's cost per request reaches on this machine, with wrk on the same cores.
 */
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { batchRequests } from '../src/http/batch-requests.ts';

const processes = Number(process.env.BURN_PROCESSES ?? 1);
const burnMicros = Number(process.env.BURN_US ?? 25);

let sink = 0;
function spin(iterations: number) {
  let x = sink;
  for (let i = 0; i < iterations; i++) x = (x * 31 + i) | 0;
  sink = x;
}

/**
 * Loop iterations per request: calibrated once, against the CPU clock of the process that starts
 * first (not wall time, which counts preemption), and handed to the workers, so both processes do
 * the same work per request (two calibrating at once on shared cores would each measure less).
 */
function iterationsPerRequest(): number {
  if (process.env.BURN_ITERATIONS) return Number(process.env.BURN_ITERATIONS);
  spin(1e6);
  const start = process.cpuUsage();
  spin(2e7);
  const used = process.cpuUsage(start);
  return Math.round((2e7 / (used.user + used.system)) * burnMicros);
}

if (cluster.isPrimary && processes > 1) {
  const env = { BURN_ITERATIONS: String(iterationsPerRequest()) };
  for (let i = 0; i < processes; i++) cluster.fork(env);
} else {
  const iterations = iterationsPerRequest();
  const small = Buffer.alloc(4096, 7);
  // Served in batches as the gateway serves (src/http/batch-requests.ts): unbatched, waking the
  // client for every response would cost the ceiling more than the gateway pays.
  createServer(
    batchRequests((_req, res) => {
      spin(iterations);
      res.writeHead(200, { 'Content-Length': small.length, 'Content-Type': 'application/octet-stream' });
      res.end(small);
    }),
  ).listen(Number(process.env.PORT ?? 0), '127.0.0.1');
}
