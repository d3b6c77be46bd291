import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SANDBOX_IDENTITY_COUNT } from '../../src/sandbox/sandbox-identities.js';
import type { CapabilityManifest } from '../../src/contract/runtime.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime-harness.js';
import { BREACH, describeStatus, fetchManifest, skipUnavailable } from './sandbox-test-support.js';

/** Copies a binary and the shared libraries ldd lists into `root`, at the same paths. */
function copyWithLibraries(root: string, binary: string, as: string[]): void {
  const copy = (source: string, target: string) => {
    fs.mkdirSync(path.join(root, path.dirname(target)), { recursive: true });
    fs.copyFileSync(source, path.join(root, target));
    fs.chmodSync(path.join(root, target), 0o755);
  };
  for (const target of as) copy(fs.realpathSync(binary), target);
  const ldd = execFileSync('ldd', [binary], { encoding: 'utf8' });
  for (const match of ldd.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) {
    const lib = match[1];
    if (lib !== undefined) copy(lib, lib);
  }
}

/**
 * A minimal rootfs: dash, env, cat and ls from the host, plus the mount points. Its setpriv is
 * a fake that would leave a mark and skip the identity drop: a rootfs is not trusted code,
 * and no binary of it may run with the capabilities bwrap keeps for the drop.
 */
function buildRootfs(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'execgo-rootfs-'));
  fs.chmodSync(root, 0o755);
  for (const dir of ['proc', 'dev', 'tmp', 'workspace']) fs.mkdirSync(path.join(root, dir));
  copyWithLibraries(root, '/bin/sh', ['/bin/sh']);
  copyWithLibraries(root, '/usr/bin/env', ['/usr/bin/env']);
  copyWithLibraries(root, '/bin/cat', ['/bin/cat']);
  copyWithLibraries(root, '/bin/ls', ['/bin/ls']);
  const fake = path.join(root, 'usr/bin/setpriv');
  fs.writeFileSync(fake, '#!/bin/sh\necho rootfs-setpriv-ran\nexit 0\n', { mode: 0o755 });
  return root;
}

function chrootTask(rootfs: string, script: string): Record<string, unknown> {
  return {
    execution: { kind: 'script', script, env: { PATH: '/bin:/usr/bin' } },
    sandbox: { profile: 'linux_sandbox', chroot: true, rootfs },
    policy: { capability_mode: 'strict' },
  };
}

describe('linux_sandbox chroot and setup failures', () => {
  let rt: TestRuntime;
  let manifest: CapabilityManifest;
  let rootfs: string | undefined;
  before(async () => {
    rt = await startTestRuntime();
    manifest = await fetchManifest(rt);
    if (manifest.sandbox.chroot) rootfs = buildRootfs();
  });
  after(async () => {
    await rt.stop();
    if (rootfs !== undefined) fs.rmSync(rootfs, { recursive: true, force: true });
  });

  it('runs inside the rootfs, as the sandbox uid, with the workspace at /workspace', async (t) => {
    if (skipUnavailable(t, manifest, 'chroot', manifest.sandbox.chroot) || rootfs === undefined)
      return;
    const status = await rt.api.run(
      chrootTask(
        rootfs,
        [
          `[ -e /etc/shadow ] && exit ${BREACH}`,
          `[ -e ${process.execPath} ] && exit ${BREACH}`,
          'pwd',
          'while read -r key value _; do',
          '  case "$key" in Uid:|CapEff:|CapPrm:|CapBnd:|CapInh:) echo "$key $value";; esac',
          'done < /proc/self/status',
          'echo from-chroot > out.txt',
        ].join('\n'),
      ),
    );
    assert.equal(status.status, 'success', describeStatus(status));
    const [cwd, uid, ...caps] = status.stdout.trim().split('\n');
    assert.equal(cwd, '/workspace');
    // The task's own uid from the runtime's range (sandbox-identities.ts), never root.
    const base = rt.runtime.config.sandboxUidBase;
    const taskUid = Number(/^Uid: (\d+)$/.exec(uid ?? '')?.[1]);
    assert.ok(taskUid >= base && taskUid < base + SANDBOX_IDENTITY_COUNT, uid);
    assert.deepEqual(caps, [
      'CapInh: 0000000000000000',
      'CapPrm: 0000000000000000',
      'CapEff: 0000000000000000',
      'CapBnd: 0000000000000000',
    ]);
    const written = path.join(status.artifacts.task_dir, 'workspace', 'out.txt');
    assert.equal(fs.readFileSync(written, 'utf8'), 'from-chroot\n');
  });

  it('a data dir inside the rootfs is covered by an empty tmpfs, and closed on the host', async (t) => {
    if (skipUnavailable(t, manifest, 'chroot', manifest.sandbox.chroot) || rootfs === undefined)
      return;
    const dataDir = path.join(rootfs, 'var/lib/execgo');
    const inside = await startTestRuntime({ dataDir });
    try {
      await inside.api.run({ task_id: 'other', ...chrootTask(rootfs, 'echo secret > s.txt') });
      const status = await inside.api.run(
        chrootTask(
          rootfs,
          'ls -A /var/lib/execgo; cat /var/lib/execgo/runtime.db && exit 99; exit 0',
        ),
      );
      assert.equal(status.status, 'success', describeStatus(status));
      assert.equal(status.stdout, '');
    } finally {
      await inside.stop();
    }
    // What a rootfs could still reach by other paths (a hard link, a bind mount) is closed by
    // the modes: task files and the database are the runtime user's alone.
    assert.equal(fs.statSync(path.join(dataDir, 'tasks')).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(dataDir, 'runtime.db')).mode & 0o777, 0o600);
  });

  it('a signal death inside the chroot is exit_signal, a plain exit 137 exit_code', async (t) => {
    if (skipUnavailable(t, manifest, 'chroot', manifest.sandbox.chroot) || rootfs === undefined)
      return;
    // The rootfs has no libc of the host's shim: the static sandbox init reports the status.
    const killed = await rt.api.run(chrootTask(rootfs, 'kill -KILL $$'));
    assert.equal(killed.exit_signal, 9, describeStatus(killed));
    assert.equal(killed.exit_code, undefined);
    const exited = await rt.api.run(chrootTask(rootfs, 'exit 137'));
    assert.equal(exited.exit_code, 137, describeStatus(exited));
    assert.equal(exited.exit_signal, undefined);
  });

  it('a script file with an interpreter is mounted read-only under /tmp/.execgo-task', async (t) => {
    if (skipUnavailable(t, manifest, 'chroot', manifest.sandbox.chroot) || rootfs === undefined)
      return;
    const script = `echo "$0"; echo x >> "$0" 2>/dev/null && exit ${BREACH}; exit 0`;
    const task = chrootTask(rootfs, script);
    const status = await rt.api.run({
      ...task,
      execution: {
        kind: 'script',
        script,
        interpreter: ['/bin/sh'],
      },
    });
    assert.equal(status.status, 'success', describeStatus(status));
    assert.equal(status.stdout.trim(), '/tmp/.execgo-task/script.sh');
  });

  it('a rootfs without the mount points fails sandbox_setup_failed, never runs unisolated', async (t) => {
    if (skipUnavailable(t, manifest, 'chroot', manifest.sandbox.chroot)) return;
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'execgo-empty-rootfs-'));
    try {
      const status = await rt.api.run(chrootTask(empty, 'echo should-not-run'));
      assert.equal(status.status, 'failed');
      assert.equal(status.error?.code, 'sandbox_setup_failed', describeStatus(status));
      assert.equal(status.stdout, '');
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('a rootfs others could change, or with a symlinked mount point, is refused', async (t) => {
    if (skipUnavailable(t, manifest, 'chroot', manifest.sandbox.chroot)) return;
    const make = (name: string) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `execgo-${name}-`));
      fs.chmodSync(dir, 0o755);
      for (const point of ['proc', 'dev', 'tmp', 'workspace']) fs.mkdirSync(path.join(dir, point));
      return dir;
    };
    // A task could build such a rootfs in its workspace (owned by its uid) and re-point its
    // /tmp, where the static init is mounted, to a binary of its own.
    const foreign = make('foreign-rootfs');
    fs.chownSync(foreign, 65534, 65534);
    const symlinked = make('symlinked-rootfs');
    fs.rmdirSync(path.join(symlinked, 'tmp'));
    fs.symlinkSync('../elsewhere', path.join(symlinked, 'tmp'));
    // Sticky is fine above a rootfs (/tmp), not on it: others could add and swap entries.
    const sticky = make('sticky-rootfs');
    fs.chmodSync(sticky, 0o1777);
    try {
      for (const [rootfs, message] of [
        [foreign, /must be owned by root and writable by root only/],
        [symlinked, /lacks the mount points \/tmp \(directories, not symlinks\)/],
        [sticky, /must be owned by root and writable by root only/],
      ] as const) {
        const status = await rt.api.run(chrootTask(rootfs, 'echo should-not-run'));
        assert.equal(status.error?.code, 'sandbox_setup_failed', describeStatus(status));
        assert.match(status.error?.message ?? '', message);
        assert.equal(status.stdout, '');
      }
    } finally {
      for (const dir of [foreign, symlinked, sticky])
        fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a program missing in the sandbox fails launch_failed', async (t) => {
    if (skipUnavailable(t, manifest, 'linux_sandbox', manifest.sandbox.linux_sandbox)) return;
    const status = await rt.api.run({
      execution: { kind: 'command', program: 'no-such-program-execgo' },
      sandbox: { profile: 'linux_sandbox' },
    });
    assert.equal(status.error?.code, 'launch_failed', describeStatus(status));
  });
});
