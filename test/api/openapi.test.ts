import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestRuntime, type TestRuntime } from '../support/runtime-harness.js';

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }> }>>;
}

/**
 * Every (method, path) fastify actually routes, read from its router's own printout
 * (independent of the onRoute collector behind /openapi.json). HEAD mirrors GET.
 */
function registeredRoutes(tree: string): string[] {
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│├└─\s]*)(\S+)(?: \(([^)]+)\))?$/.exec(line);
    if (match === null) continue;
    const depth = (match[1] ?? '').length / 4;
    stack.length = depth;
    stack[depth] = match[2] ?? '';
    const full = stack.join('');
    for (const method of (match[3] ?? '').split(', ').filter((m) => m !== '' && m !== 'HEAD'))
      routes.push(`${method} ${full.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
  }
  return routes.sort();
}

describe('GET /openapi.json', () => {
  let rt: TestRuntime;
  let document: OpenApiDocument;
  before(async () => {
    rt = await startTestRuntime();
    const response = await rt.api.request<OpenApiDocument>('GET', '/openapi.json');
    assert.equal(response.status, 200);
    document = response.body;
  });
  after(async () => {
    await rt.stop();
  });

  it('documents exactly the registered routes', () => {
    const routed = registeredRoutes(rt.runtime.app.printRoutes({ commonPrefix: false }));
    const documented = Object.entries(document.paths)
      .flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
      )
      .sort();
    assert.ok(routed.length >= 15, routed.join('\n'));
    assert.deepEqual(documented, routed);
  });

  it('uses the validating schemas (request body, parameters, responses)', () => {
    assert.equal(document.openapi, '3.1.0');
    const submit = document.paths['/api/v1/tasks']?.post as unknown as {
      requestBody: { content: Record<string, { schema: { required: string[] } }> };
    };
    assert.deepEqual(submit.requestBody.content['application/json']?.schema.required, [
      'execution',
    ]);
    const listing = document.paths['/api/v1/tasks']?.get;
    const names = (listing?.parameters ?? []).map((p) => `${p.in}:${p.name}`);
    for (const name of ['status', 'tenant', 'owner', 'label', 'created_after', 'limit', 'cursor'])
      assert.ok(names.includes(`query:${name}`), name);
    const stream = document.paths['/api/v1/tasks/{id}/stream']?.get;
    assert.ok(
      (stream?.parameters ?? []).some((p) => p.in === 'header' && p.name === 'last-event-id'),
    );
  });

  it('lists the headers handlers read and the errors every operation can get', () => {
    const headerNames = (operation: { parameters?: Array<{ name: string; in: string }> } = {}) =>
      (operation.parameters ?? []).filter((p) => p.in === 'header').map((p) => p.name);
    assert.ok(headerNames(document.paths['/api/v1/tasks']?.post).includes('idempotency-key'));
    assert.ok(
      headerNames(document.paths['/api/v1/tasks/{id}/kill']?.post).includes('x-execgo-owner'),
    );
    for (const [path, operations] of Object.entries(document.paths))
      for (const [method, operation] of Object.entries(operations)) {
        const codes = Object.keys((operation as { responses: object }).responses);
        // 403: the sandboxed-peer guard is an onRequest hook of every route.
        for (const code of ['403', '408', '500', '503'])
          assert.ok(codes.includes(code), `${method} ${path} lacks ${code}`);
      }
    const submitCodes = Object.keys(
      (document.paths['/api/v1/tasks']?.post as unknown as { responses: object }).responses,
    );
    assert.ok(submitCodes.includes('413'));
  });

  it('lists on each task route only the errors it can answer', () => {
    const codesOf = (path: string, method: string): string[] =>
      Object.keys(
        (document.paths[path]?.[method] as unknown as { responses: object } | undefined)
          ?.responses ?? {},
      );
    // Only a submit can conflict (task_id exists, idempotency key reused) or find the queue full.
    assert.ok(codesOf('/api/v1/tasks', 'post').includes('409'));
    assert.ok(codesOf('/api/v1/tasks', 'post').includes('429'));
    assert.ok(!codesOf('/api/v1/tasks', 'post').includes('404'));
    for (const [path, method] of [
      ['/api/v1/tasks/{id}', 'get'],
      ['/api/v1/tasks/{id}/kill', 'post'],
      ['/api/v1/tasks/{id}/events', 'get'],
      ['/api/v1/tasks/{id}/wait', 'get'],
    ] as const) {
      const codes = codesOf(path, method);
      assert.ok(codes.includes('404'), `${method} ${path} lacks 404`);
      for (const code of ['409', '429'])
        assert.ok(!codes.includes(code), `${method} ${path} lists ${code}`);
    }
  });

  it('declares /metrics as text, and serves it so', async () => {
    const metrics = document.paths['/metrics']?.get as unknown as {
      responses: Record<string, { content?: Record<string, unknown> }>;
    };
    assert.deepEqual(Object.keys(metrics.responses['200']?.content ?? {}), ['text/plain']);
    const response = await rt.api.request<string>('GET', '/metrics');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(response.body, /^# HELP /m);
  });
});
