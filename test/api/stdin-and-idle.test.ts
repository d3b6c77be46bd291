import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EventRecord } from '../../src/contract/task-status.js';
import { command, shell, startTestRuntime, type TestRuntime } from '../support/runtime-harness.js';

describe('stdin and idle timeout', () => {
  let rt: TestRuntime;
  before(async () => {
    rt = await startTestRuntime();
  });
  after(async () => {
    await rt.stop();
  });

  it('delivers execution.stdin to the program, then EOF', async () => {
    const text = 'hello\nwörld\n';
    const status = await rt.api.run({
      execution: { kind: 'command', program: '/bin/cat', stdin: text },
    });
    assert.equal(status.status, 'success');
    assert.equal(status.stdout, text);
  });

  it('gives scripts stdin too, and /dev/null without it', async () => {
    const withInput = await rt.api.run({
      execution: { kind: 'script', script: 'wc -l', stdin: 'a\nb\nc\n' },
    });
    assert.equal(withInput.stdout.trim(), '3');
    const without = await rt.api.run(command('/bin/cat'));
    assert.equal(without.status, 'success');
    assert.equal(without.stdout, '');
  });

  it('rejects stdin above the size cap', async () => {
    const response = await rt.api.request<{ error: { code: string } }>('POST', '/api/v1/tasks', {
      body: {
        execution: { kind: 'command', program: '/bin/cat', stdin: 'x'.repeat(1024 * 1024 + 1) },
      },
    });
    assert.equal(response.status, 400);
    assert.equal(response.body.error.code, 'invalid_input');
  });

  it('ends a silent task with idle_timeout and an idle_timeout_triggered event', async () => {
    const status = await rt.api.run(
      shell('echo started; sleep 60', { limits: { idle_timeout_ms: 300, wall_time_ms: 60_000 } }),
    );
    assert.equal(status.status, 'failed');
    assert.equal(status.error?.code, 'idle_timeout');
    assert.equal(status.stdout, 'started\n');
    const events = await rt.api.request<EventRecord[]>(
      'GET',
      `/api/v1/tasks/${status.task_id}/events`,
    );
    assert.ok(events.body.some((event) => event.event_type === 'idle_timeout_triggered'));
  });
});
