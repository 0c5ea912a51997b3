import { z } from 'zod';
import type { ApiAuth, ApiOperation } from './operations.ts';

const errorSchema = z
  .object({
    error: z.string().describe('Namespaced machine-readable code, e.g. `keys.limit_reached`.'),
    detail: z.string().describe('A sentence for people.'),
    requestId: z.string().describe('Also in the X-Request-Id header; quote it when reporting a problem.'),
  })
  .describe('The one error shape of the dashboard API.');

const securityOf: Record<ApiAuth, Array<Record<string, string[]>>> = {
  none: [],
  session: [{ sessionCookie: [] }],
  admin: [{ sessionCookie: [] }],
  apiKey: [{ apiKeyHeader: [] }, { bearerKey: [] }],
};

/** A response carrying the shared error shape. */
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

function jsonSchema(schema: z.ZodType, io: 'input' | 'output') {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function parametersOf(where: 'query' | 'path', schema: z.ZodObject | undefined) {
  if (!schema) return [];
  const json = jsonSchema(schema, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: where,
      required: where === 'path' || (json.required ?? []).includes(name),
      ...(description ? { description } : {}),
      schema: propertySchema,
    };
  });
}

/** Builds the OpenAPI 3.1 document served at `/api/openapi.json` from the declared operations. */
export function buildOpenApiDocument(operations: readonly ApiOperation[], info: { version: string; serverUrl?: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of operations) {
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(operation.responses)) {
      const contentType = response.contentType ?? 'application/json';
      responses[status] = {
        description: response.description,
        ...(response.schema ? { content: { [contentType]: { schema: jsonSchema(response.schema, 'output') } } } : response.contentType ? { content: { [contentType]: {} } } : {}),
      };
    }
    if (operation.auth !== 'none') responses['401'] ??= errorResponse('Not authenticated.');
    if (operation.auth === 'admin') responses['403'] ??= errorResponse('Not an admin.');
    responses['400'] ??= errorResponse('Invalid request.');
    responses['429'] ??= errorResponse('Rate limited; see Retry-After.');
    // Every route: the Host allow-list and the body cap are checked before any handler.
    responses['421'] ??= errorResponse('`invalid_host`: the Host header is not a loopback name, PUBLIC_URL or one of ALLOWED_HOSTS.');
    if (operation.method !== 'get') responses['413'] ??= errorResponse('`payload_too_large`: the body exceeds API_BODY_LIMIT_BYTES.');
    // Routes that reach the storage backend: an outage is a domain condition (src/errors/render-json.ts), never a 500.
    if (/^\/api\/(v1\/files|explorer|buckets)\b/.test(operation.path)) {
      responses['503'] ??= errorResponse('`storage.unavailable`: the storage backend is unreachable or overloaded; retry after `Retry-After` seconds.');
      if (operation.method !== 'get') responses['507'] ??= errorResponse('`storage.insufficient`: the store is out of space.');
    }

    let requestBody: unknown;
    if (operation.body) {
      requestBody = {
        required: true,
        ...(operation.body.description ? { description: operation.body.description } : {}),
        content: { [operation.body.contentType ?? 'application/json']: { schema: jsonSchema(operation.body.schema, 'input') } },
      };
    } else if (operation.rawBody) {
      requestBody = {
        required: true,
        description: operation.rawBody.description,
        content: Object.fromEntries(operation.rawBody.contentTypes.map((type) => [type, operation.rawBody!.schema ? { schema: operation.rawBody!.schema } : {}])),
      };
    }

    paths[operation.path] ??= {};
    paths[operation.path][operation.method] = {
      operationId: `${operation.method}${operation.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, next: string | undefined) => (next ?? '').toUpperCase())}`,
      summary: operation.summary,
      ...(operation.description ? { description: operation.description } : {}),
      tags: [operation.tag],
      security: securityOf[operation.auth],
      parameters: [...parametersOf('path', operation.params), ...parametersOf('query', operation.query)],
      ...(requestBody ? { requestBody } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'CloudStorage dashboard API',
      version: info.version,
      description:
        'Accounts, access keys, buckets, the Simple REST file API, the storage explorer and administration. ' +
        'Errors are JSON `{error, detail, requestId}`. Cookie-authenticated writes need a same-origin `Origin` header.',
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    paths,
    components: {
      schemas: { Error: jsonSchema(errorSchema, 'output') },
      securitySchemes: {
        sessionCookie: { type: 'apiKey', in: 'cookie', name: 'session', description: 'Set by /api/auth/signup and /api/auth/login.' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: '`ACCESS_KEY:SECRET_KEY` of an access key.' },
        bearerKey: { type: 'http', scheme: 'bearer', description: '`Authorization: Bearer ACCESS_KEY:SECRET_KEY`.' },
      },
    },
  };
}
