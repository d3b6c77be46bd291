import {
  DEFAULT_LIST_LIMIT,
  type TaskListQueryParams,
  type TaskListResponse,
  type TaskSummary,
} from '../contract/task-list.js';
import { formatTimestamp } from '../core/clock.js';
import { ERROR_CODES, type ErrorCode } from '../core/error-code.js';
import { invalidInput } from '../core/runtime-error.js';
import { TASK_STATUSES, type TaskStatus } from '../core/task-status.js';
import type { TaskListQuery, TaskSummaryRow } from '../store/list-tasks.js';

/** More would make one request an unbounded join; clients narrow with other filters. */
const MAX_LABEL_FILTERS = 8;

function parseStatuses(raw: string | undefined): TaskStatus[] | undefined {
  if (raw === undefined) return undefined;
  const names = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  for (const name of names)
    if (!(TASK_STATUSES as readonly string[]).includes(name))
      throw invalidInput(`unknown status "${name}"; expected ${TASK_STATUSES.join(', ')}`, {
        field: 'status',
      });
  return names as TaskStatus[];
}

function parseLabels(raw: string | string[] | undefined): Array<[string, string]> {
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  if (list.length > MAX_LABEL_FILTERS)
    throw invalidInput(`at most ${MAX_LABEL_FILTERS} label filters`, { field: 'label' });
  return list.map((entry) => {
    const at = entry.indexOf('=');
    if (at <= 0)
      throw invalidInput(`label filter "${entry}" must be key=value`, { field: 'label' });
    return [entry.slice(0, at), entry.slice(at + 1)];
  });
}

/** RFC 3339 date-time: a full date, a time, an offset (Date.parse alone takes much more). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Date.parse, but a day that does not exist (Feb 31) is refused rather than rolled over. */
function parseRfc3339(raw: string): number {
  const day = raw.slice(0, 10);
  const midnight = Date.parse(`${day}T00:00:00Z`);
  if (!Number.isFinite(midnight) || new Date(midnight).toISOString().slice(0, 10) !== day)
    return Number.NaN;
  return Date.parse(raw);
}

function parseCreatedAfter(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const ms = /^\d+$/.test(raw) ? Number(raw) : RFC3339.test(raw) ? parseRfc3339(raw) : Number.NaN;
  if (!Number.isFinite(ms))
    throw invalidInput('created_after must be an RFC 3339 timestamp or epoch milliseconds', {
      field: 'created_after',
    });
  return ms;
}

function parseCursor(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw)) throw invalidInput('cursor is not valid', { field: 'cursor' });
  return Number(raw);
}

/** Turns the wire query into the store's filter (one more row than asked: "is there more?"). */
export function parseListQuery(params: TaskListQueryParams): TaskListQuery {
  const statuses = parseStatuses(params.status);
  const createdAfter = parseCreatedAfter(params.created_after);
  const beforeSeq = parseCursor(params.cursor);
  return {
    ...(statuses === undefined || statuses.length === 0 ? {} : { statuses }),
    ...(params.tenant === undefined ? {} : { tenant: params.tenant }),
    ...(params.owner === undefined ? {} : { owner: params.owner }),
    labels: parseLabels(params.label),
    ...(createdAfter === undefined ? {} : { createdAfter }),
    ...(beforeSeq === undefined ? {} : { beforeSeq }),
    limit: (params.limit ?? DEFAULT_LIST_LIMIT) + 1,
  };
}

function parseStringMap(json: string | null): Record<string, string> | undefined {
  if (json === null) return undefined;
  const map = JSON.parse(json) as Record<string, string>;
  return Object.keys(map).length > 0 ? map : undefined;
}

function toSummary(row: TaskSummaryRow): TaskSummary {
  const labels = parseStringMap(row.labels_json);
  const metadata = parseStringMap(row.metadata_json);
  const errorCode = (ERROR_CODES as readonly string[]).includes(row.error_code ?? '')
    ? (row.error_code as ErrorCode)
    : undefined;
  return {
    task_id: row.task_id,
    status: row.status,
    created_at: formatTimestamp(row.created_at),
    updated_at: formatTimestamp(row.updated_at),
    ...(row.started_at === null || row.status === 'accepted'
      ? {}
      : { started_at: formatTimestamp(row.started_at) }),
    ...(row.finished_at === null ? {} : { finished_at: formatTimestamp(row.finished_at) }),
    ...(row.tenant === null ? {} : { tenant: row.tenant }),
    ...(row.owner === null ? {} : { owner: row.owner }),
    ...(labels === undefined ? {} : { labels }),
    ...(metadata === undefined ? {} : { metadata }),
    ...(row.exit_code === null ? {} : { exit_code: row.exit_code }),
    ...(errorCode === undefined ? {} : { error_code: errorCode }),
  };
}

/** One page: `rows` holds up to limit + 1 rows; the extra one only proves a next page. */
export function buildListPage(rows: readonly TaskSummaryRow[], limit: number): TaskListResponse {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    tasks: page.map(toSummary),
    ...(rows.length > limit && last !== undefined ? { next_cursor: String(last.queue_seq) } : {}),
  };
}
