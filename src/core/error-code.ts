/** Stable error codes of the wire contract (plus additive ones, marked). */
export const ERROR_CODES = [
  'invalid_input',
  'launch_failed',
  'timeout',
  'cancelled',
  'memory_limit_exceeded',
  'cpu_limit_exceeded',
  'resource_limit_exceeded',
  'sandbox_setup_failed',
  'exit_non_zero',
  'unsupported_capability',
  'insufficient_resources',
  'not_found',
  'conflict',
  'permission_denied',
  'internal',
  // Additive: no output for limits.idle_timeout_ms.
  'idle_timeout',
  // Additive: the server is draining for shutdown and takes no new work.
  'unavailable',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];
