import type { ErrorCode } from '../core/error-code.js';

/** The one place error codes become HTTP statuses (contract §1 table). */
const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_input: 400,
  unsupported_capability: 400,
  insufficient_resources: 400,
  not_found: 404,
  conflict: 409,
  resource_limit_exceeded: 429,
  permission_denied: 403,
  internal: 500,
  unavailable: 503,
  // Task-outcome codes never reach the API as request errors; if one did, it is our fault.
  launch_failed: 500,
  timeout: 500,
  cancelled: 500,
  memory_limit_exceeded: 500,
  cpu_limit_exceeded: 500,
  sandbox_setup_failed: 500,
  exit_non_zero: 500,
  idle_timeout: 500,
};

export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code];
}
