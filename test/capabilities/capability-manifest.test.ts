import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CapabilityManifest } from '../../src/contract/runtime.js';
import { REPO_ROOT, startTestRuntime, type TestRuntime } from '../support/runtime-harness.js';
import { fetchManifest, sandboxed, skipUnavailable } from '../sandbox/sandbox-test-support.js';

/** What GET /runtime/capabilities says, with and without overrides. */
describe('capability manifest', () => {
  let rt: TestRuntime;
  let manifest: CapabilityManifest;
  before(async () => {
    rt = await startTestRuntime();
    manifest = await fetchManifest(rt);
  });
  after(async () => {
    await rt.stop();
  });

  it('on a root host with bubblewrap and writable cgroups, everything issue 4 needs is available', (t) => {
    const isCapable = manifest.sandbox.linux_sandbox && manifest.resources.cgroup_writable;
    if (skipUnavailable(t, manifest, 'linux_sandbox with writable cgroups', isCapable)) return;
    assert.deepEqual(manifest.sandbox.namespaces, {
      mount: true,
      pid: true,
      uts: true,
      ipc: true,
      net: true,
    });
    assert.equal(manifest.resources.memory_limit, true);
    assert.equal(manifest.resources.pids_limit, true);
    assert.equal(manifest.resources.oom_detection, true);
    assert.equal(manifest.storage.data_dir_writable, true);
    assert.deepEqual(manifest.overrides, {});
    assert.deepEqual(manifest.warnings, []);
    assert.equal(manifest.degraded, false);
    for (const semantic of [
      'linux_sandbox',
      'namespace_net',
      'cgroup_memory_limit',
      'oom_detection',
    ])
      assert.ok(manifest.enhanced_semantics.includes(semantic), semantic);
  });

  it('reports the platform and a capacity', () => {
    assert.equal(manifest.platform.os, process.platform);
    assert.ok(manifest.resources.capacity.task_slots > 0);
    assert.ok((manifest.resources.capacity.memory_bytes ?? 0) > 0);
  });

  it('--disable-linux-sandbox: override and warning; strict rejects, adaptive degrades', async () => {
    const off = await startTestRuntime({ disableLinuxSandbox: true, capacityMemoryBytes: 1 << 30 });
    try {
      const m = await fetchManifest(off);
      assert.equal(m.sandbox.linux_sandbox, false);
      assert.deepEqual(m.sandbox.namespaces, {
        mount: false,
        pid: false,
        uts: false,
        ipc: false,
        net: false,
      });
      assert.equal(m.overrides.linux_sandbox, 'disabled');
      assert.equal(m.overrides.capacity_memory_bytes, String(1 << 30));
      assert.equal(m.resources.capacity.memory_bytes, 1 << 30);
      // Named by the flag, or by the variable when the environment set it.
      const isNamed = (w: string) =>
        w.includes('--disable-linux-sandbox') || w.includes('EXECGO_RUNTIME_DISABLE_LINUX_SANDBOX');
      assert.ok(m.warnings.some(isNamed), m.warnings.join('; '));
      assert.equal(m.degraded, true);
      const rejected = await off.api.request<{ error: { code: string } }>('POST', '/api/v1/tasks', {
        body: sandboxed('true'),
      });
      assert.equal(rejected.status, 400);
      assert.equal(rejected.body.error.code, 'unsupported_capability');
      const task = { ...sandboxed('echo ran'), policy: { capability_mode: 'adaptive' } };
      const status = await off.api.run(task);
      assert.equal(status.status, 'success');
      assert.equal(status.execution_plan?.effective_sandbox.profile, 'process');
      assert.equal(status.execution_plan?.degraded, true);
      const events = await off.api.request<{ event_type: string }[]>(
        'GET',
        `/api/v1/tasks/${status.task_id}/events`,
      );
      assert.ok(events.body.some((e) => e.event_type === 'degraded'));
    } finally {
      await off.stop();
    }
  });

  it('EXECGO_RUNTIME_DISABLE_CGROUP: override and a warning naming the variable', async () => {
    const off = await startTestRuntime({}, { ...process.env, EXECGO_RUNTIME_DISABLE_CGROUP: '1' });
    try {
      const m = await fetchManifest(off);
      assert.equal(m.resources.cgroup_writable, false);
      assert.equal(m.resources.pids_limit, false);
      assert.equal(m.overrides.cgroup, 'disabled');
      assert.ok(
        m.warnings.some((w) => w.includes('EXECGO_RUNTIME_DISABLE_CGROUP')),
        m.warnings.join('; '),
      );
      const status = await off.api.run({ execution: { kind: 'command', program: '/bin/true' } });
      assert.equal(status.status, 'success');
    } finally {
      await off.stop();
    }
  });

  it('without the static sandbox init: no chroot, and a warning that says why', async (t) => {
    if (skipUnavailable(t, manifest, 'chroot', manifest.sandbox.chroot)) return;
    assert.ok(!manifest.warnings.some((w) => w.includes('execgo-sandbox-init')));
    // An install whose build had no static C library: the shim and spawner, no static init.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'execgo-no-static-init-'));
    const built = path.join(REPO_ROOT, 'native/build');
    for (const binary of ['execgo-shim', 'execgo-spawner'])
      fs.copyFileSync(path.join(built, binary), path.join(dir, binary));
    for (const binary of ['execgo-shim', 'execgo-spawner'])
      fs.chmodSync(path.join(dir, binary), 0o755);
    const partial = await startTestRuntime({ shimPath: path.join(dir, 'execgo-shim') });
    try {
      const m = await fetchManifest(partial);
      // Inside a chroot only the static init is the runtime's own; nothing else may drop root.
      assert.equal(m.sandbox.chroot, false);
      assert.ok(
        m.warnings.some(
          (w) =>
            w.includes('chroot is unavailable') &&
            w.includes(path.join(dir, 'execgo-sandbox-init')),
        ),
        m.warnings.join('; '),
      );
    } finally {
      await partial.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
