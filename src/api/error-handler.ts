import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorCode } from '../core/error-code.js';
import { RuntimeError } from '../core/runtime-error.js';
import { InvalidTenantQuotaError } from '../ledger/tenant-quota-spec.js';
import { httpStatusOf } from './http-status.js';

interface Envelope {
  error: { code: ErrorCode; message: string; details?: unknown };
}

/** Fastify's own request errors (parsing, limits, media type) in contract terms. */
function fromFastifyError(error: FastifyError): { status: number; envelope: Envelope } | undefined {
  const status = error.statusCode ?? 500;
  if (status >= 500) return undefined;
  // Fastify's own text ("Request body is too large") would only repeat this one.
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return {
      status: 413,
      envelope: {
        error: { code: 'invalid_input', message: 'request body too large' },
      },
    };
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH')
    return {
      status: 414,
      envelope: { error: { code: 'invalid_input', message: 'a path parameter is too long' } },
    };
  return {
    status: status === 404 ? 404 : 400,
    envelope: {
      error: { code: status === 404 ? 'not_found' : 'invalid_input', message: error.message },
    },
  };
}

/**
 * The contract's envelope and HTTP status for a known error; undefined for anything else,
 * which leaves as 500 `internal` with a generic message (details go to the log only).
 */
export function envelopeOf(error: unknown): { status: number; envelope: Envelope } | undefined {
  if (error instanceof RuntimeError)
    return {
      status: httpStatusOf(error.code),
      envelope: {
        error: {
          code: error.code,
          message: error.message,
          ...(error.details === undefined ? {} : { details: error.details }),
        },
      },
    };
  if (error instanceof InvalidTenantQuotaError)
    return { status: 400, envelope: { error: { code: 'invalid_input', message: error.message } } };
  return error instanceof Error && 'statusCode' in error
    ? fromFastifyError(error as FastifyError)
    : undefined;
}

/** The code a client receives for this error. */
export function errorCodeOf(error: unknown): ErrorCode {
  return envelopeOf(error)?.envelope.error.code ?? 'internal';
}

/** Fastify's error handler: every error leaves in the contract's envelope. */
export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const mapped = envelopeOf(error);
  if (mapped === undefined) {
    request.log.error({ err: error }, 'internal error');
    void reply.code(500).send({
      error: { code: 'internal', message: 'internal error; see the runtime log' },
    } satisfies Envelope);
    return;
  }
  // `unavailable` is the runtime refusing new work while it stops: expected, so one line
  // without a stack. Any other 5xx is a fault worth its stack trace.
  if (mapped.envelope.error.code === 'unavailable')
    request.log.info(
      { code: 'unavailable', method: request.method, url: request.url },
      `refused: ${mapped.envelope.error.message}`,
    );
  else if (mapped.status >= 500) request.log.error({ err: error }, 'request failed');
  void reply.code(mapped.status).send(mapped.envelope);
}

/** An envelope as JSON text, for answers written outside fastify. */
export function envelopeBody(code: ErrorCode, message: string): string {
  return JSON.stringify({ error: { code, message } } satisfies Envelope);
}

/**
 * Writes a whole HTTP response in the envelope straight to a socket that no response object
 * owns (a parser error, a CONNECT), then closes it.
 */
export function writeRawEnvelope(
  socket: Duplex,
  status: number,
  statusText: string,
  code: ErrorCode,
  message: string,
  error?: Error,
): void {
  const body = envelopeBody(code, message);
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${statusText}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy(error);
}

/**
 * Errors Node's HTTP parser raises before fastify sees a request (headers too large, a
 * malformed request line, a request timeout): answered in the envelope, then the connection
 * is closed, as Node does.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, text, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'request line or headers too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'the request was not received in time']
        : [400, 'Bad Request', 'malformed HTTP request'];
  writeRawEnvelope(socket, status, text, 'invalid_input', message, error);
}
