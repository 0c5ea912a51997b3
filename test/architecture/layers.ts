import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';

/**
 * Which part of the tree a file belongs to, for the layering rules: the core (`src/`) is used by
 * the apps and never uses them; the apps (`gateway/`, `dashboard-api/`) do not use each other;
 * only the composition root (`server.ts`, `main.ts` at the top) wires everything together.
 */
export type Layer = 'core' | 'gateway' | 'dashboard-api' | 'root' | 'other';

function layerOf(path: string): Layer {
  const [first] = path.split(sep);
  if (first === 'src') return 'core';
  if (first === 'gateway') return 'gateway';
  if (first === 'dashboard-api') return 'dashboard-api';
  if (path === 'server.ts' || path === 'main.ts') return 'root';
  return 'other';
}

/** What each layer may import besides itself and packages. */
const ALLOWED: Record<Exclude<Layer, 'other'>, ReadonlySet<Layer>> = {
  core: new Set(['core']),
  gateway: new Set(['gateway', 'core']),
  'dashboard-api': new Set(['dashboard-api', 'core']),
  root: new Set(['root', 'core', 'gateway', 'dashboard-api']),
};

// Static imports and re-exports (`import … from '…'`, `export … from '…'`, `import '…'`) and dynamic `import('…')`.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g;

export interface LayerViolation {
  file: string;
  imports: string;
  rule: string;
}

function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = dir === '' ? entry.name : join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(root, path));
    else if (/\.(ts|mts|mjs|js)$/.test(entry.name)) out.push(path);
  }
  return out;
}

/** Every import of a file under `root` (the project or a fixture) that crosses a layer the wrong way. */
export function findLayerViolations(root: string): LayerViolation[] {
  const files = ['src', 'gateway', 'dashboard-api'].flatMap((dir) => {
    try {
      return sourceFiles(root, dir);
    } catch {
      return [];
    }
  });
  for (const top of ['server.ts', 'main.ts']) {
    try {
      readFileSync(join(root, top));
      files.push(top);
    } catch {
      // absent in a fixture
    }
  }
  const violations: LayerViolation[] = [];
  for (const file of files) {
    const from = layerOf(file) as Exclude<Layer, 'other'>;
    const text = readFileSync(join(root, file), 'utf8');
    const isTest = /\.test\.ts$/.test(file);
    for (const match of text.matchAll(SPECIFIER)) {
      const specifier = match[1];
      if (!specifier.startsWith('.')) continue;
      const target = normalize(join(dirname(file), specifier));
      if (target.startsWith('..')) {
        violations.push({ file, imports: specifier, rule: 'imports from outside the project' });
        continue;
      }
      // The package manifest is data every layer may read (src/version.ts takes the version from it).
      if (target === 'package.json') continue;
      const to = layerOf(relative('.', target));
      // Tests beside the code may use the test support (which starts the whole server).
      if (isTest && (to === 'other' || to === 'root')) continue;
      if (!ALLOWED[from].has(to)) violations.push({ file, imports: specifier, rule: `${from} may not import ${to}` });
    }
  }
  return violations;
}
