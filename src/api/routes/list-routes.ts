import type { FastifyInstance } from 'fastify';
import {
  TaskListQuerySchema,
  TaskListResponseSchema,
  type TaskListQueryParams,
} from '../../contract/task-list.js';
import { ErrorEnvelopeSchema } from '../../contract/task-status.js';
import type { TaskService } from '../../service/task-service.js';

/** GET /api/v1/tasks: find your tasks (filters, newest first, cursor pagination). */
export function registerListRoutes(app: FastifyInstance, service: TaskService): void {
  app.get(
    '/api/v1/tasks',
    {
      schema: {
        summary: 'List tasks, newest first, with filters and cursor pagination',
        querystring: TaskListQuerySchema,
        response: { 200: TaskListResponseSchema, 400: ErrorEnvelopeSchema },
      },
    },
    (request) => service.listTasks(request.query as TaskListQueryParams),
  );
}
