import type { NamespaceSelection } from '../core/task-spec.js';

/** Which cgroup hierarchy layout the host has. */
export type CgroupLayout = 'v2' | 'hybrid' | 'v1' | 'none';

/** Where this runtime may create per-task cgroups, per controller. */
export interface CgroupPlacement {
  layout: CgroupLayout;
  /** Directory under which per-task cgroups are created on the unified (v2) hierarchy. */
  unifiedParent?: string;
  /**
   * The leaf this server moved itself into on cgroup v2, so that its own cgroup could pass
   * controllers to the task cgroups (delegate-v2-controllers.ts). Absent when it did not move.
   */
  serverLeaf?: string;
  /** Whether the unified parent's children get memory/pids limits (pure v2 with controllers). */
  unifiedControllers: { memory: boolean; pids: boolean; cpu: boolean };
  /** v1 controller name → parent directory for per-task cgroups (writable ones only). */
  v1Parents: Partial<Record<'memory' | 'pids' | 'cpu' | 'cpuacct', string>>;
  memoryLimit: boolean;
  pidsLimit: boolean;
  cpuQuota: boolean;
  oomDetection: boolean;
  /** Whether swap exists and must be capped together with memory. */
  swapPresent: boolean;
}

/**
 * How linux_sandbox is realised: bubblewrap (as root, so it can build the mounts and
 * namespaces) runs `setpriv` as the sandbox's first program, which drops to `uid`/`gid`
 * with no capabilities; `env -i` then applies the task's environment at the final exec.
 */
export interface LinuxSandboxTool {
  tool: 'bwrap';
  path: string;
  setprivPath: string;
  envPath: string;
  /**
   * util-linux unshare, present only when the probe proved that the sandbox uid may create a
   * user namespace owning a UTS namespace: uts tasks then run as root of their own user
   * namespace and may change their hostname. Absent, their hostname stays fixed.
   */
  unsharePath?: string;
  /**
   * The static sandbox init chroot tasks run (native/sandbox-init-main.c), when it was built;
   * absent, a chroot task's signal death reads as exit 128+N (the probe warns).
   */
  chrootInitPath?: string;
  uid: number;
  gid: number;
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
  linuxSandbox: LinuxSandboxTool | null;
  /** Why linux_sandbox is unavailable (the probe's warning), when it is. */
  linuxSandboxUnavailable?: string;
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
