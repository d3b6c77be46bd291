import fs from 'node:fs';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { TaskRecord } from '../core/task-record.js';
import type { TaskStore } from '../store/task-store.js';
import type { TaskPaths } from '../store/task-paths.js';
import { isSameProcessAlive, signalIfSame } from './process-identity.js';
import type { TaskFinisher } from './task-finisher.js';

export interface RecoveryDeps {
  store: TaskStore;
  finisher: TaskFinisher;
  clock: Clock;
  logger: Logger;
  pathsOf(taskId: string): TaskPaths;
}

/** What recovery did, for the log line and tests. */
export interface RecoverySummary {
  reattached: number;
  finishedFromRecord: number;
  lost: number;
  requeued: number;
  strayReservationsReleased: number;
  /** Tasks whose recovery failed (storage): left running for the sweep to settle. */
  deferred: number;
}

/**
 * Reconciles every non-terminal task before the server listens (docs/architecture.md,
 * "Recovery"). The decisive fact is whether the shim's identity was committed: the gate
 * guarantees a shim that was never recorded never started the program, so such a task is
 * queued again; a recorded one is followed to its real end (re-attached) or, if it is gone,
 * finished from its exit record or failed.
 */
export function recoverTasks(deps: RecoveryDeps): RecoverySummary {
  const summary: RecoverySummary = {
    reattached: 0,
    finishedFromRecord: 0,
    lost: 0,
    requeued: 0,
    strayReservationsReleased: 0,
    deferred: 0,
  };
  for (const record of deps.store.listRunning()) {
    try {
      recoverRunning(deps, record, summary);
    } catch (error) {
      // One task whose result cannot be written now (a full disk: its result.json holds
      // its inline output) must not keep the server, and every other task, down: it stays
      // running and the sweep settles it once there is room (robustness round 11).
      deps.logger.error({ err: error, task_id: record.taskId }, 'recovering a task failed');
      summary.deferred++;
    }
  }
  for (const record of deps.store.listAccepted()) {
    if (record.reservedAt === undefined || record.releasedAt !== undefined) continue;
    deps.store.releaseStrayReservation(record.taskId, deps.clock.now(), {
      type: 'recovered',
      message: 'queued task held a reservation; released',
      data: { action: 'reservation_released', reservation: record.reservation },
    });
    summary.strayReservationsReleased++;
  }
  deps.logger.info({ ...summary }, 'recovery complete');
  return summary;
}

function recoverRunning(deps: RecoveryDeps, record: TaskRecord, summary: RecoverySummary): void {
  const { finisher } = deps;
  if (record.shim === undefined) {
    requeue(
      deps,
      record,
      'server stopped before the supervisor was recorded; the program never started, queued again',
      { action: 'requeued', found: 'no_supervisor_recorded' },
    );
    summary.requeued++;
    return;
  }
  if (
    finisher.finishFromExitRecord(record, [
      {
        type: 'recovered',
        message: 'task ended while the server was down; outcome taken from the supervisor record',
        data: { action: 'finished_from_record', shim_pid: record.shim.pid },
      },
    ])
  ) {
    summary.finishedFromRecord++;
    return;
  }
  if (isSameProcessAlive(record.shim)) {
    finisher.recordStartFromShim(record);
    deps.store.appendEvent(record.taskId, deps.clock.now(), {
      type: 'recovered',
      message: 'supervisor still running; re-attached',
      data: {
        action: 'reattached',
        shim_pid: record.shim.pid,
        kill_redelivered: record.killRequestedAt !== undefined,
      },
    });
    // A kill that was stored but maybe not delivered before the crash is delivered now.
    if (record.killRequestedAt !== undefined) signalIfSame(record.shim, 'SIGTERM');
    summary.reattached++;
    return;
  }
  finisher.finishLost(record, 'the supervisor is gone and left no outcome record', [
    {
      type: 'recovered',
      message: 'supervisor gone without an outcome record; task failed',
      data: { action: 'failed_supervisor_lost', shim_pid: record.shim.pid },
    },
  ]);
  summary.lost++;
}

function requeue(deps: RecoveryDeps, record: TaskRecord, message: string, data: object): void {
  const paths = deps.pathsOf(record.taskId);
  for (const file of [paths.launchSpecPath, paths.startRecordPath, paths.exitRecordPath])
    fs.rmSync(file, { force: true });
  deps.store.requeue(record.taskId, deps.clock.now(), [
    { type: 'recovered', message, data },
    { type: 'resource_released', data: record.reservation },
  ]);
}

/** Removes task directories that have no row (a crash between writing files and commit). */
export function removeOrphanTaskDirs(
  tasksRoot: string,
  store: TaskStore,
  pathsOf: (taskId: string) => TaskPaths,
): number {
  let removed = 0;
  for (const name of fs.readdirSync(tasksRoot)) {
    if (store.getTask(name) !== undefined) continue;
    fs.rmSync(pathsOf(name).taskDir, { recursive: true, force: true });
    removed++;
  }
  return removed;
}
