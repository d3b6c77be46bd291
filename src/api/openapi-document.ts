import type { FastifyInstance, RouteOptions } from 'fastify';
import { ErrorEnvelopeSchema } from '../contract/task-status.js';

/** What the document needs of one route, as fastify registered it. */
export interface RouteEntry {
  method: string;
  url: string;
  schema: Record<string, unknown> | undefined;
}

type JsonObject = Record<string, unknown>;

/** Records every route as it is registered; call before any route is added. */
export function collectRoutes(app: FastifyInstance): RouteEntry[] {
  const routes: RouteEntry[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods)
      routes.push({
        method: method.toUpperCase(),
        url: route.url,
        schema: route.schema as JsonObject | undefined,
      });
  });
  return routes;
}

/** TypeBox schemas carry symbol keys; a JSON round trip leaves plain JSON Schema. */
function toJsonSchema(schema: unknown): JsonObject {
  return JSON.parse(JSON.stringify(schema ?? {})) as JsonObject;
}

function parametersOf(schema: unknown, location: 'path' | 'query' | 'header'): JsonObject[] {
  if (schema === undefined) return [];
  const json = toJsonSchema(schema);
  const properties = (json.properties ?? {}) as Record<string, JsonObject>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: location,
      required: location === 'path' || required.has(name),
      ...(description === undefined ? {} : { description }),
      schema: rest,
    };
  });
}

function responsesOf(schema: JsonObject | undefined): JsonObject {
  const produces = (schema?.produces as string[] | undefined)?.[0] ?? 'application/json';
  const responses = (schema?.response ?? {}) as Record<string, unknown>;
  const result: JsonObject = {};
  for (const [code, body] of Object.entries(responses)) {
    const json = toJsonSchema(body);
    const isError = Number(code) >= 400;
    result[code] = {
      description: (json.description as string | undefined) ?? (isError ? 'error envelope' : 'OK'),
      content: { [isError ? 'application/json' : produces]: { schema: json } },
    };
  }
  if (Object.keys(result).length === 0) result['200'] = { description: 'OK' };
  return result;
}

const envelope = (description: string): JsonObject => ({
  description,
  content: { 'application/json': { schema: toJsonSchema(ErrorEnvelopeSchema) } },
});

/**
 * Error answers any operation can get that its route does not declare: from Node's HTTP
 * layer before routing (408, 431, 417), the sandboxed-peer guard (403, an onRequest hook of
 * every route), the body and path limits, and faults (500, 503).
 */
function commonErrorResponses(schema: JsonObject | undefined, hasPathParams: boolean): JsonObject {
  const declared = (schema?.response ?? {}) as Record<string, unknown>;
  const common: Record<string, JsonObject> = {
    '400': envelope('invalid_input: a malformed request or parameter'),
    '403': envelope('permission_denied: the caller is a sandboxed task of this host'),
    '408': envelope('invalid_input: the request did not arrive within 60 s'),
    ...(schema?.body === undefined
      ? {}
      : { '413': envelope('invalid_input: body larger than the body limit') }),
    ...(hasPathParams
      ? { '414': envelope('invalid_input: a path parameter longer than 256 characters') }
      : {}),
    '417': envelope('invalid_input: an Expect header other than 100-continue'),
    '431': envelope('invalid_input: request headers too large'),
    '500': envelope('internal: storage or other internal fault'),
    '503': envelope('unavailable: the server is shutting down and takes no new work'),
  };
  return Object.fromEntries(Object.entries(common).filter(([code]) => !(code in declared)));
}

function operationOf(route: RouteEntry): JsonObject {
  const schema = route.schema;
  const parameters = [
    ...parametersOf(schema?.params, 'path'),
    ...parametersOf(schema?.querystring, 'query'),
    ...parametersOf(schema?.headers, 'header'),
    // Headers a handler reads itself (no validation on the hot path), listed for clients.
    ...parametersOf(schema?.documentedHeaders, 'header'),
  ];
  return {
    ...(schema?.summary === undefined ? {} : { summary: schema.summary }),
    operationId: `${route.method.toLowerCase()}${route.url.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(schema?.body === undefined
      ? {}
      : {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: toJsonSchema(schema.body) } },
          },
        }),
    responses: {
      ...responsesOf(schema),
      ...commonErrorResponses(
        schema,
        parameters.some((p) => p.in === 'path'),
      ),
    },
  };
}

/**
 * OpenAPI 3.1 from the registered routes: the same TypeBox schemas that validate requests
 * and serialize responses, so the document cannot drift from the server. HEAD routes that
 * fastify adds for every GET are implied and left out.
 */
export function buildOpenApiDocument(routes: readonly RouteEntry[], version: string): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const route of routes) {
    if (route.method === 'HEAD') continue;
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operationOf(route) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'execgo-runtime',
      version,
      description: 'Execution runtime for AI agents. See docs/api.md for the full reference.',
    },
    paths,
  };
}
