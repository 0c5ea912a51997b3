import { connect, createServer, type Socket } from 'node:net';

/** One relayed connection that carried a watched request. */
export interface HeldConnection {
  /** Bytes of the upstream's answer relayed to the client before the relay stopped. */
  relayedBytes(): number;
  /** Settles when the relay's client (the gateway's upstream connection) closes the connection. */
  clientClosed: Promise<void>;
}

/**
 * A TCP relay in front of a real server that holds back an answer: once a connection carries a
 * request whose bytes contain `hold.match`, at most `hold.allowBytes` of the upstream's answer are
 * relayed and then the relay stops reading the upstream (a backend still "sending"). Which lets a
 * test see, on the wire, whether the relay's client (the gateway's proxy backend) gives up the
 * request early: the connection closes although the answer never arrived in full.
 */
export async function startHoldingRelay(target: { host: string; port: number }) {
  let hold: { match: string; allowBytes: number } | undefined;
  let onHeld: ((connection: HeldConnection) => void) | undefined;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    open.add(client);
    open.add(upstream);
    client.on('error', () => undefined);
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      open.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      open.delete(upstream);
      client.destroy();
    });
    const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    let watched: { allowBytes: number } | undefined;
    let relayed = 0;
    client.on('data', (chunk: Buffer) => {
      if (!watched && hold && chunk.toString('latin1').includes(hold.match)) {
        watched = { allowBytes: hold.allowBytes };
        onHeld?.({ relayedBytes: () => relayed, clientClosed });
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!watched) return void client.write(chunk);
      const room = watched.allowBytes - relayed;
      if (room <= 0) return;
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      relayed += part.length;
      client.write(part);
      if (relayed >= watched.allowBytes) upstream.pause();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    /** Holds the answer of the next request containing `match`; resolves with its connection once it is seen. */
    holdNext(match: string, allowBytes: number): Promise<HeldConnection> {
      hold = { match, allowBytes };
      return new Promise((resolve) => {
        onHeld = (connection) => {
          hold = undefined;
          onHeld = undefined;
          resolve(connection);
        };
      });
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
