import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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
    assert.match(body.error.message, /too large/);
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
    await rt.api.request('POST', `/api/v1/tasks/${blocker}/kill`);
    for (const id of queued) assert.equal((await rt.api.waitTerminal(id)).status, 'success');
  });
});
