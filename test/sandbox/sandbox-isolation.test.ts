import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CapabilityManifest } from '../../src/contract/runtime.js';
import { shell, startTestRuntime, type TestRuntime } from '../support/runtime-harness.js';
import {
  BREACH,
  describeStatus,
  fetchManifest,
  sandboxed,
  skipUnavailable,
} from './sandbox-test-support.js';

/**
 * Isolation of linux_sandbox, checked from inside real tasks. Escape attempts follow the
 * "forbidden action && exit 77" pattern: exit 77 means the action worked (a breach).
 */
describe('linux_sandbox isolation on this host', () => {
  let rt: TestRuntime;
  let manifest: CapabilityManifest;
  let hasSandbox = false;
  before(async () => {
    rt = await startTestRuntime({ maxRunningTasks: 4 });
    manifest = await fetchManifest(rt);
    hasSandbox = manifest.sandbox.linux_sandbox;
  });
  after(async () => {
    await rt.stop();
  });

  /** Runs a sandboxed escape attempt and asserts it was refused. */
  async function assertNoBreach(script: string, namespaces?: Record<string, boolean>) {
    const status = await rt.api.run(
      sandboxed(script, namespaces === undefined ? {} : { namespaces }),
    );
    assert.notEqual(status.exit_code, BREACH, `breach: ${describeStatus(status)}`);
    assert.equal(status.status, 'success', describeStatus(status));
    return status;
  }

  it('runs as an unprivileged uid with no capabilities and no_new_privs', async (t) => {
    if (skipUnavailable(t, manifest, 'linux_sandbox', hasSandbox)) return;
    const status = await assertNoBreach(
      'id -u; grep -E "^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs):" /proc/self/status',
    );
    const lines = status.stdout.trim().split('\n');
    assert.equal(lines[0], '65534');
    for (const cap of ['CapEff', 'CapPrm', 'CapBnd', 'CapAmb'])
      assert.ok(status.stdout.includes(`${cap}:\t0000000000000000`), status.stdout);
    assert.ok(status.stdout.includes('NoNewPrivs:\t1'), status.stdout);
  });

  it('pid namespace: the task is a low pid with its own /proc', async (t) => {
    if (skipUnavailable(t, manifest, 'pid namespace', manifest.sandbox.namespaces.pid)) return;
    const status = await assertNoBreach(
      `echo $$; ls /proc | grep -c '^[0-9]'; test -d /proc/${process.pid} && exit ${BREACH}; exit 0`,
    );
    const [pid = '', count = ''] = status.stdout.trim().split('\n');
    assert.ok(Number(pid) < 10, `pid inside: ${pid}`);
    assert.ok(Number(count) < 10, `processes visible: ${count}`);
  });

  it('uts namespace: own hostname, and the host hostname is untouched', async (t) => {
    if (skipUnavailable(t, manifest, 'uts namespace', manifest.sandbox.namespaces.uts)) return;
    const before = os.hostname();
    const status = await assertNoBreach('hostname; hostname evil-host 2>/dev/null; exit 0');
    assert.equal(status.stdout.trim(), 'execgo-sandbox');
    assert.notEqual(before, 'execgo-sandbox');
    assert.equal(os.hostname(), before);
  });

  it('ipc namespace: a host SysV segment is invisible (and visible from the process profile)', async (t) => {
    if (skipUnavailable(t, manifest, 'ipc namespace', manifest.sandbox.namespaces.ipc)) return;
    const made = spawnSync('ipcmk', ['-M', '4096'], { encoding: 'utf8' });
    const id = /(\d+)\s*$/.exec(made.stdout.trim())?.[1];
    if (made.status !== 0 || id === undefined) {
      t.skip(`ipcmk could not create a segment: ${made.stderr}`);
      return;
    }
    try {
      const probe = `ipcs -m | awk '{print $2}' | grep -qx ${id} && exit ${BREACH}; exit 0`;
      await assertNoBreach(probe);
      const control = await rt.api.run(shell(probe));
      assert.equal(control.exit_code, BREACH, 'the probe must see the segment without a namespace');
    } finally {
      spawnSync('ipcrm', ['-m', id]);
    }
  });

  it('net namespace: only loopback, and the host loopback listener is unreachable', async (t) => {
    if (skipUnavailable(t, manifest, 'net namespace', manifest.sandbox.namespaces.net)) return;
    const server = net.createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      const connect = `require('net').connect(${port},'127.0.0.1').on('connect',()=>process.exit(${BREACH})).on('error',()=>process.exit(0))`;
      const probe = `grep -c : /proc/net/dev; ${process.execPath} -e "${connect}"`;
      const status = await assertNoBreach(probe);
      assert.equal(status.stdout.trim(), '1', 'only lo is present');
      const control = await rt.api.run(
        sandboxed(probe, {
          namespaces: { mount: true, pid: true, uts: true, ipc: true, net: false },
        }),
      );
      assert.equal(control.exit_code, BREACH, 'without net the listener is reachable');
    } finally {
      server.close();
    }
  });

  it('mount namespace: the root is read-only, the data dir and other tasks are hidden', async (t) => {
    if (skipUnavailable(t, manifest, 'mount namespace', manifest.sandbox.namespaces.mount)) return;
    const other = await rt.api.run(shell('echo other'));
    const marker = path.join(os.tmpdir(), `execgo-breach-${process.pid}`);
    const db = path.join(rt.dataDir, 'runtime.db');
    const status = await assertNoBreach(
      [
        `cat ${db} >/dev/null 2>&1 && exit ${BREACH}`,
        `test -e ${path.join(rt.dataDir, 'tasks', other.task_id)} && exit ${BREACH}`,
        `ls ${path.join(rt.dataDir, 'tasks')} | grep -qv . && exit ${BREACH}`,
        `touch /usr/execgo-breach 2>/dev/null && exit ${BREACH}`,
        `touch /etc/execgo-breach 2>/dev/null && exit ${BREACH}`,
        `echo x > ${marker}`,
        'touch ./inside && pwd',
      ].join('; '),
    );
    assert.equal(fs.existsSync(marker), false, '/tmp inside is private');
    assert.equal(
      fs.existsSync(path.join(status.stdout.trim(), 'inside')),
      true,
      'the workspace is writable',
    );
  });

  it('escape: /etc/shadow is unreadable', async (t) => {
    if (skipUnavailable(t, manifest, 'linux_sandbox', hasSandbox)) return;
    await assertNoBreach(`cat /etc/shadow >/dev/null 2>&1 && exit ${BREACH}; exit 0`);
  });

  it('escape: remounting / read-write or unmounting the data dir cover fails', async (t) => {
    if (skipUnavailable(t, manifest, 'linux_sandbox', hasSandbox)) return;
    await assertNoBreach(
      `mount -o remount,rw / 2>/dev/null && exit ${BREACH}; umount ${rt.dataDir} 2>/dev/null && exit ${BREACH}; ` +
        `unshare -rm sh -c 'mount -o remount,rw / && touch /usr/execgo-breach' 2>/dev/null && exit ${BREACH}; exit 0`,
    );
  });

  it('escape: the task cannot leave its cgroup', async (t) => {
    if (skipUnavailable(t, manifest, 'cgroups', manifest.resources.cgroup_writable)) return;
    const status = await assertNoBreach(
      `for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/*/cgroup.procs; do ` +
        `[ -e "$f" ] && echo $$ 2>/dev/null > "$f" && exit ${BREACH}; done; cat /proc/self/cgroup`,
    );
    assert.match(status.stdout, new RegExp(`task-${status.task_id}`));
  });

  it('escape: runtime processes can be neither signalled nor traced, even with a shared pid namespace', async (t) => {
    if (skipUnavailable(t, manifest, 'linux_sandbox', hasSandbox)) return;
    const pid = process.pid;
    const probe = `kill -0 ${pid} 2>/dev/null && exit ${BREACH}; cat /proc/${pid}/environ >/dev/null 2>&1 && exit ${BREACH}; exit 0`;
    await assertNoBreach(probe);
    await assertNoBreach(probe, { mount: true, pid: false, uts: true, ipc: true, net: true });
  });

  it('escape: a setuid-root copy of a shell or of cat gains nothing', async (t) => {
    if (skipUnavailable(t, manifest, 'linux_sandbox', hasSandbox)) return;
    const dir = fs.mkdtempSync('/var/lib/execgo-suid-');
    try {
      fs.chmodSync(dir, 0o755);
      for (const [name, source] of [
        ['sh', '/bin/sh'],
        ['cat', '/bin/cat'],
      ] as const) {
        fs.copyFileSync(source, path.join(dir, name));
        fs.chmodSync(path.join(dir, name), 0o4755);
      }
      await assertNoBreach(
        `${dir}/cat /etc/shadow >/dev/null 2>&1 && exit ${BREACH}; ` +
          `${dir}/sh -p -c 'cat /etc/shadow' >/dev/null 2>&1 && exit ${BREACH}; ` +
          `[ "$(${dir}/sh -p -c 'id -u')" = 0 ] && exit ${BREACH}; exit 0`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("escape: another task's processes are invisible (and visible from the process profile)", async (t) => {
    if (skipUnavailable(t, manifest, 'pid namespace', manifest.sandbox.namespaces.pid)) return;
    const token = `marker${process.pid}x${Date.now()}`;
    const sleeper = await rt.api.submit(sandboxed(`echo ready; exec sh -c 'sleep 600' ${token}`));
    await rt.api.waitFor(sleeper, (s) => s.stdout.includes('ready'));
    // Built from two halves and matched with the shell's own `case`, so no process of the
    // probe (not even a grep) ever carries the whole token in its command line.
    const half = Math.floor(token.length / 2);
    const probe = `a=${token.slice(0, half)}; b=${token.slice(half)}; all=$(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '); case "$all" in *"$a$b"*) exit ${BREACH};; esac; exit 0`;
    try {
      await assertNoBreach(probe);
      const control = await rt.api.run(shell(probe));
      assert.equal(
        control.exit_code,
        BREACH,
        'the probe must find the other task without a pid namespace',
      );
    } finally {
      await rt.api.request('POST', `/api/v1/tasks/${sleeper}/kill`);
      await rt.api.waitTerminal(sleeper);
    }
  });
});
