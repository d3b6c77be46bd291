import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { buildOpenApiDocument, type RouteEntry } from '../openapi-document.js';

/** GET /openapi.json, built once on first request (all routes are registered by then). */
export function registerOpenApiRoutes(
  app: FastifyInstance,
  routes: readonly RouteEntry[],
  version: string,
): void {
  let document: Record<string, unknown> | undefined;
  app.get(
    '/openapi.json',
    {
      schema: {
        summary: 'This API as an OpenAPI 3.1 document',
        response: { 200: Type.Object({}, { additionalProperties: true }) },
      },
    },
    () => (document ??= buildOpenApiDocument(routes, version)),
  );
}
