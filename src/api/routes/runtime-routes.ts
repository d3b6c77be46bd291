import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import {
  CapabilityManifestSchema,
  HealthSchema,
  RuntimeConfigViewSchema,
  RuntimeInfoSchema,
  RuntimeResourcesSchema,
} from '../../contract/runtime.js';
import { ErrorEnvelopeSchema } from '../../contract/task-status.js';
import type { RuntimeService } from '../../service/runtime-service.js';

/** /api/v1/runtime/*, health, readiness and metrics. */
export function registerRuntimeRoutes(
  app: FastifyInstance,
  runtime: RuntimeService,
  metrics: Registry,
  version: string,
  shutdown: AbortSignal,
): void {
  app.get('/api/v1/runtime/info', { schema: { response: { 200: RuntimeInfoSchema } } }, () =>
    runtime.info(),
  );
  app.get(
    '/api/v1/runtime/capabilities',
    { schema: { response: { 200: CapabilityManifestSchema } } },
    () => runtime.capabilities(),
  );
  app.get(
    '/api/v1/runtime/config',
    { schema: { response: { 200: RuntimeConfigViewSchema } } },
    () => runtime.configView(),
  );
  app.get(
    '/api/v1/runtime/resources',
    { schema: { response: { 200: RuntimeResourcesSchema } } },
    () => runtime.resources(),
  );
  app.get('/healthz', { schema: { response: { 200: HealthSchema } } }, () => ({
    status: 'ok',
    version,
  }));
  app.get(
    '/readyz',
    { schema: { response: { 200: HealthSchema, 503: ErrorEnvelopeSchema } } },
    async (request, reply) => {
      // A stopping server finishes what is in flight but takes no new work: say so, so that a
      // load balancer moves on.
      if (shutdown.aborted)
        return reply.code(503).send({
          error: { code: 'unavailable', message: 'the runtime is shutting down' },
        });
      try {
        runtime.checkReady();
      } catch (error) {
        request.log.error({ err: error }, 'readiness check failed');
        const message = error instanceof Error ? error.message : String(error);
        return reply.code(503).send({
          error: { code: 'unavailable', message: `storage is not usable: ${message}` },
        });
      }
      return { status: 'ready', version };
    },
  );
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        produces: ['text/plain'],
        response: { 200: Type.String({ description: 'Prometheus text exposition format' }) },
      },
    },
    async (_request, reply) => {
      const text = await metrics.metrics();
      return reply.type(metrics.contentType).send(text);
    },
  );
}
