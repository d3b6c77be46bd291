import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { shell, startTestRuntime, type TestRuntime } from '../support/runtime-harness.js';

interface ErrorEnvelope {
  error: { code: string; message: string };
}

describe('integer query parameters', () => {
  let rt: TestRuntime;
  let taskId: string;
  before(async () => {
    rt = await startTestRuntime();
    taskId = (await rt.api.run(shell('echo hello'))).task_id;
    await rt.api.run(shell('true'));
  });
  after(async () => {
    await rt.stop();
  });

  it('rejects a decimal instead of truncating it (400 invalid_input), on every route', async () => {
    const cases: Array<[string, string]> = [
      ['/api/v1/tasks?limit=1.5', 'limit'],
      [`/api/v1/tasks/${taskId}/events?after_seq=1.5`, 'after_seq'],
      [`/api/v1/tasks/${taskId}/wait?timeout_ms=1.5`, 'timeout_ms'],
      [`/api/v1/tasks/${taskId}/stream?stdout_offset=1.5`, 'stdout_offset'],
      [`/api/v1/tasks/${taskId}/stdout?offset=0.5`, 'offset'],
      [`/api/v1/tasks/${taskId}/stderr?tail=2.5`, 'tail'],
      // Not plain decimal digits: never guessed at (TypeBox would read 0x10 as 0, true as 1).
      ['/api/v1/tasks?limit=true', 'limit'],
      [`/api/v1/tasks/${taskId}/events?after_seq=0x10`, 'after_seq'],
      [`/api/v1/tasks/${taskId}/wait?timeout_ms=%2B1`, 'timeout_ms'],
      [`/api/v1/tasks/${taskId}/stdout?offset=.5e1`, 'offset'],
      // Past a safe integer: an offset the stream could not put into a resumable id.
      [`/api/v1/tasks/${taskId}/stream?stdout_offset=1e308`, 'stdout_offset'],
      [`/api/v1/tasks/${taskId}/stream?stdout_offset=10000000000000000`, 'stdout_offset'],
    ];
    for (const [urlPath, field] of cases) {
      const response = await rt.api.request<ErrorEnvelope>('GET', urlPath);
      assert.equal(response.status, 400, urlPath);
      assert.equal(response.body.error.code, 'invalid_input', urlPath);
      assert.match(response.body.error.message, new RegExp(`query at ${field}: `), urlPath);
    }
  });

  it('names the minimum a negative integer is below', async () => {
    const cases: Array<[string, string]> = [
      [
        `/api/v1/tasks/${taskId}/wait?timeout_ms=-1`,
        'timeout_ms: Expected integer to be greater or equal to 0',
      ],
      [
        `/api/v1/tasks/${taskId}/events?after_seq=-3`,
        'after_seq: Expected integer to be greater or equal to 0',
      ],
      ['/api/v1/tasks?limit=-5', 'limit: Expected integer to be greater or equal to 1'],
      [
        `/api/v1/tasks/${taskId}/stdout?tail=-1`,
        'tail: Expected integer to be greater or equal to 0',
      ],
    ];
    for (const [urlPath, message] of cases) {
      const response = await rt.api.request<ErrorEnvelope>('GET', urlPath);
      assert.equal(response.status, 400, urlPath);
      assert.equal(response.body.error.code, 'invalid_input', urlPath);
      assert.equal(response.body.error.message, `invalid query at ${message}`, urlPath);
    }
    // -0 is no way of writing 0: still refused.
    const zero = await rt.api.request<ErrorEnvelope>(
      'GET',
      `/api/v1/tasks/${taskId}/wait?timeout_ms=-0`,
    );
    assert.equal(zero.status, 400);
  });

  it('still converts whole numbers', async () => {
    const listed = await rt.api.request<{ tasks: unknown[] }>('GET', '/api/v1/tasks?limit=1');
    assert.equal(listed.status, 200);
    assert.equal(listed.body.tasks.length, 1);
    const events = await rt.api.request<Array<{ seq: number }>>(
      'GET',
      `/api/v1/tasks/${taskId}/events?after_seq=1`,
    );
    assert.equal(events.status, 200);
    assert.ok(events.body.length > 0);
    assert.ok(events.body.every((event) => event.seq > 1));
    const log = await rt.api.request('GET', `/api/v1/tasks/${taskId}/stdout?offset=1&limit=3`);
    assert.equal(log.body, 'ell');
  });
});
