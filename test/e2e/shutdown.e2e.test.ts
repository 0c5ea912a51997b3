/**
 * Issue #11, graceful shutdown: SIGTERM used to cut uploads in flight (curl exit 55). Now the
 * first SIGTERM/SIGINT turns health to 503, stops accepting connections, lets requests in flight
 * finish within SHUTDOWN_GRACE_MS (their responses say `Connection: close`), then exits 0; a
 * second signal exits at once.
 *
 * Every step is ordered by what the test observes, not by sleeps: the upload pauses itself
 * halfway until the drain is visible from outside (a new connection refused), then sends the rest.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnServer, startTestServer, tempDir, type SpawnedServer } from '../support/cloudstorage.ts';
import { signupForS3 } from '../support/dashboard.ts';
import { signRaw, type Credentials } from '../support/raw-s3.ts';

const MiB = 1024 * 1024;
const UPLOAD_BYTES = 100 * MiB;
const BASE_ENV = { FS_FSYNC: 'false', RATE_LIMIT_WRITE: 'off', RATE_LIMIT_READ: 'off', RATE_LIMIT_LIST: 'off', RATE_LIMIT_DASHBOARD: 'off' };

/** MiB number `index` of the upload: distinct per MiB, so a lost, repeated or reordered chunk changes the hash. */
function chunkBytes(index: number): Buffer {
  const bytes = Buffer.alloc(MiB, (index * 37) & 0xff);
  for (let offset = 0; offset < MiB; offset += 4096) bytes.writeUInt32BE(index * 256 + offset / 4096, offset);
  return bytes;
}

/** A streamed UNSIGNED-PAYLOAD PUT of `chunks` MiB on its own connection; `pauseAt` chunks in, it waits for `resume`. */
async function startUpload(server: SpawnedServer, credentials: Credentials, key: string, chunks: number, pause: { at: number; resume: Promise<void> }) {
  const signed = await signRaw(server.endpoint, credentials, {
    method: 'PUT',
    path: `/default/${key}`,
    headers: { 'content-length': String(chunks * MiB) },
    payloadHash: 'UNSIGNED-PAYLOAD',
    signingDate: new Date(),
  });
  const outgoing: ClientRequest = request({ host: '127.0.0.1', port: server.s3Port, method: 'PUT', path: `/default/${key}`, headers: signed.headers, agent: false });
  const response = new Promise<{ status: number; headers: IncomingMessage['headers']; text: string }>((resolve, reject) => {
    outgoing.once('response', (incoming) => {
      let text = '';
      incoming.setEncoding('utf8').on('data', (part: string) => (text += part));
      incoming.once('end', () => resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, text }));
      incoming.once('error', reject);
    });
    outgoing.once('error', reject);
  });
  let reachedPause!: () => void;
  const paused = new Promise<void>((resolve) => (reachedPause = resolve));
  const hash = createHash('sha256');
  const sending = (async () => {
    for (let index = 0; index < chunks; index++) {
      if (index === pause.at) {
        reachedPause();
        await pause.resume;
      }
      const bytes = chunkBytes(index);
      hash.update(bytes);
      if (!outgoing.write(bytes)) await drainedOrClosed(outgoing);
      if (outgoing.destroyed) return;
    }
    outgoing.end();
  })();
  return { response, paused, sending, sha256: () => hash.digest('hex') };
}

function drainedOrClosed(outgoing: ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      outgoing.off('drain', done);
      outgoing.off('close', done);
      resolve();
    };
    outgoing.on('drain', done);
    outgoing.on('close', done);
  });
}

/** Connects; resolves with the error code of a refused connection, or 'connected' (the socket is closed again). */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

/** Polls (bounded) until new connections to `port` are refused: the drain has begun. */
async function untilRefused(port: number): Promise<string> {
  let result = 'connected';
  for (let attempt = 0; attempt < 400 && result === 'connected'; attempt++) {
    result = await tryConnect(port);
    if (result === 'connected') await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return result;
}

/** Opens a connection and sends the first line of a request, not its end: a probe arriving when the signal comes (Node does not count it idle). */
async function partialRequest(port: number, path: string): Promise<{ socket: Socket; finish(): Promise<string> }> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
  let received = '';
  socket.setEncoding('latin1').on('data', (part: string) => (received += part));
  return {
    socket,
    async finish() {
      const ended = once(socket, 'close');
      socket.write('\r\n');
      await ended;
      return received;
    },
  };
}

async function sha256Of(server: SpawnedServer, credentials: Credentials, key: string): Promise<{ status: number; sha256: string; bytes: number }> {
  const signed = await signRaw(server.endpoint, credentials, { method: 'GET', path: `/default/${key}`, signingDate: new Date() });
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port: server.s3Port, method: 'GET', path: `/default/${key}`, headers: signed.headers, agent: false }, (incoming) => {
      const hash = createHash('sha256');
      let bytes = 0;
      incoming.on('data', (part: Buffer) => {
        bytes += part.length;
        hash.update(part);
      });
      incoming.once('end', () => resolve({ status: incoming.statusCode ?? 0, sha256: hash.digest('hex'), bytes }));
      incoming.once('error', reject);
    });
    outgoing.once('error', reject);
    outgoing.end();
  });
}

describe('SIGTERM drains: uploads in flight finish, then the process exits 0', () => {
  const dirs: ReturnType<typeof tempDir>[] = [];
  const servers: SpawnedServer[] = [];
  const spawnIn = async (dir: ReturnType<typeof tempDir>, env: Record<string, string> = {}) => {
    const server = await spawnServer({ DATA_DIR: dir.path, ...BASE_ENV, ...env });
    servers.push(server);
    return server;
  };
  afterAll(async () => {
    for (const server of servers) server.child.kill('SIGKILL');
    await Promise.all(servers.map((server) => server.exited));
    for (const dir of dirs) dir.remove();
  });

  it('a 100 MiB upload signalled halfway completes with 200 and intact bytes; health answers 503, new connections are refused', async () => {
    const dir = tempDir('cs-shutdown-');
    dirs.push(dir);
    const server = await spawnIn(dir);
    const credentials = await signupForS3(server);

    let resume!: () => void;
    const upload = await startUpload(server, credentials, 'big.bin', UPLOAD_BYTES / MiB, { at: UPLOAD_BYTES / MiB / 2, resume: new Promise((resolve) => (resume = resolve)) });
    await upload.paused;
    // Probes arriving as the signal comes, on the S3 port and on the API port.
    const s3Probe = await partialRequest(server.s3Port, '/_health/status');
    const apiProbe = await partialRequest(server.apiPort, '/health/status');

    server.child.kill('SIGTERM');
    expect(await untilRefused(server.s3Port)).toBe('ECONNREFUSED');
    expect(await tryConnect(server.apiPort)).toBe('ECONNREFUSED');

    for (const probe of [await s3Probe.finish(), await apiProbe.finish()]) {
      expect(probe).toMatch(/^HTTP\/1\.1 503 /);
      expect(probe).toMatch(/\r\nconnection: close\r\n/i);
      expect(probe).toContain('"status":"shutting_down"');
    }

    // The second half goes out after the drain began; the upload is answered, and says the connection closes.
    resume();
    await upload.sending;
    const answer = await upload.response;
    expect(answer.status, answer.text).toBe(200);
    expect(answer.headers.connection).toBe('close');
    const exit = await server.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(server.lines.some((line) => line.message === 'shutting down' && line.signal === 'SIGTERM')).toBe(true);

    // Same DATA_DIR, new process: the object is there, byte for byte.
    const restarted = await spawnIn(dir);
    const stored = await sha256Of(restarted, credentials, 'big.bin');
    expect(stored).toEqual({ status: 200, sha256: upload.sha256(), bytes: UPLOAD_BYTES });
    await restarted.stop();
  }, 120_000);

  it('cuts what is still in flight when SHUTDOWN_GRACE_MS is over, and still exits 0', async () => {
    const dir = tempDir('cs-shutdown-grace-');
    dirs.push(dir);
    const server = await spawnIn(dir, { SHUTDOWN_GRACE_MS: '200' });
    const credentials = await signupForS3(server);
    // Paused for good: the body never completes.
    const upload = await startUpload(server, credentials, 'stalled.bin', 4, { at: 1, resume: new Promise(() => {}) });
    await upload.paused;
    server.child.kill('SIGTERM');
    await expect(upload.response).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.lines.find((line) => line.message === 'shutdown: grace period over, connections cut')).toMatchObject({ connections: 1, graceMs: 200 });
  }, 60_000);

  it('a second signal exits at once instead of waiting for the grace period', async () => {
    const dir = tempDir('cs-shutdown-twice-');
    dirs.push(dir);
    const server = await spawnIn(dir, { SHUTDOWN_GRACE_MS: '600000' });
    const credentials = await signupForS3(server);
    const upload = await startUpload(server, credentials, 'stalled.bin', 4, { at: 1, resume: new Promise(() => {}) });
    upload.response.catch(() => undefined);
    await upload.paused;
    server.child.kill('SIGTERM');
    expect(await untilRefused(server.s3Port)).toBe('ECONNREFUSED');
    server.child.kill('SIGTERM');
    // 128 + SIGTERM (15): not the clean 0 of a completed drain, which the 10-minute grace would only reach much later.
    expect(await server.exited).toEqual({ code: 143, signal: null });
    expect(server.lines.some((line) => line.message === 'second signal: exiting at once')).toBe(true);
  }, 60_000);
});

describe('drain of responses already under way (in-process server)', () => {
  it('lets a download whose head was sent finish, then closes its connection; idle keep-alive connections close at once', async () => {
    const server = await startTestServer();
    const account = await server.createAccount();
    const body = Buffer.alloc(8 * MiB, 7);
    const port = Number(new URL(server.endpoint).port);
    const put = await signRaw(server.endpoint, account, { method: 'PUT', path: '/default/download.bin', body, signingDate: new Date() });
    const stored = await new Promise<number>((resolve, reject) => {
      const outgoing = request({ host: '127.0.0.1', port, method: 'PUT', path: '/default/download.bin', headers: put.headers, agent: false }, (incoming) => {
        incoming.resume();
        incoming.once('end', () => resolve(incoming.statusCode ?? 0));
      });
      outgoing.once('error', reject);
      outgoing.end(body);
    });
    expect(stored).toBe(200);

    // An idle keep-alive connection (a health probe answered before the drain).
    const idle = connect({ host: '127.0.0.1', port });
    await once(idle, 'connect');
    idle.write('GET /_health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await once(idle, 'data');
    const idleClosed = once(idle, 'close');

    // A download whose head arrived and whose body the client stops reading.
    const get = await signRaw(server.endpoint, account, { method: 'GET', path: '/default/download.bin', signingDate: new Date() });
    const keepAlive = new Agent({ keepAlive: true });
    let downloadSocket!: Socket;
    const download = await new Promise<IncomingMessage>((resolve, reject) => {
      const outgoing = request({ host: '127.0.0.1', port, method: 'GET', path: '/default/download.bin', headers: get.headers, agent: keepAlive }, resolve);
      outgoing.once('socket', (socket) => (downloadSocket = socket));
      outgoing.once('error', reject);
      outgoing.end();
    });
    download.pause();
    expect(download.headers.connection).toBe('keep-alive');

    const closing = server.running.close({ graceMs: 60_000 });
    await idleClosed;
    const hash = createHash('sha256');
    let bytes = 0;
    download.on('data', (part: Buffer) => {
      bytes += part.length;
      hash.update(part);
    });
    const downloadClosed = once(downloadSocket, 'close');
    download.resume();
    await once(download, 'end');
    expect(bytes).toBe(body.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    await downloadClosed;
    await closing;
    keepAlive.destroy();
    rmSync(server.dataDir, { recursive: true, force: true });
  }, 60_000);
});
