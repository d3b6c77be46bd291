import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  command,
  FIXTURES,
  shell,
  startTestRuntime,
  type TestRuntime,
} from '../support/runtime-harness.js';
import type { TaskStatusResponse } from '../../src/contract/task-status.js';

describe('kill in each state', () => {
  let rt: TestRuntime;
  before(async () => {
    rt = await startTestRuntime({ maxRunningTasks: 1 });
  });
  after(async () => {
    await rt.stop();
  });

  const kill = (id: string, headers: Record<string, string> = {}) =>
    rt.api.request<TaskStatusResponse>('POST', `/api/v1/tasks/${id}/kill`, { headers });

  it('accepted → cancelled at once, never started', async () => {
    const blocker = await rt.api.submit(shell('sleep 30'));
    await rt.api.waitFor(blocker, (s) => s.status === 'running');
    const queued = await rt.api.submit(shell('echo should-not-run'));
    const response = await kill(queued);
    assert.equal(response.status, 200);
    assert.equal(response.body.status, 'cancelled');
    assert.equal(response.body.error?.code, 'cancelled');
    assert.equal(response.body.pid, undefined);
    assert.equal(response.body.stdout, '');
    await kill(blocker);
    await rt.api.waitTerminal(blocker);
    const events = (
      await rt.api.request<{ event_type: string }[]>('GET', `/api/v1/tasks/${queued}/events`)
    ).body;
    assert.deepEqual(
      events.map((e) => e.event_type),
      ['submitted', 'accepted', 'planned', 'kill_requested', 'cancelled'],
    );
  });

  it('running → SIGTERM to the group → cancelled', async () => {
    const id = await rt.api.submit(shell('echo ready; sleep 30'));
    await rt.api.waitFor(id, (s) => s.stdout.includes('ready'));
    const response = await kill(id);
    assert.equal(response.status, 200);
    const status = await rt.api.waitTerminal(id);
    assert.equal(status.status, 'cancelled');
    assert.equal(status.error?.code, 'cancelled');
    assert.equal(status.exit_signal, 15);
  });

  it('running and ignoring SIGTERM → SIGKILL after the grace period', async () => {
    const id = await rt.api.submit(command(path.join(FIXTURES, 'ignore-sigterm.sh')));
    await rt.api.waitFor(id, (s) => s.stdout.includes('ready'));
    await kill(id);
    const status = await rt.api.waitTerminal(id);
    assert.equal(status.status, 'cancelled');
    assert.equal(status.exit_signal, 9);
  });

  it('terminal → snapshot unchanged, no new events', async () => {
    const finished = await rt.api.run(shell('exit 0'));
    const before = (
      await rt.api.request<unknown[]>('GET', `/api/v1/tasks/${finished.task_id}/events`)
    ).body.length;
    const response = await kill(finished.task_id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, finished);
    const afterCount = (
      await rt.api.request<unknown[]>('GET', `/api/v1/tasks/${finished.task_id}/events`)
    ).body.length;
    assert.equal(afterCount, before);
  });

  it('a second kill of a running task records one kill_requested', async () => {
    const id = await rt.api.submit(shell('echo ready; sleep 30'));
    await rt.api.waitFor(id, (s) => s.stdout.includes('ready'));
    await kill(id);
    await kill(id);
    await rt.api.waitTerminal(id);
    const events = (
      await rt.api.request<{ event_type: string }[]>('GET', `/api/v1/tasks/${id}/events`)
    ).body;
    assert.equal(events.filter((e) => e.event_type === 'kill_requested').length, 1);
  });

  it('announces the kill_requested event on the bus once it is committed (streams wake at once)', async () => {
    const id = await rt.api.submit(shell('echo ready; sleep 30'));
    await rt.api.waitFor(id, (s) => s.stdout.includes('ready'));
    const announced = new Promise<string[]>((resolve) => {
      const onEvent = (taskId: string): void => {
        if (taskId !== id) return;
        const types = rt.runtime.tasks.listEvents(id).map((event) => event.event_type);
        if (!types.includes('kill_requested')) return;
        rt.runtime.events.off('task:event', onEvent);
        resolve(types);
      };
      rt.runtime.events.on('task:event', onEvent);
    });
    await kill(id);
    assert.ok((await announced).includes('kill_requested'));
    await rt.api.waitTerminal(id);
  });
});
