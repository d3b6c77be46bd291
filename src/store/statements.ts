import type { EventType } from '../contract/task-status.js';
import type { TaskStatus } from '../core/task-status.js';
import type { SqliteDatabase } from './open-database.js';

/** A row of `tasks` as SQLite returns it. */
export interface TaskRow {
  task_id: string;
  queue_seq: number;
  status: TaskStatus;
  tenant: string | null;
  owner: string | null;
  spec_json: string;
  plan_json: string;
  reservation_json: string;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  reserved_at: number | null;
  released_at: number | null;
  shim_pid: number | null;
  shim_start_ticks: number | null;
  boot_id: string | null;
  pid: number | null;
  pgid: number | null;
  kill_requested_at: number | null;
  launch_json: string | null;
  result_json: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
}

/** A row of `events`. */
export interface EventRow {
  seq: number;
  task_id: string;
  event_type: EventType;
  timestamp: number;
  message: string | null;
  data_json: string | null;
}

/** Every statement the store runs, prepared once per database. */
export function prepareStatements(db: SqliteDatabase) {
  return {
    insertTask: db.prepare<
      Pick<
        TaskRow,
        | 'task_id'
        | 'status'
        | 'tenant'
        | 'owner'
        | 'spec_json'
        | 'plan_json'
        | 'reservation_json'
        | 'created_at'
        | 'updated_at'
        | 'idempotency_key'
        | 'request_hash'
      >
    >(
      `INSERT INTO tasks (task_id, status, tenant, owner, spec_json, plan_json,
         reservation_json, created_at, updated_at, idempotency_key, request_hash)
       VALUES (@task_id, @status, @tenant,
         @owner, @spec_json, @plan_json, @reservation_json, @created_at, @updated_at,
         @idempotency_key, @request_hash)`,
    ),
    getTask: db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE task_id = ?'),
    getKillRequestedAt: db.prepare<[string], { kill_requested_at: number | null }>(
      'SELECT kill_requested_at FROM tasks WHERE task_id = ?',
    ),
    getResultJson: db.prepare<[string], { result_json: string | null }>(
      'SELECT result_json FROM tasks WHERE task_id = ?',
    ),
    getStatus: db.prepare<[string], { status: TaskStatus }>(
      'SELECT status FROM tasks WHERE task_id = ?',
    ),
    getByIdempotencyKey: db.prepare<[string], TaskRow>(
      'SELECT * FROM tasks WHERE idempotency_key = ?',
    ),
    listByStatus: db.prepare<[TaskStatus], TaskRow>(
      'SELECT * FROM tasks WHERE status = ? ORDER BY queue_seq',
    ),
    listWaiting: db.prepare<
      [],
      { task_id: string; tenant: string | null; reservation_json: string; queue_seq: number }
    >(
      `SELECT task_id, tenant, reservation_json, queue_seq FROM tasks
       WHERE status = 'accepted' ORDER BY queue_seq`,
    ),
    countByStatus: db.prepare<[TaskStatus], { n: number }>(
      'SELECT COUNT(*) AS n FROM tasks WHERE status = ?',
    ),
    listIdsByStatus: db.prepare<[TaskStatus], { task_id: string }>(
      'SELECT task_id FROM tasks WHERE status = ?',
    ),
    listReserved: db.prepare<[], TaskRow>(
      `SELECT * FROM tasks WHERE reserved_at IS NOT NULL AND released_at IS NULL
       ORDER BY queue_seq`,
    ),
    markDispatched: db.prepare<{ task_id: string; at: number }>(
      `UPDATE tasks SET status = 'running', reserved_at = @at, released_at = NULL,
         started_at = @at, updated_at = @at
       WHERE task_id = @task_id`,
    ),
    recordShim: db.prepare<{
      task_id: string;
      shim_pid: number;
      shim_start_ticks: number;
      boot_id: string;
      launch_json: string;
      at: number;
    }>(
      `UPDATE tasks SET shim_pid = @shim_pid, shim_start_ticks = @shim_start_ticks,
         boot_id = @boot_id, launch_json = @launch_json, updated_at = @at
       WHERE task_id = @task_id AND status = 'running'`,
    ),
    recordStarted: db.prepare<{
      task_id: string;
      pid: number;
      pgid: number;
      started_at: number;
      at: number;
    }>(
      `UPDATE tasks SET pid = @pid, pgid = @pgid, started_at = @started_at, updated_at = @at
       WHERE task_id = @task_id AND status = 'running' AND pid IS NULL`,
    ),
    recordKillRequested: db.prepare<{ task_id: string; at: number }>(
      `UPDATE tasks SET kill_requested_at = @at, updated_at = @at
       WHERE task_id = @task_id AND kill_requested_at IS NULL
         AND status IN ('accepted', 'running')`,
    ),
    complete: db.prepare<{
      task_id: string;
      status: TaskStatus;
      finished_at: number;
      result_json: string;
      at: number;
    }>(
      `UPDATE tasks SET status = @status, finished_at = @finished_at, result_json = @result_json,
         released_at = CASE WHEN reserved_at IS NOT NULL THEN @at ELSE NULL END,
         updated_at = @at
       WHERE task_id = @task_id`,
    ),
    requeue: db.prepare<{ task_id: string; at: number }>(
      `UPDATE tasks SET status = 'accepted', reserved_at = NULL, released_at = NULL,
         started_at = NULL, shim_pid = NULL, shim_start_ticks = NULL, boot_id = NULL,
         pid = NULL, pgid = NULL, launch_json = NULL, updated_at = @at
       WHERE task_id = @task_id`,
    ),
    releaseStray: db.prepare<{ task_id: string; at: number }>(
      `UPDATE tasks SET released_at = @at, updated_at = @at
       WHERE task_id = @task_id AND status = 'accepted' AND reserved_at IS NOT NULL`,
    ),
    listExpired: db.prepare<[number, number], { task_id: string }>(
      `SELECT task_id FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ?
         AND status IN ('success', 'failed', 'cancelled')
       ORDER BY finished_at LIMIT ?`,
    ),
    deleteTerminal: db.prepare<[string]>(
      `DELETE FROM tasks WHERE task_id = ? AND status IN ('success', 'failed', 'cancelled')`,
    ),
    deleteEvents: db.prepare<[string]>('DELETE FROM events WHERE task_id = ?'),
    insertEvent: db.prepare<{
      task_id: string;
      event_type: EventType;
      timestamp: number;
      message: string | null;
      data_json: string | null;
    }>(
      `INSERT INTO events (task_id, event_type, timestamp, message, data_json)
       VALUES (@task_id, @event_type, @timestamp, @message, @data_json)`,
    ),
    listEvents: db.prepare<[string, number], EventRow>(
      'SELECT * FROM events WHERE task_id = ? AND seq > ? ORDER BY seq',
    ),
    touchMeta: db.prepare<[string, string]>(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
  };
}
