import fs from 'node:fs';
import type { Logger } from 'pino';
import type { NewEvent, TaskRecord } from '../core/task-record.js';
import type { Clock } from '../core/clock.js';
import type { EventType } from '../contract/task-status.js';
import type { Failpoints } from '../core/failpoints.js';
import type { RuntimeEvents } from '../core/runtime-events.js';
import type { TerminalStatus } from '../core/task-status.js';
import type { TaskCgroups } from '../sandbox/task-cgroups.js';
import { applySandboxExitStatus } from '../sandbox/sandbox-exit-status.js';
import { buildTerminalSnapshot, type TerminalFacts } from '../service/task-snapshot.js';
import type { StartedFacts, TaskStore } from '../store/task-store.js';
import { readIfExists, writeResultFile } from '../store/task-files.js';
import type { TaskPaths } from '../store/task-paths.js';
import { classifyOutcome, type TaskOutcome } from './outcome.js';
import { isSignallableGroup, readStartTicks } from './process-identity.js';
import { parseExitRecord, parseStartRecord } from './shim-records.js';

const TERMINAL_EVENT: Record<TerminalStatus, EventType> = {
  success: 'finished',
  failed: 'failed',
  cancelled: 'cancelled',
};

/** Ticks within which the program must have started after its shim to be "ours". */
const PROGRAM_START_WINDOW_TICKS = 3000;

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

export interface FinisherDeps {
  store: TaskStore;
  events: RuntimeEvents;
  logger: Logger;
  clock: Clock;
  cgroups: TaskCgroups;
  failpoints: Failpoints;
  durable: boolean;
  pathsOf(taskId: string): TaskPaths;
}

/**
 * Brings tasks to their terminal state. Every path is idempotent: the row's state machine
 * refuses a second terminal transition, result.json is rewritten identically, and cgroup
 * removal tolerates absence — so replaying after a crash at any point is safe.
 */
export class TaskFinisher {
  constructor(private readonly deps: FinisherDeps) {}

  /** Records the program's start from the shim's start record, once. */
  recordStartFromShim(record: TaskRecord): void {
    if (record.pid !== undefined) return;
    const text = readIfExists(this.deps.pathsOf(record.taskId).startRecordPath);
    const start = text === undefined ? undefined : parseStartRecord(text);
    if (start === undefined) return;
    if (
      this.deps.store.recordStarted(
        record.taskId,
        { pid: start.pid, pgid: start.pgid, startedAt: start.startedAtMs },
        this.deps.clock.now(),
      )
    )
      this.deps.events.emit('task:started', record.taskId);
  }

  /**
   * Finishes a task from its exit record. Returns false when there is no exit record yet
   * (the task is still running).
   */
  finishFromExitRecord(record: TaskRecord, extraEvents: readonly NewEvent[] = []): boolean {
    const paths = this.deps.pathsOf(record.taskId);
    const text = readIfExists(paths.exitRecordPath);
    if (text === undefined) return false;
    const parsed = parseExitRecord(text);
    // linux_sandbox: bwrap reports signal deaths as 128+N; the sandbox init knows the signal.
    // Other profiles have no sandbox init, and their program could write that file itself.
    const isSandboxed = record.plan.effective_sandbox.profile === 'linux_sandbox';
    const exit = parsed && (isSandboxed ? applySandboxExitStatus(parsed, paths.taskDir) : parsed);
    if (exit === undefined) {
      this.finishLost(record, 'the supervisor left an unreadable exit record');
      return true;
    }
    // The caller read the row after the shim's identity (and launch record) was committed;
    // the start is taken from the exit record, in the same commit as the end.
    const dirs = record.launch?.cgroupDirs ?? [];
    const cgroup = this.deps.cgroups.report(dirs);
    const { limits } = record.spec;
    const logSizes = { stdout: fileSize(paths.stdoutPath), stderr: fileSize(paths.stderrPath) };
    const outcome = classifyOutcome(
      exit,
      {
        wallTimeMs: limits.wall_time_ms,
        ...(limits.cpu_time_sec === undefined ? {} : { cpuTimeSec: limits.cpu_time_sec }),
        ...(limits.memory_bytes === undefined ? {} : { memoryBytes: limits.memory_bytes }),
        ...(limits.idle_timeout_ms === undefined ? {} : { idleTimeoutMs: limits.idle_timeout_ms }),
        logMaxBytes: limits.log_max_bytes,
        largestLogBytes: Math.max(logSizes.stdout, logSizes.stderr),
      },
      cgroup,
    );
    this.deps.failpoints.hit('after-exit-observed');
    const events: NewEvent[] = [...extraEvents];
    if (exit.reason === 'timeout')
      events.push({
        type: 'timeout_triggered',
        message: `wall time ${limits.wall_time_ms} ms exceeded`,
        data: { term_sent_at_ms: exit.termSentAtMs, forced_kill: exit.forcedKill },
      });
    if (exit.reason === 'idle_timeout')
      events.push({
        type: 'idle_timeout_triggered',
        message: `no output for ${limits.idle_timeout_ms ?? 0} ms`,
        data: { term_sent_at_ms: exit.termSentAtMs, forced_kill: exit.forcedKill },
      });
    const started =
      record.pid === undefined &&
      exit.pid !== undefined &&
      exit.pgid !== undefined &&
      exit.startedAtMs !== undefined
        ? { pid: exit.pid, pgid: exit.pgid, startedAt: exit.startedAtMs }
        : undefined;
    this.complete(
      record,
      outcome,
      {
        outcome,
        finishedAt: exit.finishedAtMs,
        updatedAt: this.deps.clock.now(),
        exit,
        ...(cgroup === undefined ? {} : { cgroup }),
        logSizes,
      },
      events,
      started,
    );
    this.deps.cgroups.remove(dirs);
    return true;
  }

  /**
   * The supervisor is gone without an outcome. Whatever it left behind is killed (via the
   * cgroup when there is one, else the program's process group if it is provably ours),
   * and the task fails with `internal`.
   */
  finishLost(
    record: TaskRecord,
    message: string,
    extraEvents: readonly NewEvent[] = [],
    code: 'internal' | 'launch_failed' | 'timeout' = 'internal',
  ): void {
    const current = this.deps.store.getTask(record.taskId) ?? record;
    const dirs = current.launch?.cgroupDirs ?? [];
    this.killLeftovers(current);
    const cgroup = this.deps.cgroups.report(dirs);
    const now = this.deps.clock.now();
    const details = { shim_pid: current.shim?.pid };
    // A task someone asked to kill ended as they asked, whatever else went wrong (a shim that
    // read EOF at its gate because the spawner died, say): what is left was killed above.
    const outcome: TaskOutcome = this.deps.store.isKillRequested(record.taskId)
      ? {
          status: 'cancelled',
          error: { code: 'cancelled', message: `task cancelled (${message})`, details },
        }
      : { status: 'failed', error: { code, message, details } };
    this.complete(
      current,
      outcome,
      { outcome, finishedAt: now, updatedAt: now, ...(cgroup === undefined ? {} : { cgroup }) },
      extraEvents,
    );
    this.deps.cgroups.remove(dirs);
    // The records the shim reserved room for (native/record.c), never written: without this
    // the task dir would keep preallocated, empty temp files for good.
    const paths = this.deps.pathsOf(record.taskId);
    for (const file of [paths.exitRecordPath, paths.startRecordPath])
      fs.rmSync(`${file}.tmp`, { force: true });
  }

  /** Ends a task that never started (cancelled while queued, or failed before launch). */
  finishUnstarted(
    record: TaskRecord,
    outcome: TaskOutcome,
    extraEvents: readonly NewEvent[] = [],
  ): boolean {
    const now = this.deps.clock.now();
    return this.complete(
      record,
      outcome,
      { outcome, finishedAt: now, updatedAt: now },
      extraEvents,
    );
  }

  private killLeftovers(record: TaskRecord): void {
    const pgid = record.pgid;
    const shim = record.shim;
    if (pgid === undefined || shim === undefined || !isSignallableGroup(pgid)) return;
    // pgid is the program's pid. Signal the group only if its leader is the process our shim
    // started (started shortly after the shim), never a process that reused the number.
    const ticks = readStartTicks(pgid);
    if (ticks === undefined) return;
    if (ticks < shim.startTicks || ticks - shim.startTicks > PROGRAM_START_WINDOW_TICKS) return;
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }

  private complete(
    record: TaskRecord,
    outcome: TaskOutcome,
    facts: TerminalFacts,
    extraEvents: readonly NewEvent[],
    started?: StartedFacts,
  ): boolean {
    const paths = this.deps.pathsOf(record.taskId);
    const snapshot = buildTerminalSnapshot(record, paths, facts);
    // A result.json of a task that is not terminal yet is a try whose commit failed (disk
    // full): removed first, so that the rewrite needs room for one copy, not two.
    fs.rmSync(paths.resultPath, { force: true });
    writeResultFile(paths, snapshot, this.deps.durable);
    this.deps.failpoints.hit('after-result-written');
    const events: NewEvent[] = [
      ...extraEvents,
      {
        type: TERMINAL_EVENT[outcome.status],
        ...(outcome.error === undefined ? {} : { message: outcome.error.message }),
        data: {
          status: outcome.status,
          ...(outcome.error === undefined ? {} : { code: outcome.error.code }),
          ...(outcome.exitCode === undefined ? {} : { exit_code: outcome.exitCode }),
          ...(outcome.exitSignal === undefined ? {} : { exit_signal: outcome.exitSignal }),
        },
      },
    ];
    if (record.reservedAt !== undefined && record.releasedAt === undefined)
      events.push({ type: 'resource_released', data: record.reservation });
    const changed = this.deps.store.complete(
      record.taskId,
      outcome.status,
      snapshot,
      facts.finishedAt,
      facts.updatedAt,
      events,
      started,
    );
    this.deps.failpoints.hit('after-terminal-commit');
    if (!changed) return false;
    this.deps.logger.info(
      { task_id: record.taskId, status: outcome.status, code: outcome.error?.code },
      'task finished',
    );
    // What the row now holds, without reading it back.
    const finished: TaskRecord = {
      ...record,
      status: outcome.status,
      result: snapshot,
      finishedAt: facts.finishedAt,
      updatedAt: facts.updatedAt,
      ...(started === undefined
        ? {}
        : { pid: started.pid, pgid: started.pgid, startedAt: started.startedAt }),
      ...(record.reservedAt === undefined ? {} : { releasedAt: facts.updatedAt }),
    };
    this.deps.events.emit('task:finished', finished);
    this.deps.events.emit('task:changed', record.taskId, outcome.status);
    return true;
  }
}
