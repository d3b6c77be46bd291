import type { CgroupReport } from '../executor/outcome.js';

/** Limits to apply to a task's cgroup. */
export interface CgroupLimits {
  memoryBytes?: number;
  pidsMax?: number;
  /** Whether the limits apply (linux_sandbox); otherwise the cgroup only tracks the tree. */
  enforce: boolean;
}

/** The cgroups created for one task. */
export interface CreatedCgroups {
  /** Every directory the task joins (one per hierarchy). */
  dirs: string[];
  /** Whether a cgroup memory limit was applied (then RLIMIT_AS is not used). */
  memoryLimited: boolean;
}

/**
 * Per-task cgroups: created before launch, read after the task ended, removed last.
 * An implementation that has no cgroups returns no directories.
 */
export interface TaskCgroups {
  create(taskId: string, limits: CgroupLimits): CreatedCgroups;
  report(dirs: readonly string[]): CgroupReport | undefined;
  remove(dirs: readonly string[]): void;
  /** The runtime stops: removes what is no longer needed (idle parents) now. */
  close(): void;
}

/** Used when cgroups are disabled or unusable on this host. */
export const noCgroups: TaskCgroups = {
  create: () => ({ dirs: [], memoryLimited: false }),
  report: () => undefined,
  remove: () => undefined,
  close: () => undefined,
};
