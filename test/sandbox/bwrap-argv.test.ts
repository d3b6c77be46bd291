import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SandboxDescription } from '../../src/contract/task-status.js';
import {
  buildBwrapInvocation,
  listDirsBetween,
  listTaskFiles,
  type BwrapInput,
} from '../../src/sandbox/bwrap-argv.js';
import { BWRAP_TOOL } from '../support/host-fixtures.js';

const SANDBOX: SandboxDescription = {
  profile: 'linux_sandbox',
  chroot: false,
  namespaces: { mount: true, pid: true, uts: true, ipc: true, net: false },
};

function input(overrides: Partial<BwrapInput> = {}): BwrapInput {
  return {
    program: {
      exe: '/bin/sh',
      argv: ['/bin/sh', '/data/tasks/t1/script.sh'],
      env: { PATH: '/usr/bin:/bin', LD_PRELOAD: '/evil.so' },
    },
    sandbox: SANDBOX,
    tool: BWRAP_TOOL,
    identity: { uid: 65534, gid: 65534 },
    taskDir: '/data/tasks/t1',
    workspaceDir: '/data/tasks/t1/workspace',
    dataDir: '/data',
    hasCgroups: true,
    insideTools: { setpriv: '/usr/bin/setpriv', env: '/usr/bin/env' },
    ...overrides,
  };
}

/** The arguments bwrap itself parses (before the `--` that starts the sandboxed command). */
function bwrapOptions(argv: readonly string[]): string[] {
  return argv.slice(1, argv.indexOf('--'));
}

function commandOf(argv: readonly string[]): string[] {
  return argv.slice(argv.indexOf('--') + 1);
}

function hasPair(args: readonly string[], ...sequence: string[]): boolean {
  return args.some((_, i) => sequence.every((item, j) => args[i + j] === item));
}

await test('buildBwrapInvocation', async (t) => {
  await t.test('runs bwrap directly with only PATH in its own environment', () => {
    const wrapped = buildBwrapInvocation(input());
    assert.equal(wrapped.exe, '/usr/bin/bwrap');
    assert.equal(wrapped.argv[0], '/usr/bin/bwrap');
    assert.deepEqual(wrapped.env, { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' });
    assert.equal(wrapped.noNewPrivs, true);
  });

  await t.test('drops every capability but the three setpriv needs', () => {
    const options = bwrapOptions(buildBwrapInvocation(input()).argv);
    assert.ok(hasPair(options, '--cap-drop', 'ALL'));
    const added = options.flatMap((arg, i) => (arg === '--cap-add' ? [options[i + 1]] : []));
    assert.deepEqual(added, ['CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP']);
  });

  await t.test('the command drops to the sandbox uid, then env -i applies the task env', () => {
    const command = commandOf(buildBwrapInvocation(input()).argv);
    assert.deepEqual(command.slice(0, 7), [
      '/usr/bin/setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--',
    ]);
    assert.deepEqual(command.slice(7), [
      '/usr/bin/env',
      '-i',
      '--',
      'PATH=/usr/bin:/bin',
      'LD_PRELOAD=/evil.so',
      '/bin/sh',
      '/data/tasks/t1/script.sh',
    ]);
  });

  await t.test('the task env never reaches bwrap or setpriv', () => {
    const options = bwrapOptions(buildBwrapInvocation(input()).argv);
    assert.ok(hasPair(options, '--clearenv', '--setenv', 'PATH', '/usr/sbin:/usr/bin:/sbin:/bin'));
    assert.ok(!options.some((arg) => arg.includes('LD_PRELOAD')));
  });

  await t.test(
    'uts with unshare: a nested user+uts namespace after the uid drop, before env -i',
    () => {
      const tools = {
        setpriv: '/usr/bin/setpriv',
        env: '/usr/bin/env',
        unshare: '/usr/bin/unshare',
      };
      const wrapped = buildBwrapInvocation(input({ insideTools: tools }));
      const command = commandOf(wrapped.argv);
      assert.equal(command[0], '/usr/bin/setpriv');
      assert.deepEqual(command.slice(7, 15), [
        '/usr/bin/unshare',
        '--user',
        '--map-root-user',
        '--uts',
        '--',
        '/usr/bin/env',
        '-i',
        '--',
      ]);
      assert.ok(!command.includes('--fork'), 'unshare execs in place, no extra process');
      // The task env is applied by env -i only, after setpriv and unshare.
      const preload = command.indexOf('LD_PRELOAD=/evil.so');
      assert.ok(preload > command.indexOf('/usr/bin/env'));
      assert.ok(!bwrapOptions(wrapped.argv).some((arg) => arg.includes('LD_PRELOAD')));
      // bwrap still creates the sandbox's own uts namespace with the fixed hostname.
      assert.ok(hasPair(bwrapOptions(wrapped.argv), '--hostname', 'execgo-sandbox'));
    },
  );

  await t.test('without uts, or without a probed unshare, no nested user namespace', () => {
    const tools = { setpriv: '/usr/bin/setpriv', env: '/usr/bin/env', unshare: '/usr/bin/unshare' };
    const noUts = input({
      insideTools: tools,
      sandbox: { ...SANDBOX, namespaces: { ...SANDBOX.namespaces, uts: false } },
    });
    const command = commandOf(buildBwrapInvocation(noUts).argv);
    assert.ok(!command.includes('/usr/bin/unshare'));
    assert.deepEqual(command.slice(7, 9), ['/usr/bin/env', '-i']);
    const noTool = commandOf(buildBwrapInvocation(input()).argv);
    assert.ok(!noTool.some((arg) => arg.endsWith('unshare')));
  });

  await t.test('unshares exactly the requested namespaces', () => {
    const options = bwrapOptions(buildBwrapInvocation(input()).argv);
    for (const flag of ['--unshare-pid', '--unshare-uts', '--unshare-ipc'])
      assert.ok(options.includes(flag));
    assert.ok(!options.includes('--unshare-net'));
    assert.ok(hasPair(options, '--hostname', 'execgo-sandbox'));
    const all = input({
      sandbox: { ...SANDBOX, namespaces: { ...SANDBOX.namespaces, net: true, uts: false } },
    });
    const allOptions = bwrapOptions(buildBwrapInvocation(all).argv);
    assert.ok(allOptions.includes('--unshare-net'));
    assert.ok(!allOptions.includes('--unshare-uts') && !allOptions.includes('--hostname'));
  });

  await t.test(
    'host tree read-only, data dir hidden, own workspace writable, script read-only',
    () => {
      const options = bwrapOptions(buildBwrapInvocation(input()).argv);
      assert.ok(hasPair(options, '--ro-bind', '/', '/'));
      assert.ok(hasPair(options, '--proc', '/proc'));
      assert.ok(hasPair(options, '--dev', '/dev'));
      assert.ok(hasPair(options, '--tmpfs', '/tmp'));
      const hide = options.indexOf('/data');
      const bind = options.indexOf('--bind');
      assert.equal(options[hide - 1], '--tmpfs');
      assert.ok(bind > hide, 'the workspace is mounted on top of the hidden data dir');
      assert.ok(hasPair(options, '--bind', '/data/tasks/t1/workspace', '/data/tasks/t1/workspace'));
      assert.ok(
        hasPair(options, '--ro-bind', '/data/tasks/t1/script.sh', '/data/tasks/t1/script.sh'),
      );
      assert.ok(hasPair(options, '--chdir', '/data/tasks/t1/workspace'));
    },
  );

  await t.test(
    'without a mount namespace request the host tree stays as it is, data dir still hidden',
    () => {
      const sandbox = { ...SANDBOX, namespaces: { ...SANDBOX.namespaces, mount: false } };
      const options = bwrapOptions(buildBwrapInvocation(input({ sandbox })).argv);
      assert.ok(hasPair(options, '--bind', '/', '/'));
      assert.ok(hasPair(options, '--tmpfs', '/data'));
    },
  );

  await t.test('chroot: rootfs read-only at /, workspace at /workspace, script remapped', () => {
    const sandbox = { ...SANDBOX, chroot: true, rootfs: '/srv/rootfs' };
    const init = { binary: '/opt/execgo/execgo-sandbox-init', statusFile: '/data/tasks/t1/st' };
    const argv = buildBwrapInvocation(input({ sandbox, init })).argv;
    const options = bwrapOptions(argv);
    assert.ok(hasPair(options, '--ro-bind', '/srv/rootfs', '/'));
    assert.ok(!hasPair(options, '--ro-bind', '/', '/'));
    assert.ok(hasPair(options, '--bind', '/data/tasks/t1/workspace', '/workspace'));
    assert.ok(
      hasPair(options, '--ro-bind', '/data/tasks/t1/script.sh', '/tmp/.execgo-task/script.sh'),
    );
    assert.ok(hasPair(options, '--chdir', '/workspace'));
    assert.equal(argv[argv.length - 1], '/tmp/.execgo-task/script.sh');
  });

  await t.test(
    'with cgroups SIGTERM goes to the cgroup; without, to the group and bwrap may die first',
    () => {
      const withCgroups = buildBwrapInvocation(input());
      assert.equal(withCgroups.signalMode, 'cgroup');
      assert.ok(bwrapOptions(withCgroups.argv).includes('--die-with-parent'));
      const without = buildBwrapInvocation(input({ hasCgroups: false }));
      assert.equal(without.signalMode, 'group');
      assert.ok(!bwrapOptions(without.argv).includes('--die-with-parent'));
    },
  );

  await t.test('workspace paths in argv are left alone (they are mounted already)', () => {
    const program = {
      exe: '/bin/cat',
      argv: ['/bin/cat', '/data/tasks/t1/workspace/in.txt'],
      env: {},
    };
    const options = bwrapOptions(buildBwrapInvocation(input({ program })).argv);
    assert.ok(!options.includes('/data/tasks/t1/workspace/in.txt'));
  });
});

await test('buildBwrapInvocation with the sandbox init', async (t) => {
  const init = { binary: '/opt/execgo/execgo-shim', statusFile: '/data/tasks/t1/sandbox-status' };

  await t.test('runs the init between the identity drop and env -i', () => {
    const command = commandOf(buildBwrapInvocation(input({ init })).argv);
    const at = command.indexOf('/data/.execgo-shim');
    assert.deepEqual(command.slice(at, at + 4), [
      '/data/.execgo-shim',
      '--sandbox-init',
      '/data/tasks/t1/sandbox-status',
      '/usr/bin/env',
    ]);
    assert.ok(at > command.indexOf('/usr/bin/setpriv'));
  });

  await t.test('with uts the init runs the nested unshare, which runs env -i', () => {
    const insideTools = {
      setpriv: '/usr/bin/setpriv',
      env: '/usr/bin/env',
      unshare: '/usr/bin/unshare',
    };
    const command = commandOf(buildBwrapInvocation(input({ init, insideTools })).argv);
    const at = command.indexOf('/data/.execgo-shim');
    assert.ok(at > command.indexOf('/usr/bin/setpriv'));
    assert.deepEqual(command.slice(at + 3, at + 9), [
      '/usr/bin/unshare',
      '--user',
      '--map-root-user',
      '--uts',
      '--',
      '/usr/bin/env',
    ]);
  });

  await t.test('mounts the shim read-only on the data dir tmpfs, the status file writable', () => {
    const options = bwrapOptions(buildBwrapInvocation(input({ init })).argv);
    // Wherever the runtime is installed (even under /tmp, which the sandbox replaces).
    assert.ok(hasPair(options, '--ro-bind', init.binary, '/data/.execgo-shim'));
    assert.ok(options.indexOf('/data/.execgo-shim') > options.lastIndexOf('--tmpfs'));
    assert.ok(hasPair(options, '--bind', init.statusFile, init.statusFile));
  });

  await t.test('in a chroot: the static init and its status file under /tmp/.execgo-init', () => {
    const sandbox = { ...SANDBOX, chroot: true, rootfs: '/srv/rootfs' };
    const staticInit = { ...init, binary: '/opt/execgo/execgo-sandbox-init' };
    const argv = buildBwrapInvocation(input({ sandbox, init: staticInit })).argv;
    const options = bwrapOptions(argv);
    assert.ok(hasPair(options, '--perms', '0755', '--dir', '/tmp/.execgo-init'));
    assert.ok(hasPair(options, '--ro-bind', staticInit.binary, '/tmp/.execgo-init/init'));
    assert.ok(hasPair(options, '--bind', staticInit.statusFile, '/tmp/.execgo-init/status'));
    // Mounted over the chroot's private /tmp, not hidden by it.
    assert.ok(options.indexOf('/tmp/.execgo-init/init') > options.indexOf('--tmpfs'));
    // The static init is the first command and drops root itself: no binary of the rootfs
    // (its setpriv included) ever runs with the capabilities bwrap leaves.
    assert.deepEqual(commandOf(argv).slice(0, 6), [
      '/tmp/.execgo-init/init',
      '--sandbox-init',
      '/tmp/.execgo-init/status',
      '--drop-to',
      '65534:65534',
      '/usr/bin/env',
    ]);
    assert.ok(!commandOf(argv).includes('/usr/bin/setpriv'));
    assert.ok(!commandOf(argv).includes('/data/.execgo-shim'));
    assert.throws(() => buildBwrapInvocation(input({ sandbox })), /static sandbox init/);
  });

  await t.test('in a chroot whose rootfs holds the data dir, an empty tmpfs covers it', () => {
    const sandbox = { ...SANDBOX, chroot: true, rootfs: '/' };
    const staticInit = { ...init, binary: '/opt/execgo/execgo-sandbox-init' };
    const options = bwrapOptions(
      buildBwrapInvocation(input({ sandbox, init: staticInit, dataDirInRootfs: '/data' })).argv,
    );
    assert.ok(hasPair(options, '--tmpfs', '/data'));
    assert.ok(options.indexOf('/data') > options.indexOf('/'));
    const elsewhere = bwrapOptions(
      buildBwrapInvocation(
        input({ sandbox: { ...sandbox, rootfs: '/srv/rootfs' }, init: staticInit }),
      ).argv,
    );
    assert.ok(!hasPair(elsewhere, '--tmpfs', '/data'));
  });

  await t.test('parents of mount points inside the hidden data dir are created walkable', () => {
    const options = bwrapOptions(buildBwrapInvocation(input({ init })).argv);
    assert.ok(hasPair(options, '--perms', '0755', '--dir', '/data/tasks'));
    assert.ok(hasPair(options, '--perms', '0755', '--dir', '/data/tasks/t1'));
    assert.ok(options.indexOf('/data/tasks') < options.indexOf('/data/tasks/t1'));
  });
});

await test('listDirsBetween', () => {
  assert.deepEqual(listDirsBetween('/tmp', ['/tmp/a/b/data']), ['/tmp/a', '/tmp/a/b']);
  assert.deepEqual(listDirsBetween('/tmp', ['/srv/data']), []);
  assert.deepEqual(listDirsBetween('/d', ['/d/x/1', '/d/x/2', '/d/y']), ['/d/x']);
});

await test('listTaskFiles: only normalized direct children of the task dir', () => {
  const argv = [
    '/bin/sh',
    '/data/tasks/t1/script.sh',
    '/data/tasks/t1/../t2/script.sh',
    '/data/tasks/t1/workspace',
    '/data/tasks/t1/workspace/x.sh',
    'relative/script.sh',
    '/data/tasks/t1/script.sh',
  ];
  assert.deepEqual(listTaskFiles(argv, '/data/tasks/t1'), ['/data/tasks/t1/script.sh']);
});
