/** Why the shim stopped supervising (docs/shim-protocol.md, exit record `reason`). */
export type ExitReason = 'exited' | 'timeout' | 'idle_timeout' | 'cancelled' | 'launch_failed';

/** The shim's start record: the program is running. */
export interface StartRecord {
  pid: number;
  pgid: number;
  startedAtMs: number;
}

/** The shim's exit record: plain facts, no task semantics. */
export interface ExitRecord {
  reason: ExitReason;
  pid?: number;
  pgid?: number;
  startedAtMs?: number;
  finishedAtMs: number;
  exitCode?: number;
  exitSignal?: number;
  termSentAtMs?: number;
  forcedKill: boolean;
  userCpuUs?: number;
  systemCpuUs?: number;
  maxRssKb?: number;
  launchErrorStage?: string;
  launchErrno?: number;
  launchError?: string;
}

const EXIT_REASONS: readonly ExitReason[] = [
  'exited',
  'timeout',
  'idle_timeout',
  'cancelled',
  'launch_failed',
];

/** Parses `key=value` lines; later duplicates win. */
export function parseRecordLines(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return fields;
}

function readInt(fields: Map<string, string>, key: string): number | undefined {
  const raw = fields.get(key);
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Parses a start record; undefined when it is incomplete. */
export function parseStartRecord(text: string): StartRecord | undefined {
  const fields = parseRecordLines(text);
  const pid = readInt(fields, 'pid');
  const pgid = readInt(fields, 'pgid');
  const startedAtMs = readInt(fields, 'started_at_ms');
  if (pid === undefined || pgid === undefined || startedAtMs === undefined) return undefined;
  return { pid, pgid, startedAtMs };
}

/** Parses an exit record; undefined when it is not a complete record of a known version. */
export function parseExitRecord(text: string): ExitRecord | undefined {
  const fields = parseRecordLines(text);
  const reason = fields.get('reason') as ExitReason | undefined;
  const finishedAtMs = readInt(fields, 'finished_at_ms');
  if (fields.get('version') !== '1' || reason === undefined || finishedAtMs === undefined)
    return undefined;
  if (!EXIT_REASONS.includes(reason)) return undefined;
  const record: ExitRecord = {
    reason,
    finishedAtMs,
    forcedKill: fields.get('forced_kill') === '1',
  };
  const numeric = {
    pid: 'pid',
    pgid: 'pgid',
    startedAtMs: 'started_at_ms',
    exitCode: 'exit_code',
    exitSignal: 'exit_signal',
    termSentAtMs: 'term_sent_at_ms',
    userCpuUs: 'user_cpu_us',
    systemCpuUs: 'system_cpu_us',
    maxRssKb: 'max_rss_kb',
    launchErrno: 'launch_errno',
  } as const;
  for (const [prop, key] of Object.entries(numeric) as [keyof typeof numeric, string][]) {
    const value = readInt(fields, key);
    if (value !== undefined) record[prop] = value;
  }
  const stage = fields.get('launch_error_stage');
  if (stage !== undefined) record.launchErrorStage = stage;
  const message = fields.get('launch_error');
  if (message !== undefined) record.launchError = message;
  // A program that ran was reaped before its record was written: an end without its code or
  // signal is a damaged record, not an exit of unknown status (robustness round 10 got "task
  // exited with code unknown" from an edited record). Only a launch failure and a cancel
  // before the gate (no pid: the program never ran) have neither.
  const hasStatus = record.exitCode !== undefined || record.exitSignal !== undefined;
  const neverRan =
    reason === 'launch_failed' || (reason === 'cancelled' && record.pid === undefined);
  if (!hasStatus && !neverRan) return undefined;
  return record;
}

/**
 * The shim's exit status when it found no room for its records and could not even write its
 * exit record (EXIT_NO_ROOM in native/shim.c): its program never started.
 */
export const SHIM_EXIT_NO_ROOM = 3;
