import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rawHttpBody, sendRawHttp } from '../support/raw-http.js';
import { shell, startTestRuntime, type TestRuntime } from '../support/runtime-harness.js';

interface Envelope {
  error: { code: string; message: string; details?: unknown };
}

describe('submit validation and error envelopes over HTTP', () => {
  let rt: TestRuntime;
  before(async () => {
    rt = await startTestRuntime({ maxBodyBytes: 64 * 1024 });
  });
  after(async () => {
    await rt.stop();
  });

  async function expectError(
    body: unknown,
    status: number,
    code: string,
    raw?: string,
  ): Promise<Envelope> {
    const response = await rt.api.request<Envelope>(
      'POST',
      '/api/v1/tasks',
      raw === undefined ? { body } : { rawBody: raw },
    );
    assert.equal(response.status, status, JSON.stringify(response.body));
    assert.equal(response.body.error.code, code);
    assert.ok(response.body.error.message.length > 0);
    return response.body;
  }

  const invalid: [string, unknown][] = [
    ['missing execution', {}],
    ['wrong kind', { execution: { kind: 'binary', program: 'x' } }],
    ['args not strings', { execution: { kind: 'command', program: 'x', args: [1] } }],
    [
      'wall_time_ms as string',
      { execution: { kind: 'command', program: 'x' }, limits: { wall_time_ms: '10' } },
    ],
    [
      'wall_time_ms zero',
      { execution: { kind: 'command', program: 'x' }, limits: { wall_time_ms: 0 } },
    ],
    [
      'stdout_max_bytes negative',
      { execution: { kind: 'command', program: 'x' }, limits: { stdout_max_bytes: -1 } },
    ],
    ['metadata not strings', { execution: { kind: 'command', program: 'x' }, metadata: { a: 1 } }],
    ['task id ..', { task_id: '..', execution: { kind: 'command', program: 'x' } }],
    ['task id .', { task_id: '.', execution: { kind: 'command', program: 'x' } }],
    ['task id with slash', { task_id: 'a/b', execution: { kind: 'command', program: 'x' } }],
    ['NUL in args', { execution: { kind: 'command', program: 'x', args: ['a\u0000b'] } }],
    ['= in env key', { execution: { kind: 'command', program: 'x', env: { 'A=B': 'c' } } }],
    [
      'chroot on process',
      { execution: { kind: 'command', program: 'x' }, sandbox: { chroot: true, rootfs: '/' } },
    ],
    [
      'escaping workspace_subdir',
      { execution: { kind: 'command', program: 'x' }, sandbox: { workspace_subdir: '../x' } },
    ],
    [
      'bad capability mode',
      { execution: { kind: 'command', program: 'x' }, policy: { capability_mode: 'lenient' } },
    ],
    ['array body', []],
    // Owners a kill's x-execgo-owner header could not carry unchanged.
    ['owner with a control character', { ...shell('true'), control_context: { owner: 'a\nb' } }],
    ['owner with a C1 control', { ...shell('true'), control_context: { owner: 'a\u0085b' } }],
    ['owner with outer spaces', { ...shell('true'), control_context: { owner: ' me ' } }],
    ['idempotency key over 256 characters', { ...shell('true'), idempotency_key: 'k'.repeat(257) }],
    // Past what the supervisor or a JavaScript number can hold exactly: refused at submit,
    // not accepted and then failed as `internal` by the supervisor.
    ...(['wall_time_ms', 'idle_timeout_ms', 'cpu_time_sec'] as const).map(
      (key): [string, unknown] => [
        `${key} beyond the supervisor's bound`,
        { execution: { kind: 'command', program: 'x' }, limits: { [key]: 1_000_000_000_001 } },
      ],
    ),
    ...(['memory_bytes', 'log_max_bytes', 'pids_max', 'stdout_max_bytes'] as const).map(
      (key): [string, unknown] => [
        `${key} beyond a safe integer`,
        { execution: { kind: 'command', program: 'x' }, limits: { [key]: 1e20 } },
      ],
    ),
  ];
  for (const [name, body] of invalid)
    it(`400 invalid_input: ${name}`, async () => {
      await expectError(body, 400, 'invalid_input');
    });

  it('400 invalid_input for malformed JSON', async () => {
    const body = await expectError(undefined, 400, 'invalid_input', '{"execution": ');
    assert.match(body.error.message, /malformed JSON/);
  });

  it('400 for an empty body', async () => {
    await expectError(undefined, 400, 'invalid_input', '');
  });

  it('413 with a clear message when the body is too large', async () => {
    const big = { execution: { kind: 'command', program: 'x', args: ['y'.repeat(100 * 1024)] } };
    const body = await expectError(big, 413, 'invalid_input');
    assert.equal(body.error.message, 'request body too large');
  });

  it('names the allowed values of an enum field', async () => {
    const cases: [unknown, string][] = [
      [
        { execution: { kind: 'command', program: 'x' }, policy: { capability_mode: 'lax' } },
        'invalid body at policy.capability_mode: expected one of: adaptive, strict',
      ],
      [
        { execution: { kind: 'binary', program: 'x' } },
        'invalid body at execution.kind: expected one of: command, script',
      ],
      [
        { execution: { kind: 'command', program: 'x' }, sandbox: { profile: 1 } },
        'invalid body at sandbox.profile: expected one of: process, linux_sandbox',
      ],
    ];
    for (const [request, message] of cases) {
      const body = await expectError(request, 400, 'invalid_input');
      assert.equal(body.error.message, message);
    }
  });

  it('tolerates unknown fields and a missing content type', async () => {
    const response = await rt.api.request<{ status: string }>('POST', '/api/v1/tasks', {
      rawBody: JSON.stringify({
        ...shell('true'),
        extra: 1,
        execution: { kind: 'command', program: 'true', future: true },
      }),
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(response.status, 200);
    assert.equal(response.body.status, 'accepted');
  });

  it('409 conflict for a duplicate task id, and the original is untouched', async () => {
    await rt.api.submit({ task_id: 'dup-1', ...shell('echo first') });
    const first = await rt.api.waitTerminal('dup-1');
    const body = await expectError({ task_id: 'dup-1', ...shell('echo second') }, 409, 'conflict');
    assert.match(body.error.message, /dup-1/);
    assert.deepEqual(await rt.api.status('dup-1'), first);
  });

  it('an idempotency key is measured in characters, not UTF-16 units', async () => {
    const key = '😀'.repeat(256); // 512 UTF-16 units
    assert.equal(
      (
        await rt.api.request('POST', '/api/v1/tasks', {
          body: { ...shell('true'), idempotency_key: key },
        })
      ).status,
      200,
    );
  });

  it('a lone surrogate anywhere in the request is refused, naming the field; a pair is fine', async () => {
    // As the wire carries it: a JSON escape for half a surrogate pair.
    const owner = JSON.stringify({ ...shell('true'), control_context: { owner: 'agent' } });
    const lone = owner.replace('"agent"', '"agent\\ud800"');
    const body = await expectError(undefined, 400, 'invalid_input', lone);
    assert.match(body.error.message, /control_context\.owner is not valid Unicode/);
    const inLabels = JSON.stringify({ ...shell('true'), labels: { k: 'x' } }).replace(
      '"x"',
      '"\\udc00"',
    );
    await expectError(undefined, 400, 'invalid_input', inLabels);
    const pair = owner.replace('"agent"', '"agent\\ud83d\\ude00"');
    const response = await rt.api.request('POST', '/api/v1/tasks', { rawBody: pair });
    assert.equal(response.status, 200, JSON.stringify(response.body));
  });

  it('the largest limits the schema allows run', async () => {
    const id = await rt.api.submit({
      ...shell('echo ok'),
      limits: { wall_time_ms: 1_000_000_000_000, idle_timeout_ms: 1_000_000_000_000 },
    });
    const done = await rt.api.waitTerminal(id);
    assert.equal(done.status, 'success', JSON.stringify(done));
  });

  it('a task id of 200 characters can be read and killed', async () => {
    const id = 'i'.repeat(200);
    await rt.api.submit({ task_id: id, ...shell('true') });
    assert.equal((await rt.api.waitTerminal(id)).status, 'success');
    for (const [method, suffix] of [
      ['GET', ''],
      ['GET', '/events'],
      ['GET', '/stdout'],
      ['POST', '/kill'],
    ] as const)
      assert.equal((await rt.api.request(method, `/api/v1/tasks/${id}${suffix}`)).status, 200);
  });

  it('URLs the router refuses get the envelope: too long a parameter, a bad escape', async () => {
    const long = await rt.api.request<Envelope>('GET', `/api/v1/tasks/${'x'.repeat(300)}`);
    assert.equal(long.status, 414);
    assert.equal(long.body.error.code, 'invalid_input');
    const badEscape = await rt.api.request<Envelope>('GET', '/api/v1/tasks/%ff');
    assert.equal(badEscape.status, 400);
    assert.equal(badEscape.body.error.code, 'invalid_input');
  });

  it('headers too large get the envelope and the connection is closed', async () => {
    const response = await rt.api.request<Envelope>('GET', '/healthz', {
      headers: { 'x-padding': 'p'.repeat(100 * 1024) },
    });
    assert.equal(response.status, 431);
    assert.equal(response.body.error.code, 'invalid_input');
    assert.equal((await rt.api.request('GET', '/healthz')).status, 200);
  });

  const sendRaw = (bytes: string): Promise<string> => sendRawHttp(rt.api.baseUrl, bytes);

  it('requests Node would answer itself get the envelope: no Host, an unknown Expect, CONNECT', async () => {
    const cases: [string, number, string][] = [
      ['GET /healthz HTTP/1.1\r\n\r\n', 400, 'invalid_input'],
      ['GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: banana\r\n\r\n', 417, 'invalid_input'],
      ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n', 404, 'not_found'],
      ['NONSENSE\r\n\r\n', 400, 'invalid_input'],
    ];
    for (const [request, status, code] of cases) {
      const answer = await sendRaw(request);
      assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), answer);
      const body = rawHttpBody(answer) as Envelope;
      assert.equal(body.error.code, code, answer);
      assert.ok(body.error.message.length > 0);
    }
    // HTTP/1.0 needs no Host, and an ordinary request is untouched by the checks.
    assert.match(await sendRaw('GET /healthz HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200 /);
    const body = JSON.stringify(shell('true'));
    const expectContinue = await sendRaw(
      `POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    assert.match(expectContinue, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /, expectContinue);
  });

  it('404 not_found for unknown tasks and routes, with the envelope', async () => {
    for (const url of ['/api/v1/tasks/nope', '/api/v1/tasks/nope/events', '/api/v1/nothing']) {
      const response = await rt.api.request<Envelope>('GET', url);
      assert.equal(response.status, 404);
      assert.equal(response.body.error.code, 'not_found');
    }
    const kill = await rt.api.request<Envelope>('POST', '/api/v1/tasks/nope/kill');
    assert.equal(kill.status, 404);
  });

  it('400 unsupported_capability in strict mode when a limit cannot be enforced', async () => {
    const manifest = (
      await rt.api.request<{ sandbox: { linux_sandbox: boolean } }>(
        'GET',
        '/api/v1/runtime/capabilities',
      )
    ).body;
    const request = manifest.sandbox.linux_sandbox
      ? { ...shell('true'), limits: { pids_max: 5 }, policy: { capability_mode: 'strict' } }
      : {
          ...shell('true'),
          sandbox: { profile: 'linux_sandbox' },
          policy: { capability_mode: 'strict' },
        };
    await expectError(request, 400, 'unsupported_capability');
    const viaContext = {
      ...shell('true'),
      limits: { pids_max: 5 },
      control_context: { requires_strict_sandbox: true },
    };
    await expectError(viaContext, 400, 'unsupported_capability');
  });

  it('JSON nested too deeply is invalid_input, with or without an idempotency key', async () => {
    const deep = (levels: number): string =>
      `{"execution":{"kind":"command","program":"true"},"x":${'['.repeat(levels)}${']'.repeat(levels)}}`;
    for (const headers of [{}, { 'idempotency-key': 'deep-1' }] as Record<string, string>[]) {
      const response = await rt.api.request<Envelope>('POST', '/api/v1/tasks', {
        rawBody: deep(20_000),
        headers,
      });
      assert.equal(response.status, 400);
      assert.equal(response.body.error.code, 'invalid_input');
      assert.match(response.body.error.message, /nested more than 64 levels/);
    }
    // Brackets inside strings are text, and moderate nesting is fine.
    const fine = await rt.api.request('POST', '/api/v1/tasks', {
      rawBody: deep(60).replace('"true"', `"true","args":["${'['.repeat(100)}"]`),
      headers: { 'idempotency-key': 'deep-2' },
    });
    assert.equal(fine.status, 200);
  });

  it('the server survives garbage of every kind', async () => {
    for (const raw of [
      'null',
      '"str"',
      '1',
      '{"execution":null}',
      '\u0000\u0001',
      '{"a":'.repeat(1000),
    ])
      await expectError(undefined, 400, 'invalid_input', raw);
    assert.equal((await rt.api.request('GET', '/healthz')).status, 200);
  });
});

describe('queue limit', () => {
  let rt: TestRuntime;
  before(async () => {
    rt = await startTestRuntime({ maxRunningTasks: 1, maxQueuedTasks: 2 });
  });
  after(async () => {
    await rt.stop();
  });

  it('429 resource_limit_exceeded when max_queued_tasks are waiting; nothing lost', async () => {
    const blocker = await rt.api.submit(shell('sleep 30'));
    await rt.api.waitFor(blocker, (s) => s.status === 'running');
    const queued = [await rt.api.submit(shell('echo a')), await rt.api.submit(shell('echo b'))];
    const response = await rt.api.request<Envelope>('POST', '/api/v1/tasks', {
      body: shell('echo c'),
    });
    assert.equal(response.status, 429);
    assert.equal(response.body.error.code, 'resource_limit_exceeded');
    // A waiting task already has its files, empty logs included (the contract's submit step).
    for (const id of queued) {
      const waiting = await rt.api.status(id);
      assert.equal(waiting.status, 'accepted');
      const dir = path.join(rt.dataDir, 'tasks', id);
      assert.deepEqual(fs.readdirSync(dir).sort(), [
        'request.json',
        'stderr.log',
        'stdout.log',
        'workspace',
      ]);
      for (const log of ['stdout.log', 'stderr.log']) {
        const stat = fs.statSync(path.join(dir, log));
        assert.equal(stat.size, 0);
        assert.equal(stat.mode & 0o777, 0o640); // as the shim would have made it
      }
    }
    await rt.api.request('POST', `/api/v1/tasks/${blocker}/kill`);
    for (const id of queued) assert.equal((await rt.api.waitTerminal(id)).status, 'success');
  });
});
