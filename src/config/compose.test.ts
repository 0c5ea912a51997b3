import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configVariableNames, loadConfig } from './config.ts';

/**
 * compose.yaml's `scaled` profile (issue #13) read as compose reads it, without Docker: the
 * gateways' settings against the config schema, their volumes, and deploy/haproxy.cfg's routes.
 * config.test.ts checks the default `cloudstorage` service.
 */

type Yaml = string | Yaml[] | { [key: string]: Yaml };

/**
 * The YAML compose.yaml is written in: block mappings and sequences by indentation, plain and
 * double-quoted scalars, JSON-style flow sequences of strings, comments. Anything else (anchors,
 * block scalars, flow mappings) throws, so a change outside that subset fails here instead of
 * being misread.
 */
function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .map((raw, index) => ({ number: index + 1, indent: raw.length - raw.trimStart().length, text: raw.trim() }))
    .filter((line) => line.text !== '' && !line.text.startsWith('#'));
  let position = 0;
  const fail = (line: { number: number; text: string }, why: string) => {
    throw new Error(`compose.yaml line ${line.number} (${why}): ${line.text}`);
  };
  const scalar = (value: string, line: { number: number; text: string }): Yaml => {
    if (/^[&*|>{]/.test(value)) fail(line, 'unsupported YAML');
    if (value.startsWith('[')) return JSON.parse(value) as string[];
    if (value.startsWith('"')) return JSON.parse(value) as string;
    return value.replace(/\s+#.*$/, '');
  };
  const block = (indent: number): Yaml => {
    const first = lines[position];
    if (first.text.startsWith('- ')) {
      const list: Yaml[] = [];
      while (position < lines.length && lines[position].indent === indent && lines[position].text.startsWith('- ')) {
        const line = lines[position++];
        list.push(scalar(line.text.slice(2).trim(), line));
      }
      return list;
    }
    const map: { [key: string]: Yaml } = {};
    while (position < lines.length && lines[position].indent === indent) {
      const line = lines[position++];
      const match = /^("[^"]*"|[^:\s][^:]*?):(?:\s+(.*))?$/.exec(line.text);
      if (!match) fail(line, 'not a mapping entry');
      const key = match![1].replace(/^"(.*)"$/, '$1');
      if (key in map) fail(line, 'duplicate key');
      if (match![2] !== undefined) map[key] = scalar(match![2], line);
      else if (position < lines.length && lines[position].indent > indent) map[key] = block(lines[position].indent);
      // Compose reads an empty value (a named volume with no options) as null: an empty map here.
      else map[key] = {};
    }
    if (position < lines.length && lines[position].indent > indent) fail(lines[position], 'unexpected indentation');
    return map;
  };
  const document = block(0);
  if (position !== lines.length) fail(lines[position], 'unread line');
  return document;
}

/** Compose's interpolation of `${VAR}`, `${VAR:-default}` and `${VAR:?message}` from `env`. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}/g, (_match, name: string, kind: string | undefined, rest: string) => {
    const set = env[name];
    if (set !== undefined && set !== '') return set;
    if (kind === '?') throw new Error(`required variable ${name} is missing a value: ${rest}`);
    return kind === '-' ? rest : '';
  });
}

const asMap = (value: Yaml | undefined): { [key: string]: Yaml } => {
  if (value === undefined || typeof value === 'string' || Array.isArray(value)) throw new Error(`not a mapping: ${JSON.stringify(value)}`);
  return value;
};
const asList = (value: Yaml | undefined): string[] => {
  if (!Array.isArray(value)) throw new Error(`not a list: ${JSON.stringify(value)}`);
  return value as string[];
};

const compose = asMap(parseYaml(readFileSync(new URL('../../compose.yaml', import.meta.url), 'utf8')));
const services = asMap(compose.services);
const serviceNames = Object.keys(services);
const profilesOf = (name: string) => (asMap(services[name]).profiles === undefined ? [] : asList(asMap(services[name]).profiles));
const scaled = serviceNames.filter((name) => profilesOf(name).includes('scaled'));
const gateways = scaled.filter((name) => asMap(services[name]).build !== undefined);

/** What the deployment puts in .env; POSTGRES_PASSWORD in hex, as compose.yaml's header says (it goes into a URL as is). */
const DEPLOYMENT_ENV = { MINIO_ROOT_PASSWORD: 'b'.repeat(48), POSTGRES_PASSWORD: 'c0ffee'.repeat(8), MASTER_KEY: 'a1'.repeat(32) };

function environmentOf(name: string, env: Record<string, string>): Record<string, string> {
  const environment = asMap(asMap(services[name]).environment ?? {});
  return Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, interpolate(value as string, env)]));
}

/** `name:/path` (or `./dir:/path:ro`) volume entries of a service. */
function volumesOf(name: string): { source: string; target: string }[] {
  const entries = asMap(services[name]).volumes;
  return entries === undefined ? [] : asList(entries).map((entry) => ({ source: entry.split(':')[0], target: entry.split(':')[1] }));
}

/** deploy/haproxy.cfg's sections: `frontend`/`backend` name → its directive lines. */
function haproxySections(text: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    if (!/^\s/.test(raw)) {
      current = [];
      sections.set(line, current);
    } else current?.push(line);
  }
  return sections;
}

describe('compose.yaml scaled profile', () => {
  it('keeps the default services as they were and puts every new one in the profile', () => {
    expect(serviceNames.filter((name) => profilesOf(name).length === 0).sort()).toEqual(['cloudstorage', 'minio', 'redis']);
    expect(scaled.sort()).toEqual(['cloudstorage-1', 'cloudstorage-2', 'loadbalancer', 'postgres']);
    expect(gateways).toEqual(['cloudstorage-1', 'cloudstorage-2']);
    // Reproducible deployments: every image has an explicit version tag (official images for the new ones).
    for (const name of serviceNames) {
      const image = asMap(services[name]).image;
      if (image !== undefined) expect(image, name).toMatch(/:[^:]*\d[^:]*$/);
    }
    expect(asMap(services.postgres).image).toMatch(/^postgres:\d+\.\d+/);
    expect(asMap(services.loadbalancer).image).toMatch(/^haproxy:\d+\.\d+\.\d+/);
  });

  it('configures each gateway with schema variables only, for PostgreSQL metadata, the shared MASTER_KEY, Redis and MinIO', () => {
    const known = new Set(configVariableNames());
    const postgres = environmentOf('postgres', DEPLOYMENT_ENV);
    for (const name of gateways) {
      const environment = environmentOf(name, DEPLOYMENT_ENV);
      for (const variable of Object.keys(environment)) expect(known.has(variable), `${name}: ${variable} is not in the config schema`).toBe(true);
      const config = loadConfig(environment);
      expect(config.STORAGE_BACKEND).toBe('s3');
      expect(config.BACKEND_S3_ENDPOINT).toBe('http://minio:9000');
      expect(config.BACKEND_S3_SECRET_KEY).toBe(DEPLOYMENT_ENV.MINIO_ROOT_PASSWORD);
      expect(config.MASTER_KEY).toBe(DEPLOYMENT_ENV.MASTER_KEY);
      expect(new URL(config.REDIS_URL!).host).toBe('redis:6379');
      // The database the postgres service creates, with its user and password.
      const url = new URL(config.DATABASE_URL!);
      expect([url.protocol, url.host, url.pathname]).toEqual(['postgres:', 'postgres:5432', `/${postgres.POSTGRES_DB}`]);
      expect([url.username, url.password]).toEqual([postgres.POSTGRES_USER, DEPLOYMENT_ENV.POSTGRES_PASSWORD]);
      expect(config.DATABASE_POOL_MAX).toBeGreaterThanOrEqual(1);
      // Without MASTER_KEY in .env the gateway refuses to start (a generated key would differ per gateway).
      expect(() => loadConfig(environmentOf(name, { ...DEPLOYMENT_ENV, MASTER_KEY: '' }))).toThrow(/MASTER_KEY: required with DATABASE_URL/);
      // Started once the services it needs answer their health checks; checked itself.
      const dependsOn = asMap(asMap(services[name]).depends_on);
      for (const dependency of ['postgres', 'minio', 'redis']) expect(asMap(dependsOn[dependency]).condition, `${name} → ${dependency}`).toBe('service_healthy');
      expect(asList(asMap(asMap(services[name]).healthcheck).test).join(' ')).toContain(`http://127.0.0.1:${config.S3_PORT}/_health/status`);
      // Reached only through the balancer.
      expect(asMap(services[name]).ports, name).toBeUndefined();
    }
    // One configuration for all: the same database, key, store and Redis.
    expect(environmentOf('cloudstorage-2', DEPLOYMENT_ENV)).toEqual(environmentOf('cloudstorage-1', DEPLOYMENT_ENV));
    // The profile's variables read with `:-`: a plain `docker compose up` (which interpolates every
    // service) must not need them.
    for (const name of scaled) {
      expect(() => environmentOf(name, { MINIO_ROOT_PASSWORD: DEPLOYMENT_ENV.MINIO_ROOT_PASSWORD })).not.toThrow();
    }
    expect(environmentOf('postgres', DEPLOYMENT_ENV).POSTGRES_PASSWORD).toBe(DEPLOYMENT_ENV.POSTGRES_PASSWORD);
  });

  it('gives each gateway its own DATA_DIR volume and PostgreSQL its own, all declared', () => {
    const declared = Object.keys(asMap(compose.volumes));
    const dataVolumes = gateways.map((name) => {
      const dataDir = environmentOf(name, DEPLOYMENT_ENV).DATA_DIR;
      const mounts = volumesOf(name).filter((volume) => volume.target === dataDir);
      expect(mounts, `${name} mounts a volume at DATA_DIR ${dataDir}`).toHaveLength(1);
      expect(declared).toContain(mounts[0].source);
      return mounts[0].source;
    });
    expect(new Set(dataVolumes).size).toBe(gateways.length);
    // No other service (the single gateway included) mounts a gateway's DATA_DIR volume.
    for (const name of serviceNames.filter((other) => !gateways.includes(other))) {
      for (const volume of volumesOf(name)) expect(dataVolumes, `${name} mounts ${volume.source}`).not.toContain(volume.source);
    }
    const database = volumesOf('postgres').find((volume) => volume.target === '/var/lib/postgresql/data');
    expect(declared).toContain(database?.source);
  });

  it('publishes one S3 port and one API port on the balancer, which reaches both gateways on each (deploy/haproxy.cfg)', () => {
    const balancer = asMap(services.loadbalancer);
    const published = asList(balancer.ports).map((entry) => entry.split(':').map(Number));
    const gatewayConfig = loadConfig(environmentOf('cloudstorage-1', DEPLOYMENT_ENV));
    const [s3Port, apiPort] = [gatewayConfig.S3_PORT, gatewayConfig.API_PORT];
    // Not the single gateway's host ports: both stacks may run at once.
    const singlePorts = asList(asMap(services.cloudstorage).ports).map((entry) => Number(entry.split(':')[0]));
    expect(published).toHaveLength(2);
    for (const [host] of published) expect(singlePorts).not.toContain(host);
    const containerPorts = published.map(([, container]) => container);

    const mount = volumesOf('loadbalancer').find((volume) => volume.target === '/usr/local/etc/haproxy/haproxy.cfg');
    expect(mount?.source).toBe('./deploy/haproxy.cfg');
    const sections = haproxySections(readFileSync(new URL('../../deploy/haproxy.cfg', import.meta.url), 'utf8'));
    const frontends = [...sections.entries()].filter(([name]) => name.startsWith('frontend '));
    const routes = new Map<number, string>();
    for (const [, lines] of frontends) {
      const bind = lines.find((line) => line.startsWith('bind '));
      const backend = lines.find((line) => line.startsWith('default_backend '));
      if (bind && backend && /^bind :\d+$/.test(bind)) routes.set(Number(bind.slice('bind :'.length)), backend.split(/\s+/)[1]);
    }
    // The published container ports are exactly the frontends' ports: S3 and API.
    expect([...routes.keys()].sort()).toEqual([...containerPorts].sort());
    expect([...routes.keys()].sort()).toEqual([s3Port, apiPort].sort());
    for (const [port, backendName] of routes) {
      const lines = sections.get(`backend ${backendName}`);
      expect(lines, backendName).toBeDefined();
      const servers = lines!.filter((line) => line.startsWith('server ')).map((line) => line.split(/\s+/));
      // Every gateway, on the port the frontend serves, health-checked.
      expect(servers.map((server) => server[2]).sort()).toEqual(gateways.map((name) => `${name}:${port}`).sort());
      for (const server of servers) expect(server.slice(3)).toContain('check');
      // Liveness of that door, not its status (503 for all while the shared database is down);
      // with a Host header, without which the gateway answers 400.
      const path = port === s3Port ? '/_health' : '/health';
      expect(lines).toContain(`http-check send meth GET uri ${path} ver HTTP/1.1 hdr Host localhost`);
      expect(lines).toContain('http-check expect status 200');
    }
    const dependsOn = asMap(balancer.depends_on);
    for (const name of gateways) expect(asMap(dependsOn[name]).condition).toBe('service_healthy');
  });
});
