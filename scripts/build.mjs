// Bundles the server (dist/main.mjs) and the admin CLI (dist/cli.mjs) so `npm start` and
// `npm run cli` run plain JavaScript on node: no TypeScript loader at run time, and neither esbuild
// nor tsx in the production image. Dependencies stay external and load from node_modules.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { build } from 'esbuild';

const result = await build({
  entryPoints: { main: 'main.ts', cli: 'src/cli/cli.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  // The oldest Node in package.json "engines"; newer ones run the same output.
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  write: false,
});

// A running server (or one of its cluster workers starting) and concurrent `npm run cli` calls read
// these files while another build writes them: replace a file only when its content changed, and
// atomically (rename), so no reader ever sees a half-written bundle.
for (const file of result.outputFiles) {
  let current;
  try {
    current = readFileSync(file.path);
  } catch {
    current = undefined;
  }
  if (current?.equals(file.contents)) continue;
  mkdirSync(dirname(file.path), { recursive: true });
  const temporary = `${file.path}.${process.pid}.tmp`;
  writeFileSync(temporary, file.contents);
  renameSync(temporary, file.path);
}
