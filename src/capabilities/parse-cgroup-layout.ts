import path from 'node:path';
import type { CgroupLayout } from './host-capabilities.js';

/** The v1 controllers this runtime uses (limits, usage). */
export const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/** One cgroup filesystem mount from /proc/self/mountinfo. */
export interface CgroupMount {
  mountPoint: string;
  /** The cgroup path (in the hierarchy) that is mounted at mountPoint; usually `/`. */
  root: string;
  version: 1 | 2;
  /** v1 controllers bound to this hierarchy (empty for v2 and for named v1 hierarchies). */
  controllers: string[];
}

/** One line of /proc/self/cgroup. */
export interface ProcCgroupEntry {
  hierarchyId: number;
  controllers: string[];
  path: string;
}

/** Where this process sits in each usable hierarchy, as host directories. */
export interface CgroupHierarchies {
  layout: CgroupLayout;
  /** The process's own cgroup directory on the unified (cgroup2) hierarchy. */
  unifiedDir?: string;
  unifiedMount?: string;
  /** The process's own cgroup directory per v1 controller. */
  v1Dirs: Partial<Record<V1Controller, string>>;
  v1Mounts: Partial<Record<V1Controller, string>>;
}

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

/** Parses the cgroup and cgroup2 mounts out of /proc/self/mountinfo text. Pure. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    // Optional fields end with a lone `-`; fs type, source and super options follow it.
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const fields = left.split(' ');
    const [fsType, , superOptions = ''] = right.split(' ');
    const root = fields[3];
    const mountPoint = fields[4];
    if (root === undefined || mountPoint === undefined) continue;
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const controllers =
      fsType === 'cgroup'
        ? superOptions
            .split(',')
            .filter((option) => /^[a-z_]+$/.test(option) && option !== 'rw' && option !== 'ro')
        : [];
    mounts.push({
      mountPoint: unescapeMountField(mountPoint),
      root: unescapeMountField(root),
      version: fsType === 'cgroup2' ? 2 : 1,
      controllers,
    });
  }
  return mounts;
}

/** Parses /proc/self/cgroup (`id:controllers:path` per line). Pure. */
export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const entries: ProcCgroupEntry[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (match === null) continue;
    const [, id = '', controllers = '', cgroupPath = '/'] = match;
    entries.push({
      hierarchyId: Number(id),
      controllers: controllers === '' ? [] : controllers.split(','),
      path: cgroupPath === '' ? '/' : cgroupPath,
    });
  }
  return entries;
}

/**
 * Host directory of a cgroup path on a mount. A mount may expose a sub-tree (root != `/`,
 * e.g. inside a container); paths outside it (a cgroup namespace) are taken as relative.
 */
export function joinCgroupPath(mount: CgroupMount, cgroupPath: string): string {
  const rel =
    mount.root !== '/' && (cgroupPath === mount.root || cgroupPath.startsWith(`${mount.root}/`))
      ? cgroupPath.slice(mount.root.length)
      : cgroupPath;
  return path.join(mount.mountPoint, rel.replace(/^\/+/, ''));
}

/**
 * Locates this process's cgroups in every hierarchy, from mountinfo and /proc/self/cgroup.
 * Never hard-codes mount points: a hybrid host may put cgroup2 at `/sys/fs/cgroup/unified`,
 * a v2 host at `/sys/fs/cgroup`, a container anywhere. Pure.
 */
export function resolveCgroupHierarchies(mountinfo: string, procCgroup: string): CgroupHierarchies {
  const mounts = parseCgroupMounts(mountinfo);
  const entries = parseProcCgroup(procCgroup);
  const result: CgroupHierarchies = { layout: 'none', v1Dirs: {}, v1Mounts: {} };
  const unifiedEntry = entries.find((entry) => entry.hierarchyId === 0);
  const unifiedMount = mounts.find((mount) => mount.version === 2);
  if (unifiedEntry !== undefined && unifiedMount !== undefined) {
    result.unifiedMount = unifiedMount.mountPoint;
    result.unifiedDir = joinCgroupPath(unifiedMount, unifiedEntry.path);
  }
  for (const controller of V1_CONTROLLERS) {
    const mount = mounts.find((m) => m.version === 1 && m.controllers.includes(controller));
    const entry = entries.find((e) => e.hierarchyId !== 0 && e.controllers.includes(controller));
    if (mount === undefined || entry === undefined) continue;
    result.v1Mounts[controller] = mount.mountPoint;
    result.v1Dirs[controller] = joinCgroupPath(mount, entry.path);
  }
  const hasV1 = Object.keys(result.v1Dirs).length > 0;
  const hasV2 = result.unifiedDir !== undefined;
  result.layout = hasV1 && hasV2 ? 'hybrid' : hasV1 ? 'v1' : hasV2 ? 'v2' : 'none';
  return result;
}

/**
 * Where per-task cgroups go in one hierarchy. Default: `execgo-runtime/<instance>` under the
 * runtime's own cgroup. `--cgroup-root` may name a directory inside any cgroup mount (its
 * path relative to that mount is used in every hierarchy) or a bare cgroup path such as
 * `/execgo` (taken relative to each hierarchy's mount). A path under the directory that
 * holds the mounts but inside none of them is the pure-v2 spelling of a cgroup path on a
 * hybrid or v1 host (`/sys/fs/cgroup/system.slice/x.service`, where `/sys/fs/cgroup` is a
 * tmpfs of per-controller mounts): it is taken relative to that directory, so the sample
 * unit's root means the service's cgroup in every hierarchy, not a cgroup named
 * `sys/fs/cgroup/…`. The instance level (derived from the data dir) keeps two runtimes on one
 * host from touching each other's tasks. Pure.
 */
export function resolveTaskParent(
  ownDir: string,
  mountPoint: string,
  allMountPoints: readonly string[],
  cgroupRoot: string | undefined,
  instance: string,
): string {
  if (cgroupRoot === undefined) return path.join(ownDir, 'execgo-runtime', instance);
  // Longest mount first: `/sys/fs/cgroup/unified` must win over a `/sys/fs/cgroup` mount.
  const containing = [...allMountPoints]
    .sort((a, b) => b.length - a.length)
    .find((mount) => cgroupRoot === mount || cgroupRoot.startsWith(`${mount}/`));
  const holding = allMountPoints
    .map((mount) => path.dirname(mount))
    .find((dir) => dir !== '/' && (cgroupRoot === dir || cgroupRoot.startsWith(`${dir}/`)));
  const base = containing ?? holding;
  const rel = base === undefined ? cgroupRoot : cgroupRoot.slice(base.length);
  return path.join(mountPoint, rel.replace(/^\/+/, ''), instance);
}
