import { Type, type Static } from '@sinclair/typebox';
import { ERROR_CODES } from '../core/error-code.js';
import { TASK_STATUSES } from '../core/task-status.js';

// Wire schemas for the task snapshot returned by GET /api/v1/tasks/:id, kill, and stored
// as result.json. Optional fields are omitted, never null.

export const ErrorCodeSchema = Type.Union(ERROR_CODES.map((code) => Type.Literal(code)));

export const RuntimeErrorInfoSchema = Type.Object({
  code: ErrorCodeSchema,
  message: Type.String(),
  details: Type.Optional(Type.Unknown()),
});
export type RuntimeErrorInfo = Static<typeof RuntimeErrorInfoSchema>;

export const ResourceUsageSchema = Type.Object({
  duration_ms: Type.Integer(),
  user_cpu_ms: Type.Optional(Type.Integer()),
  system_cpu_ms: Type.Optional(Type.Integer()),
  max_rss_bytes: Type.Optional(Type.Integer()),
  memory_peak_bytes: Type.Optional(Type.Integer()),
});
export type ResourceUsage = Static<typeof ResourceUsageSchema>;

const NamespaceFlags = Type.Object({
  mount: Type.Boolean(),
  pid: Type.Boolean(),
  uts: Type.Boolean(),
  ipc: Type.Boolean(),
  net: Type.Boolean(),
});

export const SandboxDescriptionSchema = Type.Object({
  profile: Type.Union([Type.Literal('process'), Type.Literal('linux_sandbox')]),
  chroot: Type.Boolean(),
  rootfs: Type.Optional(Type.String()),
  namespaces: NamespaceFlags,
  workspace_subdir: Type.Optional(Type.String()),
});
export type SandboxDescription = Static<typeof SandboxDescriptionSchema>;

export const ResourceEnforcementSchema = Type.Object({
  wall_time_ms: Type.Integer(),
  cpu_time_sec: Type.Optional(Type.Integer()),
  cpu_time_enforced: Type.Boolean(),
  memory_bytes: Type.Optional(Type.Integer()),
  memory_enforced: Type.Boolean(),
  pids_max: Type.Optional(Type.Integer()),
  pids_enforced: Type.Boolean(),
  cgroup_enforced: Type.Boolean(),
  oom_detection: Type.Boolean(),
});

export const ExecutionPlanSchema = Type.Object({
  capability_mode: Type.Union([Type.Literal('adaptive'), Type.Literal('strict')]),
  requested_sandbox: SandboxDescriptionSchema,
  effective_sandbox: SandboxDescriptionSchema,
  resource_enforcement: ResourceEnforcementSchema,
  degraded: Type.Boolean(),
  fallback_reasons: Type.Optional(Type.Array(Type.String())),
  capability_warnings: Type.Optional(Type.Array(Type.String())),
});
export type ExecutionPlan = Static<typeof ExecutionPlanSchema>;

export const TaskResourceReservationSchema = Type.Object({
  task_slots: Type.Integer(),
  memory_bytes: Type.Optional(Type.Integer()),
  pids: Type.Optional(Type.Integer()),
});
export type TaskResourceReservation = Static<typeof TaskResourceReservationSchema>;

export const TaskArtifactsSchema = Type.Object({
  task_dir: Type.String(),
  request_path: Type.String(),
  result_path: Type.String(),
  stdout_path: Type.String(),
  stderr_path: Type.String(),
  script_path: Type.Optional(Type.String()),
});
export type TaskArtifacts = Static<typeof TaskArtifactsSchema>;

export const TaskStatusResponseSchema = Type.Object({
  task_id: Type.String(),
  handle_id: Type.String(),
  status: Type.Union(TASK_STATUSES.map((s) => Type.Literal(s))),
  created_at: Type.String(),
  updated_at: Type.String(),
  started_at: Type.Optional(Type.String()),
  finished_at: Type.Optional(Type.String()),
  duration_ms: Type.Optional(Type.Integer()),
  shim_pid: Type.Optional(Type.Integer()),
  pid: Type.Optional(Type.Integer()),
  pgid: Type.Optional(Type.Integer()),
  exit_code: Type.Optional(Type.Integer()),
  exit_signal: Type.Optional(Type.Integer()),
  stdout: Type.String(),
  stderr: Type.String(),
  stdout_truncated: Type.Boolean(),
  stderr_truncated: Type.Boolean(),
  /** Additive: bytes written so far to stdout.log / stderr.log. */
  stdout_bytes: Type.Optional(Type.Integer()),
  stderr_bytes: Type.Optional(Type.Integer()),
  error: Type.Optional(RuntimeErrorInfoSchema),
  usage: Type.Optional(ResourceUsageSchema),
  execution_plan: Type.Optional(ExecutionPlanSchema),
  reservation: Type.Optional(TaskResourceReservationSchema),
  artifacts: TaskArtifactsSchema,
  metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
});
export type TaskStatusResponse = Static<typeof TaskStatusResponseSchema>;

export const EVENT_TYPES = [
  'submitted',
  'accepted',
  'planned',
  'degraded',
  'resource_reserved',
  'resource_released',
  'started',
  'kill_requested',
  'timeout_triggered',
  'finished',
  'failed',
  'cancelled',
  'recovered',
  // Additive.
  'idle_timeout_triggered',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const EventRecordSchema = Type.Object({
  seq: Type.Integer(),
  task_id: Type.String(),
  event_type: Type.Union(EVENT_TYPES.map((t) => Type.Literal(t))),
  timestamp: Type.String(),
  message: Type.Optional(Type.String()),
  data: Type.Optional(Type.Unknown()),
});
export type EventRecord = Static<typeof EventRecordSchema>;

export const ErrorEnvelopeSchema = Type.Object({
  error: Type.Object({
    code: ErrorCodeSchema,
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  }),
});
