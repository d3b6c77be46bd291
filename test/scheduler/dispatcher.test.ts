import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { systemClock } from '../../src/core/clock.js';
import { Failpoints } from '../../src/core/failpoints.js';
import { RuntimeEvents } from '../../src/core/runtime-events.js';
import type { TaskRecord } from '../../src/core/task-record.js';
import type { TaskExecutor } from '../../src/executor/task-executor.js';
import { ResourceLedger } from '../../src/ledger/resource-ledger.js';
import { Dispatcher } from '../../src/scheduler/dispatcher.js';
import { openDatabase } from '../../src/store/open-database.js';
import { TaskStore } from '../../src/store/task-store.js';
import { makeAcceptedRecord } from '../support/task-records.js';
import { makeTempDir } from '../support/temp-dirs.js';

const dir = makeTempDir('execgo-dispatcher-');

const accepted = (taskId: string): TaskRecord => makeAcceptedRecord(taskId, Date.now());

/** A dispatcher over a real store and ledger; launching is recorded instead of run. */
function setUp(name: string, slots: number) {
  const store = new TaskStore(openDatabase(path.join(dir, `${name}.db`), { durable: false }));
  const launched: string[] = [];
  const executor = { launch: (record: TaskRecord) => launched.push(record.taskId) };
  const ledger = new ResourceLedger({ task_slots: slots }, []);
  const dispatcher = new Dispatcher({
    store,
    ledger,
    executor: executor as unknown as TaskExecutor,
    events: new RuntimeEvents(),
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    failpoints: new Failpoints(undefined),
  });
  return { store, dispatcher, launched, ledger };
}

describe('Dispatcher queue', () => {
  it('starts what the database holds at start, FIFO, as far as slots allow', () => {
    const { store, dispatcher, launched } = setUp('start', 2);
    for (const id of ['t1', 't2', 't3']) store.insertAccepted(accepted(id), []);
    dispatcher.start();
    dispatcher.dispatchNow();
    dispatcher.stop();
    assert.deepEqual(launched, ['t1', 't2']);
    assert.equal(dispatcher.queued, 1);
    assert.equal(store.getTaskStatus('t3'), 'accepted');
  });

  it('a task the database holds but the queue missed is found by resync', () => {
    const { store, dispatcher, launched } = setUp('resync', 4);
    dispatcher.start();
    store.insertAccepted(accepted('behind-its-back'), []);
    dispatcher.dispatchNow();
    assert.deepEqual(launched, [], 'not in the in-memory queue yet');
    assert.equal(dispatcher.resync(), true);
    assert.equal(dispatcher.resync(), false, 'in step now');
    dispatcher.dispatchNow();
    dispatcher.stop();
    assert.deepEqual(launched, ['behind-its-back']);
  });

  it('resync returns a reservation whose task is not running (it would hold its slot for good)', () => {
    const { store, dispatcher, launched, ledger } = setUp('stray', 1);
    dispatcher.start();
    // What a second server on the same data dir once caused: the task finished behind this
    // server's back while its ledger still held the slot.
    ledger.reserve('gone', { task_slots: 1 }, undefined, new Date().toISOString());
    store.insertAccepted(accepted('next'), []);
    dispatcher.resync();
    assert.equal(ledger.has('gone'), false);
    dispatcher.dispatchNow();
    dispatcher.stop();
    assert.deepEqual(launched, ['next'], 'the slot is free again');
    assert.equal(ledger.has('next'), true, 'a running task keeps its reservation');
  });

  it('an accepted task that fits is launched at once, before submit returns', () => {
    const { store, dispatcher, launched } = setUp('at-once', 1);
    dispatcher.start();
    const first = store.insertAccepted(accepted('now'), []);
    dispatcher.onTaskAccepted({ taskId: 'now', reservation: { task_slots: 1 }, queueSeq: first });
    assert.deepEqual(launched, ['now']);
    const second = store.insertAccepted(accepted('later'), []);
    dispatcher.onTaskAccepted({
      taskId: 'later',
      reservation: { task_slots: 1 },
      queueSeq: second,
    });
    dispatcher.stop();
    assert.deepEqual(launched, ['now'], 'no free slot: it waits');
    assert.equal(dispatcher.queued, 1);
  });

  it('a task whose processes are gone hands its slot to the next one before it is finished', () => {
    const { store, dispatcher, launched } = setUp('exited', 1);
    dispatcher.start();
    for (const id of ['first', 'second']) {
      const seq = store.insertAccepted(accepted(id), []);
      dispatcher.onTaskAccepted({ taskId: id, reservation: { task_slots: 1 }, queueSeq: seq });
    }
    assert.deepEqual(launched, ['first']);
    dispatcher.onTaskExited('first'); // its row is still `running`: bookkeeping comes after
    assert.equal(store.getTaskStatus('first'), 'running');
    assert.deepEqual(launched, ['first', 'second']);
    dispatcher.onTaskExited('first'); // a second report (e.g. the sweep) changes nothing
    dispatcher.onTaskFinished('first');
    dispatcher.stop();
    assert.deepEqual(launched, ['first', 'second']);
  });

  it('a forgotten (cancelled) task is never started', () => {
    const { store, dispatcher, launched } = setUp('forget', 4);
    dispatcher.start();
    const seq = store.insertAccepted(accepted('c1'), []);
    dispatcher.stop(); // queued only: a running dispatcher would start it at once
    dispatcher.onTaskAccepted({ taskId: 'c1', reservation: { task_slots: 1 }, queueSeq: seq });
    dispatcher.forget('c1');
    dispatcher.dispatchNow();
    dispatcher.stop();
    assert.deepEqual(launched, []);
  });
});
