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
