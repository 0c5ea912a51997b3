import { defineConfig } from 'drizzle-kit';

/** PostgreSQL migrations (DATABASE_URL=postgres://…), generated from the twin schema in src/db/pg/. */
export default defineConfig({
  dialect: 'postgresql',
  schema: ['./src/db/pg/schema.ts', './src/db/pg/activity.schema.ts', './src/db/pg/shares.schema.ts', './src/db/pg/versions.schema.ts'],
  out: './drizzle-pg',
});
