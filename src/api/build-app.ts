import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { invalidInput } from '../core/runtime-error.js';
import type { RuntimeService } from '../service/runtime-service.js';
import type { TaskOutputService } from '../service/task-output-service.js';
import type { TaskService } from '../service/task-service.js';
import { answerClientError, handleError } from './error-handler.js';
import { createHttpServer } from './http-server.js';
import { collectRoutes } from './openapi-document.js';
import {
  closeIdleSandboxedConnections,
  refuseSandboxedCallers,
  type SandboxedPeerGuard,
} from './sandboxed-peer-guard.js';
import { registerListRoutes } from './routes/list-routes.js';
import { registerLogRoutes } from './routes/log-routes.js';
import { registerOpenApiRoutes } from './routes/openapi-routes.js';
import { registerRuntimeRoutes } from './routes/runtime-routes.js';
import { registerStreamRoutes } from './routes/stream-routes.js';
import { registerTaskRoutes } from './routes/task-routes.js';
import { typeboxValidatorCompiler } from './typebox-validator.js';

export interface AppDeps {
  logger: Logger;
  bodyLimitBytes: number;
  version: string;
  tasks: TaskService;
  output: TaskOutputService;
  runtime: RuntimeService;
  metrics: Registry;
  shutdown: AbortSignal;
  /** Keeps sandboxed tasks (of any runtime on the host) off the API. */
  peerGuard: SandboxedPeerGuard;
}

/** task_id is at most 200 characters; the margin keeps a slightly longer id a clear 404. */
const MAX_PATH_PARAM_LENGTH = 256;

/** Long enough for the largest body (8 MiB) on a slow link. */
const REQUEST_RECEIVE_TIMEOUT_MS = 60_000;

/** Deeper JSON is refused: no request needs it, and recursive code (hashing) must not crash. */
const MAX_JSON_DEPTH = 64;

/** Whether arrays and objects in JSON text nest deeper than `max` (brackets in strings aside). */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c)
        i++; // a backslash escapes the next character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if ((char === 0x7b || char === 0x5b) && ++depth > max) return true;
    else if (char === 0x7d || char === 0x5d) depth--;
  }
  return false;
}

/** Parses any body as JSON: clients omit or mislabel the content type; empty means none. */
function parseJsonBody(
  _request: unknown,
  body: string,
  done: (err: Error | null, value?: unknown) => void,
): void {
  if (body.trim() === '') {
    done(null, undefined);
    return;
  }
  if (nestsDeeperThan(body, MAX_JSON_DEPTH)) {
    done(invalidInput(`JSON nested more than ${MAX_JSON_DEPTH} levels deep`));
    return;
  }
  try {
    done(null, JSON.parse(body) as unknown);
  } catch (error) {
    done(invalidInput(`malformed JSON: ${error instanceof Error ? error.message : String(error)}`));
  }
}

/** The HTTP layer: fastify with contract schemas, one error handler, thin routes. */
export function buildApp(deps: AppDeps): FastifyInstance {
  // pino's Logger is a FastifyBaseLogger; widening here keeps route modules on the default type.
  const logger: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: deps.bodyLimitBytes,
    // Per-request lines would dominate the log of a server that answers thousands of polls.
    logController: new LogController({ disableRequestLogging: true }),
    // Requests that arrive while the server stops reach the routes, which answer them (a
    // submit: 503 in the contract's envelope; fastify's own 503 body is not the envelope).
    return503OnClosing: false,
    // A request must arrive whole within this time (headers and body; answers such as long
    // polls are not counted): a client that stops mid-body no longer holds a socket forever.
    requestTimeout: REQUEST_RECEIVE_TIMEOUT_MS,
    // Idle connections are closed at stop; requests in flight finish (the runtime's stop
    // cuts what is left after DRAIN_DEADLINE_MS).
    forceCloseConnections: 'idle',
    // Ids of up to 200 characters (task_id's limit) must reach the routes; fastify's default
    // cap is 100. Longer ones get the envelope (frameworkErrors), as a bad URL escape does.
    // `/api/v1/tasks/` is the listing, as a client that joins paths with a slash expects (not
    // the status of a task with an empty id).
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH, ignoreTrailingSlash: true },
    frameworkErrors: handleError,
    clientErrorHandler: answerClientError,
    serverFactory: createHttpServer,
  });
  // First, so every route below lands in /openapi.json.
  const routes = collectRoutes(app);
  app.setValidatorCompiler(typeboxValidatorCompiler);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, parseJsonBody);
  app.setErrorHandler(handleError);
  app.addHook('onRequest', refuseSandboxedCallers(deps.peerGuard));
  closeIdleSandboxedConnections(app.server, deps.peerGuard);
  // While the server stops, every answer (to requests in flight too) closes its connection, so
  // a keep-alive client sends its next request elsewhere instead of into a closing socket.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (deps.shutdown.aborted) void reply.header('connection', 'close');
    done(null, payload);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({
      error: { code: 'not_found', message: `no route for ${request.method} ${request.url}` },
    });
  });
  registerTaskRoutes(app, deps.tasks, deps.shutdown);
  registerListRoutes(app, deps.tasks);
  registerLogRoutes(app, deps.output);
  registerStreamRoutes(app, deps.output, deps.shutdown);
  registerRuntimeRoutes(app, deps.runtime, deps.metrics, deps.version, deps.shutdown);
  registerOpenApiRoutes(app, routes, deps.version);
  return app;
}
