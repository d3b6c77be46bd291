import type { NamespaceSelection } from '../core/task-spec.js';

/** Which cgroup hierarchy layout the host has. */
export type CgroupLayout = 'v2' | 'hybrid' | 'v1' | 'none';

/** Where this runtime may create per-task cgroups, per controller. */
export interface CgroupPlacement {
  layout: CgroupLayout;
  /** Directory under which per-task cgroups are created on the unified (v2) hierarchy. */
  unifiedParent?: string;
  /** v1 controller name → parent directory for per-task cgroups. */
  v1Parents: Partial<Record<'memory' | 'pids' | 'cpu' | 'cpuacct' | 'freezer', string>>;
  memoryLimit: boolean;
  pidsLimit: boolean;
  cpuQuota: boolean;
  oomDetection: boolean;
  /** Whether swap exists and must be capped together with memory. */
  swapPresent: boolean;
}

/**
 * Everything the probe learned about this host, in domain terms. Probed once at start
 * (re-probing needs a restart) and then read by the plan resolver and the sandbox builder.
 */
export interface HostCapabilities {
  os: string;
  arch: string;
  containerized: boolean;
  kubernetes: boolean;
  dataDirWritable: boolean;
  /** Null when linux_sandbox is unavailable; otherwise how it is realised. */
  linuxSandbox: { tool: 'bwrap'; path: string } | null;
  chroot: boolean;
  namespaces: NamespaceSelection;
  rlimitCpu: boolean;
  rlimitMemory: boolean;
  /** Null when cgroups are unusable or disabled. */
  cgroups: CgroupPlacement | null;
  cgroupV2Mounted: boolean;
  capacity: { task_slots: number; memory_bytes?: number; pids?: number };
  tools: Record<string, string | null>;
  warnings: string[];
  overrides: Record<string, string>;
  collectedAtMs: number;
}
