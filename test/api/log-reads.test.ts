import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { shell, startTestRuntime, type TestRuntime } from '../support/runtime-harness.js';

/** GET a log as raw bytes with its headers. */
async function getLog(
  rt: TestRuntime,
  urlPath: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(`${rt.api.baseUrl}${urlPath}`, { headers });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

describe('ranged log reads', () => {
  let rt: TestRuntime;
  let taskId: string;
  // 10 lines "line 0\n" .. "line 9\n" = 70 bytes; stderr gets "oops\n".
  const expected = Array.from({ length: 10 }, (_, i) => `line ${i}\n`).join('');
  before(async () => {
    rt = await startTestRuntime();
    const status = await rt.api.run(
      shell('i=0; while [ $i -lt 10 ]; do echo "line $i"; i=$((i+1)); done; echo oops >&2'),
    );
    assert.equal(status.status, 'success');
    assert.equal(status.stdout_bytes, expected.length);
    taskId = status.task_id;
  });
  after(async () => {
    await rt.stop();
  });

  it('returns the whole log with byte accounting headers', async () => {
    const whole = await getLog(rt, `/api/v1/tasks/${taskId}/stdout`);
    assert.equal(whole.status, 200);
    assert.equal(whole.text, expected);
    assert.equal(whole.headers.get('x-execgo-log-total-bytes'), String(expected.length));
    assert.equal(whole.headers.get('x-execgo-log-next-offset'), String(expected.length));
    assert.equal(whole.headers.get('x-execgo-task-status'), 'success');
    const stderr = await getLog(rt, `/api/v1/tasks/${taskId}/stderr`);
    assert.equal(stderr.text, 'oops\n');
  });

  it('reads a window by offset and limit, and an empty window past the end', async () => {
    const window = await getLog(rt, `/api/v1/tasks/${taskId}/stdout?offset=7&limit=14`);
    assert.equal(window.status, 200);
    assert.equal(window.text, 'line 1\nline 2\n');
    assert.equal(window.headers.get('x-execgo-log-offset'), '7');
    assert.equal(window.headers.get('x-execgo-log-next-offset'), '21');
    const pastEnd = await getLog(rt, `/api/v1/tasks/${taskId}/stdout?offset=1000`);
    assert.equal(pastEnd.status, 200);
    assert.equal(pastEnd.text, '');
    assert.equal(pastEnd.headers.get('x-execgo-log-next-offset'), String(expected.length));
  });

  it('answers HTTP Range requests with 206 and Content-Range, 416 past the end', async () => {
    const range = await getLog(rt, `/api/v1/tasks/${taskId}/stdout`, { range: 'bytes=7-13' });
    assert.equal(range.status, 206);
    assert.equal(range.text, 'line 1\n');
    assert.equal(range.headers.get('content-range'), `bytes 7-13/${expected.length}`);
    const suffix = await getLog(rt, `/api/v1/tasks/${taskId}/stdout`, { range: 'bytes=-7' });
    assert.equal(suffix.status, 206);
    assert.equal(suffix.text, 'line 9\n');
    const open = await getLog(rt, `/api/v1/tasks/${taskId}/stdout`, { range: 'bytes=63-' });
    assert.equal(open.text, 'line 9\n');
    await expectUnsatisfiable('bytes=500-');
    const multi = await getLog(rt, `/api/v1/tasks/${taskId}/stdout`, { range: 'bytes=0-1,3-4' });
    assert.equal(multi.status, 400);
  });

  it('caps a closed Range at limit too, and says so in Content-Range', async () => {
    const capped = await getLog(rt, `/api/v1/tasks/${taskId}/stdout?limit=3`, {
      range: 'bytes=7-40',
    });
    assert.equal(capped.status, 206);
    assert.equal(capped.text, 'lin');
    assert.equal(capped.headers.get('content-range'), `bytes 7-9/${expected.length}`);
    assert.equal(capped.headers.get('x-execgo-log-next-offset'), '10');
  });

  it('answers a zero-length suffix Range (bytes=-0) with 416 and Content-Range */total', async () => {
    await expectUnsatisfiable('bytes=-0');
  });

  /** 416 with `Content-Range: bytes *\/total` and the error envelope. */
  async function expectUnsatisfiable(range: string): Promise<void> {
    const answer = await getLog(rt, `/api/v1/tasks/${taskId}/stdout`, { range });
    assert.equal(answer.status, 416, range);
    assert.equal(answer.headers.get('content-range'), `bytes */${expected.length}`);
    assert.equal(
      (JSON.parse(answer.text) as { error: { code: string } }).error.code,
      'invalid_input',
    );
  }

  it('tails the last N lines', async () => {
    const tail = await getLog(rt, `/api/v1/tasks/${taskId}/stdout?tail=3`);
    assert.equal(tail.text, 'line 7\nline 8\nline 9\n');
    assert.equal(tail.headers.get('x-execgo-log-offset'), String(expected.length - 21));
    assert.equal((await getLog(rt, `/api/v1/tasks/${taskId}/stdout?tail=0`)).text, '');
    assert.equal((await getLog(rt, `/api/v1/tasks/${taskId}/stdout?tail=500`)).text, expected);
    const capped = await getLog(rt, `/api/v1/tasks/${taskId}/stdout?tail=3&limit=5`);
    assert.equal(capped.text, 'ne 9\n');
  });

  it('tails a last line without a trailing newline and a log larger than one scan block', async () => {
    const status = await rt.api.run(
      shell('i=0; while [ $i -lt 20000 ]; do echo "row $i"; i=$((i+1)); done; printf partial'),
    );
    const tail = await getLog(rt, `/api/v1/tasks/${status.task_id}/stdout?tail=2`);
    assert.equal(tail.text, 'row 19999\npartial');
  });

  it('rejects bad parameters and unknown tasks with the error envelope', async () => {
    const both = await getLog(rt, `/api/v1/tasks/${taskId}/stdout?tail=1&offset=2`);
    assert.equal(both.status, 400);
    const negative = await getLog(rt, `/api/v1/tasks/${taskId}/stdout?offset=-1`);
    assert.equal(negative.status, 400);
    assert.equal(
      (JSON.parse(negative.text) as { error: { code: string } }).error.code,
      'invalid_input',
    );
    const missing = await getLog(rt, '/api/v1/tasks/nope/stderr');
    assert.equal(missing.status, 404);
    assert.equal((JSON.parse(missing.text) as { error: { code: string } }).error.code, 'not_found');
  });
});
