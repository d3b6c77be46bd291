import fs from 'node:fs';
import path from 'node:path';
import {
  hasCgroupFile,
  readCgroupFile,
  removeCgroupDir,
  writeCgroupFile,
} from '../sandbox/cgroup-files.js';
import { delegateV2Controllers } from './delegate-v2-controllers.js';
import type { CgroupPlacement } from './host-capabilities.js';
import {
  resolveTaskParent,
  type CgroupHierarchies,
  type V1Controller,
} from './parse-cgroup-layout.js';

/** Inputs of the cgroup probe: where we are, where tasks go, whether swap exists. */
export interface CgroupProbeInput {
  hierarchies: CgroupHierarchies;
  cgroupRoot: string | undefined;
  swapPresent: boolean;
  /** Names this runtime's own level under the cgroup root (see resolveTaskParent). */
  instance: string;
  /** Name of the throw-away child used to test writability. */
  probeName: string;
}

function tryWrite(dir: string, name: string, value: string): boolean {
  try {
    writeCgroupFile(dir, name, value);
    return true;
  } catch {
    return false;
  }
}

/** Creates `parent/<probeName>`, runs `check` in it, removes it. False when any step fails. */
function probeChild(parent: string, probeName: string, check: (dir: string) => boolean): boolean {
  const dir = path.join(parent, probeName);
  try {
    fs.mkdirSync(parent, { recursive: true });
    fs.mkdirSync(dir);
  } catch {
    return false;
  }
  try {
    return check(dir) && hasCgroupFile(dir, 'cgroup.procs');
  } finally {
    removeCgroupDir(dir);
  }
}

/** The per-runtime parents are recreated with each task; leave nothing behind after probing. */
function removeIfEmpty(dir: string | undefined): void {
  if (dir === undefined) return;
  try {
    fs.rmdirSync(dir);
  } catch {
    // Holds task cgroups of a previous run (cleaned up after recovery) or is gone.
  }
}

function hasOomKillCounter(text: string | undefined): boolean {
  return /^oom_kill \d+$/m.test(text ?? '');
}

const V1_CHECKS: Record<V1Controller, (dir: string) => boolean> = {
  memory: (dir) =>
    tryWrite(dir, 'memory.limit_in_bytes', '-1') && hasCgroupFile(dir, 'memory.max_usage_in_bytes'),
  pids: (dir) => tryWrite(dir, 'pids.max', 'max'),
  cpu: (dir) => tryWrite(dir, 'cpu.cfs_quota_us', '-1'),
  cpuacct: (dir) => hasCgroupFile(dir, 'cpuacct.stat'),
};

/**
 * Finds out, by really creating cgroups, which controllers this runtime can use for tasks.
 * Parents are created and kept (they are where per-task cgroups live); probe children are
 * removed. Returns null (with warnings) when no hierarchy is writable.
 */
export function probeCgroups(input: CgroupProbeInput, warnings: string[]): CgroupPlacement | null {
  const { hierarchies, cgroupRoot, probeName, instance } = input;
  if (hierarchies.layout === 'none') {
    warnings.push('no cgroup hierarchy is mounted; cgroup enforcement unavailable');
    return null;
  }
  const mounts = [
    ...(hierarchies.unifiedMount === undefined ? [] : [hierarchies.unifiedMount]),
    ...Object.values(hierarchies.v1Mounts),
  ];
  const placement: CgroupPlacement = {
    layout: hierarchies.layout,
    unifiedControllers: { memory: false, pids: false, cpu: false },
    v1Parents: {},
    memoryLimit: false,
    pidsLimit: false,
    cpuQuota: false,
    oomDetection: false,
    swapPresent: input.swapPresent,
  };
  const { unifiedDir, unifiedMount } = hierarchies;
  if (unifiedDir !== undefined && unifiedMount !== undefined) {
    const parent = resolveTaskParent(unifiedDir, unifiedMount, mounts, cgroupRoot, instance);
    const isUsable = probeChild(parent, probeName, () => true);
    if (isUsable) {
      placement.unifiedParent = parent;
      const { serverLeaf } = delegateV2Controllers(
        { mountPoint: unifiedMount, taskParent: parent, ownDir: unifiedDir, instance },
        warnings,
      );
      if (serverLeaf !== undefined) placement.serverLeaf = serverLeaf;
      probeChild(parent, probeName, (dir) => {
        placement.unifiedControllers = {
          memory: tryWrite(dir, 'memory.max', 'max'),
          pids: tryWrite(dir, 'pids.max', 'max'),
          cpu: tryWrite(dir, 'cpu.max', 'max'),
        };
        placement.oomDetection ||=
          placement.unifiedControllers.memory &&
          hasOomKillCounter(readCgroupFile(dir, 'memory.events'));
        if (!hasCgroupFile(dir, 'cgroup.kill'))
          warnings.push('cgroup.kill is unavailable (Linux < 5.14); tasks are killed pid by pid');
        return true;
      });
    } else warnings.push(`cgroup v2 parent ${parent} is not writable; no unified cgroup for tasks`);
  }
  const { unifiedControllers } = placement;
  for (const [controller, ownDir] of Object.entries(hierarchies.v1Dirs) as [
    V1Controller,
    string,
  ][]) {
    if (controller !== 'cpuacct' && unifiedControllers[controller]) continue;
    const mount = hierarchies.v1Mounts[controller] ?? '/';
    const parent = resolveTaskParent(ownDir, mount, mounts, cgroupRoot, instance);
    const isUsable = probeChild(parent, probeName, (dir) => {
      const ok = V1_CHECKS[controller](dir);
      if (ok && controller === 'memory')
        placement.oomDetection ||= hasOomKillCounter(readCgroupFile(dir, 'memory.oom_control'));
      return ok;
    });
    if (isUsable) placement.v1Parents[controller] = parent;
    else if (controller !== 'cpuacct')
      warnings.push(`cgroup v1 ${controller} controller is not writable under ${parent}`);
  }
  placement.memoryLimit = unifiedControllers.memory || placement.v1Parents.memory !== undefined;
  placement.pidsLimit = unifiedControllers.pids || placement.v1Parents.pids !== undefined;
  placement.cpuQuota = unifiedControllers.cpu || placement.v1Parents.cpu !== undefined;
  if (placement.memoryLimit && !placement.oomDetection)
    warnings.push('cgroup memory has no oom_kill counter; OOM kills cannot be told apart');
  for (const parent of [placement.unifiedParent, ...Object.values(placement.v1Parents)])
    removeIfEmpty(parent);
  if (placement.unifiedParent === undefined && Object.keys(placement.v1Parents).length === 0) {
    warnings.push('no writable cgroup hierarchy; cgroup enforcement unavailable');
    return null;
  }
  return placement;
}
