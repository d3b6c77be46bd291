import { spawnSync } from 'node:child_process';
import type { NamespaceSelection } from '../core/task-spec.js';
import type { LinuxSandboxTool } from './host-capabilities.js';

/** The unprivileged identity sandboxed programs run as (the conventional `nobody`). */
export const SANDBOX_UID = 65534;
export const SANDBOX_GID = 65534;

const NAMESPACE_FLAGS: Record<keyof NamespaceSelection, readonly string[]> = {
  // bwrap always creates a mount namespace; the base run proves it.
  mount: [],
  pid: ['--unshare-pid', '--proc', '/proc'],
  uts: ['--unshare-uts'],
  ipc: ['--unshare-ipc'],
  net: ['--unshare-net'],
};

/** Tools the probe runs, by absolute path. */
export interface SandboxTools {
  bwrap: string | null;
  setpriv: string | null;
  env: string | null;
  truePath: string | null;
  /** util-linux unshare, for the task's own user+uts namespace (optional). */
  unshare?: string | null;
  /** hostname(1), to prove the nested namespace really may change its hostname (optional). */
  hostname?: string | null;
}

/** What the sandbox probe found. */
export interface SandboxProbe {
  tool: LinuxSandboxTool | null;
  namespaces: NamespaceSelection;
}

/** The nested user+uts namespace a uts task runs in (see buildNestedUts in bwrap-argv). */
const NESTED_UTS = ['--user', '--map-root-user', '--uts', '--'];

const NONE: NamespaceSelection = { mount: false, pid: false, uts: false, ipc: false, net: false };

function runQuietly(argv: readonly string[]): { ok: boolean; stderr: string } {
  const [exe, ...args] = argv;
  if (exe === undefined) return { ok: false, stderr: 'empty argv' };
  const result = spawnSync(exe, args, {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 5000,
    encoding: 'utf8',
  });
  const stderr = (result.stderr ?? '').trim() || (result.error?.message ?? '');
  return { ok: result.status === 0, stderr };
}

/**
 * Whether the sandbox uid, inside a uts sandbox, may create its own user namespace owning a
 * UTS namespace and set the hostname there (fails where unprivileged user namespaces are
 * disabled: user.max_user_namespaces=0, kernel.unprivileged_userns_clone=0, an LSM policy).
 * Returns the unshare path to use, or undefined with a warning: uts tasks then keep a fixed
 * hostname.
 */
function probeNestedUts(
  tools: SandboxTools,
  bwrapPrefix: readonly string[],
  drop: readonly string[],
  warnings: string[],
): string | undefined {
  const { unshare, hostname, env, truePath } = tools;
  const why = 'uts tasks keep the fixed hostname and cannot change it';
  if (unshare === undefined || unshare === null) {
    warnings.push(`unshare not found: ${why}`);
    return undefined;
  }
  const program =
    hostname === undefined || hostname === null ? [truePath ?? 'true'] : [hostname, 'execgo-probe'];
  const run = runQuietly([
    ...bwrapPrefix,
    ...drop,
    unshare,
    ...NESTED_UTS,
    env ?? 'env',
    '-i',
    ...program,
  ]);
  if (run.ok) return unshare;
  warnings.push(
    `unprivileged user namespaces unavailable to the sandbox uid (${run.stderr}): ${why}`,
  );
  return undefined;
}

/**
 * Tries, for real, to start bubblewrap exactly the way tasks are started: as root, every
 * capability but the three setpriv needs dropped, then setpriv down to the sandbox uid. One
 * combined run on the happy path; each namespace kind alone only when it fails, so start-up
 * stays cheap.
 */
export function probeLinuxSandbox(
  tools: SandboxTools,
  isRoot: boolean,
  warnings: string[],
): SandboxProbe {
  const { bwrap, setpriv, env, truePath } = tools;
  if (bwrap === null || setpriv === null || env === null || truePath === null) {
    const missing = Object.entries(tools)
      .filter(([, value]) => value === null)
      .map(([name]) => name);
    warnings.push(`linux_sandbox unavailable: ${missing.join(', ')} not found`);
    return { tool: null, namespaces: NONE };
  }
  if (!isRoot) {
    warnings.push(
      'linux_sandbox unavailable: the runtime must run as root to drop sandboxed tasks to an unprivileged uid',
    );
    return { tool: null, namespaces: NONE };
  }
  const prefix = [
    bwrap,
    '--cap-drop',
    'ALL',
    ...['CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP'].flatMap((cap) => ['--cap-add', cap]),
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
  ];
  const drop = [
    '--',
    setpriv,
    `--reuid=${SANDBOX_UID}`,
    `--regid=${SANDBOX_GID}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--',
  ];
  const suffix = [...drop, env, '-i', truePath];
  const base = runQuietly([...prefix, ...suffix]);
  if (!base.ok) {
    warnings.push(`linux_sandbox unavailable: bwrap could not start a sandbox (${base.stderr})`);
    return { tool: null, namespaces: NONE };
  }
  const allFlags = Object.values(NAMESPACE_FLAGS).flat();
  const isAllOk = runQuietly([...prefix, ...allFlags, ...suffix]).ok;
  const namespaces: NamespaceSelection = { ...NONE, mount: true };
  for (const kind of ['pid', 'uts', 'ipc', 'net'] as const) {
    const probe = isAllOk
      ? { ok: true, stderr: '' }
      : runQuietly([...prefix, ...NAMESPACE_FLAGS[kind], ...suffix]);
    namespaces[kind] = probe.ok;
    if (!probe.ok) warnings.push(`${kind} namespace unavailable in the sandbox (${probe.stderr})`);
  }
  const unsharePath = namespaces.uts
    ? probeNestedUts(tools, [...prefix, '--proc', '/proc', '--unshare-uts'], drop, warnings)
    : undefined;
  return {
    tool: {
      tool: 'bwrap',
      path: bwrap,
      setprivPath: setpriv,
      envPath: env,
      ...(unsharePath === undefined ? {} : { unsharePath }),
      uid: SANDBOX_UID,
      gid: SANDBOX_GID,
    },
    namespaces,
  };
}
