import { constants } from 'node:os';
import type { RuntimeErrorInfo } from '../contract/task-status.js';
import type { TerminalStatus } from '../core/task-status.js';
import type { ExitRecord } from './shim-records.js';

/** Cgroup facts read after the task ended (absent when the task had no cgroup). */
export interface CgroupReport {
  oomKilled: boolean;
  memoryPeakBytes?: number;
  /** CPU of every process the task's cgroup held, reaped by whomever (cpu.stat / cpuacct). */
  userCpuMs?: number;
  systemCpuMs?: number;
}

/** How a finished task is reported: status, error, exit facts. */
export interface TaskOutcome {
  status: TerminalStatus;
  error?: RuntimeErrorInfo;
  exitCode?: number;
  exitSignal?: number;
}

const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(constants.signals).map(([name, number]) => [number, name]),
);

/** `9 (SIGKILL)`: numbers are the contract, names are for people. */
export function describeSignal(signal: number): string {
  const name = SIGNAL_NAMES.get(signal);
  return name === undefined ? String(signal) : `${signal} (${name})`;
}

function launchFailure(record: ExitRecord): TaskOutcome {
  const stage = record.launchErrorStage ?? 'unknown';
  const reason = record.launchError ?? 'unknown error';
  const details = { stage, errno: record.launchErrno, error: reason };
  // Failing to enter the cgroup or apply limits means the isolation was not applied: never
  // report it as a plain launch problem, and never run without it.
  const isSandboxStage = stage === 'cgroup' || stage === 'rlimit' || stage === 'prctl';
  return {
    status: 'failed',
    error: isSandboxStage
      ? {
          code: 'sandbox_setup_failed',
          message: `sandbox setup failed at ${stage}: ${reason}`,
          details,
        }
      : { code: 'launch_failed', message: `launch failed at ${stage}: ${reason}`, details },
  };
}

function exitFacts(record: ExitRecord): Pick<TaskOutcome, 'exitCode' | 'exitSignal'> {
  return {
    ...(record.exitCode === undefined ? {} : { exitCode: record.exitCode }),
    ...(record.exitSignal === undefined ? {} : { exitSignal: record.exitSignal }),
  };
}

function isCpuLimitHit(record: ExitRecord, cpuTimeSec: number | undefined): boolean {
  if (cpuTimeSec === undefined || record.exitSignal === undefined) return false;
  if (record.exitSignal === constants.signals.SIGXCPU) return true;
  // The hard limit (soft + 1 s) is a SIGKILL from the kernel; recognise it by the CPU used.
  const cpuUs = (record.userCpuUs ?? 0) + (record.systemCpuUs ?? 0);
  return record.exitSignal === constants.signals.SIGKILL && cpuUs >= cpuTimeSec * 1_000_000;
}

/**
 * RLIMIT_FSIZE stops a write at log_max_bytes with SIGXFSZ. The program may be a shell whose
 * child got the signal (it then exits 128 + 25), so a failed task whose log reached the cap
 * counts as well.
 */
function isLogCapHit(
  record: ExitRecord,
  logMaxBytes: number | undefined,
  largestLogBytes: number | undefined,
): boolean {
  if (record.exitSignal === constants.signals.SIGXFSZ) return true;
  if (logMaxBytes === undefined || largestLogBytes === undefined) return false;
  const isFailure = record.exitSignal !== undefined || record.exitCode !== 0;
  return isFailure && largestLogBytes >= logMaxBytes;
}

/**
 * Turns the shim's facts into the contract's outcome. The first reason the shim saw wins
 * (timeout vs. cancel); resource verdicts come before the plain exit status because a
 * limit kill also shows up as a signal or a non-zero exit.
 */
export function classifyOutcome(
  record: ExitRecord,
  limits: {
    cpuTimeSec?: number;
    memoryBytes?: number;
    wallTimeMs: number;
    idleTimeoutMs?: number;
    /** log_max_bytes and the size of the larger log file at exit. */
    logMaxBytes?: number;
    largestLogBytes?: number;
  },
  cgroup: CgroupReport | undefined,
): TaskOutcome {
  const facts = exitFacts(record);
  switch (record.reason) {
    case 'launch_failed':
      return launchFailure(record);
    case 'cancelled':
      return {
        status: 'cancelled',
        error: { code: 'cancelled', message: 'task cancelled' },
        ...facts,
      };
    case 'timeout':
      return {
        status: 'failed',
        error: {
          code: 'timeout',
          message: `task exceeded wall_time_ms (${limits.wallTimeMs} ms)`,
          details: { forced_kill: record.forcedKill },
        },
        ...facts,
      };
    case 'idle_timeout':
      return {
        status: 'failed',
        error: {
          code: 'idle_timeout',
          message: `task produced no output for idle_timeout_ms (${limits.idleTimeoutMs ?? 0} ms)`,
          details: { forced_kill: record.forcedKill },
        },
        ...facts,
      };
    case 'exited':
      break;
  }
  if (cgroup?.oomKilled === true)
    return {
      status: 'failed',
      error: {
        code: 'memory_limit_exceeded',
        message: `task exceeded memory_bytes (${limits.memoryBytes ?? 0}) and was killed by the OOM killer`,
      },
      ...facts,
    };
  if (isCpuLimitHit(record, limits.cpuTimeSec))
    return {
      status: 'failed',
      error: {
        code: 'cpu_limit_exceeded',
        message: `task exceeded cpu_time_sec (${limits.cpuTimeSec ?? 0} s)`,
      },
      ...facts,
    };
  if (isLogCapHit(record, limits.logMaxBytes, limits.largestLogBytes))
    return {
      status: 'failed',
      error: {
        code: 'resource_limit_exceeded',
        message: 'task wrote past log_max_bytes (per-file size limit)',
      },
      ...facts,
    };
  if (record.exitSignal !== undefined)
    return {
      status: 'failed',
      error: {
        code: 'exit_non_zero',
        message: `task terminated by signal ${describeSignal(record.exitSignal)}`,
        details: { signal: record.exitSignal },
      },
      ...facts,
    };
  if (record.exitCode === 0) return { status: 'success', ...facts };
  return {
    status: 'failed',
    error: {
      code: 'exit_non_zero',
      message: `task exited with code ${record.exitCode ?? 'unknown'}`,
    },
    ...facts,
  };
}
