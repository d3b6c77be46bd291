import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CapabilityManifest } from '../../src/contract/runtime.js';
import type { CgroupPlacement } from '../../src/capabilities/host-capabilities.js';
import { listTaskParents, nameTaskCgroup } from '../../src/sandbox/hierarchy-task-cgroups.js';
import { removeStaleTaskCgroups } from '../../src/sandbox/remove-stale-cgroups.js';
import {
  eventually,
  FIXTURES,
  isProcessAlive,
  shell,
  startTestRuntime,
  type TestRuntime,
} from '../support/runtime-harness.js';
import {
  describeStatus,
  fetchManifest,
  sandboxed,
  skipUnavailable,
} from './sandbox-test-support.js';

const MIB = 1024 * 1024;

/** Resource enforcement through per-task cgroups (v1, v2 or hybrid, whatever the host has). */
describe('cgroup enforcement on this host', () => {
  let rt: TestRuntime;
  let manifest: CapabilityManifest;
  let placement: CgroupPlacement | null;
  before(async () => {
    rt = await startTestRuntime({ maxRunningTasks: 4 });
    manifest = await fetchManifest(rt);
    placement = rt.runtime.capabilities.cgroups;
  });
  after(async () => {
    await rt.stop();
  });

  const taskDirs = (taskId: string) =>
    placement === null
      ? []
      : listTaskParents(placement).map((p) => path.join(p, nameTaskCgroup(taskId)));

  it('a memory hog is OOM-killed and reported as memory_limit_exceeded', async (t) => {
    const isAvailable =
      manifest.resources.memory_limit &&
      manifest.resources.oom_detection &&
      manifest.sandbox.linux_sandbox;
    if (skipUnavailable(t, manifest, 'cgroup memory limit with OOM detection', isAvailable)) return;
    const limit = 64 * MIB;
    // tail keeps the whole "line" of /dev/zero in memory: it grows until the limit.
    const status = await rt.api.run(
      sandboxed('tail /dev/zero', { limits: { memory_bytes: limit, wall_time_ms: 60_000 } }),
    );
    assert.equal(status.status, 'failed', describeStatus(status));
    assert.equal(status.error?.code, 'memory_limit_exceeded', describeStatus(status));
    assert.equal(status.execution_plan?.resource_enforcement.oom_detection, true);
    const peak = status.usage?.memory_peak_bytes ?? 0;
    assert.ok(peak > limit / 2 && peak <= limit + MIB, `memory peak ${peak}`);
    for (const dir of taskDirs(status.task_id))
      assert.equal(fs.existsSync(dir), false, `${dir} removed`);
  });

  it('a fork bomb is capped by pids_max, the runtime stays responsive, wall time ends it', async (t) => {
    const isAvailable = manifest.resources.pids_limit && manifest.sandbox.linux_sandbox;
    if (skipUnavailable(t, manifest, 'cgroup pids limit', isAvailable)) return;
    const pidsMax = 24;
    const id = await rt.api.submit(
      sandboxed(
        // The bomb churns (dash exits on a failed fork); the main process idles without forking.
        'echo ready; (b() { b | b & }; b) 2>/dev/null & exec tail -f /dev/null',
        {
          limits: { pids_max: pidsMax, wall_time_ms: 2500 },
        },
      ),
    );
    await rt.api.waitFor(id, (s) => s.stdout.includes('ready'));
    const pidsDir = taskDirs(id).find((dir) => fs.existsSync(path.join(dir, 'pids.current')));
    assert.ok(pidsDir !== undefined, 'the task has a pids cgroup');
    await eventually(
      () =>
        Number(
          fs.readFileSync(path.join(pidsDir, 'pids.events'), 'utf8').match(/max (\d+)/)?.[1] ?? 0,
        ) > 0,
      10_000,
      'the pids limit to be hit',
    );
    // The sandbox's own three processes (bwrap, its pid 1, the init) come on top.
    assert.ok(Number(fs.readFileSync(path.join(pidsDir, 'pids.current'), 'utf8')) <= pidsMax + 3);
    const health = await rt.api.request('GET', '/healthz');
    assert.equal(health.status, 200);
    const status = await rt.api.waitTerminal(id, 30_000);
    assert.equal(status.error?.code, 'timeout', describeStatus(status));
    assert.equal(status.execution_plan?.resource_enforcement.pids_enforced, true);
    for (const dir of taskDirs(id)) assert.equal(fs.existsSync(dir), false, `${dir} removed`);
  });

  it('pids_max counts the program: 1 runs a program that does not fork, 2 lets it fork once', async (t) => {
    const isAvailable = manifest.resources.pids_limit && manifest.sandbox.linux_sandbox;
    if (skipUnavailable(t, manifest, 'cgroup pids limit', isAvailable)) return;
    const one = await rt.api.run({
      execution: { kind: 'command', program: '/bin/echo', args: ['ran'] },
      sandbox: { profile: 'linux_sandbox' },
      limits: { pids_max: 1 },
    });
    assert.equal(one.status, 'success', describeStatus(one));
    assert.equal(one.stdout, 'ran\n');
    const forks = await rt.api.run(
      sandboxed('/bin/true && echo once; /bin/true & /bin/true; wait', { limits: { pids_max: 2 } }),
    );
    assert.match(forks.stdout, /^once\n/, describeStatus(forks));
  });

  for (const profile of ['process', 'linux_sandbox'] as const) {
    it(`a setsid escapee is killed on cancel (${profile})`, async (t) => {
      if (skipUnavailable(t, manifest, 'cgroups', manifest.resources.cgroup_writable)) return;
      if (
        profile === 'linux_sandbox' &&
        skipUnavailable(t, manifest, 'linux_sandbox', manifest.sandbox.linux_sandbox)
      )
        return;
      const id = await rt.api.submit(
        // Sent as script text: the sandbox hides the checkout (it may live under /tmp).
        {
          execution: {
            kind: 'script',
            script: fs.readFileSync(path.join(FIXTURES, 'spawn-grandchild.sh'), 'utf8'),
          },
          sandbox: { profile },
        },
      );
      const running = await rt.api.waitFor(id, (s) => s.stdout.includes('ready'));
      const grandchild = Number(/grandchild (\d+)/.exec(running.stdout)?.[1]);
      const procsFiles = taskDirs(id)
        .map((dir) => path.join(dir, 'cgroup.procs'))
        .filter((file) => fs.existsSync(file)); // a tracking-only task joins fewer hierarchies
      assert.ok(procsFiles.length > 0, 'the task has a cgroup');
      const held = procsFiles
        .flatMap((file) => fs.readFileSync(file, 'utf8').trim().split('\n'))
        .filter(Boolean);
      assert.ok(held.length >= 3, `the cgroup holds the whole tree: ${held.join(',')}`);
      await rt.api.request('POST', `/api/v1/tasks/${id}/kill`);
      const status = await rt.api.waitTerminal(id);
      assert.equal(status.status, 'cancelled');
      if (profile === 'process') assert.equal(isProcessAlive(grandchild), false, 'grandchild gone');
      for (const file of procsFiles) assert.equal(fs.existsSync(file), false, `${file} removed`);
    });
  }

  for (const profile of ['process', 'linux_sandbox'] as const)
    it(`cpu_time_sec ends a busy loop with cpu_limit_exceeded and SIGXCPU (${profile})`, async (t) => {
      if (skipUnavailable(t, manifest, 'RLIMIT_CPU', manifest.resources.rlimit_cpu)) return;
      if (
        profile === 'linux_sandbox' &&
        skipUnavailable(t, manifest, 'linux_sandbox', manifest.sandbox.linux_sandbox)
      )
        return;
      const task = shell('while :; do :; done', {
        limits: { cpu_time_sec: 1 },
        sandbox: { profile },
      });
      const status = await rt.api.run(task);
      assert.equal(status.error?.code, 'cpu_limit_exceeded', describeStatus(status));
      // Through bubblewrap too: the sandbox init reports the real signal, not bwrap's 128+24.
      assert.equal(status.exit_signal, 24, describeStatus(status));
      assert.equal(status.exit_code, undefined);
      assert.ok(status.usage?.user_cpu_ms !== undefined);
    });

  it('linux_sandbox: a signal death is reported as exit_signal, a plain exit 139 as exit_code', async (t) => {
    if (skipUnavailable(t, manifest, 'linux_sandbox', manifest.sandbox.linux_sandbox)) return;
    const killed = await rt.api.run(sandboxed('kill -SEGV $$'));
    assert.equal(killed.exit_signal, 11, describeStatus(killed));
    assert.equal(killed.exit_code, undefined);
    const exited = await rt.api.run(sandboxed('exit 139'));
    assert.equal(exited.exit_code, 139, describeStatus(exited));
    assert.equal(exited.exit_signal, undefined);
  });

  it('linux_sandbox: SIGTERM on cancel reaches the program inside (graceful stop)', async (t) => {
    if (skipUnavailable(t, manifest, 'linux_sandbox', manifest.sandbox.linux_sandbox)) return;
    // `sleep & wait`, not a foreground `sleep 1`: a shell runs its trap only when its foreground
    // child ends, and a child forked at the very instant of the signal may not get it (a
    // cgroup's members are signalled one by one, not atomically; see the shim's term_cgroups).
    // The grace (500 ms) would then run out first. `wait` returns at once on a trapped signal.
    const id = await rt.api.submit(
      sandboxed(
        "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 1 & wait $!; done",
      ),
    );
    await rt.api.waitFor(id, (s) => s.stdout.includes('ready'));
    await rt.api.request('POST', `/api/v1/tasks/${id}/kill`);
    const status = await rt.api.waitTerminal(id);
    assert.equal(status.status, 'cancelled');
    assert.match(status.stdout, /got-term/);
    assert.equal(status.exit_code, 3, describeStatus(status));
  });

  const busyScript = 'head -c 20000000 /dev/zero | od >/dev/null; echo done';

  it('a process-profile task is tracked in one cgroup and its usage carries the tree CPU time', async (t) => {
    if (
      skipUnavailable(t, manifest, 'cgroups', manifest.resources.cgroup_writable) ||
      placement === null
    )
      return;
    const id = await rt.api.submit(
      shell(`${busyScript}; cat /proc/self/cgroup; echo listed; sleep 30`),
    );
    const running = await rt.api.waitFor(id, (s) => s.stdout.includes('listed'));
    const cgroupLines = running.stdout.split('\n').filter((line) => /^\d+:/.test(line));
    const name = nameTaskCgroup(id);
    // Tracking needs one hierarchy: the unified one when the host has it (no limits to apply).
    const joined = cgroupLines.filter((line) => line.endsWith(`/${name}`));
    if (placement.unifiedParent === undefined) assert.ok(joined.length > 0, running.stdout);
    else assert.deepEqual(joined, [`0::${joined[0]?.slice(3) ?? ''}`], running.stdout);
    await rt.api.request('POST', `/api/v1/tasks/${id}/kill`);
    const status = await rt.api.waitTerminal(id);
    assert.equal(status.status, 'cancelled', describeStatus(status));
    // The program (bash) waited for `od`: the tree's CPU time counts the children too.
    assert.ok((status.usage?.user_cpu_ms ?? -1) >= 0, JSON.stringify(status.usage));
    assert.ok((status.usage?.max_rss_bytes ?? 0) > 0, JSON.stringify(status.usage));
  });

  it('a linux_sandbox task reports the cgroup memory peak', async (t) => {
    const isAvailable = manifest.resources.cgroup_writable && manifest.sandbox.linux_sandbox;
    if (skipUnavailable(t, manifest, 'linux_sandbox with cgroups', isAvailable)) return;
    const status = await rt.api.run(sandboxed(busyScript));
    assert.equal(status.status, 'success', describeStatus(status));
    assert.ok(status.usage?.user_cpu_ms !== undefined);
    assert.ok((status.usage?.memory_peak_bytes ?? 0) > 0, JSON.stringify(status.usage));
  });

  it('start-up cleanup removes cgroups of tasks that are not running, keeps running ones', (t) => {
    if (
      skipUnavailable(t, manifest, 'cgroups', manifest.resources.cgroup_writable) ||
      placement === null
    )
      return;
    const parents = listTaskParents(placement);
    for (const parent of parents)
      for (const name of ['stale-one', 'live-one'])
        fs.mkdirSync(path.join(parent, nameTaskCgroup(name)), { recursive: true });
    const removed = removeStaleTaskCgroups(placement, (taskId) => taskId === 'live-one');
    assert.ok(removed >= parents.length);
    for (const parent of parents) {
      assert.equal(fs.existsSync(path.join(parent, nameTaskCgroup('stale-one'))), false);
      assert.equal(fs.existsSync(path.join(parent, nameTaskCgroup('live-one'))), true);
    }
    assert.equal(
      removeStaleTaskCgroups(placement, () => false),
      parents.length,
    );
    for (const parent of parents)
      assert.equal(fs.existsSync(parent), false, 'empty parents go too');
  });
});
