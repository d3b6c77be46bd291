import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { shell, startTestRuntime, type TestRuntime } from '../support/runtime-harness.js';

describe('many concurrent submissions', () => {
  let rt: TestRuntime;
  before(async () => {
    rt = await startTestRuntime({ maxRunningTasks: 8, maxQueuedTasks: 1000 });
  });
  after(async () => {
    await rt.stop();
  });

  it('120 concurrent submissions all reach the right terminal state, ledger back to zero', async () => {
    const tasks = Array.from({ length: 120 }, (_, i) => ({
      i,
      expected: i % 3 === 0 ? 'failed' : 'success',
    }));
    const ids = await Promise.all(
      tasks.map(({ i }) =>
        rt.api.submit({
          task_id: `c-${i}`,
          ...shell(i % 3 === 0 ? `echo ${i}; exit 3` : `echo ${i}`),
        }),
      ),
    );
    const statuses = await Promise.all(ids.map((id) => rt.api.waitTerminal(id, 120_000)));
    for (const [index, status] of statuses.entries()) {
      const task = tasks[index];
      assert.equal(status.status, task?.expected, status.task_id);
      assert.equal(status.stdout, `${task?.i}\n`);
    }
    const resources = (
      await rt.api.request<{ reserved: { task_slots: number }; active_reservations: unknown[] }>(
        'GET',
        '/api/v1/runtime/resources',
      )
    ).body;
    assert.equal(resources.reserved.task_slots, 0);
    assert.deepEqual(resources.active_reservations, []);
  });
});
