import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SubmitTaskRequest } from '../../src/contract/task-request.js';
import { normalizeSubmitRequest } from '../../src/core/normalize-request.js';
import { RuntimeError } from '../../src/core/runtime-error.js';
import { resolveExecutionPlan, type PlanCapabilities } from '../../src/plan/resolve-plan.js';
import { FULL_CAPABILITIES, HYBRID_CGROUPS } from '../support/host-fixtures.js';

const CGROUPS = HYBRID_CGROUPS;
const FULL = FULL_CAPABILITIES;

const SANDBOXED = { profile: 'linux_sandbox' } as const;
const ALL_NAMESPACES = { mount: true, pid: true, uts: true, ipc: true, net: true };

function spec(extra: Partial<SubmitTaskRequest>) {
  return normalizeSubmitRequest({
    execution: { kind: 'command', program: '/bin/true' },
    ...extra,
  });
}

/** One capability the host may lack: a request that needs it and a host without it. */
interface CapabilityCase {
  capability: string;
  request: Partial<SubmitTaskRequest>;
  host: PlanCapabilities;
}

const CASES: CapabilityCase[] = [
  {
    capability: 'linux_sandbox',
    request: { sandbox: SANDBOXED },
    host: { ...FULL, linuxSandbox: null },
  },
  {
    capability: 'chroot',
    request: { sandbox: { ...SANDBOXED, chroot: true, rootfs: '/srv/rootfs' } },
    host: { ...FULL, chroot: false },
  },
  ...(['mount', 'pid', 'uts', 'ipc', 'net'] as const).map((kind) => ({
    capability: `namespace.${kind}`,
    request: { sandbox: { ...SANDBOXED, namespaces: ALL_NAMESPACES } },
    host: { ...FULL, namespaces: { ...FULL.namespaces, [kind]: false } },
  })),
  {
    capability: 'cpu_time_sec',
    request: { limits: { cpu_time_sec: 1 } },
    host: { ...FULL, rlimitCpu: false },
  },
  {
    capability: 'memory_bytes',
    request: { sandbox: SANDBOXED, limits: { memory_bytes: 1 << 26 } },
    host: { ...FULL, rlimitMemory: false, cgroups: { ...CGROUPS, memoryLimit: false } },
  },
  {
    capability: 'pids_max',
    request: { sandbox: SANDBOXED, limits: { pids_max: 64 } },
    host: { ...FULL, cgroups: null },
  },
  {
    capability: 'pids_max',
    request: { sandbox: SANDBOXED, limits: { pids_max: 64 } },
    host: { ...FULL, cgroups: { ...CGROUPS, pidsLimit: false } },
  },
  // The process profile never enforces cgroup limits (contract: cgroup_enforced needs linux_sandbox).
  { capability: 'pids_max', request: { limits: { pids_max: 64 } }, host: FULL },
];

await test('plan resolution over every capability, strict and adaptive', async (t) => {
  for (const item of CASES) {
    await t.test(`${item.capability} unavailable, adaptive: degrades with one reason`, () => {
      const plan = resolveExecutionPlan(spec(item.request), item.host, 'adaptive');
      assert.equal(plan.degraded, true);
      assert.equal(plan.fallback_reasons?.length, 1);
    });
    await t.test(`${item.capability} unavailable, strict: rejects unsupported_capability`, () => {
      assert.throws(
        () => resolveExecutionPlan(spec(item.request), item.host, 'strict'),
        (error: unknown) =>
          error instanceof RuntimeError &&
          error.code === 'unsupported_capability' &&
          (error.details as { capability: string }).capability === item.capability,
      );
    });
    await t.test(`${item.capability} unavailable, requires_strict_sandbox: rejects`, () => {
      const request = { ...item.request, control_context: { requires_strict_sandbox: true } };
      assert.throws(
        () => resolveExecutionPlan(spec(request), item.host, 'adaptive'),
        (error: unknown) =>
          error instanceof RuntimeError && error.code === 'unsupported_capability',
      );
    });
    await t.test(`${item.capability} available: strict accepts, nothing degraded`, () => {
      if (item.capability === 'pids_max' && item.request.sandbox === undefined) return;
      const plan = resolveExecutionPlan(spec(item.request), FULL, 'strict');
      assert.equal(plan.degraded, false);
      assert.equal(plan.fallback_reasons, undefined);
    });
  }
});

await test('a refusal names the cause and claims no fallback; adaptive says what runs instead', () => {
  const host = {
    ...FULL,
    linuxSandbox: null,
    linuxSandboxUnavailable: 'linux_sandbox disabled by --disable-linux-sandbox',
  };
  assert.throws(
    () => resolveExecutionPlan(spec({ sandbox: SANDBOXED }), host, 'strict'),
    (error: unknown) =>
      error instanceof RuntimeError &&
      error.message ===
        'strict mode cannot satisfy: linux_sandbox disabled by --disable-linux-sandbox',
  );
  assert.deepEqual(
    resolveExecutionPlan(spec({ sandbox: SANDBOXED }), host, 'adaptive').fallback_reasons,
    ['linux_sandbox disabled by --disable-linux-sandbox; running as process'],
  );
});

await test('plan resolution: effective sandbox and enforcement', async (t) => {
  await t.test('linux_sandbox unavailable falls back to process without namespaces', () => {
    const plan = resolveExecutionPlan(
      spec({ sandbox: SANDBOXED }),
      { ...FULL, linuxSandbox: null },
      'adaptive',
    );
    assert.equal(plan.effective_sandbox.profile, 'process');
    assert.deepEqual(plan.effective_sandbox.namespaces, {
      mount: false,
      pid: false,
      uts: false,
      ipc: false,
      net: false,
    });
    assert.equal(plan.resource_enforcement.cgroup_enforced, false);
  });

  await t.test('a missing namespace is turned off only for that kind', () => {
    const host = { ...FULL, namespaces: { ...FULL.namespaces, net: false } };
    const plan = resolveExecutionPlan(
      spec({ sandbox: { ...SANDBOXED, namespaces: ALL_NAMESPACES } }),
      host,
      'adaptive',
    );
    assert.deepEqual(plan.effective_sandbox.namespaces, { ...ALL_NAMESPACES, net: false });
  });

  await t.test('cgroup_enforced = linux_sandbox and writable cgroups', () => {
    const table: [Partial<SubmitTaskRequest>, PlanCapabilities, boolean][] = [
      [{ sandbox: SANDBOXED }, FULL, true],
      [{ sandbox: SANDBOXED }, { ...FULL, cgroups: null }, false],
      [{}, FULL, false],
    ];
    for (const [request, host, expected] of table)
      assert.equal(
        resolveExecutionPlan(spec(request), host, 'adaptive').resource_enforcement.cgroup_enforced,
        expected,
      );
  });

  await t.test(
    'oom_detection = memory limit set, cgroup enforced and OOM detection available',
    () => {
      const memory = { limits: { memory_bytes: 1 << 26 } };
      const table: [Partial<SubmitTaskRequest>, PlanCapabilities, boolean][] = [
        [{ ...memory, sandbox: SANDBOXED }, FULL, true],
        [{ sandbox: SANDBOXED }, FULL, false],
        [memory, FULL, false],
        [
          { ...memory, sandbox: SANDBOXED },
          { ...FULL, cgroups: { ...CGROUPS, oomDetection: false } },
          false,
        ],
      ];
      for (const [request, host, expected] of table)
        assert.equal(
          resolveExecutionPlan(spec(request), host, 'adaptive').resource_enforcement.oom_detection,
          expected,
        );
    },
  );

  await t.test('memory enforced by RLIMIT_AS only carries a warning, not a degradation', () => {
    const plan = resolveExecutionPlan(spec({ limits: { memory_bytes: 1 << 26 } }), FULL, 'strict');
    assert.equal(plan.resource_enforcement.memory_enforced, true);
    assert.equal(plan.degraded, false);
    assert.equal(plan.capability_warnings?.length, 1);
    assert.match(plan.capability_warnings?.[0] ?? '', /per process/);
  });

  await t.test('cpu_time_sec, enforced as RLIMIT_CPU, carries the per-process warning', () => {
    const plan = resolveExecutionPlan(spec({ limits: { cpu_time_sec: 5 } }), FULL, 'strict');
    assert.equal(plan.resource_enforcement.cpu_time_enforced, true);
    assert.deepEqual(plan.capability_warnings, [
      'cpu_time_sec is enforced as RLIMIT_CPU: per process (each process of the task may use it)',
    ]);
    assert.equal(resolveExecutionPlan(spec({}), FULL, 'strict').capability_warnings, undefined);
  });

  await t.test('the server default mode applies when the task names none', () => {
    assert.throws(() =>
      resolveExecutionPlan(spec({ sandbox: SANDBOXED }), { ...FULL, linuxSandbox: null }, 'strict'),
    );
    const plan = resolveExecutionPlan(
      spec({ sandbox: SANDBOXED, policy: { capability_mode: 'adaptive' } }),
      { ...FULL, linuxSandbox: null },
      'strict',
    );
    assert.equal(plan.capability_mode, 'adaptive');
  });

  await t.test('several degradations give one reason each', () => {
    const host: PlanCapabilities = {
      ...FULL,
      namespaces: { ...FULL.namespaces, net: false, ipc: false },
      rlimitCpu: false,
    };
    const request = {
      sandbox: { ...SANDBOXED, namespaces: ALL_NAMESPACES },
      limits: { cpu_time_sec: 1 },
    };
    assert.equal(resolveExecutionPlan(spec(request), host, 'adaptive').fallback_reasons?.length, 3);
  });
});
