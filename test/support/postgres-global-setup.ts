import type { TestProject } from 'vitest/node';
import { postgresAvailable, startPostgres } from './postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL (database `postgres`, superuser) of the project's PostgreSQL cluster; tests create their own databases in it. */
    postgresUrl: string;
  }
}

/**
 * One throwaway PostgreSQL cluster for a whole test project (scripts/postgres.sh), shared by its
 * files: each creates its own database (createTestDatabase). With POSTGRES_URL set, that running
 * cluster is used instead and nothing is started. Without PostgreSQL installed the project fails
 * here, loudly: CI installs it (`scripts/postgres.sh install`).
 */
export default async function setup(project: TestProject) {
  const shared = process.env.POSTGRES_URL;
  if (shared) {
    project.provide('postgresUrl', shared);
    return;
  }
  if (!postgresAvailable()) throw new Error('These tests need PostgreSQL: run scripts/postgres.sh install (or set POSTGRES_URL to a running cluster).');
  const cluster = await startPostgres();
  project.provide('postgresUrl', cluster.url);
  return async () => cluster.stop();
}
