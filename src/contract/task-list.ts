import { Type, type Static } from '@sinclair/typebox';
import { ErrorCodeSchema } from './task-status.js';
import { TASK_STATUSES } from '../core/task-status.js';

// Additive wire schemas for GET /api/v1/tasks (listing). A summary is deliberately small:
// no inline output, no plan. GET /api/v1/tasks/:id has the full snapshot.

export const MAX_LIST_LIMIT = 1000;
export const DEFAULT_LIST_LIMIT = 50;

export const TaskListQuerySchema = Type.Object({
  status: Type.Optional(
    Type.String({ description: 'one status or a comma-separated list, e.g. accepted,running' }),
  ),
  tenant: Type.Optional(Type.String()),
  owner: Type.Optional(Type.String()),
  label: Type.Optional(
    Type.Union([Type.String(), Type.Array(Type.String())], {
      description: 'key=value; repeat the parameter to require several labels',
    }),
  ),
  created_after: Type.Optional(
    Type.String({ description: 'RFC 3339 timestamp or epoch milliseconds (exclusive)' }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIST_LIMIT })),
  cursor: Type.Optional(Type.String({ description: 'next_cursor of the previous page (opaque)' })),
});
export type TaskListQueryParams = Static<typeof TaskListQuerySchema>;

export const TaskSummarySchema = Type.Object({
  task_id: Type.String(),
  status: Type.Union(TASK_STATUSES.map((s) => Type.Literal(s))),
  created_at: Type.String(),
  updated_at: Type.String(),
  started_at: Type.Optional(Type.String()),
  finished_at: Type.Optional(Type.String()),
  tenant: Type.Optional(Type.String()),
  owner: Type.Optional(Type.String()),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
  exit_code: Type.Optional(Type.Integer()),
  error_code: Type.Optional(ErrorCodeSchema),
});
export type TaskSummary = Static<typeof TaskSummarySchema>;

export const TaskListResponseSchema = Type.Object({
  tasks: Type.Array(TaskSummarySchema),
  /** Present when more tasks may follow; pass it back as `cursor`. */
  next_cursor: Type.Optional(Type.String()),
});
export type TaskListResponse = Static<typeof TaskListResponseSchema>;
