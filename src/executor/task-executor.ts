import type { Logger } from 'pino';
import type { RuntimeConfig } from '../config/runtime-config.js';
import type { Clock } from '../core/clock.js';
import type { Failpoints } from '../core/failpoints.js';
import type { RuntimeEvents } from '../core/runtime-events.js';
import { RuntimeError } from '../core/runtime-error.js';
import type { ProcessIdentity, TaskRecord } from '../core/task-record.js';
import type { SandboxBuilder } from '../sandbox/task-command.js';
import type { TaskCgroups } from '../sandbox/task-cgroups.js';
import { killCgroup } from '../sandbox/cgroup-files.js';
import type { SandboxExposure, UidRange } from '../sandbox/sandbox-exposure.js';
import { prepareWorkspace } from '../store/task-files.js';
import type { TaskPaths } from '../store/task-paths.js';
import type { TaskStore } from '../store/task-store.js';
import { buildLaunchSpec, cgroupLimitsOf } from './build-launch-spec.js';
import { encodeLaunchSpec } from './launch-spec.js';
import type { NotifyKind } from './notify-watcher.js';
import { OverdueSupervisors } from './overdue-supervisors.js';
import { SandboxedTasks } from './sandboxed-tasks.js';
import {
  isAliveState,
  isStoppedState,
  readProcessState,
  signalIfSame,
} from './process-identity.js';
import { createShimLauncher, type ShimLauncher } from './shim-launcher.js';
import { SHIM_EXIT_NO_ROOM } from './shim-records.js';
import { SpawnerGoneError } from './spawner-client.js';
import type { TaskFinisher } from './task-finisher.js';

export interface ExecutorDeps {
  config: RuntimeConfig;
  store: TaskStore;
  logger: Logger;
  clock: Clock;
  sandbox: SandboxBuilder;
  cgroups: TaskCgroups;
  failpoints: Failpoints;
  finisher: TaskFinisher;
  events: RuntimeEvents;
  notifyDir: string;
  /** The host-wide note that this runtime runs sandboxed tasks (sandbox-exposure.ts). */
  exposure?: SandboxExposure;
  pathsOf(taskId: string): TaskPaths;
}

function describeError(error: unknown): RuntimeError {
  if (error instanceof RuntimeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RuntimeError('launch_failed', `could not launch the task: ${message}`, undefined, {
    cause: error,
  });
}

/** The longest wait between two sweeps' tries to settle a task that failed (storage). */
const SETTLE_RETRY_MAX_MS = 10_000;

/**
 * Shims the spawner keeps forked ahead of need: one per slot, so that a burst that fills
 * every slot finds them all ready, up to 8 (an idle pooled shim costs ~44 KiB of private
 * memory, docs/performance.md).
 */
export function shimPoolSize(maxRunningTasks: number): number {
  return Math.min(maxRunningTasks, 8);
}

/**
 * Starts tasks under their shims and follows them to the end. The server only writes state
 * and reads records; the shim owns the process. A task is launched in this order, each step
 * durable before the next: row `running` with reservation → a shim at its gate (from the
 * spawner's pool) → shim identity and gate mark committed → gate opened with the launch
 * (docs/recovery.md).
 */
export class TaskExecutor {
  private isStopped = false;
  private launcher: ShimLauncher | undefined;
  /** Running (and recently ended) linux_sandbox tasks: their uids, the host-wide note. */
  private readonly sandboxed: SandboxedTasks;
  /** Exit statuses of shims that exited while their task was running, until it is finished. */
  private readonly shimExitCodes = new Map<string, number>();
  /** Tasks the sweep failed to settle (storage faults), retried with a growing delay. */
  private readonly settleBackoff = new Map<string, { failures: number; retryAt: number }>();
  /** Shims past their task's deadline: resumed, then killed (overdue-supervisors.ts). */
  private readonly overdue: OverdueSupervisors;

  constructor(private readonly deps: ExecutorDeps) {
    this.overdue = new OverdueSupervisors(deps.config.terminationGraceMs);
    this.sandboxed = new SandboxedTasks({
      sandboxUidBase: deps.config.sandboxUidBase,
      ...(deps.exposure === undefined ? {} : { exposure: deps.exposure }),
      logger: deps.logger,
    });
    deps.events.on('task:finished', (record) => this.forget(record.taskId));
  }

  /** A task stopped running (finished, or queued again): what was held for it is given back. */
  private forget(taskId: string): void {
    this.shimExitCodes.delete(taskId);
    this.overdue.forget(taskId);
    this.settleBackoff.delete(taskId);
    // Its uids stay exposed for a grace period (exposed-tasks.ts); the note gets its end.
    this.sandboxed.release(taskId);
  }

  /**
   * The uids of running (and recently ended) sandboxed tasks, any of which could reach the
   * API on loopback (exposed-tasks.ts).
   */
  exposedRanges(): UidRange[] {
    return this.sandboxed.ranges();
  }

  /**
   * Kills every running sandboxed task, its whole cgroup, at once (start-up: the API port was
   * taken, reclaim-listen-port.ts). Each shim then reports a death by SIGKILL as usual.
   * Returns their ids.
   */
  killExposedTasks(): string[] {
    const killed: string[] = [];
    for (const record of this.deps.store.listRunning()) {
      if (!this.sandboxed.isRunning(record.taskId)) continue;
      for (const dir of record.launch?.cgroupDirs ?? []) killCgroup(dir);
      killed.push(record.taskId);
    }
    return killed;
  }

  /**
   * Marks the sandbox uids of re-attached tasks as held, then starts the spawner and fills its
   * pool now, at start-up, so that the first task does not wait for them (a process start
   * and a fork per slot: ~10 ms).
   */
  start(): void {
    this.sandboxed.adopt(this.deps.store.listRunning());
    this.launcherOrCreate();
  }

  /** Stops reacting to shims (the server is shutting down; the shims keep running). */
  stop(): void {
    this.isStopped = true;
    this.launcher?.close();
  }

  /** The launcher, created by start() or, in a runtime that was not started, on first use. */
  private launcherOrCreate(): ShimLauncher {
    if (this.launcher === undefined) {
      const poolSize = shimPoolSize(this.deps.config.maxRunningTasks);
      this.launcher = createShimLauncher(this.deps.config.shimPath, poolSize, this.deps.logger);
      this.deps.logger.info(
        {
          launch_path: this.launcher.path,
          ...(this.launcher.path === 'spawner' ? { shim_pool: poolSize } : {}),
        },
        'shim launcher ready',
      );
    }
    return this.launcher;
  }

  /** Launches a task that was just marked running. Failures end the task, never throw. */
  launch(record: TaskRecord): void {
    void this.launchAsync(record);
  }

  private async launchAsync(record: TaskRecord): Promise<void> {
    const { deps } = this;
    const paths = deps.pathsOf(record.taskId);
    let cgroupDirs: string[] = [];
    try {
      const cwd = prepareWorkspace(paths, record.plan.effective_sandbox.workspace_subdir);
      const cgroups = deps.cgroups.create(record.taskId, cgroupLimitsOf(record));
      cgroupDirs = cgroups.dirs;
      // No stale start or exit record can be here: a task is launched once, or again only
      // after recovery requeued it, and requeueing removes them (recovery.ts).
      const identity = this.sandboxed.acquire(record);
      const spec = buildLaunchSpec(
        {
          config: deps.config,
          sandbox: deps.sandbox,
          notifyDir: this.launcherOrCreate().path === 'spawner' ? undefined : deps.notifyDir,
        },
        record,
        { paths, cwd, cgroups, identity },
      );
      const acquired = this.launcherOrCreate().acquire(
        {
          spec: encodeLaunchSpec(spec),
          specPath: paths.launchSpecPath,
          shimLogPath: paths.shimLogPath,
        },
        (code) => {
          this.onShimExit(record.taskId, code);
        },
      );
      // A pooled shim is here at once: the whole launch is then one synchronous run from the
      // reservation to the gate, with no await (and nothing else running) in between.
      const shim = acquired instanceof Promise ? await acquired : acquired;
      if (this.isStopped) {
        // Stopping: never recorded, so the shim leaves no trace and recovery queues it again.
        shim.abort();
        return;
      }
      deps.failpoints.hit('after-shim-spawn');
      // A kill that arrived while the launch was in flight found no shim to signal; it is
      // stored, so honour it here: the program is never started.
      if (deps.store.isKillRequested(record.taskId)) {
        shim.abort();
        deps.cgroups.remove(cgroupDirs);
        deps.finisher.finishUnstarted(record, {
          status: 'cancelled',
          error: { code: 'cancelled', message: 'task cancelled before its program started' },
        });
        return;
      }
      // Identity and gate mark in one commit, before the gate byte: recovery can always find
      // the shim, and a crash before the byte errs on the safe side (never re-run). Nothing
      // runs between the kill check above and this commit (synchronous code).
      try {
        const at = deps.clock.now();
        const launch = {
          cgroupDirs,
          gateOpenedAt: at,
          ...(identity === undefined ? {} : { sandboxUid: identity.uid }),
        };
        deps.store.recordShim(record.taskId, shim.identity, launch, at);
      } catch (error) {
        shim.abort();
        throw error;
      }
      deps.failpoints.hit('after-gate-recorded');
      shim.open();
    } catch (error) {
      if (this.isStopped) return;
      if (error instanceof SpawnerGoneError) this.requeueLaunch(record, cgroupDirs, error);
      else this.failLaunch(record, cgroupDirs, error);
    }
  }

  /**
   * The spawner died before this launch got a shim: nothing of the task was recorded or
   * started, so it goes back to the queue (a new spawner is starting) instead of failing for
   * a fault of the host's. Its reservation is returned; the dispatcher takes it up again.
   */
  private requeueLaunch(record: TaskRecord, cgroupDirs: string[], error: SpawnerGoneError): void {
    const { deps } = this;
    deps.logger.warn({ task_id: record.taskId, err: error }, 'task launch queued again');
    try {
      deps.cgroups.remove(cgroupDirs);
      this.forget(record.taskId);
      const isRequeued = deps.store.requeue(record.taskId, deps.clock.now(), [
        {
          type: 'recovered',
          message: `${error.message}; queued again`,
          data: { action: 'requeued', found: 'spawner_gone' },
        },
        { type: 'resource_released', data: record.reservation },
      ]);
      if (isRequeued) deps.events.emit('task:requeued', record);
    } catch (requeueError) {
      // Storage fault: still `running` without a shim; the sweep settles it.
      deps.logger.error({ err: requeueError, task_id: record.taskId }, 'requeueing failed');
    }
  }

  private failLaunch(record: TaskRecord, cgroupDirs: string[], error: unknown): void {
    const { deps } = this;
    const failure = describeError(error);
    deps.logger.warn({ task_id: record.taskId, err: error }, 'task launch failed');
    try {
      deps.cgroups.remove(cgroupDirs);
      deps.finisher.finishUnstarted(record, {
        status: 'failed',
        error: {
          code: failure.code,
          message: failure.message,
          ...(failure.details === undefined ? {} : { details: failure.details }),
        },
      });
    } catch (finishError) {
      // Storage fault: the sweep or the next start settles the task.
      deps.logger.error({ err: finishError, task_id: record.taskId }, 'failing a launch failed');
    }
  }

  /** Reacts to a shim's notify file. */
  onNotify(taskId: string, kind: NotifyKind): void {
    if (this.isStopped) return;
    const record = this.deps.store.getTask(taskId);
    if (record === undefined || record.status !== 'running') return;
    if (kind === 'started') this.deps.finisher.recordStartFromShim(record);
    else this.deps.finisher.finishFromExitRecord(record);
  }

  /** Asks a running task's shim to terminate it (SIGTERM, then SIGKILL after the grace). */
  requestTermination(record: TaskRecord): void {
    if (record.shim === undefined) return;
    if (!signalIfSame(record.shim, 'SIGTERM'))
      this.deps.logger.warn(
        { task_id: record.taskId },
        'supervisor not alive for kill; sweep will settle it',
      );
  }

  /**
   * Safety net behind inotify: settles running tasks whose exit went unnoticed and those
   * whose supervisor died without an outcome.
   */
  sweep(): void {
    const now = this.deps.clock.now();
    for (const record of this.deps.store.listRunning()) {
      const backoff = this.settleBackoff.get(record.taskId);
      if (backoff !== undefined && now < backoff.retryAt) continue;
      try {
        this.settle(record);
        this.settleBackoff.delete(record.taskId);
      } catch (error) {
        // One task that cannot be settled now (e.g. disk full) must not block the others,
        // nor be retried every sweep: each try of a large result.json on a full disk costs
        // a write of it (and a log line).
        const failures = (backoff?.failures ?? 0) + 1;
        const delayMs = Math.min(SETTLE_RETRY_MAX_MS, 250 * 2 ** Math.min(failures, 10));
        this.settleBackoff.set(record.taskId, { failures, retryAt: now + delayMs });
        this.deps.logger.error(
          { err: error, task_id: record.taskId, retry_in_ms: delayMs },
          'settling a task failed',
        );
      }
    }
  }

  /**
   * Settles one running task from what is on disk and in /proc.
   * `shimExitCode`: the shim's exit status, when its exit was reported. Kept until the task is
   * finished, as settling may fail now (the disk that made the shim exit is full) and succeed
   * in a later sweep.
   */
  settle(record: TaskRecord, shimExitCode?: number | null): void {
    const { finisher } = this.deps;
    // The end first: a short task's start and end are then recorded in one commit.
    if (finisher.finishFromExitRecord(record)) return;
    if (record.pid === undefined) finisher.recordStartFromShim(record);
    if (record.shim === undefined) return;
    const state = readProcessState(record.shim);
    if (isAliveState(state)) {
      this.enforceDeadline(record, record.shim, isStoppedState(state));
      return;
    }
    // The shim may have written its record between our two reads.
    if (finisher.finishFromExitRecord(record)) return;
    if (this.overdue.wasKilled(record.taskId))
      finisher.finishLost(
        record,
        "the supervisor was stopped past the task's deadline, and again after being resumed; the runtime killed it and the task",
        [],
        'timeout',
      );
    else if ((shimExitCode ?? this.shimExitCodes.get(record.taskId)) === SHIM_EXIT_NO_ROOM)
      finisher.finishLost(
        record,
        "launch failed at records: no room for the supervisor's records (is the disk full?); the program never started",
        [],
        'launch_failed',
      );
    else finisher.finishLost(record, 'the supervisor exited without recording an outcome');
  }

  /** The backstop behind the shim's own timers: a stopped shim is resumed, then killed. */
  private enforceDeadline(record: TaskRecord, shim: ProcessIdentity, isStopped: boolean): void {
    const action = this.overdue.check(record, this.deps.clock.now(), isStopped);
    if (action === 'none') return;
    this.deps.logger.warn(
      { task_id: record.taskId, shim_pid: shim.pid, deadline: this.overdue.deadlineOf(record) },
      action === 'resume'
        ? 'supervisor stopped past its deadline; resuming it'
        : 'supervisor stopped again past its deadline; killing it and its task',
    );
    if (action === 'resume') {
      signalIfSame(shim, 'SIGCONT');
      return;
    }
    // Its task first, by cgroup: a shim killed first would leave the program running.
    for (const dir of record.launch?.cgroupDirs ?? []) killCgroup(dir);
    signalIfSame(shim, 'SIGKILL');
  }

  private onShimExit(taskId: string, code: number | null): void {
    // Runs from a child 'exit' event: a storage fault (or a store closed by a graceful stop)
    // must not crash the server; the sweep or the next start settles the task.
    try {
      const record = this.deps.store.getTask(taskId);
      if (record?.status !== 'running') return;
      // The shim reaped the whole tree before exiting: its slot can go to the next task now,
      // so that launch overlaps this task's bookkeeping instead of waiting for it.
      this.deps.events.emit('task:exited', taskId);
      if (code !== null) this.shimExitCodes.set(taskId, code);
      this.settle(record, code);
    } catch (error) {
      this.deps.logger.error(
        { err: error, task_id: taskId },
        'settling an exited supervisor failed',
      );
    }
  }
}
