import type {
  CgroupPlacement,
  LinuxSandboxTool,
} from '../../src/capabilities/host-capabilities.js';
import type { PlanCapabilities } from '../../src/plan/resolve-plan.js';

/** bubblewrap as the probe finds it on a Debian host, with the nobody uid as the default. */
export const BWRAP_TOOL: LinuxSandboxTool = {
  tool: 'bwrap',
  path: '/usr/bin/bwrap',
  setprivPath: '/usr/bin/setpriv',
  envPath: '/usr/bin/env',
  uid: 65534,
  gid: 65534,
};

/** Hybrid cgroups, like the development host: v1 memory, a controller-less cgroup2. */
export const HYBRID_CGROUPS: CgroupPlacement = {
  layout: 'hybrid',
  unifiedParent: '/sys/fs/cgroup/unified/execgo-runtime/rt',
  unifiedControllers: { memory: false, pids: false, cpu: false },
  v1Parents: { memory: '/sys/fs/cgroup/memory/execgo-runtime/rt' },
  memoryLimit: true,
  pidsLimit: true,
  cpuQuota: true,
  oomDetection: true,
  swapPresent: false,
};

/** A host that can enforce everything a request can ask for. */
export const FULL_CAPABILITIES: PlanCapabilities = {
  linuxSandbox: BWRAP_TOOL,
  chroot: true,
  namespaces: { mount: true, pid: true, uts: true, ipc: true, net: true },
  rlimitCpu: true,
  rlimitMemory: true,
  cgroups: HYBRID_CGROUPS,
};

/** A host with rlimits only: no sandbox tool, no namespaces, no cgroups. */
export const NO_ISOLATION: PlanCapabilities = {
  linuxSandbox: null,
  chroot: false,
  namespaces: { mount: false, pid: false, uts: false, ipc: false, net: false },
  rlimitCpu: true,
  rlimitMemory: true,
  cgroups: null,
};
