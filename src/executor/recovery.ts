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
  };
  for (const record of deps.store.listRunning()) recoverRunning(deps, record, summary);
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
  const { finisher, store, clock } = deps;
  if (record.shim === undefined) {
    const paths = deps.pathsOf(record.taskId);
    for (const file of [paths.launchSpecPath, paths.startRecordPath, paths.exitRecordPath])
      fs.rmSync(file, { force: true });
    store.requeue(record.taskId, clock.now(), [
      {
        type: 'recovered',
        message:
          'server stopped before the supervisor was recorded; the program never started, queued again',
        data: { action: 'requeued' },
      },
      { type: 'resource_released', data: record.reservation },
    ]);
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
    store.appendEvent(record.taskId, clock.now(), {
      type: 'recovered',
      message: 'supervisor still running; re-attached',
      data: { action: 'reattached', shim_pid: record.shim.pid },
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
