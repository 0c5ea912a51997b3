import pg from 'pg';
import { createTestDatabase, sharedPostgresUrl } from './postgres.ts';

/**
 * A fresh PostgreSQL database for the proxy backend's catalog, in the test project's cluster
 * (sharedPostgresUrl: POSTGRES_URL or the project's global setup). `pool()` opens another bounded
 * pool on it, one per simulated gateway (`via`: connect through another address, e.g. a TCP relay
 * staging an outage); `drop()` ends them all and removes the database.
 */
export async function catalogTestDatabase(): Promise<{ url: string; pool(via?: { host: string; port: number }): pg.Pool; drop(): Promise<void> }> {
  const database = await createTestDatabase(sharedPostgresUrl());
  const pools: pg.Pool[] = [];
  return {
    url: database.url,
    pool(via) {
      const url = new URL(database.url);
      if (via) {
        url.hostname = via.host;
        url.port = String(via.port);
      }
      const pool = new pg.Pool({ connectionString: url.toString(), max: 4, connectionTimeoutMillis: 5_000 });
      // As the server's pool does: an idle connection that dies is dropped, not a crash of the process.
      pool.on('error', () => undefined);
      pools.push(pool);
      return pool;
    },
    async drop() {
      await Promise.all(pools.map((pool) => pool.end()));
      await database.drop();
    },
  };
}
