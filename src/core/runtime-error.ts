import type { ErrorCode } from './error-code.js';

/**
 * The one error type that crosses layers. `code` is stable and is what clients see; the HTTP
 * status is derived from it in exactly one place (src/api/http-status.ts).
 */
export class RuntimeError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RuntimeError';
    this.code = code;
    this.details = details;
  }
}

/** Shorthand for the most common rejection. */
export function invalidInput(message: string, details?: unknown): RuntimeError {
  return new RuntimeError('invalid_input', message, details);
}
