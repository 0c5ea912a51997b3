import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../test/support/cloudstorage.ts';
import { sharedPostgresUrl } from '../../test/support/postgres.ts';
import { createPostgresChangeFeed } from './pg-change-feed.ts';

/**
 * The change feed drops every cache whenever its listening connection comes up after a time
 * without one: whatever changed meanwhile was never notified. That includes a first connection
 * that only succeeded after failed attempts (the gateway started, and filled caches, without it).
 */
describe('PostgreSQL change feed', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A TCP forwarder to the shared cluster on `port`, started on demand: until then connections are refused. */
  function lateProxy(port: number) {
    const target = new URL(sharedPostgresUrl());
    const sockets = new Set<Socket>();
    let server: Server | undefined;
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    });
    return {
      start: () =>
        new Promise<void>((resolve) => {
          server = createServer((client) => {
            const upstream = connectTcp(Number(target.port), target.hostname);
            for (const socket of [client, upstream]) {
              sockets.add(socket);
              socket.on('error', () => undefined);
              socket.on('close', () => sockets.delete(socket));
            }
            client.pipe(upstream).pipe(client);
          });
          server.listen(port, '127.0.0.1', () => resolve());
        }),
    };
  }

  it('drops the caches when its first connection succeeds only after failed attempts', async () => {
    const port = await freePort();
    const proxy = lateProxy(port);
    const url = new URL(sharedPostgresUrl());
    url.host = `127.0.0.1:${port}`;
    const feed = createPostgresChangeFeed({ connectionString: url.toString(), notify: async () => undefined, reconnect: { initialMs: 20, maxMs: 50 } });
    cleanups.push(() => feed.close());
    let drops = 0;
    feed.watcher().subscribe(() => {
      drops++;
    });
    await feed.started;
    expect(feed.listening()).toBe(false);
    // Meanwhile the gateway serves from caches no notification can reach; then the database answers.
    await proxy.start();
    for (let attempt = 0; attempt < 200 && !feed.listening(); attempt++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(feed.listening()).toBe(true);
    expect(drops).toBeGreaterThan(0);
  });

  it('a publish-only feed (the CLI) opens no listening connection, and its changes still reach the listening gateways', async () => {
    const admin = new pg.Pool({ connectionString: sharedPostgresUrl(), max: 1 });
    cleanups.push(() => admin.end());
    const notify = (channel: string, payload: string) => admin.query('SELECT pg_notify($1, $2)', [channel, payload]);
    const gateway = createPostgresChangeFeed({ connectionString: sharedPostgresUrl(), notify });
    const cli = createPostgresChangeFeed({ connectionString: sharedPostgresUrl(), notify, listen: false });
    cleanups.push(
      () => gateway.close(),
      () => cli.close(),
    );
    await Promise.all([gateway.started, cli.started]);
    expect([gateway.listening(), cli.listening()]).toEqual([true, false]);
    let gatewayDrops = 0;
    let cliDrops = 0;
    gateway.watcher().subscribe(() => {
      gatewayDrops++;
    });
    cli.watcher().subscribe(() => {
      cliDrops++;
    });
    cli.watcher().notify();
    // The CLI's own caches at once; the gateway's when the notification arrives.
    expect(cliDrops).toBe(1);
    for (let attempt = 0; attempt < 200 && gatewayDrops === 0; attempt++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(gatewayDrops).toBe(1);
  });
});
