import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WaitingTask } from '../../src/ledger/fair-dispatch.js';
import { WaitingQueue } from '../../src/scheduler/waiting-queue.js';

function task(id: string, seq: number, tenant?: string): WaitingTask {
  return { task_id: id, seq, reservation: { task_slots: 1 }, ...(tenant ? { tenant } : {}) };
}

const ids = (tasks: readonly WaitingTask[]): string[] => tasks.map((t) => t.task_id);

describe('WaitingQueue', () => {
  it('gives at most n tasks per tenant group, oldest first, whatever the arrival order', () => {
    const queue = new WaitingQueue();
    queue.load([task('b2', 5, 'b'), task('a1', 1, 'a'), task('n1', 2), task('a2', 3, 'a')]);
    queue.add(task('a3', 7, 'a'));
    queue.add(task('b1', 4, 'b')); // older than b2, added later (e.g. after a reload)
    assert.equal(queue.size, 6);
    assert.deepEqual(ids(queue.heads(1)).sort(), ['a1', 'b1', 'n1']);
    assert.deepEqual(ids(queue.heads(2)).sort(), ['a1', 'a2', 'b1', 'b2', 'n1']);
    assert.deepEqual(
      ids(queue.heads(10)).filter((id) => id.startsWith('a')),
      ['a1', 'a2', 'a3'],
    );
  });

  it('removes started and cancelled tasks once, from the head or the middle', () => {
    const queue = new WaitingQueue();
    queue.load([task('a1', 1, 'a'), task('a2', 2, 'a'), task('a3', 3, 'a')]);
    assert.equal(queue.remove('a2'), true);
    assert.equal(queue.remove('a2'), false);
    assert.equal(queue.remove('a1'), true);
    assert.deepEqual(ids(queue.heads(5)), ['a3']);
    assert.equal(queue.remove('a3'), true);
    assert.equal(queue.size, 0);
    assert.deepEqual(queue.heads(5), []);
  });

  it('ignores a task added twice and starts over on load', () => {
    const queue = new WaitingQueue();
    queue.add(task('x', 1));
    queue.add(task('x', 1));
    assert.equal(queue.size, 1);
    queue.load([task('y', 2)]);
    assert.deepEqual(ids(queue.heads(5)), ['y']);
  });
});
