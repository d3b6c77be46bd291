import type { EventRecord, TaskStatusResponse } from '../contract/task-status.js';
import { RuntimeError } from '../core/runtime-error.js';
import type { LaunchRecord, NewEvent, ProcessIdentity, TaskRecord } from '../core/task-record.js';
import type { TaskStatus, TerminalStatus } from '../core/task-status.js';
import { canTransition } from '../core/task-status.js';
import { formatTimestamp } from '../core/clock.js';
import { createTaskLister, type TaskListQuery, type TaskSummaryRow } from './list-tasks.js';
import { BUSY_TIMEOUT_MS, type SqliteDatabase } from './open-database.js';
import { prepareStatements, type TaskRow, type EventRow } from './statements.js';

function rowToRecord(row: TaskRow): TaskRecord {
  const record: TaskRecord = {
    taskId: row.task_id,
    queueSeq: row.queue_seq,
    status: row.status,
    spec: JSON.parse(row.spec_json) as TaskRecord['spec'],
    plan: JSON.parse(row.plan_json) as TaskRecord['plan'],
    reservation: JSON.parse(row.reservation_json) as TaskRecord['reservation'],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.tenant !== null) record.tenant = row.tenant;
  if (row.owner !== null) record.owner = row.owner;
  if (row.started_at !== null) record.startedAt = row.started_at;
  if (row.finished_at !== null) record.finishedAt = row.finished_at;
  if (row.reserved_at !== null) record.reservedAt = row.reserved_at;
  if (row.released_at !== null) record.releasedAt = row.released_at;
  if (row.shim_pid !== null && row.shim_start_ticks !== null && row.boot_id !== null)
    record.shim = { pid: row.shim_pid, startTicks: row.shim_start_ticks, bootId: row.boot_id };
  if (row.pid !== null) record.pid = row.pid;
  if (row.pgid !== null) record.pgid = row.pgid;
  if (row.kill_requested_at !== null) record.killRequestedAt = row.kill_requested_at;
  if (row.launch_json !== null) record.launch = JSON.parse(row.launch_json) as LaunchRecord;
  if (row.result_json !== null) record.result = JSON.parse(row.result_json) as TaskStatusResponse;
  if (row.idempotency_key !== null) record.idempotencyKey = row.idempotency_key;
  if (row.request_hash !== null) record.requestHash = row.request_hash;
  return record;
}

function rowToEvent(row: EventRow): EventRecord {
  return {
    seq: row.seq,
    task_id: row.task_id,
    event_type: row.event_type,
    timestamp: formatTimestamp(row.timestamp),
    ...(row.message === null ? {} : { message: row.message }),
    ...(row.data_json === null ? {} : { data: JSON.parse(row.data_json) as unknown }),
  };
}

/** The program's start as the shim recorded it. */
export interface StartedFacts {
  pid: number;
  pgid: number;
  startedAt: number;
}

/** A queued task as the dispatcher sees it. */
export interface WaitingRow {
  taskId: string;
  tenant?: string;
  reservation: TaskRecord['reservation'];
  queueSeq: number;
}

export type { TaskListQuery, TaskSummaryRow } from './list-tasks.js';

/**
 * The persistence boundary, in domain words. Each method is one transaction; each transition
 * checks the state machine inside the transaction, so replays after a crash are harmless
 * (a transition that already happened is reported as `false`, not applied twice).
 */
export class TaskStore {
  private readonly statements;
  private readonly appendEvents;
  private readonly listSummaries;

  /**
   * `onEventsAppended` is told which tasks got new events, after the current synchronous
   * flow (and so after the transaction commits), once per task.
   */
  constructor(
    private readonly db: SqliteDatabase,
    onEventsAppended: (taskId: string) => void = () => undefined,
  ) {
    this.statements = prepareStatements(db);
    this.listSummaries = createTaskLister(db);
    const announced = new Set<string>();
    const announce = (taskId: string): void => {
      if (announced.size === 0)
        queueMicrotask(() => {
          const ids = [...announced];
          announced.clear();
          for (const id of ids) onEventsAppended(id);
        });
      announced.add(taskId);
    };
    this.appendEvents = (taskId: string, at: number, events: readonly NewEvent[]): void => {
      if (events.length > 0) announce(taskId);
      for (const event of events) {
        this.statements.insertEvent.run({
          task_id: taskId,
          event_type: event.type,
          timestamp: at,
          message: event.message ?? null,
          data_json: event.data === undefined ? null : JSON.stringify(event.data),
        });
      }
    };
  }

  /**
   * Persists a newly accepted task with its first events and returns its queue_seq. Throws
   * `conflict` on duplicates.
   */
  insertAccepted(record: TaskRecord, events: readonly NewEvent[]): number {
    return this.db.transaction(() => {
      if (this.statements.getTask.get(record.taskId) !== undefined)
        throw new RuntimeError('conflict', `task ${record.taskId} already exists`, {
          task_id: record.taskId,
        });
      const inserted = this.statements.insertTask.run({
        task_id: record.taskId,
        status: record.status,
        tenant: record.tenant ?? null,
        owner: record.owner ?? null,
        spec_json: JSON.stringify(record.spec),
        plan_json: JSON.stringify(record.plan),
        reservation_json: JSON.stringify(record.reservation),
        created_at: record.createdAt,
        updated_at: record.updatedAt,
        idempotency_key: record.idempotencyKey ?? null,
        request_hash: record.requestHash ?? null,
      });
      this.appendEvents(record.taskId, record.createdAt, events);
      return Number(inserted.lastInsertRowid);
    })();
  }

  getTask(taskId: string): TaskRecord | undefined {
    const row = this.statements.getTask.get(taskId);
    return row === undefined ? undefined : rowToRecord(row);
  }

  /** Only the status column; undefined for an unknown task. */
  getTaskStatus(taskId: string): TaskStatus | undefined {
    return this.statements.getStatus.get(taskId)?.status;
  }

  /** Whether a kill was stored for the task (one column; used on the launch path). */
  isKillRequested(taskId: string): boolean {
    return (this.statements.getKillRequestedAt.get(taskId)?.kill_requested_at ?? null) !== null;
  }

  /**
   * The stored terminal snapshot exactly as written (result.json's content), or undefined
   * while the task is not terminal. Terminal snapshots never change, so they can be served
   * as stored without parsing the row.
   */
  getTerminalSnapshotJson(taskId: string): string | undefined {
    return this.statements.getResultJson.get(taskId)?.result_json ?? undefined;
  }

  findByIdempotencyKey(key: string): TaskRecord | undefined {
    const row = this.statements.getByIdempotencyKey.get(key);
    return row === undefined ? undefined : rowToRecord(row);
  }

  /** Accepted tasks in FIFO order. */
  listAccepted(): TaskRecord[] {
    return this.statements.listByStatus.all('accepted').map(rowToRecord);
  }

  /** The dispatcher's light view of the queue, FIFO. */
  listWaiting(): WaitingRow[] {
    return this.statements.listWaiting.all().map((row) => ({
      taskId: row.task_id,
      ...(row.tenant === null ? {} : { tenant: row.tenant }),
      reservation: JSON.parse(row.reservation_json) as TaskRecord['reservation'],
      queueSeq: row.queue_seq,
    }));
  }

  listRunning(): TaskRecord[] {
    return this.statements.listByStatus.all('running').map(rowToRecord);
  }

  /** Ids of running tasks (the status index; no row parsing): for the sweep's ledger check. */
  listRunningIds(): Set<string> {
    return new Set(this.statements.listIdsByStatus.all('running').map((row) => row.task_id));
  }

  countAccepted(): number {
    return this.statements.countByStatus.get('accepted')?.n ?? 0;
  }

  /** Tasks holding a reservation that has not been released (for rebuilding the ledger). */
  listReserved(): TaskRecord[] {
    return this.statements.listReserved.all().map(rowToRecord);
  }

  listEvents(taskId: string, afterSeq = 0): EventRecord[] {
    return this.statements.listEvents.all(taskId, afterSeq).map(rowToEvent);
  }

  /** Newest first, stable across pages (queue_seq is unique and never reused). */
  listTasks(query: TaskListQuery): TaskSummaryRow[] {
    return this.listSummaries(query);
  }

  /** accepted → running with its reservation, in one step: the reservation is never lost. */
  markDispatched(taskId: string, at: number, events: readonly NewEvent[]): boolean {
    return this.transition(taskId, 'running', at, events, () => {
      this.statements.markDispatched.run({ task_id: taskId, at });
    });
  }

  /** Records the supervisor's identity; from here on the program may start. */
  recordShim(taskId: string, shim: ProcessIdentity, launch: LaunchRecord, at: number): void {
    this.statements.recordShim.run({
      task_id: taskId,
      shim_pid: shim.pid,
      shim_start_ticks: shim.startTicks,
      boot_id: shim.bootId,
      launch_json: JSON.stringify(launch),
      at,
    });
  }

  /** The program is running: pid/pgid and the real start time. Idempotent. */
  recordStarted(taskId: string, started: StartedFacts, at: number): boolean {
    return this.db.transaction(() => this.applyStarted(taskId, started, at))();
  }

  private applyStarted(taskId: string, started: StartedFacts, at: number): boolean {
    const result = this.statements.recordStarted.run({
      task_id: taskId,
      pid: started.pid,
      pgid: started.pgid,
      started_at: started.startedAt,
      at,
    });
    if (result.changes === 0) return false;
    // Stamped with the program's real start (from the shim), not with when the server
    // noticed it: starts can be picked up by the sweep, or only at exit.
    this.appendEvents(taskId, started.startedAt, [
      {
        type: 'started',
        data: { pid: started.pid, pgid: started.pgid, recorded_at: new Date(at).toISOString() },
      },
    ]);
    return true;
  }

  /** Stores the kill request before any signal is sent (first request wins). */
  recordKillRequested(taskId: string, at: number, event: NewEvent): boolean {
    return this.db.transaction(() => {
      const result = this.statements.recordKillRequested.run({ task_id: taskId, at });
      if (result.changes === 0) return false;
      this.appendEvents(taskId, at, [event]);
      return true;
    })();
  }

  appendEvent(taskId: string, at: number, event: NewEvent): void {
    this.db.transaction(() => this.appendEvents(taskId, at, [event]))();
  }

  /**
   * running|accepted → terminal, storing the snapshot and releasing the reservation in the
   * same transaction. Returns false when the task was already terminal (idempotent replay).
   * `started`: the program's start, when it is first learnt together with its end (a short
   * task): recorded in the same transaction, so a short task costs one commit, not two.
   */
  complete(
    taskId: string,
    status: TerminalStatus,
    result: TaskStatusResponse,
    finishedAt: number,
    at: number,
    events: readonly NewEvent[],
    started?: StartedFacts,
  ): boolean {
    return this.transition(taskId, status, at, events, () => {
      if (started !== undefined) this.applyStarted(taskId, started, at);
      this.statements.complete.run({
        task_id: taskId,
        status,
        finished_at: finishedAt,
        result_json: JSON.stringify(result),
        at,
      });
    });
  }

  /** running → accepted for a task whose supervisor provably never started the program. */
  requeue(taskId: string, at: number, events: readonly NewEvent[]): boolean {
    return this.transition(taskId, 'accepted', at, events, () => {
      this.statements.requeue.run({ task_id: taskId, at });
    });
  }

  /** Clears a reservation an accepted task should not hold (recovery). */
  releaseStrayReservation(taskId: string, at: number, event: NewEvent): void {
    this.db.transaction(() => {
      this.statements.releaseStray.run({ task_id: taskId, at });
      this.appendEvents(taskId, at, [event]);
    })();
  }

  /** Terminal tasks finished before `cutoff`, oldest first. */
  listExpired(cutoff: number, limit: number): string[] {
    return this.statements.listExpired.all(cutoff, limit).map((row) => row.task_id);
  }

  /** Removes a terminal task's row and events (its directory is removed by the caller). */
  deleteTerminal(taskId: string): boolean {
    return this.db.transaction(() => {
      const result = this.statements.deleteTerminal.run(taskId);
      if (result.changes === 0) return false;
      this.statements.deleteEvents.run(taskId);
      return true;
    })();
  }

  /** A cheap read and write that proves the database is usable. */
  checkWritable(): void {
    // A probe answers now: waiting out a lock held by another process would stall the event
    // loop (every request) for the busy timeout, once per probe.
    this.db.pragma('busy_timeout = 0');
    try {
      this.statements.touchMeta.run('readiness_probe', String(Date.now()));
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  close(): void {
    this.db.close();
  }

  private transition(
    taskId: string,
    to: TaskStatus,
    at: number,
    events: readonly NewEvent[],
    apply: () => void,
  ): boolean {
    return this.db.transaction(() => {
      const row = this.statements.getStatus.get(taskId);
      if (row === undefined)
        throw new RuntimeError('not_found', `task ${taskId} not found`, { task_id: taskId });
      if (!canTransition(row.status, to)) return false;
      apply();
      this.appendEvents(taskId, at, events);
      return true;
    })();
  }
}
