import path from 'node:path';
import Database from 'better-sqlite3';
import type { TaskRecord } from '../src/core/task-record.js';
import { openDatabase } from '../src/store/open-database.js';
import { TaskStore } from '../src/store/task-store.js';

const BATCH = 2000;

/**
 * Fills a stopped runtime's store with `count` finished tasks cloned from a real one
 * (`templateId`) through the TaskStore class, so the rows are exactly what the API path
 * writes. The store's transactions nest (as savepoints) in one outer transaction per batch.
 */
export function fillRuntimeStore(dataDir: string, templateId: string, count: number): string[] {
  const db = openDatabase(path.join(dataDir, 'runtime.db'), { durable: false });
  const store = new TaskStore(db);
  try {
    const template = store.getTask(templateId);
    const result = template?.result;
    if (template === undefined || result === undefined)
      throw new Error(`template task ${templateId} is not finished`);
    const ids: string[] = [];
    const insertOne = (taskId: string): void => {
      const now = Date.now();
      const record: TaskRecord = {
        taskId,
        queueSeq: 0,
        status: 'accepted',
        spec: { ...template.spec, task_id: taskId },
        plan: template.plan,
        reservation: template.reservation,
        createdAt: now,
        updatedAt: now,
      };
      store.insertAccepted(record, [{ type: 'submitted' }, { type: 'accepted' }]);
      store.markDispatched(taskId, now, [{ type: 'resource_reserved', data: record.reservation }]);
      const snapshot = { ...result, task_id: taskId, handle_id: taskId };
      store.complete(taskId, 'success', snapshot, now, now, [
        { type: 'finished', data: { status: 'success', exit_code: 0 } },
      ]);
      ids.push(taskId);
    };
    const insertBatch = db.transaction((first: number) => {
      for (let i = first; i < Math.min(count, first + BATCH); i++) insertOne(`fill-${i}`);
    });
    for (let first = 0; first < count; first += BATCH) insertBatch(first);
    return ids;
  } finally {
    store.close();
  }
}

/** The same for the thin baseline: its one row per task, cloned in SQL. */
export function fillThinStore(dataDir: string, templateId: string, count: number): string[] {
  const db = new Database(path.join(dataDir, 'thin.db'));
  try {
    const clone = db.prepare(
      `INSERT INTO tasks (id, status, request, pid, exit_code, result, created_at, finished_at)
       SELECT ?, status, request, pid, exit_code, replace(result, id, ?), created_at, finished_at
       FROM tasks WHERE id = ?`,
    );
    const ids: string[] = [];
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const id = `fill-${i}`;
        clone.run(id, id, templateId);
        ids.push(id);
      }
    })();
    return ids;
  } finally {
    db.close();
  }
}
