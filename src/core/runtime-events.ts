import { EventEmitter } from 'node:events';
import type { TaskRecord } from './task-record.js';
import type { TaskStatus } from './task-status.js';

/**
 * Typed lifecycle events: the backbone that feeds metrics, logs, long-poll waiters and
 * tests. Nobody reaches into internals to learn that a task changed.
 */
export interface RuntimeEventMap {
  'task:accepted': [record: TaskRecord];
  'task:rejected': [code: string];
  'task:dispatched': [record: TaskRecord];
  'task:started': [taskId: string];
  /**
   * A running task's supervisor exited: every process of the task is gone, so what it
   * reserved is free, though the task is finished (from its records) only right after.
   */
  'task:exited': [taskId: string];
  'task:finished': [record: TaskRecord];
  /** A running task that never started (its launch got no supervisor) is accepted again. */
  'task:requeued': [record: TaskRecord];
  'task:changed': [taskId: string, status: TaskStatus];
  /** New rows in the task's persisted event log (after commit). */
  'task:event': [taskId: string];
  'ledger:changed': [];
  /** A client started (+1) or stopped (-1) holding a long poll (`wait`) or a live stream. */
  'client:long-poll': [kind: 'wait' | 'stream', delta: 1 | -1];
  /** The API guard refused a connection: a sandboxed task's, or one whose owner is unknown. */
  'api:peer-refused': [];
}

export class RuntimeEvents extends EventEmitter<RuntimeEventMap> {
  constructor() {
    super();
    // Every long-poll waiter and stream subscribes; the default of 10 is a leak heuristic
    // that does not fit a server with many concurrent waiters.
    this.setMaxListeners(0);
  }
}
