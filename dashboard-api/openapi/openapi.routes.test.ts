import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/support/cloudstorage.ts';

// Routes outside the documented API: health checks, the Prometheus scrape (text, not JSON) and the documentation itself.
const UNDOCUMENTED = new Set([
  'GET /health',
  'GET /health/status',
  'GET /metrics',
  'GET /api/openapi.json',
  'GET /api/docs',
  'GET /api/docs/init.js',
  'GET /api/docs/assets/{file}',
]);

const toOpenApiPath = (honoPath: string) => honoPath.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}').replace(/(.)\/$/, '$1');

describe('OpenAPI document', () => {
  let server: TestServer;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let document: any;

  beforeAll(async () => {
    server = await startTestServer();
    const response = await fetch(`${server.apiEndpoint}/api/openapi.json`);
    expect(response.status).toBe(200);
    document = await response.json();
  });
  afterAll(async () => server?.close());

  it('documents every route the dashboard app mounts, and nothing it does not', () => {
    const mounted = new Set(
      server.running.dashboardApp.routes
        .filter((route) => route.method !== 'ALL')
        .map((route) => `${route.method} ${toOpenApiPath(route.path)}`)
        .filter((route) => !UNDOCUMENTED.has(route)),
    );
    const documented = new Set(
      Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
      ),
    );
    expect(mounted.size).toBeGreaterThanOrEqual(11);
    expect([...mounted].filter((route) => !documented.has(route))).toEqual([]);
    expect([...documented].filter((route) => !mounted.has(route))).toEqual([]);
  });

  it('is OpenAPI 3.1 with request and response schemas taken from the zod declarations', () => {
    expect(document.openapi).toBe('3.1.0');
    const createKey = document.paths['/api/keys'].post;
    expect(createKey.security).toEqual([{ sessionCookie: [] }]);
    expect(createKey.requestBody.content['application/json'].schema.properties.name).toMatchObject({ type: 'string', maxLength: 64 });
    expect(createKey.responses['201'].content['application/json'].schema.required).toEqual(expect.arrayContaining(['id', 'name', 'accessKey', 'secretKey', 'createdAt']));
    expect(createKey.responses['409'].description).toContain('keys.limit_reached');
    const deleteBucket = document.paths['/api/buckets'].delete;
    expect(deleteBucket.parameters).toEqual([{ name: 'name', in: 'query', required: true, schema: { type: 'string', minLength: 1 } }]);
    expect(document.components.schemas.Error.required).toEqual(['error', 'detail', 'requestId']);
    const operationIds = Object.values(document.paths).flatMap((methods) => Object.values(methods as Record<string, { operationId: string }>).map((op) => op.operationId));
    expect(new Set(operationIds).size).toBe(operationIds.length);
  });

  it('serves interactive docs at /api/docs with Swagger UI from the local package', async () => {
    const page = await fetch(`${server.apiEndpoint}/api/docs`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('/api/docs/assets/swagger-ui-bundle.js');
    expect(html).not.toMatch(/https?:\/\//);
    const init = await (await fetch(`${server.apiEndpoint}/api/docs/init.js`)).text();
    expect(init).toContain("url: '/api/openapi.json'");
    const bundle = await fetch(`${server.apiEndpoint}/api/docs/assets/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toContain('javascript');
    expect(Number(bundle.headers.get('content-length'))).toBeGreaterThan(100_000);
    expect((await bundle.arrayBuffer()).byteLength).toBe(Number(bundle.headers.get('content-length')));
    expect((await fetch(`${server.apiEndpoint}/api/docs/assets/..%2Fpackage.json`)).status).toBe(404);
  });
});
