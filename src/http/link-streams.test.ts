import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { linkStreams } from './link-streams.ts';

/**
 * A server whose body reader fails after its first chunk (as a full disk or a failing backend
 * does partway through an upload) and that then answers 507 with `Connection: close`, over real
 * sockets: what the client gets is the point.
 */
function failingReaderServer(keepSource: boolean): Server {
  return createServer((incoming, outgoing) => {
    const body = new PassThrough();
    linkStreams(incoming, body, { keepSource });
    body.once('data', () => {
      body.destroy(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
      setImmediate(() => {
        if (outgoing.destroyed) return;
        outgoing.writeHead(507, { 'Content-Type': 'text/plain', Connection: 'close' });
        outgoing.end('InsufficientStorage');
      });
    });
  });
}

/** PUTs 8 MiB and resolves with the response, or with the error the client saw instead of one. */
async function upload(server: Server): Promise<{ status?: number; text?: string; error?: string }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/b/k', headers: { 'content-length': String(8 * 1024 * 1024) } });
    req.on('response', (response: IncomingMessage) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode, text }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end(Buffer.alloc(8 * 1024 * 1024, 1));
  });
}

describe('linkStreams', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('with keepSource, a reader failing partway leaves the request answerable: the client reads the error response', async () => {
    server = failingReaderServer(true);
    expect(await upload(server)).toEqual({ status: 507, text: 'InsufficientStorage' });
  });

  it('without it, the failure destroys the request and its socket: the client sees a reset, no response', async () => {
    server = failingReaderServer(false);
    const result = await upload(server);
    expect(result.status).toBeUndefined();
    expect(['ECONNRESET', 'EPIPE', 'socket hang up']).toContain(result.error);
  });

  it('detaches and pauses the source instead of destroying it; an error of the source still reaches the target', async () => {
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    const linked = () => {
      const source = new PassThrough();
      const target = new PassThrough();
      linkStreams(source, target, { keepSource: true });
      return { source, target };
    };
    const { source, target } = linked();
    source.write('a');
    target.destroy();
    await settle();
    expect(source.destroyed).toBe(false);
    expect(source.readableFlowing).toBe(false);

    // An error answer that already unpiped and resumed the source to drain it (drainDroppedBody)
    // before the target's close arrived: the late close must not pause it again.
    const { source: draining, target: dropped } = linked();
    draining.write('b');
    draining.unpipe();
    draining.resume();
    dropped.destroy();
    await settle();
    expect(draining.destroyed).toBe(false);
    expect(draining.readableFlowing).toBe(true);

    const { source: second, target: next } = linked();
    const failure = new Error('client gone');
    second.destroy(failure);
    await settle();
    expect(next.destroyed).toBe(true);
    expect(next.errored).toBe(failure);
  });
});
