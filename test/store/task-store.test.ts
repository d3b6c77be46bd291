import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { RuntimeError } from '../../src/core/runtime-error.js';
import type { TaskRecord } from '../../src/core/task-record.js';
import { BUSY_TIMEOUT_MS, openDatabase } from '../../src/store/open-database.js';
import { TaskStore } from '../../src/store/task-store.js';
import { makeAcceptedRecord } from '../support/task-records.js';
import { makeTempDir } from '../support/temp-dirs.js';

function openStore(): { store: TaskStore; file: string } {
  const file = path.join(makeTempDir('execgo-store-'), 'runtime.db');
  return { store: new TaskStore(openDatabase(file, { durable: false })), file };
}

const makeRecord = (taskId: string): TaskRecord => makeAcceptedRecord(taskId);

describe('TaskStore (real SQLite file)', () => {
  it('uses WAL and applies migrations once', () => {
    const { store, file } = openStore();
    store.close();
    const db = openDatabase(file, { durable: false });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.ok((db.pragma('user_version', { simple: true }) as number) >= 2);
    db.close();
  });

  it('the readiness probe fails at once (SQLITE_BUSY) while another process holds the lock', () => {
    const { store, file } = openStore();
    const other = new Database(file);
    other.exec('BEGIN EXCLUSIVE');
    // Without the probe's own busy timeout of 0 this would wait out 5 s, stalling every request.
    assert.throws(() => store.checkWritable(), { code: 'SQLITE_BUSY' });
    other.exec('COMMIT');
    other.close();
    store.checkWritable();
    assert.equal(store['db'].pragma('busy_timeout', { simple: true }), BUSY_TIMEOUT_MS);
    store.close();
  });

  it('rejects a duplicate task id with conflict', () => {
    const { store } = openStore();
    store.insertAccepted(makeRecord('a'), [{ type: 'submitted' }]);
    assert.throws(
      () => store.insertAccepted(makeRecord('a'), []),
      (error: unknown) => error instanceof RuntimeError && error.code === 'conflict',
    );
  });

  it('makes transitions idempotent and releases the reservation exactly once', () => {
    const { store } = openStore();
    store.insertAccepted(makeRecord('t'), [{ type: 'submitted' }]);
    assert.equal(store.markDispatched('t', 5, [{ type: 'resource_reserved' }]), true);
    assert.equal(store.markDispatched('t', 6, []), false);
    assert.equal(store.listReserved().length, 1);
    const snapshot = { task_id: 't' } as never;
    assert.equal(store.complete('t', 'success', snapshot, 9, 9, [{ type: 'finished' }]), true);
    assert.equal(store.complete('t', 'failed', snapshot, 10, 10, [{ type: 'failed' }]), false);
    const record = store.getTask('t');
    assert.equal(record?.status, 'success');
    assert.equal(record?.releasedAt, 9);
    assert.equal(store.listReserved().length, 0);
    const types = store.listEvents('t').map((event) => event.event_type);
    assert.deepEqual(types, ['submitted', 'resource_reserved', 'finished']);
    const seqs = store.listEvents('t').map((event) => event.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );
  });

  it('keeps FIFO order and never reuses a sequence number after deletion', () => {
    const { store } = openStore();
    store.insertAccepted(makeRecord('x'), []);
    store.insertAccepted(makeRecord('y'), []);
    assert.deepEqual(
      store.listAccepted().map((r) => r.taskId),
      ['x', 'y'],
    );
    const ySeq = store.getTask('y')?.queueSeq ?? 0;
    store.complete('y', 'cancelled', { task_id: 'y' } as never, 1, 1, []);
    assert.equal(store.deleteTerminal('y'), true);
    store.insertAccepted(makeRecord('z'), []);
    assert.ok((store.getTask('z')?.queueSeq ?? 0) > ySeq);
  });

  it('never deletes a non-terminal task', () => {
    const { store } = openStore();
    store.insertAccepted(makeRecord('live'), []);
    assert.equal(store.deleteTerminal('live'), false);
    assert.ok(store.getTask('live') !== undefined);
  });
});
