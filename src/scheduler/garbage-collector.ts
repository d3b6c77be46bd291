import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { removeTaskDir } from '../store/task-files.js';
import type { TaskPaths } from '../store/task-paths.js';
import type { TaskStore } from '../store/task-store.js';

const BATCH = 500;

/**
 * Removes terminal tasks older than the retention (row, events, directory). The row goes
 * first: a crash midway leaves at worst a directory without a row, which start-up removes;
 * a half-deleted directory is fine because removal is `rm -rf`.
 */
export function collectExpiredTasks(deps: {
  store: TaskStore;
  clock: Clock;
  logger: Logger;
  retentionMs: number;
  pathsOf(taskId: string): TaskPaths;
}): number {
  const cutoff = deps.clock.now() - deps.retentionMs;
  let removed = 0;
  for (const taskId of deps.store.listExpired(cutoff, BATCH)) {
    if (!deps.store.deleteTerminal(taskId)) continue;
    try {
      removeTaskDir(deps.pathsOf(taskId));
    } catch (error) {
      deps.logger.warn({ task_id: taskId, err: error }, 'could not remove task directory');
    }
    removed++;
  }
  if (removed > 0) deps.logger.info({ removed }, 'expired tasks collected');
  return removed;
}
