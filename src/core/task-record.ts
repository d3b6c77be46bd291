import type {
  EventType,
  ExecutionPlan,
  TaskResourceReservation,
  TaskStatusResponse,
} from '../contract/task-status.js';
import type { TaskStatus } from './task-status.js';
import type { TaskSpec } from './task-spec.js';

/** Identity of a supervisor process that survives pid reuse (pid + start time + boot). */
export interface ProcessIdentity {
  pid: number;
  startTicks: number;
  bootId: string;
}

/** What was actually launched, kept so recovery can clean up exactly that. */
export interface LaunchRecord {
  cgroupDirs: string[];
  /**
   * When the gate was opened: committed with the shim's identity, before the gate byte is
   * written, so a crash in between errs on the safe side (possibly started, never re-run).
   * Optional only for rows of runtimes that committed the two separately.
   */
  gateOpenedAt?: number;
  /** linux_sandbox: the task's own uid (= gid), held until the task is finished. */
  sandboxUid?: number;
}

/** The persisted state of one task. Times are epoch milliseconds. */
export interface TaskRecord {
  taskId: string;
  queueSeq: number;
  status: TaskStatus;
  spec: TaskSpec;
  plan: ExecutionPlan;
  reservation: TaskResourceReservation;
  tenant?: string;
  owner?: string;
  createdAt: number;
  updatedAt: number;
  startedAt?: number;
  finishedAt?: number;
  reservedAt?: number;
  releasedAt?: number;
  shim?: ProcessIdentity;
  pid?: number;
  pgid?: number;
  killRequestedAt?: number;
  launch?: LaunchRecord;
  /** The terminal snapshot, identical to result.json. */
  result?: TaskStatusResponse;
  idempotencyKey?: string;
  requestHash?: string;
}

/** An event to append to a task's audit trail. */
export interface NewEvent {
  type: EventType;
  message?: string;
  data?: unknown;
}
