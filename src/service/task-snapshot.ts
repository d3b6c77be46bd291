import type { ResourceUsage, TaskStatusResponse } from '../contract/task-status.js';
import { formatTimestamp } from '../core/clock.js';
import type { TaskRecord } from '../core/task-record.js';
import type { CgroupReport, TaskOutcome } from '../executor/outcome.js';
import type { ExitRecord } from '../executor/shim-records.js';
import { readOutputPreview } from '../store/output-preview.js';
import { scriptPath, type TaskPaths } from '../store/task-paths.js';

function artifactsOf(record: TaskRecord, paths: TaskPaths): TaskStatusResponse['artifacts'] {
  const { execution } = record.spec;
  return {
    task_dir: paths.taskDir,
    request_path: paths.requestPath,
    result_path: paths.resultPath,
    stdout_path: paths.stdoutPath,
    stderr_path: paths.stderrPath,
    ...(execution.kind === 'script'
      ? { script_path: scriptPath(paths.taskDir, execution.interpreter) }
      : {}),
  };
}

/** Sizes of a finished task's logs, when the caller already knows them. */
export interface LogSizes {
  stdout: number;
  stderr: number;
}

/** The status of a task that has not finished, assembled from its row and its logs. */
export function buildLiveSnapshot(
  record: TaskRecord,
  paths: TaskPaths,
  logSizes?: LogSizes,
): TaskStatusResponse {
  if (record.result !== undefined) return record.result;
  const { limits } = record.spec;
  const stdout = readOutputPreview(paths.stdoutPath, limits.stdout_max_bytes, logSizes?.stdout);
  const stderr = readOutputPreview(paths.stderrPath, limits.stderr_max_bytes, logSizes?.stderr);
  const metadata = record.spec.metadata;
  return {
    task_id: record.taskId,
    handle_id: record.taskId,
    status: record.status,
    created_at: formatTimestamp(record.createdAt),
    updated_at: formatTimestamp(record.updatedAt),
    ...(record.startedAt === undefined || record.status === 'accepted'
      ? {}
      : { started_at: formatTimestamp(record.startedAt) }),
    ...(record.shim === undefined ? {} : { shim_pid: record.shim.pid }),
    ...(record.pid === undefined ? {} : { pid: record.pid }),
    ...(record.pgid === undefined ? {} : { pgid: record.pgid }),
    stdout: stdout.text,
    stderr: stderr.text,
    stdout_truncated: stdout.truncated,
    stderr_truncated: stderr.truncated,
    stdout_bytes: stdout.totalBytes,
    stderr_bytes: stderr.totalBytes,
    execution_plan: record.plan,
    ...(record.status === 'running' ? { reservation: record.reservation } : {}),
    artifacts: artifactsOf(record, paths),
    ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
  };
}

function buildUsage(
  durationMs: number,
  exit: ExitRecord | undefined,
  cgroup: CgroupReport | undefined,
): ResourceUsage {
  const usage: ResourceUsage = { duration_ms: durationMs };
  // The cgroup saw every process of the task (even ones never reaped by the main child);
  // rusage of the main child is the fallback.
  const userCpuMs =
    cgroup?.userCpuMs ??
    (exit?.userCpuUs === undefined ? undefined : Math.round(exit.userCpuUs / 1000));
  const systemCpuMs =
    cgroup?.systemCpuMs ??
    (exit?.systemCpuUs === undefined ? undefined : Math.round(exit.systemCpuUs / 1000));
  if (userCpuMs !== undefined) usage.user_cpu_ms = userCpuMs;
  if (systemCpuMs !== undefined) usage.system_cpu_ms = systemCpuMs;
  if (exit?.maxRssKb !== undefined) usage.max_rss_bytes = exit.maxRssKb * 1024;
  if (cgroup?.memoryPeakBytes !== undefined) usage.memory_peak_bytes = cgroup.memoryPeakBytes;
  return usage;
}

/** Facts gathered when a task ends, from whichever source knew them. */
export interface TerminalFacts {
  outcome: TaskOutcome;
  finishedAt: number;
  updatedAt: number;
  exit?: ExitRecord;
  cgroup?: CgroupReport;
  /** Known once the shim has exited: its logs can no longer grow. */
  logSizes?: LogSizes;
}

/**
 * The one terminal shape, whatever happened (success, failure, cancel, crash recovery):
 * stored in the row, written as result.json, returned by GET and kill.
 */
export function buildTerminalSnapshot(
  record: TaskRecord,
  paths: TaskPaths,
  facts: TerminalFacts,
): TaskStatusResponse {
  const live = buildLiveSnapshot({ ...record, result: undefined }, paths, facts.logSizes);
  const startedAt = facts.exit?.startedAtMs ?? record.startedAt;
  const pid = facts.exit?.pid ?? record.pid;
  const pgid = facts.exit?.pgid ?? record.pgid;
  const durationMs = startedAt === undefined ? 0 : Math.max(0, facts.finishedAt - startedAt);
  const wasReserved = record.reservedAt !== undefined;
  const { outcome } = facts;
  return {
    ...live,
    status: outcome.status,
    updated_at: formatTimestamp(facts.updatedAt),
    ...(startedAt === undefined ? {} : { started_at: formatTimestamp(startedAt) }),
    finished_at: formatTimestamp(facts.finishedAt),
    duration_ms: durationMs,
    ...(pid === undefined ? {} : { pid }),
    ...(pgid === undefined ? {} : { pgid }),
    ...(outcome.exitCode === undefined ? {} : { exit_code: outcome.exitCode }),
    ...(outcome.exitSignal === undefined ? {} : { exit_signal: outcome.exitSignal }),
    ...(outcome.error === undefined ? {} : { error: outcome.error }),
    usage: buildUsage(durationMs, facts.exit, facts.cgroup),
    ...(wasReserved ? { reservation: record.reservation } : {}),
  };
}
