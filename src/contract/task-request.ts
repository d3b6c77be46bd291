import { Type, type Static } from '@sinclair/typebox';

// Wire schemas for POST /api/v1/tasks. Field names and defaults follow
// ../shared/spec/contract.md §1 exactly; additive fields are marked. Objects allow unknown
// properties because clients send extra keys. Cross-field rules that JSON Schema cannot
// express well live in src/core/normalize-request.ts.

const StringMap = Type.Record(Type.String(), Type.String());

export const ExecutionSpecSchema = Type.Object({
  kind: Type.Union([Type.Literal('command'), Type.Literal('script')]),
  program: Type.Optional(Type.String()),
  args: Type.Optional(Type.Array(Type.String())),
  script: Type.Optional(Type.String()),
  interpreter: Type.Optional(Type.Array(Type.String())),
  env: Type.Optional(StringMap),
  /** Additive: text delivered on the program's stdin, then EOF. */
  stdin: Type.Optional(Type.String()),
});

/** Sizes and counts: any integer JavaScript holds exactly. */
const PositiveInt = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
/** Times: the supervisor's bound (native/spec.c MAX_MS, ~31.7 years in ms). */
const MAX_SUPERVISOR_TIME = 1_000_000_000_000;
const PositiveTime = Type.Integer({ minimum: 1, maximum: MAX_SUPERVISOR_TIME });

export const ResourceLimitsSchema = Type.Object({
  wall_time_ms: Type.Optional(PositiveTime),
  cpu_time_sec: Type.Optional(PositiveTime),
  memory_bytes: Type.Optional(PositiveInt),
  pids_max: Type.Optional(PositiveInt),
  stdout_max_bytes: Type.Optional(PositiveInt),
  stderr_max_bytes: Type.Optional(PositiveInt),
  /** Additive: on-disk cap per log file; output beyond it is dropped and marked. */
  log_max_bytes: Type.Optional(PositiveInt),
  /** Additive: terminate when neither stream produced output for this long. */
  idle_timeout_ms: Type.Optional(PositiveTime),
});

export const NamespacesSchema = Type.Object({
  mount: Type.Optional(Type.Boolean()),
  pid: Type.Optional(Type.Boolean()),
  uts: Type.Optional(Type.Boolean()),
  ipc: Type.Optional(Type.Boolean()),
  net: Type.Optional(Type.Boolean()),
});

export const SandboxPolicySchema = Type.Object({
  profile: Type.Optional(Type.Union([Type.Literal('process'), Type.Literal('linux_sandbox')])),
  workspace_subdir: Type.Optional(Type.String()),
  rootfs: Type.Optional(Type.String()),
  chroot: Type.Optional(Type.Boolean()),
  namespaces: Type.Optional(NamespacesSchema),
});

export const CapabilityModeSchema = Type.Union([Type.Literal('adaptive'), Type.Literal('strict')]);

export const ControlContextSchema = Type.Object({
  control_plane_mode: Type.Optional(Type.String()),
  tenant: Type.Optional(Type.String()),
  owner: Type.Optional(Type.String()),
  expected_runtime_profile: Type.Optional(Type.String()),
  requires_strict_sandbox: Type.Optional(Type.Boolean()),
  requires_resource_reservation: Type.Optional(Type.Boolean()),
  labels: Type.Optional(StringMap),
});

export const SubmitTaskRequestSchema = Type.Object({
  task_id: Type.Optional(Type.String()),
  execution: ExecutionSpecSchema,
  limits: Type.Optional(ResourceLimitsSchema),
  sandbox: Type.Optional(SandboxPolicySchema),
  policy: Type.Optional(Type.Object({ capability_mode: Type.Optional(CapabilityModeSchema) })),
  control_context: Type.Optional(ControlContextSchema),
  metadata: Type.Optional(StringMap),
  /** Additive: same as the Idempotency-Key header. */
  idempotency_key: Type.Optional(Type.String()),
});

export type SubmitTaskRequest = Static<typeof SubmitTaskRequestSchema>;
export type CapabilityMode = Static<typeof CapabilityModeSchema>;

export const SubmitTaskResponseSchema = Type.Object({
  task_id: Type.String(),
  handle_id: Type.String(),
  status: Type.String(),
});
export type SubmitTaskResponse = Static<typeof SubmitTaskResponseSchema>;
