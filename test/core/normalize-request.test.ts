import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SubmitTaskRequest } from '../../src/contract/task-request.js';
import {
  normalizeSubmitRequest,
  normalizeTaskId,
  normalizeWorkspaceSubdir,
} from '../../src/core/normalize-request.js';
import { RuntimeError } from '../../src/core/runtime-error.js';

const cmd = (extra: Partial<SubmitTaskRequest> = {}): SubmitTaskRequest => ({
  execution: { kind: 'command', program: '/bin/true' },
  ...extra,
});

function rejects(request: SubmitTaskRequest, pattern: RegExp): void {
  assert.throws(
    () => normalizeSubmitRequest(request),
    (error: unknown) =>
      error instanceof RuntimeError &&
      error.code === 'invalid_input' &&
      pattern.test(error.message),
  );
}

describe('normalizeTaskId', () => {
  it('generates a UUID when absent', () => {
    assert.match(normalizeTaskId(undefined), /^[0-9a-f-]{36}$/);
  });
  it('trims and accepts the allowed characters', () => {
    assert.equal(normalizeTaskId('  a.B_c-9 '), 'a.B_c-9');
  });
  for (const bad of ['', '   ', '.', '..', 'a/b', 'a b', 'é', 'x'.repeat(201), 'a\0b'])
    it(`rejects ${JSON.stringify(bad.slice(0, 12))}`, () => {
      assert.throws(() => normalizeTaskId(bad), RuntimeError);
    });
});

describe('normalizeSubmitRequest', () => {
  it('applies contract defaults', () => {
    const spec = normalizeSubmitRequest(cmd({ task_id: 't' }));
    assert.equal(spec.limits.wall_time_ms, 300_000);
    assert.equal(spec.limits.stdout_max_bytes, 4_194_304);
    assert.equal(spec.limits.stderr_max_bytes, 4_194_304);
    assert.equal(spec.sandbox.profile, 'process');
    assert.deepEqual(spec.sandbox.namespaces, {
      mount: true,
      pid: true,
      uts: true,
      ipc: true,
      net: false,
    });
    assert.deepEqual(spec.metadata, {});
    assert.deepEqual(spec.execution, { kind: 'command', program: '/bin/true', args: [], env: {} });
  });

  const table: [string, SubmitTaskRequest, RegExp][] = [
    ['blank program', { execution: { kind: 'command', program: '  ' } }, /program is required/],
    [
      'script on command',
      { execution: { kind: 'command', program: 'x', script: 'echo' } },
      /script must be absent/,
    ],
    ['missing script', { execution: { kind: 'script' } }, /script is required/],
    [
      'program on script',
      { execution: { kind: 'script', script: 'echo', program: 'x' } },
      /program must be absent/,
    ],
    [
      'empty interpreter',
      { execution: { kind: 'script', script: 'echo', interpreter: [] } },
      /interpreter/,
    ],
    [
      'blank interpreter',
      { execution: { kind: 'script', script: 'echo', interpreter: [' '] } },
      /interpreter/,
    ],
    [
      'interpreter on command',
      { execution: { kind: 'command', program: 'x', interpreter: ['sh'] } },
      /interpreter/,
    ],
    ['NUL in program', { execution: { kind: 'command', program: '/bin/e\0cho' } }, /NUL/],
    ['NUL in args', { execution: { kind: 'command', program: 'x', args: ['a\0'] } }, /NUL/],
    [
      'NUL in env value',
      { execution: { kind: 'command', program: 'x', env: { A: 'b\0' } } },
      /NUL/,
    ],
    [
      '= in env key',
      { execution: { kind: 'command', program: 'x', env: { 'A=B': 'c' } } },
      /must not contain "="/,
    ],
    ['blank env key', { execution: { kind: 'command', program: 'x', env: { ' ': 'c' } } }, /blank/],
    [
      'chroot without linux_sandbox',
      cmd({ sandbox: { chroot: true, rootfs: '/' } }),
      /chroot is only valid/,
    ],
    [
      'chroot without rootfs',
      cmd({ sandbox: { profile: 'linux_sandbox', chroot: true } }),
      /rootfs is required/,
    ],
    ['absolute workspace_subdir', cmd({ sandbox: { workspace_subdir: '/etc' } }), /relative/],
    ['.. workspace_subdir', cmd({ sandbox: { workspace_subdir: 'a/../../b' } }), /\.\./],
    ['blank tenant', cmd({ control_context: { tenant: ' ' } }), /tenant must not be blank/],
    ['blank owner', cmd({ control_context: { owner: '' } }), /owner must not be blank/],
    ['label key with =', cmd({ control_context: { labels: { 'a=b': 'c' } } }), /labels key/],
  ];
  for (const [name, request, pattern] of table)
    it(`rejects ${name}`, () => rejects(request, pattern));

  it('keeps a script interpreter and env', () => {
    const spec = normalizeSubmitRequest({
      execution: {
        kind: 'script',
        script: 'print(1)',
        interpreter: ['python3', '-u'],
        env: { A: 'b=c' },
      },
    });
    assert.deepEqual(spec.execution, {
      kind: 'script',
      script: 'print(1)',
      interpreter: ['python3', '-u'],
      env: { A: 'b=c' },
    });
  });

  it('prefers the Idempotency-Key header over the body field', () => {
    assert.equal(
      normalizeSubmitRequest({ ...cmd(), idempotency_key: 'body' }, 'header').idempotency_key,
      'header',
    );
  });
});

describe('normalizeWorkspaceSubdir', () => {
  it('normalizes harmless forms', () => {
    assert.equal(normalizeWorkspaceSubdir('a/./b/'), 'a/b');
    assert.equal(normalizeWorkspaceSubdir('.'), undefined);
    assert.equal(normalizeWorkspaceSubdir(undefined), undefined);
  });
});
