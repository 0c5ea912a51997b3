import { createServer, connect, type Socket } from 'node:net';

export type RelayMode = 'forward' | 'refuse' | 'blackhole';

/**
 * A TCP relay in front of a real server, to stage outages on the network path: `forward` relays
 * bytes, `refuse` resets new and open connections (a backend that is down), `blackhole` accepts
 * and never answers (a backend that hangs).
 */
export async function startTcpRelay(target: { host: string; port: number }) {
  let mode: RelayMode = 'forward';
  const open = new Set<Socket>();
  const server = createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => undefined);
    if (mode === 'refuse') return void client.resetAndDestroy();
    if (mode === 'blackhole') return;
    const upstream = connect(target.port, target.host);
    open.add(upstream);
    upstream.on('close', () => open.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    /** Switches mode; existing connections are cut, as a crash or a network partition would. */
    setMode(next: RelayMode) {
      mode = next;
      for (const socket of open) socket.destroy();
      open.clear();
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
