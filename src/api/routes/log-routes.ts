import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ErrorEnvelopeSchema } from '../../contract/task-status.js';
import { MAX_LOG_READ_BYTES, type LogStream } from '../../service/log-reader.js';
import type { TaskOutputService } from '../../service/task-output-service.js';
import { isRangeUnsatisfiable, selectLogBytes, type LogQuery } from '../log-range.js';

const LogQuerySchema = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, description: 'first byte to return' })),
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: MAX_LOG_READ_BYTES, description: 'max bytes (1 MiB)' }),
  ),
  tail: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'return the last N lines' }),
  ),
});

const LogHeadersSchema = Type.Object({
  range: Type.Optional(Type.String({ description: 'bytes=a-b | bytes=a- | bytes=-n' })),
});

/** GET /api/v1/tasks/:id/stdout and /stderr: raw log bytes by offset, Range or tail. */
export function registerLogRoutes(app: FastifyInstance, output: TaskOutputService): void {
  for (const stream of ['stdout', 'stderr'] as const satisfies readonly LogStream[]) {
    app.get(
      `/api/v1/tasks/:id/${stream}`,
      {
        schema: {
          summary: `Read ${stream}.log: offset/limit, HTTP Range, or tail=N lines`,
          produces: ['text/plain'],
          params: Type.Object({ id: Type.String() }),
          querystring: LogQuerySchema,
          headers: LogHeadersSchema,
          response: {
            200: Type.String({ description: 'raw log bytes' }),
            206: Type.String({ description: 'raw log bytes of the requested Range' }),
            400: ErrorEnvelopeSchema,
            404: ErrorEnvelopeSchema,
            416: ErrorEnvelopeSchema,
          },
        },
      },
      async (request, reply) => {
        const { id } = request.params as { id: string };
        const rangeHeader = (request.headers as { range?: string }).range;
        const { selection, isRange } = selectLogBytes(request.query as LogQuery, rangeHeader);
        const { slice, status } = output.readLog(id, stream, selection);
        void reply
          .header('content-type', 'text/plain; charset=utf-8')
          .header('accept-ranges', 'bytes')
          .header('x-execgo-log-offset', String(slice.start))
          .header('x-execgo-log-next-offset', String(slice.end))
          .header('x-execgo-log-total-bytes', String(slice.totalBytes))
          .header('x-execgo-task-status', status);
        if (!isRange) return reply.send(slice.data);
        if (isRangeUnsatisfiable(selection, slice.totalBytes))
          // A Range past the end (or bytes=-0) is not satisfiable (RFC 9110 §15.5.17);
          // followers that poll the growing end should use ?offset=, which answers 200.
          return reply
            .code(416)
            .header('content-type', 'application/json; charset=utf-8')
            .header('content-range', `bytes */${slice.totalBytes}`)
            .send({
              error: {
                code: 'invalid_input',
                message: `range not satisfiable: ${stream} has ${slice.totalBytes} bytes`,
                details: { total_bytes: slice.totalBytes },
              },
            });
        return reply
          .code(206)
          .header('content-range', `bytes ${slice.start}-${slice.end - 1}/${slice.totalBytes}`)
          .send(slice.data);
      },
    );
  }
}
