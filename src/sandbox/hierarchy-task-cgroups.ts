import fs from 'node:fs';
import path from 'node:path';
import type { CgroupPlacement } from '../capabilities/host-capabilities.js';
import { RuntimeError } from '../core/runtime-error.js';
import type { CgroupReport } from '../executor/outcome.js';
import {
  hasCgroupFile,
  killCgroup,
  parseFlatKeyed,
  parseSingleNumber,
  readCgroupFile,
  removeCgroupDir,
  tryRemoveCgroupDir,
  writeCgroupFile,
} from './cgroup-files.js';
import type { CgroupLimits, CreatedCgroups, TaskCgroups } from './task-cgroups.js';

/** Per-task cgroup directories are named `task-<id>` so cleanup never touches anything else. */
export const TASK_CGROUP_PREFIX = 'task-';

/** How long a per-runtime parent cgroup stays after its last task cgroup is gone. */
const PARENT_IDLE_MS = 1000;

/** Cgroup directory name of a task (task ids are `[A-Za-z0-9._-]`, so always one component). */
export function nameTaskCgroup(taskId: string): string {
  return `${TASK_CGROUP_PREFIX}${taskId}`;
}

/**
 * Every parent directory a task cgroup is created in, unified first. v1 `cpu` is left out:
 * there is no CPU quota in the contract, and cpuacct already gives usage.
 */
export function listTaskParents(placement: CgroupPlacement): string[] {
  const { memory, pids, cpuacct } = placement.v1Parents;
  const parents = [placement.unifiedParent, memory, pids, cpuacct];
  return [...new Set(parents.filter((parent) => parent !== undefined))];
}

/** Creates a fresh, empty cgroup; a leftover of an earlier attempt is emptied first. */
function createFreshCgroup(dir: string): void {
  try {
    fs.mkdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    killCgroup(dir);
    removeCgroupDir(dir);
    fs.mkdirSync(dir);
  }
}

/**
 * The per-runtime parent exists only while it has task cgroups (see removeTaskCgroups), so
 * it is (re)created here; on v2 its children need the controllers the probe found usable.
 */
function ensureParent(parent: string, v2Controllers: readonly string[]): void {
  if (fs.existsSync(parent)) return;
  fs.mkdirSync(parent, { recursive: true });
  for (const controller of v2Controllers)
    writeCgroupFile(parent, 'cgroup.subtree_control', `+${controller}`);
}

/** Removes a per-runtime parent once its last task cgroup is gone; busy is fine. */
export function removeParentIfEmpty(parent: string): void {
  try {
    fs.rmdirSync(parent);
  } catch {
    // Another task's cgroup is still there (or it is gone already).
  }
}

function applyMemoryLimit(placement: CgroupPlacement, dirs: Dirs, bytes: number): boolean {
  const value = String(bytes);
  if (placement.unifiedControllers.memory && dirs.unified !== undefined) {
    writeCgroupFile(dirs.unified, 'memory.max', value);
    // Without a swap cap, hitting the limit would swap instead of triggering an OOM kill.
    if (placement.swapPresent && hasCgroupFile(dirs.unified, 'memory.swap.max'))
      writeCgroupFile(dirs.unified, 'memory.swap.max', '0');
    if (hasCgroupFile(dirs.unified, 'memory.oom.group'))
      writeCgroupFile(dirs.unified, 'memory.oom.group', '1');
    return true;
  }
  if (dirs.memory === undefined) return false;
  writeCgroupFile(dirs.memory, 'memory.limit_in_bytes', value);
  // memsw counts memory + swap; equal to the memory limit means "no swap at all".
  if (placement.swapPresent && hasCgroupFile(dirs.memory, 'memory.memsw.limit_in_bytes'))
    writeCgroupFile(dirs.memory, 'memory.memsw.limit_in_bytes', value);
  return true;
}

function applyPidsLimit(placement: CgroupPlacement, dirs: Dirs, pidsMax: number): void {
  const dir = placement.unifiedControllers.pids ? dirs.unified : dirs.pids;
  if (dir === undefined) throw new Error('no pids controller for this task');
  writeCgroupFile(dir, 'pids.max', String(pidsMax));
}

interface Dirs {
  unified?: string;
  memory?: string;
  pids?: string;
  cpuacct?: string;
  all: string[];
}

/**
 * Creates the task's cgroup in each hierarchy it needs. A task without limits (the process
 * profile) needs a cgroup only to hold its tree (cgroup.kill, cgroup.procs) and to count its
 * CPU (cpu.stat): the unified hierarchy alone gives all that, even without controllers, and
 * the shim places the program there with clone3(CLONE_INTO_CGROUP) — no migration at all.
 * Joining the v1 hierarchies too would cost one migration each (a global lock and an RCU grace
 * period per write to cgroup.procs), which on a hybrid host was the largest single cost of a
 * short task's launch (docs/performance.md). Limits need the hierarchies holding the
 * controllers, so enforced tasks join every one.
 */
function createDirs(
  placement: CgroupPlacement,
  taskId: string,
  enforce: boolean,
  ensure: (parent: string, v2Controllers: readonly string[]) => void,
): Dirs {
  const name = nameTaskCgroup(taskId);
  const dirs: Dirs = { all: [] };
  const { memory: isV2Memory, pids: isV2Pids } = placement.unifiedControllers;
  const make = (parent: string | undefined): string | undefined => {
    if (parent === undefined) return undefined;
    const dir = path.join(parent, name);
    if (!dirs.all.includes(dir)) {
      const isUnified = parent === placement.unifiedParent;
      const v2 = isUnified ? [isV2Memory ? 'memory' : '', isV2Pids ? 'pids' : ''] : [];
      const controllers = v2.filter((controller) => controller !== '');
      ensure(parent, controllers);
      try {
        createFreshCgroup(dir);
      } catch (error) {
        // The parent went away behind our back (removed by hand, or by another cleanup).
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        ensureParent(parent, controllers);
        createFreshCgroup(dir);
      }
      dirs.all.push(dir);
    }
    return dir;
  };
  const { memory, pids, cpuacct } = placement.v1Parents;
  dirs.unified = make(placement.unifiedParent);
  if (!enforce && dirs.unified !== undefined) return dirs;
  dirs.memory = make(memory);
  dirs.pids = make(pids);
  dirs.cpuacct = make(cpuacct);
  return dirs;
}

function readOomKills(dir: string): number {
  const v1 = readCgroupFile(dir, 'memory.oom_control');
  const text = v1 ?? readCgroupFile(dir, 'memory.events');
  return parseFlatKeyed(text).get('oom_kill') ?? 0;
}

function readMemoryPeak(dir: string): number | undefined {
  return (
    parseSingleNumber(readCgroupFile(dir, 'memory.peak')) ??
    parseSingleNumber(readCgroupFile(dir, 'memory.max_usage_in_bytes'))
  );
}

/** CPU time from cgroup v2 `cpu.stat` (present even without the cpu controller) or v1 cpuacct. */
function readCpuMs(
  dirs: readonly string[],
): { userCpuMs: number; systemCpuMs: number } | undefined {
  for (const dir of dirs) {
    const stat = parseFlatKeyed(readCgroupFile(dir, 'cpu.stat'));
    const user = stat.get('user_usec');
    const system = stat.get('system_usec');
    if (user !== undefined && system !== undefined)
      return { userCpuMs: Math.round(user / 1000), systemCpuMs: Math.round(system / 1000) };
  }
  for (const dir of dirs) {
    const user = parseSingleNumber(readCgroupFile(dir, 'cpuacct.usage_user'));
    const system = parseSingleNumber(readCgroupFile(dir, 'cpuacct.usage_sys'));
    if (user !== undefined && system !== undefined)
      return { userCpuMs: Math.round(user / 1e6), systemCpuMs: Math.round(system / 1e6) };
  }
  return undefined;
}

/** Whether a cgroup directory has the memory controller's files, by looking. */
function hasMemoryFiles(dir: string): boolean {
  return hasCgroupFile(dir, 'memory.oom_control') || hasCgroupFile(dir, 'memory.events');
}

/**
 * Reads what a task's cgroups recorded: OOM kills, peak memory, CPU time. `hasMemory` tells
 * which directories hold the memory controller; by default each one is looked at.
 */
export function reportTaskCgroups(
  dirs: readonly string[],
  hasMemory: (dir: string) => boolean = hasMemoryFiles,
): CgroupReport | undefined {
  if (dirs.length === 0) return undefined;
  let oomKills = 0;
  let memoryPeakBytes: number | undefined;
  for (const dir of dirs) {
    // Only the hierarchy holding the memory controller has these files.
    if (!hasMemory(dir)) continue;
    oomKills += readOomKills(dir);
    memoryPeakBytes ??= readMemoryPeak(dir);
  }
  return {
    oomKilled: oomKills > 0,
    ...(memoryPeakBytes === undefined ? {} : { memoryPeakBytes }),
    ...readCpuMs(dirs),
  };
}

/**
 * Per-task cgroups on whatever the host has: pure v2, hybrid (cgroup2 for tracking and
 * cgroup.kill, v1 memory/pids for limits), or v1 only. One directory per hierarchy; the shim
 * puts the program in all of them before exec, so the whole tree is held.
 */
export function createTaskCgroups(placement: CgroupPlacement): TaskCgroups {
  // The per-runtime parents stay while tasks come and go, and are removed once idle: creating
  // and removing them around every task of a sequential workload doubled the cgroupfs work
  // per task. A SIGKILLed server may leave an empty one; the next start removes it.
  const readyParents = new Set<string>();
  const memoryParents = new Set(
    [
      placement.v1Parents.memory,
      placement.unifiedControllers.memory ? placement.unifiedParent : undefined,
    ].filter((parent) => parent !== undefined),
  );
  const idleTimers = new Map<string, NodeJS.Timeout>();
  const ensure = (parent: string, v2Controllers: readonly string[]): void => {
    clearTimeout(idleTimers.get(parent));
    idleTimers.delete(parent);
    if (readyParents.has(parent)) return;
    ensureParent(parent, v2Controllers);
    readyParents.add(parent);
  };
  const removeWhenIdle = (parent: string): void => {
    clearTimeout(idleTimers.get(parent));
    const timer = setTimeout(() => {
      idleTimers.delete(parent);
      removeParentIfEmpty(parent);
      if (!fs.existsSync(parent)) readyParents.delete(parent);
    }, PARENT_IDLE_MS);
    timer.unref();
    idleTimers.set(parent, timer);
  };
  const remove = (dirs: readonly string[]): void => {
    for (const dir of dirs) {
      // Usually empty already (the shim reaped the whole tree before its exit record): one
      // rmdir. Anything left (a failed launch, a lost shim) is killed first.
      if (!tryRemoveCgroupDir(dir)) {
        killCgroup(dir);
        if (!removeCgroupDir(dir)) continue;
      }
      removeWhenIdle(path.dirname(dir));
    }
  };
  return {
    create(taskId: string, limits: CgroupLimits): CreatedCgroups {
      let dirs: Dirs = { all: [] };
      try {
        dirs = createDirs(placement, taskId, limits.enforce, ensure);
        let memoryLimited = false;
        if (limits.enforce && limits.memoryBytes !== undefined)
          memoryLimited = applyMemoryLimit(placement, dirs, limits.memoryBytes);
        if (limits.enforce && limits.pidsMax !== undefined)
          applyPidsLimit(placement, dirs, limits.pidsMax);
        return { dirs: dirs.all, memoryLimited };
      } catch (error) {
        remove(dirs.all);
        const message = error instanceof Error ? error.message : String(error);
        throw new RuntimeError(
          'sandbox_setup_failed',
          `could not set up the task's cgroups: ${message}`,
          { dirs: dirs.all },
          { cause: error },
        );
      }
    },
    // The placement says where the memory controller is: no probing of files per task.
    report: (dirs) => reportTaskCgroups(dirs, (dir) => memoryParents.has(path.dirname(dir))),
    remove,
    close(): void {
      for (const [parent, timer] of idleTimers) {
        clearTimeout(timer);
        removeParentIfEmpty(parent);
      }
      idleTimers.clear();
      readyParents.clear();
    },
  };
}
