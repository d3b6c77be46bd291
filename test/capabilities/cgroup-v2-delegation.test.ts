import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveCgroupHierarchies } from '../../src/capabilities/parse-cgroup-layout.js';
import type { CapabilityManifest } from '../../src/contract/runtime.js';
import { killCgroup, listCgroupPids, readCgroupFile } from '../../src/sandbox/cgroup-files.js';
import {
  eventually,
  inCgroup,
  startServerProcess,
  stopServerProcesses,
  type ServerProcess,
} from '../support/runtime-harness.js';
import { describeStatus, sandboxed } from '../sandbox/sandbox-test-support.js';

const MIB = 1024 * 1024;

/**
 * Why these tests cannot run here, or undefined when they can: they need a pure cgroup v2
 * host (the layout most deployments have), where a cgroup hands controllers to its children
 * only while it holds no processes. `test/vm/run-cgroup-v2-suite.sh` runs them in a VM.
 */
function unavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root to create cgroups';
  const layout = resolveCgroupHierarchies(
    fs.readFileSync('/proc/self/mountinfo', 'utf8'),
    fs.readFileSync('/proc/self/cgroup', 'utf8'),
  );
  if (layout.layout !== 'v2' || layout.unifiedMount === undefined)
    return `needs a pure cgroup v2 host (this one is ${layout.layout}); test/vm/run-cgroup-v2-suite.sh runs it in a VM`;
  const controllers = readCgroupFile(layout.unifiedMount, 'cgroup.controllers') ?? '';
  if (!/\bmemory\b/.test(controllers) || !/\bpids\b/.test(controllers))
    return `the cgroup v2 root offers no memory/pids controllers (${controllers.trim()})`;
  return undefined;
}

/** Removes a cgroup subtree bottom-up after killing what is in it. */
function removeTree(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }))
    if (entry.isDirectory()) removeTree(path.join(dir, entry.name));
  killCgroup(dir);
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

async function manifestOf(server: ServerProcess): Promise<CapabilityManifest> {
  return (await server.api.request<CapabilityManifest>('GET', '/api/v1/runtime/capabilities')).body;
}

/** The cgroup v2 path of a process, relative to the mount. */
function cgroupOf(pid: number): string {
  const line = fs
    .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('0::'));
  return line?.slice(3) ?? '';
}

const reason = unavailableReason();

/**
 * A server started where a service manager puts it: in a non-root cgroup of its own. cgroup
 * v2's no-internal-processes rule then keeps that cgroup from passing memory/pids to task
 * cgroups unless the server first moves itself into a leaf (systemd's delegation rules).
 */
describe('cgroup v2: a server in a delegated cgroup', { skip: reason }, () => {
  let mount = '';
  let testRoot = '';
  const servers: ServerProcess[] = [];
  const helpers: ChildProcess[] = [];

  before(() => {
    mount =
      resolveCgroupHierarchies(
        fs.readFileSync('/proc/self/mountinfo', 'utf8'),
        fs.readFileSync('/proc/self/cgroup', 'utf8'),
      ).unifiedMount ?? '';
    for (const controller of ['memory', 'pids', 'cpu'])
      fs.writeFileSync(path.join(mount, 'cgroup.subtree_control'), `+${controller}`);
    testRoot = path.join(mount, `execgo-v2-test-${process.pid}.slice`);
    fs.mkdirSync(testRoot);
    for (const controller of ['memory', 'pids', 'cpu'])
      fs.writeFileSync(path.join(testRoot, 'cgroup.subtree_control'), `+${controller}`);
  });
  after(async () => {
    await stopServerProcesses(servers);
    for (const helper of helpers) helper.kill('SIGKILL');
    removeTree(testRoot);
  });

  /** Starts `execgo-runtime serve` with its process placed in `cgroup` from its first instruction. */
  async function serveIn(cgroup: string, args: string[] = [], dataDir?: string) {
    const server = await startServerProcess(args, {
      ...(dataDir === undefined ? {} : { dataDir }),
      launcher: inCgroup(cgroup),
    });
    servers.push(server);
    return server;
  }

  it('alone in its cgroup, the server moves itself into a leaf and its tasks get memory limits', async () => {
    const service = path.join(testRoot, 'alone.service');
    fs.mkdirSync(service);
    const server = await serveIn(service);
    const manifest = await manifestOf(server);
    assert.equal(manifest.resources.memory_limit, true, JSON.stringify(manifest.warnings));
    assert.equal(manifest.resources.pids_limit, true);
    assert.equal(manifest.resources.oom_detection, true);
    const host = manifest.host as { server_cgroup?: string; cgroup_layout?: string };
    assert.equal(host.cgroup_layout, 'v2');
    assert.ok(host.server_cgroup?.startsWith(`${service}/execgo-runtime/`), host.server_cgroup);
    assert.deepEqual(listCgroupPids(service), [], 'the service cgroup is an inner node now');
    assert.equal(path.join(mount, cgroupOf(server.child.pid ?? 0)), host.server_cgroup);
    assert.match(readCgroupFile(service, 'cgroup.subtree_control') ?? '', /memory/);

    const status = await server.api.run(
      sandboxed('tail /dev/zero', { limits: { memory_bytes: 64 * MIB, wall_time_ms: 60_000 } }),
    );
    assert.equal(status.error?.code, 'memory_limit_exceeded', describeStatus(status));

    // A running task lives in its own cgroup under the service, beside the server's leaf.
    const taskId = await server.api.submit(sandboxed('sleep 30', { namespaces: { pid: false } }));
    const running = await server.api.waitFor(taskId, (s) => s.pid !== undefined);
    const taskCgroup = cgroupOf(running.pid ?? 0);
    assert.ok(
      path.join(mount, taskCgroup).startsWith(`${service}/execgo-runtime/rt-`),
      `task cgroup ${taskCgroup}`,
    );
    assert.equal(fs.readFileSync(path.join(mount, taskCgroup, 'memory.max'), 'utf8').trim(), 'max');
    await server.api.request('POST', `/api/v1/tasks/${taskId}/kill`, { body: {} });
    await server.api.waitTerminal(taskId);
  });

  it('sharing its cgroup with another process, the server moves nothing and says why', async () => {
    const shared = path.join(testRoot, 'shared.scope');
    fs.mkdirSync(shared);
    const neighbour = spawn('/bin/sh', ['-c', `echo $$ > ${shared}/cgroup.procs; exec sleep 600`], {
      stdio: 'ignore',
    });
    helpers.push(neighbour);
    await eventually(() => listCgroupPids(shared).length === 1);
    const server = await serveIn(shared);
    const manifest = await manifestOf(server);
    assert.equal(manifest.resources.memory_limit, false);
    assert.equal(manifest.resources.pids_limit, false);
    assert.equal(manifest.degraded, true);
    assert.ok(
      manifest.warnings.some((w) => w.includes('holds other processes besides this server')),
      JSON.stringify(manifest.warnings),
    );
    assert.equal(path.join(mount, cgroupOf(server.child.pid ?? 0)), shared, 'the server stayed');
    // Strict mode refuses what only a cgroup could enforce (memory has RLIMIT_AS to fall back on).
    const strict = await server.api.request<{ error: { code: string } }>('POST', '/api/v1/tasks', {
      body: sandboxed('true', { limits: { pids_max: 8 } }),
    });
    assert.equal(strict.status, 400, JSON.stringify(strict.body));
    assert.equal(strict.body.error.code, 'unsupported_capability');
  });

  it('with systemd DelegateSubgroup= and --cgroup-root, a restarted server re-attaches a running task', async () => {
    const service = path.join(testRoot, 'subgroup.service');
    const supervisor = path.join(service, 'supervisor');
    fs.mkdirSync(supervisor, { recursive: true });
    const first = await serveIn(supervisor, ['--cgroup-root', service]);
    const manifest = await manifestOf(first);
    assert.equal(manifest.resources.memory_limit, true, JSON.stringify(manifest.warnings));
    assert.equal((manifest.host as { server_cgroup?: string }).server_cgroup, undefined);
    const taskId = await first.api.submit(
      sandboxed('sleep 2; exit 7', { limits: { memory_bytes: 64 * MIB } }),
    );
    await first.api.waitFor(taskId, (s) => s.status === 'running');
    first.child.kill('SIGKILL');
    await first.exited;

    // The service manager starts the next server in the same leaf: it must still be one.
    const second = await serveIn(supervisor, ['--cgroup-root', service], first.dataDir);
    const status = await second.api.waitTerminal(taskId);
    assert.equal(status.exit_code, 7, describeStatus(status));
    const hog = await second.api.run(
      sandboxed('tail /dev/zero', { limits: { memory_bytes: 64 * MIB, wall_time_ms: 60_000 } }),
    );
    assert.equal(hog.error?.code, 'memory_limit_exceeded', describeStatus(hog));
  });
});
