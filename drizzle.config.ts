import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  // One file per feature that owns tables (the activity log has its own), besides the core schema.
  schema: ['./src/db/schema.ts', './src/db/activity.schema.ts', './src/db/shares.schema.ts', './src/db/versions.schema.ts'],
  out: './drizzle',
});
