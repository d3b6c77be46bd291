import type { ExecutionPlan, SandboxDescription } from '../contract/task-status.js';
import type { CapabilityMode } from '../contract/task-request.js';
import { RuntimeError } from '../core/runtime-error.js';
import type { NamespaceSelection, TaskSpec } from '../core/task-spec.js';
import type { HostCapabilities } from '../capabilities/host-capabilities.js';

const NAMESPACE_KINDS = ['mount', 'pid', 'uts', 'ipc', 'net'] as const;

/** The subset of host facts the plan depends on; kept small so tables of cases stay readable. */
export type PlanCapabilities = Pick<
  HostCapabilities,
  | 'linuxSandbox'
  | 'linuxSandboxUnavailable'
  | 'chroot'
  | 'namespaces'
  | 'rlimitCpu'
  | 'rlimitMemory'
  | 'cgroups'
>;

interface Degradation {
  fallbackReasons: string[];
  strict: boolean;
}

/**
 * Strict mode refuses with `reason`; adaptive records it as a fallback reason, with what
 * runs instead (`fallback`), which a refusal must not claim.
 */
function degrade(state: Degradation, capability: string, reason: string, fallback?: string): void {
  if (state.strict)
    throw new RuntimeError('unsupported_capability', `strict mode cannot satisfy: ${reason}`, {
      capability,
      reason,
    });
  state.fallbackReasons.push(fallback === undefined ? reason : `${reason}; ${fallback}`);
}

function describeRequested(spec: TaskSpec): SandboxDescription {
  const { sandbox } = spec;
  const isSandboxed = sandbox.profile === 'linux_sandbox';
  const none: NamespaceSelection = { mount: false, pid: false, uts: false, ipc: false, net: false };
  return {
    profile: sandbox.profile,
    chroot: sandbox.chroot,
    ...(sandbox.rootfs === undefined ? {} : { rootfs: sandbox.rootfs }),
    namespaces: isSandboxed ? { ...sandbox.namespaces } : none,
    ...(sandbox.workspace_subdir === undefined
      ? {}
      : { workspace_subdir: sandbox.workspace_subdir }),
  };
}

function resolveSandbox(
  requested: SandboxDescription,
  caps: PlanCapabilities,
  state: Degradation,
): SandboxDescription {
  if (requested.profile === 'process') return requested;
  if (caps.linuxSandbox === null) {
    degrade(
      state,
      'linux_sandbox',
      caps.linuxSandboxUnavailable ?? 'linux_sandbox is not available on this host',
      'running as process',
    );
    const { rootfs: _rootfs, ...rest } = requested;
    return {
      ...rest,
      profile: 'process',
      chroot: false,
      namespaces: { mount: false, pid: false, uts: false, ipc: false, net: false },
    };
  }
  const effective = { ...requested, namespaces: { ...requested.namespaces } };
  if (requested.chroot && !caps.chroot) {
    degrade(state, 'chroot', 'chroot is not available on this host', 'running without chroot');
    effective.chroot = false;
    delete effective.rootfs;
  }
  for (const kind of NAMESPACE_KINDS) {
    if (requested.namespaces[kind] && !caps.namespaces[kind]) {
      degrade(state, `namespace.${kind}`, `${kind} namespace is not available on this host`);
      effective.namespaces[kind] = false;
    }
  }
  return effective;
}

/**
 * Resolves what was asked against what this host can enforce (contract §1, "Resolution at
 * submit time"). Pure: strict mode throws `unsupported_capability`; adaptive degrades and
 * records one fallback reason per degradation.
 */
export function resolveExecutionPlan(
  spec: TaskSpec,
  caps: PlanCapabilities,
  defaultMode: CapabilityMode,
): ExecutionPlan {
  const mode = spec.capability_mode ?? defaultMode;
  const state: Degradation = {
    fallbackReasons: [],
    strict: mode === 'strict' || spec.control_context?.requires_strict_sandbox === true,
  };
  const requested = describeRequested(spec);
  const effective = resolveSandbox(requested, caps, state);
  const isCgroupEnforced = effective.profile === 'linux_sandbox' && caps.cgroups !== null;
  const { limits } = spec;

  const isCpuEnforced = limits.cpu_time_sec !== undefined && caps.rlimitCpu;
  if (limits.cpu_time_sec !== undefined && !isCpuEnforced)
    degrade(state, 'cpu_time_sec', 'cpu_time_sec cannot be enforced on this host (no RLIMIT_CPU)');

  const isMemoryByCgroup = isCgroupEnforced && caps.cgroups?.memoryLimit === true;
  const isMemoryEnforced =
    limits.memory_bytes !== undefined && (caps.rlimitMemory || isMemoryByCgroup);
  if (limits.memory_bytes !== undefined && !isMemoryEnforced)
    degrade(state, 'memory_bytes', 'memory_bytes cannot be enforced on this host');

  const isPidsEnforced =
    limits.pids_max !== undefined && isCgroupEnforced && caps.cgroups?.pidsLimit === true;
  if (limits.pids_max !== undefined && !isPidsEnforced)
    degrade(
      state,
      'pids_max',
      'pids_max needs linux_sandbox with a writable cgroup pids controller; not enforced',
    );

  // Enforced, but not as a reader might assume: per process, not for the task as a whole.
  const warnings: string[] = [];
  if (limits.memory_bytes !== undefined && isMemoryEnforced && !isMemoryByCgroup)
    warnings.push(
      'memory_bytes is enforced as RLIMIT_AS only: address space, not resident memory, ' +
        'and per process (each process of the task may use it)',
    );
  if (isCpuEnforced)
    warnings.push(
      'cpu_time_sec is enforced as RLIMIT_CPU: per process (each process of the task may use it)',
    );

  return {
    capability_mode: mode,
    requested_sandbox: requested,
    effective_sandbox: effective,
    resource_enforcement: {
      wall_time_ms: limits.wall_time_ms,
      ...(limits.cpu_time_sec === undefined ? {} : { cpu_time_sec: limits.cpu_time_sec }),
      cpu_time_enforced: isCpuEnforced,
      ...(limits.memory_bytes === undefined ? {} : { memory_bytes: limits.memory_bytes }),
      memory_enforced: isMemoryEnforced,
      ...(limits.pids_max === undefined ? {} : { pids_max: limits.pids_max }),
      pids_enforced: isPidsEnforced,
      cgroup_enforced: isCgroupEnforced,
      oom_detection:
        limits.memory_bytes !== undefined &&
        isMemoryByCgroup &&
        caps.cgroups?.oomDetection === true,
    },
    degraded: state.fallbackReasons.length > 0,
    ...(state.fallbackReasons.length > 0 ? { fallback_reasons: state.fallbackReasons } : {}),
    ...(warnings.length > 0 ? { capability_warnings: warnings } : {}),
  };
}
