import type { CapabilityMode } from '../contract/task-request.js';

/** Namespace selection for linux_sandbox, fully defaulted. */
export interface NamespaceSelection {
  mount: boolean;
  pid: boolean;
  uts: boolean;
  ipc: boolean;
  net: boolean;
}

/** What to run, after validation and defaulting. Inner code only ever sees this shape. */
export type ExecutionSpec =
  | {
      kind: 'command';
      program: string;
      args: string[];
      env: Record<string, string>;
      stdin?: string;
    }
  | {
      kind: 'script';
      script: string;
      interpreter?: string[];
      env: Record<string, string>;
      stdin?: string;
    };

export interface LimitsSpec {
  wall_time_ms: number;
  cpu_time_sec?: number;
  memory_bytes?: number;
  pids_max?: number;
  stdout_max_bytes: number;
  stderr_max_bytes: number;
  log_max_bytes: number;
  idle_timeout_ms?: number;
}

export interface SandboxSpec {
  profile: 'process' | 'linux_sandbox';
  workspace_subdir?: string;
  rootfs?: string;
  chroot: boolean;
  namespaces: NamespaceSelection;
}

export interface ControlContextSpec {
  control_plane_mode?: string;
  tenant?: string;
  owner?: string;
  expected_runtime_profile?: string;
  requires_strict_sandbox?: boolean;
  requires_resource_reservation?: boolean;
  labels?: Record<string, string>;
}

/** A fully normalized submission: the single input type of the task service. */
export interface TaskSpec {
  task_id: string;
  execution: ExecutionSpec;
  limits: LimitsSpec;
  sandbox: SandboxSpec;
  capability_mode?: CapabilityMode;
  control_context?: ControlContextSpec;
  metadata: Record<string, string>;
  idempotency_key?: string;
}
