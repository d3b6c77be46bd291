import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canTransition, isTerminal, TASK_STATUSES } from '../../src/core/task-status.js';

describe('task state machine', () => {
  it('has exactly the contract lifecycle', () => {
    const allowed = TASK_STATUSES.flatMap((from) =>
      TASK_STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}->${to}`),
    );
    assert.deepEqual(allowed.sort(), [
      'accepted->cancelled',
      'accepted->running',
      'running->accepted',
      'running->cancelled',
      'running->failed',
      'running->success',
    ]);
  });
  it('treats success, failed and cancelled as terminal', () => {
    assert.deepEqual(TASK_STATUSES.filter(isTerminal), ['success', 'failed', 'cancelled']);
  });
});
