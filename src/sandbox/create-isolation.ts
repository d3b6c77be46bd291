import type { RuntimeConfig } from '../config/runtime-config.js';
import type { HostCapabilities } from '../capabilities/host-capabilities.js';
import { createTaskCgroups } from './hierarchy-task-cgroups.js';
import { selectSandboxBuilder } from './linux-sandbox.js';
import { removeStaleTaskCgroups } from './remove-stale-cgroups.js';
import type { SandboxBuilder } from './task-command.js';
import { noCgroups, type TaskCgroups } from './task-cgroups.js';

/** The isolation a runtime uses, chosen once from what the probe found. */
export interface Isolation {
  sandbox: SandboxBuilder;
  cgroups: TaskCgroups;
  /**
   * Start-up cleanup of per-task cgroups whose task is not running any more; call after
   * restart recovery. Returns how many cgroups were removed.
   */
  removeStaleCgroups(isTaskRunning: (taskId: string) => boolean): number;
}

/** Chooses the sandbox builder and cgroup manager that match what the probe found. */
export function createIsolation(_config: RuntimeConfig, capabilities: HostCapabilities): Isolation {
  const placement = capabilities.cgroups;
  return {
    sandbox: selectSandboxBuilder(capabilities),
    cgroups: placement === null ? noCgroups : createTaskCgroups(placement),
    removeStaleCgroups: (isTaskRunning) => removeStaleTaskCgroups(placement, isTaskRunning),
  };
}
