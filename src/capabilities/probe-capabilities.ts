import os from 'node:os';
import type { RuntimeConfig } from '../config/runtime-config.js';
import type { HostCapabilities } from './host-capabilities.js';
import { detectCapacity, detectContainer, findTool, probeDataDirWritable } from './probe-host.js';

/**
 * Probes the host once at start. Everything reported here is what the runtime will really
 * do; anything it cannot do is a warning, and explicit overrides are listed as such.
 */
export function probeCapabilities(config: RuntimeConfig, env: NodeJS.ProcessEnv): HostCapabilities {
  const warnings: string[] = [];
  const overrides: Record<string, string> = {};
  const isLinux = process.platform === 'linux';
  if (config.disableLinuxSandbox) overrides.linux_sandbox = 'disabled';
  if (config.disableCgroup) overrides.cgroup = 'disabled';
  if (config.capacityMemoryBytes !== undefined)
    overrides.capacity_memory_bytes = String(config.capacityMemoryBytes);
  if (config.capacityPids !== undefined) overrides.capacity_pids = String(config.capacityPids);
  const tools: Record<string, string | null> = {};
  for (const tool of ['bwrap', 'unshare', 'prlimit', 'setsid', 'setpriv'])
    tools[tool] = findTool(tool);
  warnings.push('linux_sandbox is not available in this build');
  warnings.push('cgroup enforcement is not available in this build');
  const dataDirWritable = probeDataDirWritable(config.dataDir);
  if (!dataDirWritable) warnings.push(`data dir ${config.dataDir} is not writable`);
  return {
    os: process.platform,
    arch: os.arch(),
    ...detectContainer(env),
    dataDirWritable,
    linuxSandbox: null,
    chroot: false,
    namespaces: { mount: false, pid: false, uts: false, ipc: false, net: false },
    rlimitCpu: isLinux,
    rlimitMemory: isLinux,
    cgroups: null,
    cgroupV2Mounted: false,
    capacity: detectCapacity(config),
    tools,
    warnings,
    overrides,
    collectedAtMs: Date.now(),
  };
}
