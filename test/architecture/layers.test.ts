import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, tempDir } from '../support/cloudstorage.ts';
import { findLayerViolations } from './layers.ts';

describe('layers point one way: apps depend on the core, never the reverse', () => {
  it('no core file imports an app file, and neither app imports the other', () => {
    expect(findLayerViolations(PROJECT_ROOT)).toEqual([]);
  });

  const fixture = tempDir('cs-layers-');
  afterAll(() => fixture.remove());

  it('fails on a deliberately added core → app import (and on app → app), then passes once it is removed', () => {
    const root = fixture.path;
    for (const dir of ['src/storage', 'gateway/handlers', 'dashboard-api/modules/files']) mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, 'gateway/handlers/objects.handlers.ts'), "import { x } from '../../src/storage/backend.ts';\nexport const y = x;\n");
    writeFileSync(join(root, 'dashboard-api/modules/files/files.routes.ts'), 'export const z = 1;\n');
    writeFileSync(join(root, 'server.ts'), "import '../x/outside.ts';\nimport { y } from './gateway/handlers/objects.handlers.ts';\nexport { y };\n");
    const coreFile = join(root, 'src/storage/backend.ts');

    writeFileSync(coreFile, "import { y } from '../../gateway/handlers/objects.handlers.ts';\nexport const x = 1;\nexport { y };\n");
    writeFileSync(join(root, 'gateway/handlers/uses-dashboard.ts'), "export { z } from '../../dashboard-api/modules/files/files.routes.ts';\n");
    expect(findLayerViolations(root)).toEqual([
      { file: 'src/storage/backend.ts', imports: '../../gateway/handlers/objects.handlers.ts', rule: 'core may not import gateway' },
      { file: 'gateway/handlers/uses-dashboard.ts', imports: '../../dashboard-api/modules/files/files.routes.ts', rule: 'gateway may not import dashboard-api' },
      { file: 'server.ts', imports: '../x/outside.ts', rule: 'imports from outside the project' },
    ]);

    writeFileSync(coreFile, "const lazy = () => import('../../dashboard-api/modules/files/files.routes.ts');\nexport const x = 1;\nexport { lazy };\n");
    expect(findLayerViolations(root).map((v) => v.rule)).toContain('core may not import dashboard-api');

    writeFileSync(coreFile, 'export const x = 1;\n');
    writeFileSync(join(root, 'gateway/handlers/uses-dashboard.ts'), 'export const nothing = 0;\n');
    writeFileSync(join(root, 'server.ts'), "import { y } from './gateway/handlers/objects.handlers.ts';\nexport { y };\n");
    expect(findLayerViolations(root)).toEqual([]);
  });
});
