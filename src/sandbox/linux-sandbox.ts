import fs from 'node:fs';
import path from 'node:path';
import type { HostCapabilities, LinuxSandboxTool } from '../capabilities/host-capabilities.js';
import { isExecutableFile } from '../capabilities/probe-host.js';
import { RuntimeError } from '../core/runtime-error.js';
import {
  buildBwrapInvocation,
  chrootRootfs,
  listTaskFiles,
  ROOTFS_MOUNT_POINTS,
} from './bwrap-argv.js';
import { resolveSandboxStatusPath } from './sandbox-exit-status.js';
import type { SandboxIdentity } from './sandbox-identities.js';
import {
  processSandbox,
  type ProgramInvocation,
  type SandboxBuilder,
  type SandboxPaths,
} from './task-command.js';

function setupFailure(message: string, details?: unknown, cause?: unknown): RuntimeError {
  return new RuntimeError('sandbox_setup_failed', message, details, { cause });
}

/**
 * The task's uid must own what it may write (its workspace) and read (its script, mode 0700).
 * Nothing else of the task dir: other files it names in argv are mounted read-only, and
 * keep their owner and mode.
 */
function handOver(identity: SandboxIdentity, paths: SandboxPaths): void {
  try {
    fs.chownSync(paths.workspaceDir, identity.uid, identity.gid);
    if (paths.scriptPath !== undefined) fs.chownSync(paths.scriptPath, identity.uid, identity.gid);
  } catch (error) {
    throw setupFailure('could not hand the workspace to the sandbox user', undefined, error);
  }
}

/** An empty status file owned by the sandbox uid, so only the init's report can fill it. */
function prepareInit(
  identity: SandboxIdentity,
  paths: SandboxPaths,
  binary: string,
): { binary: string; statusFile: string } {
  const statusFile = resolveSandboxStatusPath(paths.taskDir);
  try {
    fs.rmSync(statusFile, { force: true });
    fs.writeFileSync(statusFile, '', { mode: 0o600 });
    fs.chownSync(statusFile, identity.uid, identity.gid);
  } catch (error) {
    throw setupFailure('could not prepare the sandbox status file', undefined, error);
  }
  return { binary, statusFile };
}

/**
 * Where the data dir appears inside a chroot into `rootfs`, if it does at all (compared by
 * real paths: a rootfs reached through a symlink still counts).
 */
export function locateDataDirInRootfs(rootfs: string, dataDir: string): string | undefined {
  const root = fs.realpathSync(rootfs);
  const data = fs.realpathSync(dataDir);
  if (root === path.sep) return data;
  return data.startsWith(`${root}${path.sep}`) ? `/${path.relative(root, data)}` : undefined;
}

/**
 * Only root can change it: owned by root and writable by nobody else. A directory above the
 * rootfs may also be sticky (like /tmp: others cannot rename or remove root's entries); the
 * rootfs itself may not, or others could add and swap its mount points.
 */
function isRootControlled(stat: fs.Stats, isRootfs: boolean): boolean {
  const isSticky = !isRootfs && (stat.mode & 0o1000) !== 0;
  return stat.uid === 0 && ((stat.mode & 0o022) === 0 || isSticky);
}

/**
 * A rootfs is mounted by bwrap as root, so it must be one nobody else can change: its real
 * path and every directory above it root-controlled (OpenSSH's rule for ChrootDirectory,
 * sticky directories such as /tmp allowed), and its mount points real directories, not
 * symlinks. Otherwise a task could build a rootfs (in its workspace) whose `/tmp` points
 * elsewhere, or swap it between this check and bwrap, and get its own binary run as root
 * where the static init should be. Returns the real path, which is what gets mounted.
 */
function checkRootfs(rootfs: string): string {
  let real: string;
  try {
    real = fs.realpathSync(rootfs);
  } catch (error) {
    throw setupFailure(`rootfs ${rootfs} does not exist`, { rootfs }, error);
  }
  for (let dir = real; ; dir = path.dirname(dir)) {
    if (!isRootControlled(fs.statSync(dir), dir === real))
      throw setupFailure(
        `rootfs ${rootfs} must be owned by root and writable by root only, as must every ` +
          `directory above it (${dir} is not)`,
        { rootfs, directory: dir },
      );
    if (dir === path.dirname(dir)) break;
  }
  const missing = ROOTFS_MOUNT_POINTS.filter(
    (point) => !fs.lstatSync(path.join(real, point), { throwIfNoEntry: false })?.isDirectory(),
  );
  if (missing.length > 0)
    throw setupFailure(
      `rootfs ${rootfs} lacks the mount points ${missing.join(', ')} (directories, not symlinks)`,
      { rootfs, missing },
    );
  return real;
}

const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

/**
 * Inside a chroot the program's environment is set by the rootfs's own env, and a nested uts
 * namespace made by its unshare (when it has one and the host allows nested user namespaces
 * at all). Both run after the static init dropped root; no rootfs binary runs privileged.
 */
function findRootfsTools(
  rootfs: string,
  tool: LinuxSandboxTool,
): { env: string; unshare?: string } {
  const find = (name: string) =>
    TOOL_DIRS.map((dir) => path.posix.join(dir, name)).find((file) =>
      isExecutableFile(path.join(rootfs, file)),
    );
  const env = find('env');
  if (env === undefined)
    throw setupFailure(`rootfs ${rootfs} must provide env (coreutils or busybox)`, { rootfs });
  const unshare = tool.unsharePath === undefined ? undefined : find('unshare');
  return { env, ...(unshare === undefined ? {} : { unshare }) };
}

/**
 * bwrap reports a missing program as its own exit 1; checking first (in the tree the sandbox
 * will see) keeps the contract's `launch_failed` for "program not found".
 */
function checkProgram(program: ProgramInvocation, root: string): void {
  const { exe } = program;
  const candidates = exe.includes('/')
    ? [exe]
    : (program.env.PATH ?? '/usr/bin:/bin')
        .split(':')
        .filter((dir) => dir !== '')
        .map((dir) => path.join(dir, exe));
  if (candidates.some((file) => isExecutableFile(path.join(root, file)))) return;
  throw new RuntimeError('launch_failed', `program not found or not executable: ${exe}`, {
    program: exe,
  });
}

/**
 * linux_sandbox through bubblewrap under a dropped uid (see docs/isolation.md). Tasks whose
 * effective profile degraded to `process` get the process builder.
 */
export function createLinuxSandbox(tool: LinuxSandboxTool): SandboxBuilder {
  return {
    wrap(program, plan, paths, given) {
      const sandbox = plan.effective_sandbox;
      if (sandbox.profile !== 'linux_sandbox') return processSandbox.wrap(program, plan, paths);
      // Without one of its own (a direct caller), the probed sandbox uid.
      const identity = given ?? { uid: tool.uid, gid: tool.gid };
      const requestedRootfs = chrootRootfs(sandbox);
      const rootfs = requestedRootfs === undefined ? undefined : checkRootfs(requestedRootfs);
      checkProgram(program, rootfs ?? '/');
      const insideTools =
        rootfs === undefined
          ? {
              setpriv: tool.setprivPath,
              env: tool.envPath,
              ...(tool.unsharePath === undefined ? {} : { unshare: tool.unsharePath }),
            }
          : findRootfsTools(rootfs, tool);
      handOver(identity, paths);
      // The shim links against the host's libc, which a foreign rootfs does not have: a
      // chroot runs the static execgo-sandbox-init instead, which also drops root there. An
      // install that could not build it offers no chroot (the probe says so).
      const initBinary = rootfs === undefined ? paths.shimPath : tool.chrootInitPath;
      if (initBinary === undefined)
        throw setupFailure('chroot needs execgo-sandbox-init, which this install did not build');
      const init = prepareInit(identity, paths, initBinary);
      const dataDirInRootfs =
        rootfs === undefined ? undefined : locateDataDirInRootfs(rootfs, paths.dataDir);
      const taskFiles = listTaskFiles(program.argv, paths.taskDir).filter(
        (file) => fs.lstatSync(file, { throwIfNoEntry: false })?.isFile() === true,
      );
      return buildBwrapInvocation({
        init,
        taskFiles,
        identity,
        ...(dataDirInRootfs === undefined ? {} : { dataDirInRootfs }),
        program,
        // The checked real path is what gets mounted, not a path that could be re-pointed.
        sandbox: rootfs === undefined ? sandbox : { ...sandbox, rootfs },
        tool,
        taskDir: paths.taskDir,
        workspaceDir: paths.workspaceDir,
        dataDir: paths.dataDir,
        hasCgroups: plan.resource_enforcement.cgroup_enforced,
        insideTools,
      });
    },
  };
}

/** The builder that matches the probe: bubblewrap when available, else processes only. */
export function selectSandboxBuilder(capabilities: HostCapabilities): SandboxBuilder {
  return capabilities.linuxSandbox === null
    ? processSandbox
    : createLinuxSandbox(capabilities.linuxSandbox);
}
