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
const SELECT_SUMMARY = `SELECT tasks.queue_seq AS queue_seq, tasks.task_id AS task_id,
  tasks.status AS status, tasks.tenant AS tenant, tasks.owner AS owner,
  tasks.created_at AS created_at, tasks.updated_at AS updated_at,
  tasks.started_at AS started_at, tasks.finished_at AS finished_at,
  json_extract(tasks.spec_json, '$.control_context.labels') AS labels_json,
  json_extract(tasks.spec_json, '$.metadata') AS metadata_json,
  json_extract(tasks.result_json, '$.exit_code') AS exit_code,
  json_extract(tasks.result_json, '$.error.code') AS error_code`;

/**
 * The SQL for a filter shape. With a label filter the query is driven by the first label's
 * (label_key, label_value, queue_seq) key, which already yields newest-first order, and the
 * other labels are point lookups; otherwise tasks are read newest first through queue_seq or
 * the status/tenant/owner indexes.
 */
function buildSql(query: TaskListQuery): { sql: string; params: Record<string, unknown> } {
  const clauses: string[] = [];
  const params: Record<string, unknown> = { limit: query.limit };
  const labels = query.labels ?? [];
  const seq = labels.length > 0 ? 'l0.queue_seq' : 'tasks.queue_seq';
  labels.forEach(([key, value], i) => {
    params[`label_key${i}`] = key;
    params[`label_value${i}`] = value;
    const match = `l${i}.label_key = @label_key${i} AND l${i}.label_value = @label_value${i}`;
    clauses.push(
      i === 0
        ? match
        : `EXISTS (SELECT 1 FROM task_labels l${i} WHERE ${match} AND l${i}.queue_seq = ${seq})`,
    );
  });
  if (query.statuses !== undefined && query.statuses.length > 0) {
    const names = query.statuses.map((status, i) => {
      params[`status${i}`] = status;
      return `@status${i}`;
    });
    clauses.push(`tasks.status IN (${names.join(', ')})`);
  }
  if (query.tenant !== undefined) {
    clauses.push('tasks.tenant = @tenant');
    params.tenant = query.tenant;
  }
  if (query.owner !== undefined) {
    clauses.push('tasks.owner = @owner');
    params.owner = query.owner;
  }
  if (query.createdAfter !== undefined) {
    clauses.push('tasks.created_at > @created_after');
    params.created_after = query.createdAfter;
  }
  if (query.beforeSeq !== undefined) {
    clauses.push(`${seq} < @before_seq`);
    params.before_seq = query.beforeSeq;
  }
  const from =
    labels.length > 0
      ? 'FROM task_labels l0 JOIN tasks ON tasks.queue_seq = l0.queue_seq'
      : 'FROM tasks';
  const where = clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '';
  return {
    sql: `${SELECT_SUMMARY} ${from} ${where} ORDER BY ${seq} DESC LIMIT @limit`,
    params,
  };
}

/**
 * Returns the listing query of one database. Statements are prepared once per filter shape
 * (the SQL text differs only by which filters are present), then reused.
 */
export function createTaskLister(db: SqliteDatabase): (query: TaskListQuery) => TaskSummaryRow[] {
  const prepared = new Map<string, ReturnType<SqliteDatabase['prepare']>>();
  return (query) => {
    const { sql, params } = buildSql(query);
    let statement = prepared.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      prepared.set(sql, statement);
    }
    return statement.all(params) as TaskSummaryRow[];
  };
}
