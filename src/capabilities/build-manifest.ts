import type { CapabilityManifest } from '../contract/runtime.js';
import { formatTimestamp } from '../core/clock.js';
import type { HostCapabilities } from './host-capabilities.js';

/** Guarantees that hold on every host this runtime starts on. */
const STABLE_SEMANTICS = [
  'command_execution',
  'script_execution',
  'process_group_isolation',
  'minimal_environment',
  'wall_time_timeout',
  'sigterm_then_sigkill_escalation',
  'persistent_task_state',
  'supervisor_outlives_server',
  'restart_recovery',
  'resource_ledger',
  'owner_gated_kill',
  'per_file_output_size_limit',
];

/** Maps host facts to the contract's capability manifest. Pure. */
export function buildManifest(runtimeId: string, caps: HostCapabilities): CapabilityManifest {
  const cgroups = caps.cgroups;
  const enhanced: string[] = [];
  if (caps.rlimitCpu) enhanced.push('rlimit_cpu');
  if (caps.rlimitMemory) enhanced.push('rlimit_memory');
  if (caps.linuxSandbox !== null) enhanced.push('linux_sandbox');
  for (const [kind, isAvailable] of Object.entries(caps.namespaces))
    if (isAvailable && caps.linuxSandbox !== null) enhanced.push(`namespace_${kind}`);
  if (caps.chroot) enhanced.push('chroot');
  if (cgroups !== null) enhanced.push('cgroup_process_tree_kill');
  if (cgroups?.memoryLimit === true) enhanced.push('cgroup_memory_limit');
  if (cgroups?.pidsLimit === true) enhanced.push('cgroup_pids_limit');
  if (cgroups?.oomDetection === true) enhanced.push('oom_detection');
  const hasNamespaces = caps.linuxSandbox !== null;
  return {
    runtime_id: runtimeId,
    snapshot_version: 'v1',
    collected_at: formatTimestamp(caps.collectedAtMs),
    platform: {
      os: caps.os,
      arch: caps.arch,
      containerized: caps.containerized,
      kubernetes: caps.kubernetes,
    },
    execution: { command: true, script: true, process_group: true },
    sandbox: {
      process: true,
      linux_sandbox: caps.linuxSandbox !== null,
      chroot: caps.chroot,
      namespaces: {
        mount: hasNamespaces && caps.namespaces.mount,
        pid: hasNamespaces && caps.namespaces.pid,
        uts: hasNamespaces && caps.namespaces.uts,
        ipc: hasNamespaces && caps.namespaces.ipc,
        net: hasNamespaces && caps.namespaces.net,
      },
    },
    storage: { data_dir_writable: caps.dataDirWritable },
    resources: {
      rlimit_cpu: caps.rlimitCpu,
      rlimit_memory: caps.rlimitMemory,
      cgroup_v2: caps.cgroupV2Mounted,
      cgroup_writable: cgroups !== null,
      memory_limit: cgroups?.memoryLimit ?? false,
      pids_limit: cgroups?.pidsLimit ?? false,
      oom_detection: cgroups?.oomDetection ?? false,
      cpu_quota: cgroups?.cpuQuota ?? false,
      ledger: true,
      capacity: caps.capacity,
    },
    stable_semantics: STABLE_SEMANTICS,
    enhanced_semantics: enhanced,
    warnings: caps.warnings,
    degraded: caps.warnings.length > 0,
    overrides: caps.overrides,
    host: {
      cgroup_layout: cgroups?.layout ?? 'none',
      ...(cgroups?.serverLeaf === undefined ? {} : { server_cgroup: cgroups.serverLeaf }),
      tools: caps.tools,
    },
  };
}
