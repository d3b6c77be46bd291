import path from 'node:path';
import type { SandboxDescription } from '../contract/task-status.js';
import type { LinuxSandboxTool } from '../capabilities/host-capabilities.js';
import type { SandboxIdentity } from './sandbox-identities.js';
import type { ProgramInvocation, WrappedInvocation } from './task-command.js';

/** Where the workspace appears inside a chroot (the rootfs must provide the directory). */
export const CHROOT_WORKSPACE = '/workspace';
/** Where files of the task dir named in argv (script files) appear inside a chroot. */
export const CHROOT_TASK_FILES = '/tmp/.execgo-task';
/** Where the sandbox init and its status file appear inside a chroot (on its private /tmp). */
export const CHROOT_INIT_DIR = '/tmp/.execgo-init';
/** The rootfs a sandbox is chrooted into; undefined when it is not (one rule for every use). */
export function chrootRootfs(sandbox: SandboxDescription): string | undefined {
  return sandbox.chroot ? sandbox.rootfs : undefined;
}

/**
 * The defaults a linux_sandbox program's environment starts from, instead of the server's
 * own HOME and TMPDIR (root's home is not writable by the task's uid): its workspace as seen
 * inside, and the private /tmp. The request's `env` still overrides both.
 */
export function sandboxBaseEnv(
  baseEnv: Readonly<Record<string, string>>,
  sandbox: SandboxDescription,
  workspaceDir: string,
): Record<string, string> {
  const home = chrootRootfs(sandbox) === undefined ? workspaceDir : CHROOT_WORKSPACE;
  return { ...baseEnv, HOME: home, TMPDIR: '/tmp' };
}

/**
 * Processes of the sandbox itself in the task's cgroup: bwrap, its pid 1 (with a pid
 * namespace) and the sandbox init. `pids_max` counts the program's processes, so the cgroup's
 * `pids.max` gets these on top (else `pids_max: 1` could not even start the sandbox).
 */
export function sandboxOwnProcesses(sandbox: SandboxDescription): number {
  return sandbox.namespaces.pid ? 3 : 2;
}

/** Mount points a rootfs must provide, because the rootfs itself is mounted read-only. */
export const ROOTFS_MOUNT_POINTS = ['/proc', '/dev', '/tmp', CHROOT_WORKSPACE] as const;
/** Hostname seen inside a uts namespace. */
export const SANDBOX_HOSTNAME = 'execgo-sandbox';
/** The environment of bwrap and setpriv themselves; the task's env reaches only the program. */
const WRAPPER_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
/** setpriv needs exactly these to switch identity; everything else is dropped by bwrap. */
const SETPRIV_CAPS = ['CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP'];

/** Everything the argv builder depends on, already resolved. */
export interface BwrapInput {
  program: ProgramInvocation;
  sandbox: SandboxDescription;
  tool: LinuxSandboxTool;
  /** The uid/gid the program runs as: the task's own (sandbox-identities.ts). */
  identity: SandboxIdentity;
  taskDir: string;
  workspaceDir: string;
  dataDir: string;
  /**
   * Inside a chroot: where the data dir appears in the rootfs, when the rootfs contains it
   * (a rootfs of `/`, or one the data dir was placed under); it is covered with an empty
   * tmpfs there, as outside a chroot.
   */
  dataDirInRootfs?: string;
  /**
   * Files of the task dir to show read-only (listTaskFiles), narrowed by the caller to those
   * that exist: bwrap refuses to bind a missing source, and a program naming a file that does
   * not exist should get ENOENT, not a failed sandbox.
   */
  taskFiles?: string[];
  /** Whether the task has cgroups (then SIGTERM goes to the cgroup, bwrap does not forward). */
  hasCgroups: boolean;
  /**
   * Paths of env (and, outside a chroot, setpriv) as seen inside the sandbox (inside a
   * chroot: the rootfs's), and of util-linux unshare when the task may own a nested user
   * namespace (see {@link buildNestedUts}); absent, a uts task keeps the sandbox's fixed
   * hostname. A chroot never runs the rootfs's setpriv: the static init drops root there.
   */
  insideTools: { setpriv?: string; env: string; unshare?: string };
  /**
   * The binary and the status file for `--sandbox-init`, which reports the program's real
   * wait status (bwrap only says 128+N): the shim, mounted on the data dir's tmpfs, with the
   * status file at its host path; in a chroot the static `execgo-sandbox-init` (the rootfs has
   * its own libc, or none), both under {@link CHROOT_INIT_DIR}.
   */
  init?: { binary: string; statusFile: string };
}

function isInside(file: string, dir: string): boolean {
  return file.startsWith(`${dir}${path.sep}`);
}

/**
 * Where the shim binary appears inside the sandbox: on the data dir's private tmpfs, so it is
 * visible wherever the runtime is installed (an install under /tmp would otherwise be hidden
 * by the sandbox's own /tmp).
 */
export function insideShimPath(dataDir: string): string {
  return path.join(dataDir, '.execgo-shim');
}

/**
 * Directories strictly between `root` and each target, shallowest first. bwrap creates
 * missing parents of a mount point with mode 0700, which the unprivileged program could not
 * traverse; creating them first with `--perms 0755 --dir` keeps the path walkable.
 */
export function listDirsBetween(root: string, targets: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const target of targets)
    for (let dir = path.dirname(target); isInside(dir, root); dir = path.dirname(dir))
      dirs.add(dir);
  return [...dirs].sort((a, b) => a.split('/').length - b.split('/').length);
}

function createDirs(dirs: readonly string[]): string[] {
  return dirs.flatMap((dir) => ['--perms', '0755', '--dir', dir]);
}

/** Where the init's binary and status file are seen inside the sandbox. */
function insideInit(input: BwrapInput): { binary: string; statusFile: string } | undefined {
  const { init, sandbox, dataDir } = input;
  if (init === undefined) return undefined;
  if (chrootRootfs(sandbox) !== undefined)
    return {
      binary: path.posix.join(CHROOT_INIT_DIR, 'init'),
      statusFile: path.posix.join(CHROOT_INIT_DIR, 'status'),
    };
  return { binary: insideShimPath(dataDir), statusFile: init.statusFile };
}

function buildFilesystem(input: BwrapInput, taskFiles: readonly string[]): string[] {
  const { sandbox, dataDir, workspaceDir, init } = input;
  const initInside = insideInit(input);
  const rootfs = chrootRootfs(sandbox);
  if (rootfs !== undefined) {
    const args = ['--ro-bind', rootfs, '/', '--proc', '/proc', '--dev', '/dev'];
    args.push('--perms', '1777', '--tmpfs', '/tmp');
    if (input.dataDirInRootfs !== undefined) args.push('--tmpfs', input.dataDirInRootfs);
    args.push('--bind', workspaceDir, CHROOT_WORKSPACE);
    if (taskFiles.length > 0) args.push(...createDirs([CHROOT_TASK_FILES]));
    for (const file of taskFiles)
      args.push('--ro-bind', file, path.posix.join(CHROOT_TASK_FILES, path.basename(file)));
    if (init !== undefined && initInside !== undefined) {
      args.push(...createDirs([CHROOT_INIT_DIR]));
      args.push('--ro-bind', init.binary, initInside.binary);
      args.push('--bind', init.statusFile, initInside.statusFile);
    }
    return [...args, '--chdir', CHROOT_WORKSPACE];
  }
  // Without a mount namespace request the host tree stays writable (as far as the dropped uid
  // may write); bwrap still needs its own mount namespace to exist at all.
  const isMountIsolated = sandbox.namespaces.mount;
  const args = [
    isMountIsolated ? '--ro-bind' : '--bind',
    '/',
    '/',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
  ];
  const privateTmp = isMountIsolated ? ['/tmp', '/var/tmp'] : [];
  for (const dir of privateTmp) args.push('--perms', '1777', '--tmpfs', dir);
  for (const dir of privateTmp) args.push(...createDirs(listDirsBetween(dir, [dataDir])));
  // The data dir (database, other tasks, the runtime's notify files) is never visible; the
  // task's own workspace and the files it needs are mounted back on top of the empty tmpfs.
  const shown = [
    [workspaceDir, workspaceDir, '--bind'],
    ...taskFiles.map((file) => [file, file, '--ro-bind']),
    ...(init === undefined || initInside === undefined
      ? []
      : [
          [init.binary, initInside.binary, '--ro-bind'],
          [init.statusFile, initInside.statusFile, '--bind'],
        ]),
  ] as const;
  args.push('--tmpfs', dataDir);
  args.push(
    ...createDirs(
      listDirsBetween(
        dataDir,
        shown.map(([, target]) => target),
      ),
    ),
  );
  for (const [source, target, kind] of shown) args.push(kind, source, target);
  return [...args, '--chdir', workspaceDir];
}

/**
 * Files of the task dir the program names in argv (its script file), which the sandbox must
 * show read-only. Only normalized, direct children of the task dir qualify: `..` or a path
 * into the workspace never makes another task's file (or anything else) visible.
 */
export function listTaskFiles(argv: readonly string[], taskDir: string): string[] {
  const files = argv
    .slice(1)
    .filter((arg) => path.isAbsolute(arg) && path.normalize(arg) === arg)
    .filter((arg) => path.dirname(arg) === taskDir && path.basename(arg) !== 'workspace');
  return [...new Set(files)];
}

function buildNamespaces(input: BwrapInput): string[] {
  const { namespaces } = input.sandbox;
  const args = ['--cap-drop', 'ALL', ...SETPRIV_CAPS.flatMap((cap) => ['--cap-add', cap])];
  if (namespaces.pid) args.push('--unshare-pid');
  if (namespaces.uts) args.push('--unshare-uts', '--hostname', SANDBOX_HOSTNAME);
  if (namespaces.ipc) args.push('--unshare-ipc');
  if (namespaces.net) args.push('--unshare-net');
  // With cgroups the shim signals the program directly and kills the cgroup; tying the
  // program's life to bwrap is then safe. Without them SIGTERM reaches bwrap's process group,
  // and bwrap's death must not turn a graceful stop into an immediate SIGKILL.
  if (input.hasCgroups) args.push('--die-with-parent');
  return args;
}

/**
 * With a uts namespace the task gets a nested user namespace of its own (root inside, mapped
 * to the sandbox uid outside) owning a nested UTS namespace, so it may `sethostname` there.
 * Created after the uid drop, that user namespace is owned by the sandbox uid and holds
 * nothing the runtime made: the mount, pid, ipc, net and cgroup namespaces, host files and
 * processes all stay owned by the host's user namespace, where the task has no capability.
 * `unshare` without `--fork` execs in place (no extra process) and runs with the clean
 * wrapper environment; only the program sees the task's env.
 */
function buildNestedUts(input: BwrapInput): string[] {
  const { unshare } = input.insideTools;
  if (!input.sandbox.namespaces.uts || unshare === undefined) return [];
  return [unshare, '--user', '--map-root-user', '--uts', '--'];
}

/**
 * Drops to the sandbox uid/gid with no supplementary groups and empty inheritable and
 * bounding sets (the uid change itself clears permitted/effective/ambient): the host's
 * `setpriv`, or inside a chroot the static init's `--drop-to` (every other binary there is
 * the rootfs's, which must never run with the setuid capabilities bwrap leaves). Then
 * `env -i`, already unprivileged, sets exactly the task's environment for the final exec. So
 * nothing privileged ever runs with a task-controlled LD_PRELOAD or similar.
 */
function buildIdentityDrop(input: BwrapInput): string[] {
  const { identity, insideTools, program } = input;
  const init = insideInit(input);
  const ids = `${identity.uid}:${identity.gid}`;
  let drop: string[];
  if (chrootRootfs(input.sandbox) !== undefined) {
    if (init === undefined) throw new Error('a chroot needs the static sandbox init');
    drop = [init.binary, '--sandbox-init', init.statusFile, '--drop-to', ids];
  } else {
    if (insideTools.setpriv === undefined) throw new Error('setpriv is required');
    const reporter = init === undefined ? [] : [init.binary, '--sandbox-init', init.statusFile];
    drop = [
      insideTools.setpriv,
      `--reuid=${identity.uid}`,
      `--regid=${identity.gid}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--',
      ...reporter,
    ];
  }
  return [
    ...drop,
    ...buildNestedUts(input),
    insideTools.env,
    '-i',
    '--',
    ...Object.entries(program.env).map(([key, value]) => `${key}=${value}`),
  ];
}

/**
 * Builds the command the shim runs for a linux_sandbox task. Pure. The shape is
 * `bwrap (namespaces, mounts; root with only setuid caps) -- setpriv (drop to the sandbox
 * uid, no caps) -- [unshare (own user+uts namespace, uts only)] -- env -i (task env) --
 * program`. Nothing the program runs as maps to host root, holds a capability over anything
 * the host owns, or can undo a mount (they belong to the host's user namespace).
 */
export function buildBwrapInvocation(input: BwrapInput): WrappedInvocation {
  const { program, tool, taskDir, sandbox } = input;
  const taskFiles = input.taskFiles ?? listTaskFiles(program.argv, taskDir);
  const isChroot = chrootRootfs(sandbox) !== undefined;
  const args = program.argv
    .slice(1)
    .map((arg) =>
      isChroot && taskFiles.includes(arg)
        ? path.posix.join(CHROOT_TASK_FILES, path.basename(arg))
        : arg,
    );
  const argv = [
    tool.path,
    ...buildNamespaces(input),
    ...buildFilesystem(input, taskFiles),
    '--clearenv',
    '--setenv',
    'PATH',
    WRAPPER_PATH,
    '--',
    ...buildIdentityDrop(input),
    program.exe,
    ...args,
  ];
  return {
    exe: tool.path,
    argv,
    env: { PATH: WRAPPER_PATH },
    signalMode: input.hasCgroups ? 'cgroup' : 'group',
    noNewPrivs: true,
  };
}
