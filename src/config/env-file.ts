import { existsSync } from 'node:fs';

/**
 * Reads `.env` in the working directory into process.env when the file exists (the server and
 * the admin CLI both call this first, so both see the same settings: backend-settings.ts refuses
 * a CLI whose backend settings differ from the server's). Variables already set in the
 * environment win over the file (Node's `process.loadEnvFile`, Node ≥ 20.12, never overrides).
 */
export function loadEnvFileIfPresent(file = '.env'): boolean {
  if (!existsSync(file)) return false;
  if (typeof process.loadEnvFile !== 'function') {
    throw new Error(`${file} is present but this Node.js (${process.version}) cannot read it: process.loadEnvFile needs Node 20.12 or later`);
  }
  process.loadEnvFile(file);
  return true;
}
