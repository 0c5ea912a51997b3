import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { batchRequests } from './batch-requests.ts';

const servers: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** Sends `raw` in one write; the text the server answered until it closed the connection. */
async function exchange(port: number, raw: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
    });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    socket.write(raw);
  });
}

describe('batchRequests', () => {
  it('requests that arrive in one read are all parsed before the first is served, then served in order', async () => {
    const events: string[] = [];
    const server = createServer(
      batchRequests(async (incoming, outgoing) => {
        events.push(`start ${incoming.url}`);
        await Promise.resolve();
        events.push(`continue ${incoming.url}`);
        outgoing.end(`body of ${incoming.url}`);
      }),
    );
    servers.push(server);
    server.prependListener('request', (incoming: IncomingMessage) => events.push(`arrived ${incoming.url}`));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // Pipelined in one write: Node parses both in one read callback (the second asks to close after).
    const text = await exchange(port, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    // Unbatched, /a would start before /b had arrived.
    expect(events).toEqual(['arrived /a', 'arrived /b', 'start /a', 'start /b', 'continue /a', 'continue /b']);
    expect(text.match(/body of \/[ab]/g)).toEqual(['body of /a', 'body of /b']);
  });

  it('a request that expects 100-continue is batched too, gets its 100 when the listener asks, and its body whole', async () => {
    const server = createServer();
    servers.push(server);
    const listener = batchRequests(async (incoming, outgoing) => {
      if (incoming.headers.expect) outgoing.writeContinue();
      let bytes = 0;
      for await (const chunk of incoming) bytes += (chunk as Buffer).length;
      outgoing.end(`read ${bytes}`);
    });
    server.on('request', listener);
    server.on('checkContinue', listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const body = 'x'.repeat(100_000);
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      // The body goes only after the server invited it (as the SDKs do).
      if (text.startsWith('HTTP/1.1 100 Continue\r\n\r\n') && !socket.writableEnded) socket.end(body);
    });
    socket.write(`PUT /k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
    await closed;
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n[\s\S]*read 100000$/);
  });

  it('a lone request is served, and a listener that throws loses only its own response', async () => {
    const thrown: unknown[] = [];
    const served: string[] = [];
    const listener = batchRequests(
      (incoming) => {
        if (incoming.url === '/boom') throw new Error('boom');
        served.push(incoming.url ?? '');
      },
      (error, incoming) => thrown.push([incoming.url, error]),
    );
    const destroyed: string[] = [];
    const pair = (url: string) => [{ url } as IncomingMessage, { destroy: () => destroyed.push(url) } as unknown as ServerResponse] as const;
    // Three requests of one loop turn: one batch.
    listener(...pair('/first'));
    listener(...pair('/boom'));
    listener(...pair('/last'));
    expect(served).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(served).toEqual(['/first', '/last']);
    expect(destroyed).toEqual(['/boom']);
    expect(thrown).toMatchObject([['/boom', { message: 'boom' }]]);
    // The next turn's request starts a batch of its own.
    listener(...pair('/later'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(served).toEqual(['/first', '/last', '/later']);
  });
});
