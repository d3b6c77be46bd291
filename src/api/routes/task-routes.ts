import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  SubmitTaskRequestSchema,
  SubmitTaskResponseSchema,
  type SubmitTaskRequest,
} from '../../contract/task-request.js';
import { EventRecordSchema, TaskStatusResponseSchema } from '../../contract/task-status.js';
import { ErrorEnvelopeSchema } from '../../contract/task-status.js';
import { normalizeSubmitRequest } from '../../core/normalize-request.js';
import { fingerprintRequest } from '../../core/request-fingerprint.js';
import { errorCodeOf } from '../error-handler.js';
import { decodeUtf8Header, readSingleTextHeader } from '../request-headers.js';
import type { TaskService } from '../../service/task-service.js';
import { MAX_TIMER_MS } from '../../service/task-waiter.js';

const TaskIdParams = Type.Object({ id: Type.String() });
const SubmitHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      description: 'additive: 1–256 characters; a retry with the same key gets the same task',
    }),
  ),
});
const KillHeaders = Type.Object({
  'x-execgo-owner': Type.Optional(
    Type.String({ description: "the task's control_context.owner (UTF-8), when it has one" }),
  ),
});

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The owner a kill request claims, as UTF-8 text. Bytes that are not UTF-8 give a value no
 * owner can equal (owners have no control characters), not U+FFFD: such a kill is refused as
 * an owner mismatch, like any other wrong owner.
 */
function readClaimedOwner(value: string | undefined): string | undefined {
  return value === undefined ? undefined : (decodeUtf8Header(value) ?? '\u0000not UTF-8');
}

/** /api/v1/tasks: submit, status, kill, events, wait. Handlers only call the service. */
export function registerTaskRoutes(
  app: FastifyInstance,
  service: TaskService,
  shutdown: AbortSignal,
): void {
  app.post(
    '/api/v1/tasks',
    {
      schema: {
        summary: 'Submit a task',
        documentedHeaders: SubmitHeaders,
        body: SubmitTaskRequestSchema,
        // 409: task_id exists or idempotency key reused; 429: queue full. Each route lists
        // only what it can answer (403, 408, 500, 503… are added to every operation).
        response: {
          200: SubmitTaskResponseSchema,
          400: ErrorEnvelopeSchema,
          409: ErrorEnvelopeSchema,
          429: ErrorEnvelopeSchema,
        },
      },
      // Every refusal counts, wherever it came from: body parsing, the schema, the service.
      onError: (_request, _reply, error, done) => {
        service.noteRejectedSubmission(errorCodeOf(error));
        done();
      },
    },
    (request) => {
      const body = request.body as SubmitTaskRequest;
      const idempotencyKey = readSingleTextHeader(request.raw, 'idempotency-key');
      const spec = normalizeSubmitRequest(body, idempotencyKey);
      return service.submit(
        spec,
        spec.idempotency_key === undefined
          ? undefined
          : fingerprintRequest(spec, body.task_id === undefined),
      );
    },
  );

  app.get(
    '/api/v1/tasks/:id',
    {
      schema: {
        summary: 'Task status',
        params: TaskIdParams,
        response: { 200: TaskStatusResponseSchema, 404: ErrorEnvelopeSchema },
      },
    },
    // Sent as JSON text (a string payload bypasses the serializer): terminal snapshots are
    // served exactly as stored (the same content as result.json).
    (request, reply) =>
      reply
        .type('application/json; charset=utf-8')
        .send(service.getStatusJson((request.params as { id: string }).id)),
  );

  app.post(
    '/api/v1/tasks/:id/kill',
    {
      schema: {
        summary: 'Cancel a task (owner-gated with x-execgo-owner)',
        documentedHeaders: KillHeaders,
        params: TaskIdParams,
        response: {
          200: TaskStatusResponseSchema,
          403: ErrorEnvelopeSchema,
          404: ErrorEnvelopeSchema,
        },
      },
    },
    (request) =>
      service.kill(
        (request.params as { id: string }).id,
        readClaimedOwner(headerValue(request.headers['x-execgo-owner'])),
      ),
  );

  app.get(
    '/api/v1/tasks/:id/events',
    {
      schema: {
        summary: 'Task events, ascending seq',
        params: TaskIdParams,
        querystring: Type.Object({
          after_seq: Type.Optional(Type.Integer({ minimum: 0 })),
        }),
        response: {
          200: Type.Array(EventRecordSchema),
          400: ErrorEnvelopeSchema,
          404: ErrorEnvelopeSchema,
        },
      },
    },
    (request) =>
      service.listEvents(
        (request.params as { id: string }).id,
        (request.query as { after_seq?: number }).after_seq ?? 0,
      ),
  );

  app.get(
    '/api/v1/tasks/:id/wait',
    {
      schema: {
        summary: 'Long-poll: the status once terminal, or the current status after timeout_ms',
        params: TaskIdParams,
        querystring: Type.Object({
          timeout_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TIMER_MS })),
        }),
        response: {
          200: TaskStatusResponseSchema,
          400: ErrorEnvelopeSchema,
          404: ErrorEnvelopeSchema,
        },
      },
    },
    // Sent as JSON text, like GET status: a terminal snapshot goes out as stored.
    async (request, reply) => {
      const controller = new AbortController();
      const onAbort = (): void => controller.abort();
      request.raw.on('close', onAbort);
      shutdown.addEventListener('abort', onAbort, { once: true });
      let json: string;
      try {
        json = await service.waitForTerminalJson(
          (request.params as { id: string }).id,
          (request.query as { timeout_ms?: number }).timeout_ms ?? 30_000,
          controller.signal,
        );
      } finally {
        request.raw.off('close', onAbort);
        shutdown.removeEventListener('abort', onAbort);
      }
      // An async handler that sends must return the reply (fastify's rule).
      return reply.type('application/json; charset=utf-8').send(json);
    },
  );
}
