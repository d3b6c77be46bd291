import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyServerOptions } from 'fastify';
import { envelopeBody, writeRawEnvelope } from './error-handler.js';

type RequestHandler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

function answer(response: http.ServerResponse, status: number, message: string): void {
  const body = envelopeBody('invalid_input', message);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  response.end(body);
}

/**
 * Node's HTTP server answers three kinds of request itself, before fastify sees them, with an
 * empty body or none: an HTTP/1.1 request without `Host` (400), an `Expect` other than
 * `100-continue` (417), and `CONNECT` (connection dropped). This server answers them in the
 * contract's envelope instead; every other request goes to fastify unchanged (no hook on the
 * common path). Fastify's own server settings are applied as its default factory does.
 */
export function createHttpServer(
  handler: RequestHandler,
  options: Pick<FastifyServerOptions, 'keepAliveTimeout' | 'requestTimeout' | 'connectionTimeout'>,
): http.Server {
  // Node checks request and header deadlines on a timer (default every 30 s, so a 60 s
  // deadline fired after 60–90 s); every 5 s keeps the documented deadline within 5 s.
  const server = http.createServer(
    { requireHostHeader: false, connectionsCheckingInterval: 5_000 },
    (request, response) => {
      if (
        request.headers.host === undefined &&
        request.httpVersionMajor === 1 &&
        request.httpVersionMinor >= 1
      ) {
        answer(response, 400, 'an HTTP/1.1 request must carry a Host header');
        return;
      }
      handler(request, response);
    },
  );
  server.on('checkExpectation', (request, response: http.ServerResponse) => {
    answer(response, 417, `unsupported Expect header: ${String(request.headers.expect)}`);
  });
  server.on('connect', (request: http.IncomingMessage, socket: Duplex) => {
    writeRawEnvelope(socket, 404, 'Not Found', 'not_found', `no route for CONNECT ${request.url}`);
  });
  if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
  if (options.requestTimeout !== undefined) server.requestTimeout = options.requestTimeout;
  if (options.connectionTimeout !== undefined) server.setTimeout(options.connectionTimeout);
  return server;
}
