import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAfterErrorAnswer, drainDroppedBody } from './unread-body.ts';

/**
 * A server that starts reading each upload, drops it after its first chunk (a refused form, a
 * full disk) and answers 400 the way the JSON doors do: drained when small, else closed.
 */
function droppingServer(): Server {
  return createServer((incoming, outgoing) => {
    if (incoming.method === 'GET') {
      outgoing.end('ok');
      return;
    }
    const reader = new PassThrough();
    incoming.pipe(reader);
    reader.once('data', () => {
      reader.destroy();
      const close = !drainDroppedBody(incoming) && closeAfterErrorAnswer(incoming);
      outgoing.writeHead(400, close ? { Connection: 'close' } : {});
      outgoing.end('refused');
    });
  });
}

function send(port: number, agent: Agent, method: string, body?: Buffer): Promise<{ status?: number; text: string; connection?: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: '/', agent, headers: body ? { 'content-length': String(body.length) } : {} }, (response: IncomingMessage) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode, text, connection: response.headers.connection, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('a dropped request body', () => {
  let server: Server | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  afterEach(async () => {
    agent.destroy();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('of at most 1 MiB is read to its end: the client gets the answer and the connection serves the next request', async () => {
    server = droppingServer();
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const refused = await send(port, agent, 'POST', Buffer.alloc(1024 * 1024, 1));
    expect([refused.status, refused.text, refused.connection]).toEqual([400, 'refused', 'keep-alive']);
    const next = await send(port, agent, 'GET');
    expect([next.status, next.text, next.reused]).toEqual([200, 'ok', true]);
  });

  it('of more is given up with the connection', async () => {
    server = droppingServer();
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const refused = await send(port, agent, 'POST', Buffer.alloc(4 * 1024 * 1024, 1)).catch((error: NodeJS.ErrnoException) => ({
      status: undefined,
      text: error.code ?? '',
      connection: undefined,
      reused: false,
    }));
    // The answer, or (the server having closed under the upload) a reset: never a hang.
    if (refused.status !== undefined) expect([refused.status, refused.connection]).toEqual([400, 'close']);
    else expect(['ECONNRESET', 'EPIPE']).toContain(refused.text);
  });
});
