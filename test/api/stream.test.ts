import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SseEvent } from '../../src/cli/sse-parser.js';
import {
  shell,
  startServerProcess,
  startTestRuntime,
  type ServerProcess,
  type TestRuntime,
  stopServerProcesses,
} from '../support/runtime-harness.js';
import { ByteCollector, readTaskStream } from './sse-client.js';

// Three phases separated by gates the test opens by creating files in the workspace, so
// "disconnect while the task is running" is a fact, not a timing guess. The output mixes a
// UTF-8 character split across writes, invalid UTF-8 and a 64 KiB+ burst.
const PHASED_SCRIPT = [
  `printf 'phase1 \\303'; echo err1 >&2`,
  `i=0; while [ $i -lt 50 ]; do echo "p1 line $i"; i=$((i+1)); done`,
  `while [ ! -f go1 ]; do sleep 0.02; done`,
  `printf '\\251 phase2\\n'; printf '\\377\\376bin\\n'; echo err2 >&2`,
  `i=0; while [ $i -lt 2000 ]; do echo "p2 line $i padding padding padding"; i=$((i+1)); done`,
  `while [ ! -f go2 ]; do sleep 0.02; done`,
  `echo phase3; echo err3 >&2`,
].join('\n');

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Collects a task's stream across connections and checks order on the way. */
class StreamRecorder {
  readonly stdout = new ByteCollector();
  readonly stderr = new ByteCollector();
  readonly lifecycle: string[] = [];
  private lastSeq = 0;

  absorb(event: SseEvent): void {
    if (event.event === 'stdout') this.stdout.add(event);
    else if (event.event === 'stderr') this.stderr.add(event);
    else if (event.event === 'lifecycle') {
      const record = JSON.parse(event.data) as { seq: number; event_type: string };
      assert.ok(record.seq > this.lastSeq, `event seq ${record.seq} repeated or out of order`);
      this.lastSeq = record.seq;
      this.lifecycle.push(record.event_type);
    }
  }

  stdoutText(): string {
    return this.stdout.bytes().toString('latin1');
  }
}

/** The output pieces of one log a connection delivered, as sent. */
function outputPieces(events: readonly SseEvent[], stream: 'stdout' | 'stderr'): unknown[] {
  return events
    .filter((event) => event.event === stream)
    .map((event) => JSON.parse(event.data) as unknown);
}

function assertMatchesLogs(recorder: StreamRecorder, taskDir: string): void {
  const stdout = fs.readFileSync(path.join(taskDir, 'stdout.log'));
  const stderr = fs.readFileSync(path.join(taskDir, 'stderr.log'));
  assert.equal(recorder.stdout.length, stdout.length);
  assert.equal(sha256(recorder.stdout.bytes()), sha256(stdout));
  assert.equal(sha256(recorder.stderr.bytes()), sha256(stderr));
  assert.ok(recorder.lifecycle.includes('started'));
  assert.equal(recorder.lifecycle.filter((type) => type === 'finished').length, 1);
}

describe('task stream (SSE)', () => {
  let rt: TestRuntime;
  before(async () => {
    rt = await startTestRuntime();
  });
  after(async () => {
    await rt.stop();
  });

  it('a client that disconnects mid-task and reconnects sees every byte exactly once', async () => {
    const taskId = await rt.api.submit(shell(PHASED_SCRIPT, { task_id: 'stream-resume' }));
    const taskDir = path.join(rt.dataDir, 'tasks', taskId);
    const recorder = new StreamRecorder();
    const base = rt.api.baseUrl;

    const first = await readTaskStream(base, taskId, {
      stopAfter: (event) => {
        recorder.absorb(event);
        return recorder.stdoutText().includes('p1 line 49');
      },
    });
    assert.equal(first.ended, false);
    fs.writeFileSync(path.join(taskDir, 'workspace', 'go1'), '');
    // Cut again right after the first piece of the phase-2 burst.
    let seen = 0;
    const second = await readTaskStream(base, taskId, {
      lastEventId: first.lastId,
      stopAfter: (event) => {
        recorder.absorb(event);
        return event.event === 'stdout' && ++seen === 1;
      },
    });
    const third = await readTaskStream(base, taskId, {
      query: `?cursor=${second.lastId ?? ''}`,
      stopAfter: (event) => {
        recorder.absorb(event);
        return recorder.stdoutText().includes('p2 line 1999 padding padding padding\n');
      },
    });
    fs.writeFileSync(path.join(taskDir, 'workspace', 'go2'), '');
    const last = await readTaskStream(base, taskId, {
      lastEventId: third.lastId,
      stopAfter: (event) => {
        recorder.absorb(event);
        return false;
      },
    });
    assert.equal(last.ended, true);
    const end = last.events.at(-1);
    assert.deepEqual(JSON.parse(end?.data ?? '{}'), { task_id: taskId, status: 'success' });
    assertMatchesLogs(recorder, taskDir);
    assert.ok(recorder.stdout.bytes().includes(Buffer.from([0xff, 0xfe])));

    // Resuming from the final id of a finished task only repeats the end marker.
    const again = await readTaskStream(base, taskId, { lastEventId: last.lastId });
    assert.deepEqual(
      again.events.map((event) => event.event),
      ['end'],
    );
  });

  it('holds back a UTF-8 character split across writes until its rest is written', async () => {
    // 0xff can never be UTF-8 and goes out at once; 0xc3 starts "é" and waits for 0xa9.
    // m2 is written after the test saw m1 (which followed the two bytes), so the server has
    // read the log with both bytes present before it sends m2.
    const script = [
      `printf '\\377\\303'; echo m1 >&2`,
      `while [ ! -f go1 ]; do sleep 0.02; done`,
      `echo m2 >&2`,
      `while [ ! -f go2 ]; do sleep 0.02; done`,
      `printf '\\251\\n'`,
    ].join('\n');
    const taskId = await rt.api.submit(shell(script, { task_id: 'stream-split-utf8' }));
    const workspace = path.join(rt.dataDir, 'tasks', taskId, 'workspace');
    const stderr = new ByteCollector();
    const first = await readTaskStream(rt.api.baseUrl, taskId, {
      stopAfter: (event) => {
        if (event.event !== 'stderr') return false;
        stderr.add(event);
        const text = stderr.bytes().toString();
        if (text === 'm1\n') fs.writeFileSync(path.join(workspace, 'go1'), '');
        return text === 'm1\nm2\n';
      },
    });
    assert.deepEqual(outputPieces(first.events, 'stdout'), [
      { offset: 0, bytes: 1, encoding: 'base64', data: '/w==' },
    ]);
    // The held byte is not delivered: the position stays before it.
    assert.match(first.lastId ?? '', /-o1-/);

    fs.writeFileSync(path.join(workspace, 'go2'), '');
    const rest = await readTaskStream(rt.api.baseUrl, taskId, { lastEventId: first.lastId });
    assert.equal(rest.ended, true);
    assert.deepEqual(outputPieces(rest.events, 'stdout'), [
      { offset: 1, bytes: 3, encoding: 'utf8', data: 'é\n' },
    ]);
  });

  it('sends an incomplete character left at the end of the output as it is', async () => {
    const taskId = await rt.api.submit(
      shell(`printf 'ok\\303'; echo m1 >&2; while [ ! -f go ]; do sleep 0.02; done`),
    );
    const workspace = path.join(rt.dataDir, 'tasks', taskId, 'workspace');
    // Live: "ok" goes out at once, 0xc3 is held while the task runs and sent once it ended.
    const live = await readTaskStream(rt.api.baseUrl, taskId, {
      stopAfter: (event) => {
        if (event.event === 'stderr') fs.writeFileSync(path.join(workspace, 'go'), '');
        return false;
      },
    });
    assert.equal(live.ended, true);
    assert.deepEqual(outputPieces(live.events, 'stdout'), [
      { offset: 0, bytes: 2, encoding: 'utf8', data: 'ok' },
      { offset: 2, bytes: 1, encoding: 'base64', data: 'ww==' },
    ]);
    // Replayed after the end: the rest of the log is one piece, base64 as it is not UTF-8.
    const replay = await readTaskStream(rt.api.baseUrl, taskId);
    assert.deepEqual(outputPieces(replay.events, 'stdout'), [
      { offset: 0, bytes: 3, encoding: 'base64', data: 'b2vD' },
    ]);
  });

  it('answers HEAD with the stream headers and no body, without following the task', async () => {
    const taskId = await rt.api.submit(shell('while [ ! -f go ]; do sleep 0.02; done'));
    const head = (urlPath: string, headers: Record<string, string> = {}): Promise<Response> =>
      fetch(`${rt.api.baseUrl}${urlPath}`, {
        method: 'HEAD',
        headers,
        // Only a guard against a hang (the task runs until the gate below opens).
        signal: AbortSignal.timeout(30_000),
      });
    const response = await head(`/api/v1/tasks/${taskId}/stream`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(response.headers.get('cache-control'), 'no-cache');
    assert.equal(await response.text(), '');
    assert.ok(!['success', 'failed', 'cancelled'].includes((await rt.api.status(taskId)).status));
    assert.equal((await head('/api/v1/tasks/nope/stream')).status, 404);
    const bad = await head(`/api/v1/tasks/${taskId}/stream`, { 'last-event-id': 'garbage' });
    assert.equal(bad.status, 400);
    fs.writeFileSync(path.join(rt.dataDir, 'tasks', taskId, 'workspace', 'go'), '');
    assert.equal((await rt.api.waitTerminal(taskId)).status, 'success');
  });

  it('a blank Last-Event-ID gives way to ?cursor= (it names no position)', async () => {
    const status = await rt.api.run(shell('echo one; echo two >&2'));
    const whole = await readTaskStream(rt.api.baseUrl, status.task_id);
    assert.equal(whole.ended, true);
    const ids = whole.events.flatMap((event) => (event.id === undefined ? [] : [event.id]));
    const lastBeforeEnd = ids.at(-2) ?? '';
    const resumed = await readTaskStream(rt.api.baseUrl, status.task_id, {
      lastEventId: '',
      query: `?cursor=${lastBeforeEnd}`,
    });
    // Only what came after the cursor: the end marker, not the history again.
    assert.deepEqual(
      resumed.events.flatMap((event) => (event.id === undefined ? [] : [event.event])),
      ['end'],
    );
  });

  it('rejects an unknown task (404) and a malformed cursor (400) with the error envelope', async () => {
    const missing = await rt.api.request<{ error: { code: string } }>(
      'GET',
      '/api/v1/tasks/nope/stream',
    );
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'not_found');
    const taskId = await rt.api.submit(shell('true'));
    const bad = await rt.api.request<{ error: { code: string } }>(
      'GET',
      `/api/v1/tasks/${taskId}/stream`,
      { headers: { 'last-event-id': 'garbage' } },
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_input');
    await rt.api.waitTerminal(taskId);
  });
});

describe('task stream across a server restart', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    await stopServerProcesses(servers);
  });

  it('resumes from Last-Event-ID on a new server process with no gap and no duplicate', async () => {
    const first = await startServerProcess([]);
    servers.push(first);
    const taskId = await first.api.submit(shell(PHASED_SCRIPT, { task_id: 'stream-restart' }));
    const taskDir = path.join(first.dataDir, 'tasks', taskId);
    const recorder = new StreamRecorder();
    const before = await readTaskStream(first.api.baseUrl, taskId, {
      stopAfter: (event) => {
        recorder.absorb(event);
        return recorder.stdoutText().includes('p1 line 49');
      },
    });
    first.child.kill('SIGKILL');
    await first.exited;
    // The task keeps running under its shim while no server exists.
    fs.writeFileSync(path.join(taskDir, 'workspace', 'go1'), '');
    const second = await startServerProcess([], { dataDir: first.dataDir });
    servers.push(second);
    const middle = await readTaskStream(second.api.baseUrl, taskId, {
      lastEventId: before.lastId,
      stopAfter: (event) => {
        recorder.absorb(event);
        return recorder.stdoutText().includes('p2 line 1999 padding padding padding\n');
      },
    });
    fs.writeFileSync(path.join(taskDir, 'workspace', 'go2'), '');
    const rest = await readTaskStream(second.api.baseUrl, taskId, {
      lastEventId: middle.lastId,
      stopAfter: (event) => {
        recorder.absorb(event);
        return false;
      },
    });
    assert.equal(rest.ended, true);
    assertMatchesLogs(recorder, taskDir);
  });
});
