import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ErrorEnvelopeSchema } from '../../contract/task-status.js';
import {
  START_POSITION,
  parsePosition,
  type StreamPosition,
} from '../../service/stream-position.js';
import type { TaskOutputService } from '../../service/task-output-service.js';
import type { StreamMessage, StreamSink } from '../../service/task-stream.js';

const StreamQuerySchema = Type.Object({
  cursor: Type.Optional(
    Type.String({ description: 'resume position e<seq>-o<offset>-r<offset> (an SSE id)' }),
  ),
  after_seq: Type.Optional(Type.Integer({ minimum: 0 })),
  stdout_offset: Type.Optional(Type.Integer({ minimum: 0 })),
  stderr_offset: Type.Optional(Type.Integer({ minimum: 0 })),
});
type StreamQuery = {
  cursor?: string;
  after_seq?: number;
  stdout_offset?: number;
  stderr_offset?: number;
};

/**
 * Last-Event-ID (a reconnecting EventSource) wins, then ?cursor=, then the single fields. A
 * blank one is no position (an EventSource that never saw an id sends none), so it gives way.
 */
function resolveStart(lastEventId: string | undefined, query: StreamQuery): StreamPosition {
  const cursor = [lastEventId, query.cursor].find(
    (value) => value !== undefined && value.trim() !== '',
  );
  if (cursor !== undefined) return parsePosition(cursor);
  return {
    eventSeq: query.after_seq ?? START_POSITION.eventSeq,
    stdoutOffset: query.stdout_offset ?? START_POSITION.stdoutOffset,
    stderrOffset: query.stderr_offset ?? START_POSITION.stderrOffset,
  };
}

/** Writes SSE frames to the raw response, waiting for 'drain' when the socket is full. */
function createSseSink(reply: FastifyReply, signal: AbortSignal): StreamSink {
  const raw = reply.raw;
  const waitDrain = (): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        raw.off('drain', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      raw.on('drain', done);
      signal.addEventListener('abort', done, { once: true });
    });
  return {
    async write(message: StreamMessage) {
      if (signal.aborted) return;
      const frame = `id: ${message.id}\nevent: ${message.event}\ndata: ${JSON.stringify(message.data)}\n\n`;
      if (!raw.write(frame)) await waitDrain();
    },
    heartbeat() {
      if (!signal.aborted) raw.write(': keep-alive\n\n');
    },
  };
}

/** Headers of a stream answer (HEAD sends them alone). */
const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

/**
 * GET /api/v1/tasks/:id/stream: resumable Server-Sent Events of lifecycle and output. HEAD
 * (added by fastify for every GET) is validated like GET and answers with the headers only.
 */
export function registerStreamRoutes(
  app: FastifyInstance,
  output: TaskOutputService,
  shutdown: AbortSignal,
): void {
  app.get(
    '/api/v1/tasks/:id/stream',
    {
      schema: {
        summary: 'Live events and output as Server-Sent Events; resumable with Last-Event-ID',
        produces: ['text/event-stream'],
        params: Type.Object({ id: Type.String() }),
        querystring: StreamQuerySchema,
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String()) }),
        response: {
          200: Type.String({ description: 'text/event-stream: lifecycle, stdout, stderr, end' }),
          400: ErrorEnvelopeSchema,
          404: ErrorEnvelopeSchema,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const lastEventId = (request.headers as { 'last-event-id'?: string })['last-event-id'];
      const start = resolveStart(lastEventId, request.query as StreamQuery);
      // Errors up to here still use the JSON envelope; after hijack we own the socket.
      output.requireStatus(id);
      reply.hijack();
      if (request.method === 'HEAD') {
        // The headers GET would send, then done: following the task would hold HEAD open.
        reply.raw.writeHead(200, SSE_HEADERS);
        reply.raw.end();
        return;
      }
      const controller = new AbortController();
      const onAbort = (): void => controller.abort();
      reply.raw.on('close', onAbort);
      shutdown.addEventListener('abort', onAbort, { once: true });
      reply.raw.writeHead(200, SSE_HEADERS);
      // Reconnect quickly; the id makes the retry lossless.
      reply.raw.write('retry: 1000\n\n');
      try {
        await output.follow(id, start, createSseSink(reply, controller.signal), controller.signal);
      } catch (error) {
        request.log.error({ err: error, task_id: id }, 'task stream failed');
      } finally {
        reply.raw.off('close', onAbort);
        shutdown.removeEventListener('abort', onAbort);
        reply.raw.end();
      }
    },
  );
}
