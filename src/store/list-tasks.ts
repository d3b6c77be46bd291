import type { TaskStatus } from '../core/task-status.js';
import type { SqliteDatabase } from './open-database.js';

/** Filters for listing tasks, newest first. Every filter is optional; all must hold. */
export interface TaskListQuery {
  statuses?: readonly TaskStatus[];
  tenant?: string;
  owner?: string;
  /** Each [key, value] pair must be among the task's control_context.labels. */
  labels?: ReadonlyArray<readonly [string, string]>;
  /** Epoch ms; only tasks created strictly after it. */
  createdAfter?: number;
  /** queue_seq of the last item of the previous page. */
  beforeSeq?: number;
  limit: number;
}

/** The light row a listing returns: no spec, no inline output. */
export interface TaskSummaryRow {
  queue_seq: number;
  task_id: string;
  status: TaskStatus;
  tenant: string | null;
  owner: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  labels_json: string | null;
  metadata_json: string | null;
  exit_code: number | null;
  error_code: string | null;
}

// Only summary columns: result_json and spec_json can be megabytes (inline output), so the
// few fields a listing shows are extracted in SQL instead of parsing whole documents here.
const SELECT_SUMMARY = `SELECT queue_seq, task_id, status, tenant, owner, created_at, updated_at,
  started_at, finished_at,
  json_extract(spec_json, '$.control_context.labels') AS labels_json,
  json_extract(spec_json, '$.metadata') AS metadata_json,
  json_extract(result_json, '$.exit_code') AS exit_code,
  json_extract(result_json, '$.error.code') AS error_code
FROM tasks`;

function buildWhere(query: TaskListQuery): { sql: string; params: Record<string, unknown> } {
  const clauses: string[] = [];
  const params: Record<string, unknown> = { limit: query.limit };
  if (query.statuses !== undefined && query.statuses.length > 0) {
    const names = query.statuses.map((status, i) => {
      params[`status${i}`] = status;
      return `@status${i}`;
    });
    clauses.push(`status IN (${names.join(', ')})`);
  }
  if (query.tenant !== undefined) {
    clauses.push('tenant = @tenant');
    params.tenant = query.tenant;
  }
  if (query.owner !== undefined) {
    clauses.push('owner = @owner');
    params.owner = query.owner;
  }
  (query.labels ?? []).forEach(([key, value], i) => {
    // Driven by the (label_key, label_value, queue_seq) primary key of task_labels.
    clauses.push(
      `queue_seq IN (SELECT queue_seq FROM task_labels
        WHERE label_key = @label_key${i} AND label_value = @label_value${i})`,
    );
    params[`label_key${i}`] = key;
    params[`label_value${i}`] = value;
  });
  if (query.createdAfter !== undefined) {
    clauses.push('created_at > @created_after');
    params.created_after = query.createdAfter;
  }
  if (query.beforeSeq !== undefined) {
    clauses.push('queue_seq < @before_seq');
    params.before_seq = query.beforeSeq;
  }
  return { sql: clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

/**
 * Returns the listing query of one database. Statements are prepared once per filter shape
 * (the SQL text differs only by which filters are present), then reused.
 */
export function createTaskLister(db: SqliteDatabase): (query: TaskListQuery) => TaskSummaryRow[] {
  const prepared = new Map<string, ReturnType<SqliteDatabase['prepare']>>();
  return (query) => {
    const { sql, params } = buildWhere(query);
    const text = `${SELECT_SUMMARY} ${sql} ORDER BY queue_seq DESC LIMIT @limit`;
    let statement = prepared.get(text);
    if (statement === undefined) {
      statement = db.prepare(text);
      prepared.set(text, statement);
    }
    return statement.all(params) as TaskSummaryRow[];
  };
}
