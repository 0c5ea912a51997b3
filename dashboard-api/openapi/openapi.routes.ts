import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { buildOpenApiDocument } from './document.ts';
import type { ApiOperation } from './operations.ts';

// Swagger UI ships in an npm package and is served from here: the docs work on machines
// without internet access, and no third-party CDN sees who reads them.
const swaggerAssets: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const docsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>CloudStorage API</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/api/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/api/docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>`;

// A separate file rather than inline script, so a strict Content-Security-Policy needs no 'unsafe-inline'.
const initScript = `window.ui = SwaggerUIBundle({ url: '/api/openapi.json', dom_id: '#swagger-ui', deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout', withCredentials: true });`;

/**
 * `/api/openapi.json` (OpenAPI 3.1 built from the declared operations) and `/api/docs`
 * (interactive Swagger UI). Not part of the documented operations themselves.
 */
export function createOpenApiRoutes(deps: { operations: () => readonly ApiOperation[]; version: string }) {
  let document: unknown;
  const swaggerDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const app = new Hono();
  app.get('/openapi.json', (c) => {
    document ??= buildOpenApiDocument(deps.operations(), { version: deps.version });
    return c.json(document);
  });
  app.get('/docs', (c) => {
    c.header('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'");
    return c.html(docsPage);
  });
  app.get('/docs/init.js', (c) => c.body(initScript, 200, { 'Content-Type': 'text/javascript; charset=utf-8' }));
  app.get('/docs/assets/:file', async (c) => {
    const file = c.req.param('file');
    const type = swaggerAssets[file];
    if (!type) return c.notFound();
    const path = join(swaggerDir, file);
    const { size } = await stat(path);
    return c.body(Readable.toWeb(createReadStream(path)) as ReadableStream, 200, {
      'Content-Type': type,
      'Content-Length': String(size),
      'Cache-Control': 'public, max-age=86400',
    });
  });
  return app;
}
