import { Type, type Static } from '@sinclair/typebox';
import { TaskResourceReservationSchema } from './task-status.js';

// Wire schemas for /api/v1/runtime/* and the probes (contract §2).

export const RuntimeInfoSchema = Type.Object({
  runtime_id: Type.String(),
  version: Type.String(),
  started_at: Type.String(),
  snapshot_version: Type.Literal('v1'),
  platform: Type.Object({ os: Type.String(), arch: Type.String() }),
});
export type RuntimeInfo = Static<typeof RuntimeInfoSchema>;

const NamespaceAvailability = Type.Object({
  mount: Type.Boolean(),
  pid: Type.Boolean(),
  uts: Type.Boolean(),
  ipc: Type.Boolean(),
  net: Type.Boolean(),
});

export const CapacitySchema = Type.Object({
  task_slots: Type.Integer(),
  memory_bytes: Type.Optional(Type.Integer()),
  pids: Type.Optional(Type.Integer()),
});

export const CapabilityManifestSchema = Type.Object({
  runtime_id: Type.String(),
  snapshot_version: Type.Literal('v1'),
  collected_at: Type.String(),
  platform: Type.Object({
    os: Type.String(),
    arch: Type.String(),
    containerized: Type.Boolean(),
    kubernetes: Type.Boolean(),
  }),
  execution: Type.Object({
    command: Type.Boolean(),
    script: Type.Boolean(),
    process_group: Type.Boolean(),
  }),
  sandbox: Type.Object({
    process: Type.Boolean(),
    linux_sandbox: Type.Boolean(),
    chroot: Type.Boolean(),
    namespaces: NamespaceAvailability,
  }),
  storage: Type.Object({ data_dir_writable: Type.Boolean() }),
  resources: Type.Object({
    rlimit_cpu: Type.Boolean(),
    rlimit_memory: Type.Boolean(),
    cgroup_v2: Type.Boolean(),
    cgroup_writable: Type.Boolean(),
    memory_limit: Type.Boolean(),
    pids_limit: Type.Boolean(),
    oom_detection: Type.Boolean(),
    cpu_quota: Type.Boolean(),
    ledger: Type.Boolean(),
    capacity: CapacitySchema,
  }),
  stable_semantics: Type.Array(Type.String()),
  enhanced_semantics: Type.Array(Type.String()),
  warnings: Type.Array(Type.String()),
  degraded: Type.Boolean(),
  overrides: Type.Record(Type.String(), Type.String()),
  /** Additive: how the host was found (cgroup layout, tools), for operators. */
  host: Type.Optional(Type.Unknown()),
});
export type CapabilityManifest = Static<typeof CapabilityManifestSchema>;

export const RuntimeConfigViewSchema = Type.Object({
  runtime_id: Type.String(),
  listen_addr: Type.String(),
  data_dir: Type.String(),
  max_running_tasks: Type.Integer(),
  max_queued_tasks: Type.Integer(),
  termination_grace_ms: Type.Integer(),
  result_retention_secs: Type.Integer(),
  gc_interval_ms: Type.Integer(),
  dispatch_poll_interval_ms: Type.Integer(),
  cgroup_root: Type.String(),
  default_capability_mode: Type.Union([Type.Literal('adaptive'), Type.Literal('strict')]),
  cgroup_enabled: Type.Boolean(),
  /** Additive. */
  durable: Type.Optional(Type.Boolean()),
});
export type RuntimeConfigView = Static<typeof RuntimeConfigViewSchema>;

const Amounts = Type.Object({
  task_slots: Type.Integer(),
  memory_bytes: Type.Optional(Type.Integer()),
  pids: Type.Optional(Type.Integer()),
});

export const RuntimeResourcesSchema = Type.Object({
  runtime_id: Type.String(),
  capacity: Amounts,
  reserved: Amounts,
  available: Amounts,
  active_reservations: Type.Array(
    Type.Object({
      task_id: Type.String(),
      status: Type.String(),
      reservation: TaskResourceReservationSchema,
      reserved_at: Type.Optional(Type.String()),
      tenant: Type.Optional(Type.String()),
    }),
  ),
  accepted_waiting_tasks: Type.Integer(),
  tenants: Type.Array(
    Type.Object({
      tenant: Type.String(),
      quota: Type.Optional(Amounts),
      reserved: Amounts,
      available: Type.Optional(Amounts),
      /** Additive. */
      waiting_tasks: Type.Optional(Type.Integer()),
    }),
  ),
});
export type RuntimeResources = Static<typeof RuntimeResourcesSchema>;

export const HealthSchema = Type.Object({ status: Type.String(), version: Type.String() });
