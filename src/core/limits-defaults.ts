/** Contract defaults for ResourceLimits. */
export const DEFAULT_WALL_TIME_MS = 300_000;
export const DEFAULT_OUTPUT_MAX_BYTES = 4 * 1024 * 1024;
/** Additive default: each log file may grow to 1 GiB before output is dropped. */
export const DEFAULT_LOG_MAX_BYTES = 1024 * 1024 * 1024;
/** Additive: stdin text is capped so a request cannot balloon the store. */
export const MAX_STDIN_BYTES = 1024 * 1024;
/** Task ids become directory names; 200 keeps every path well under NAME_MAX. */
export const MAX_TASK_ID_LENGTH = 200;
