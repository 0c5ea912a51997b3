import type { z } from 'zod';

/** How a route authenticates; each maps to an OpenAPI security scheme. */
export type ApiAuth = 'none' | 'session' | 'admin' | 'apiKey';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ApiResponseDoc {
  description: string;
  /** JSON body schema; omit for empty bodies or when `contentType` is not JSON. */
  schema?: z.ZodType;
  /** Defaults to application/json when a schema is given. */
  contentType?: string;
}

/**
 * One dashboard API operation, declared once: the same zod objects validate requests in the
 * handler (`parseBody(c, op.body.schema)`, `parseQuery(c, op.query)`) and describe them in
 * `/api/openapi.json`. `path` is the full OpenAPI path (`/api/keys/{id}`); `app.test.ts`
 * checks that every route the app mounts has exactly one operation and vice versa.
 */
export interface ApiOperation {
  method: HttpMethod;
  path: string;
  summary: string;
  description?: string;
  tag: string;
  auth: ApiAuth;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: { schema: z.ZodType; contentType?: string; description?: string };
  /** A body that is not JSON (multipart, raw bytes): documented, validated by the handler. */
  rawBody?: { contentTypes: string[]; description: string; schema?: Record<string, unknown> };
  responses: Record<number, ApiResponseDoc>;
}

/** Identity helper that keeps the literal types of an operation's schemas (`op.body.schema` stays typed). */
export function defineOperation<const T extends ApiOperation>(operation: T): T {
  return operation;
}
