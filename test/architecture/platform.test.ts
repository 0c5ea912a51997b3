import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { startTestServer } from '../support/cloudstorage.ts';

/**
 * The platform promises no Docker engine or second Node can check here: the Node versions that
 * package.json, the bundle target, the type definitions and the image agree on; an image whose
 * runtime stage holds no build tools and runs unprivileged; and the dependency split that lets it.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const packageJson = JSON.parse(read('package.json')) as {
  engines: { node: string };
  allowScripts: Record<string, boolean>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
};

/** Majors the "engines" range admits, e.g. `^20.18.1 || ^22.12.0 || >=24` → 20, 22, and 24 up. */
function engineAdmits(major: number): boolean {
  return packageJson.engines.node.split('||').some((part) => {
    const range = part.trim();
    const caret = /^\^(\d+)\./.exec(range);
    if (caret) return Number(caret[1]) === major;
    const atLeast = /^>=\s*(\d+)/.exec(range);
    if (atLeast) return major >= Number(atLeast[1]);
    throw new Error(`engines range part not understood by this test: ${range}`);
  });
}
const lowestEngineMajor = Math.min(...packageJson.engines.node.split('||').map((part) => Number(/(\d+)/.exec(part)![1])));

interface Stage {
  from: string;
  name?: string;
  instructions: { keyword: string; args: string }[];
}

/** The Dockerfile's stages, continuation lines joined and ARG defaults substituted into FROM. */
function dockerStages(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, keyword, args_] = /^(\S+)\s*(.*)$/.exec(line)!;
    const upper = keyword.toUpperCase();
    if (upper === 'ARG' && stages.length === 0) {
      const [name, value] = args_.split('=');
      args.set(name, value ?? '');
    } else if (upper === 'FROM') {
      const [image, , name] = args_.replace(/\$\{(\w+)\}/g, (_m, arg: string) => args.get(arg) ?? '').split(/\s+/);
      stages.push({ from: image, name, instructions: [] });
    } else {
      stages.at(-1)!.instructions.push({ keyword: upper, args: args_ });
    }
  }
  return stages;
}

/** The arguments of a stage's last instruction of that kind (as Docker applies the last one). */
const lastOf = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;

describe('supported Node versions agree (engines, esbuild target, @types/node, Docker base)', () => {
  it('package.json engines admits Node 20 (the machine), 22 and 24 LTS', () => {
    expect([20, 22, 24].map(engineAdmits)).toEqual([true, true, true]);
    expect(engineAdmits(18)).toBe(false);
  });

  it('the bundle targets, and the type definitions describe, the oldest admitted Node', () => {
    expect(lowestEngineMajor).toBe(20);
    expect(read('scripts/build.mjs')).toContain(`target: 'node${lowestEngineMajor}'`);
    // The oldest runtime's API: an API newer Nodes added does not type-check.
    expect(packageJson.devDependencies['@types/node']).toMatch(new RegExp(`^\\^?${lowestEngineMajor}\\.`));
  });

  it('every Docker stage is built FROM an official node image whose major the engines admit', () => {
    const stages = dockerStages(read('Dockerfile'));
    for (const stage of stages) {
      const match = /^node:(\d+)-/.exec(stage.from);
      expect(match, stage.from).not.toBeNull();
      expect(engineAdmits(Number(match![1])), stage.from).toBe(true);
    }
  });
});

describe('Dockerfile: multi-stage, unprivileged, health-checked', () => {
  const stages = dockerStages(read('Dockerfile'));
  const runtime = stages.at(-1)!;
  const build = stages[0];
  const runtimeText = runtime.instructions.map((i) => `${i.keyword} ${i.args}`).join('\n');

  it('builds in one stage (npm ci with dev dependencies, the bundle, then a production prune) and runs from another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const buildRuns = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(buildRuns.some((run) => /\bg\+\+/.test(run) && /\bmake\b/.test(run))).toBe(true);
    expect(buildRuns.some((run) => /\bnpm ci\b/.test(run) && !/--omit=dev/.test(run))).toBe(true);
    expect(buildRuns.some((run) => /scripts\/build\.mjs/.test(run) && /npm prune --omit=dev/.test(run))).toBe(true);
  });

  it("the runtime stage installs and compiles nothing: it copies dist/, the pruned node_modules and both dialects' migrations from the build stage", () => {
    expect(runtimeText).not.toMatch(/\bnpm (ci|install|rebuild)\b|apt-get install|\bg\+\+|\bmake\b|node-gyp/);
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    for (const path of ['dist', 'node_modules', 'drizzle', 'drizzle-pg']) {
      expect(
        // Followed by a space: `/app/drizzle` must not be satisfied by `/app/drizzle-pg`.
        copies.some((copy) => copy.startsWith(`--from=${build.name} `) && copy.includes(`/app/${path} `)),
        path,
      ).toBe(true);
    }
    // Nothing from the build context lands in the runtime stage directly.
    expect(copies.every((copy) => copy.startsWith('--from='))).toBe(true);
    expect(runtimeText).toMatch(/^ENV NODE_ENV=production\b/m);
    expect(lastOf(runtime, 'CMD')).toBe('["node", "dist/main.mjs"]');
  });

  it('the runtime stage runs as a non-root user that owns the data volume', () => {
    const user = lastOf(runtime, 'USER');
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    expect(runtimeText).toMatch(new RegExp(`chown ${user}:${user} /data`));
    // USER comes before CMD/HEALTHCHECK take effect and after the last root-only step.
    const keywords = runtime.instructions.map((i) => i.keyword);
    expect(keywords.lastIndexOf('RUN')).toBeLessThan(keywords.lastIndexOf('USER'));
  });

  it('HEALTHCHECK asks /_health/status on the S3 port with node (no curl in the slim image)', () => {
    const healthcheck = runtime.instructions.find((i) => i.keyword === 'HEALTHCHECK')?.args;
    expect(healthcheck).toMatch(/CMD \["node", "-e", /);
    expect(healthcheck).toContain("'http://127.0.0.1:' + process.env.S3_PORT + '/_health/status'");
    expect(healthcheck).toContain('process.exit(r.ok ? 0 : 1)');
    expect(runtimeText).toMatch(/S3_PORT=9000/);
  });

  it('the HEALTHCHECK command itself exits 0 against a running gateway and 1 once nothing answers there', async () => {
    const healthcheck = runtime.instructions.find((i) => i.keyword === 'HEALTHCHECK')!.args;
    const [command, ...args] = JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD ') + 4)) as string[];
    expect(command).toBe('node');
    const probe = (port: string) =>
      new Promise<number>((resolve) => {
        execFile(process.execPath, args, { env: { ...process.env, S3_PORT: port } }, (error) => resolve(error ? Number(error.code) : 0));
      });
    const server = await startTestServer();
    const port = new URL(server.endpoint).port;
    try {
      expect(await probe(port)).toBe(0);
    } finally {
      await server.close();
    }
    expect(await probe(port)).toBe(1);
  });

  it('.dockerignore keeps installed, built, stored and secret files out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    for (const entry of ['node_modules', 'data', '.git', 'dist', '.tmp', '.env', 'test']) expect(ignored, entry).toContain(entry);
  });
});

describe('dependencies: the production install runs the bundles', () => {
  it('everything dist/main.mjs and dist/cli.mjs import at run time is a node: builtin or a production dependency', async () => {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: { main: 'main.ts', cli: 'src/cli/cli.ts' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      write: false,
      metafile: true,
      outdir: 'dist',
      logLevel: 'silent',
    });
    const external = new Set<string>();
    for (const output of Object.values(result.metafile.outputs)) {
      for (const imported of output.imports) if (imported.external) external.add(imported.path);
    }
    const packageOf = (specifier: string) =>
      specifier
        .split('/')
        .slice(0, specifier.startsWith('@') ? 2 : 1)
        .join('/');
    const builtins = new Set(builtinModules);
    const misplaced = [...external].filter((specifier) => {
      if (specifier.startsWith('node:') || builtins.has(specifier)) return false;
      return !(packageOf(specifier) in packageJson.dependencies);
    });
    expect(misplaced).toEqual([]);
    expect(external.size).toBeGreaterThan(5);
  });

  it('build tools are dev dependencies, and @scarf/scarf may not run its install script', () => {
    for (const tool of ['esbuild', 'tsx', 'drizzle-kit', 'typescript', 'vitest', '@biomejs/biome']) {
      expect(packageJson.dependencies, tool).not.toHaveProperty(tool);
      expect(packageJson.devDependencies, tool).toHaveProperty(tool);
    }
    expect(packageJson.allowScripts['@scarf/scarf']).toBe(false);
    // The server and the CLI both run from their bundles, as in the image.
    expect(packageJson.scripts.start).toMatch(/node dist\/main\.mjs$/);
    expect(packageJson.scripts.cli).toMatch(/node dist\/cli\.mjs$/);
  });
});
