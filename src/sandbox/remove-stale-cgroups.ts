import fs from 'node:fs';
import path from 'node:path';
import type { CgroupPlacement } from '../capabilities/host-capabilities.js';
import { killCgroup, removeCgroupDir } from './cgroup-files.js';
import {
  listTaskParents,
  removeParentIfEmpty,
  TASK_CGROUP_PREFIX,
} from './hierarchy-task-cgroups.js';

/**
 * Start-up cleanup: kills and removes per-task cgroups left by an earlier run for tasks that
 * are no longer running (terminal or unknown to the store). Call it after restart recovery,
 * so tasks still observed to the end keep their cgroups. Returns how many were removed.
 */
export function removeStaleTaskCgroups(
  placement: CgroupPlacement | null,
  isTaskRunning: (taskId: string) => boolean,
): number {
  if (placement === null) return 0;
  let removed = 0;
  for (const parent of listTaskParents(placement)) {
    let names: string[];
    try {
      names = fs.readdirSync(parent);
    } catch {
      continue;
    }
    for (const name of names) {
      const isProbe = name.startsWith('probe-');
      if (!isProbe && !name.startsWith(TASK_CGROUP_PREFIX)) continue;
      if (!isProbe && isTaskRunning(name.slice(TASK_CGROUP_PREFIX.length))) continue;
      const dir = path.join(parent, name);
      killCgroup(dir);
      if (removeCgroupDir(dir)) removed++;
    }
    removeParentIfEmpty(parent);
  }
  return removed;
}
