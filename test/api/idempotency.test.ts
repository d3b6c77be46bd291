import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  makeDataDir,
  shell,
  startServerProcess,
  startTestRuntime,
  type ServerProcess,
  type TestRuntime,
  stopServerProcesses,
} from '../support/runtime-harness.js';
import { rawHttpBody, sendRawHttp } from '../support/raw-http.js';

interface Submitted {
  task_id: string;
  status: string;
}

describe('idempotent submit', () => {
  let rt: TestRuntime;
  let markerDir: string;
  before(async () => {
    rt = await startTestRuntime({ maxQueuedTasks: 200 });
    markerDir = makeDataDir('execgo-idem-');
  });
  after(async () => {
    await rt.stop();
  });

  it('same key + same body returns the original task and runs it once', async () => {
    const marker = path.join(markerDir, 'once');
    const body = shell(`echo ran >> ${marker}`, { metadata: { a: '1', b: '2' } });
    const headers = { 'idempotency-key': 'key-once' };
    const first = await rt.api.request<Submitted>('POST', '/api/v1/tasks', { body, headers });
    assert.equal(first.status, 200);
    await rt.api.waitTerminal(first.body.task_id);
    // Same content with another key order is the same request.
    const reordered = { metadata: { b: '2', a: '1' }, execution: body.execution };
    const second = await rt.api.request<Submitted>('POST', '/api/v1/tasks', {
      body: reordered,
      headers,
    });
    assert.equal(second.status, 200);
    assert.equal(second.body.task_id, first.body.task_id);
    assert.equal(fs.readFileSync(marker, 'utf8'), 'ran\n');
  });

  it('the Idempotency-Key header is UTF-8 text, the same key as the body field', async () => {
    const key = 'ключ-идемпотентности';
    const byHeader = await rt.api.request<Submitted>('POST', '/api/v1/tasks', {
      body: shell('true'),
      // fetch sends header values as latin1 bytes: these are the UTF-8 bytes of the key.
      headers: { 'idempotency-key': Buffer.from(key, 'utf8').toString('latin1') },
    });
    assert.equal(byHeader.status, 200);
    const byBody = await rt.api.request<Submitted>('POST', '/api/v1/tasks', {
      body: { ...shell('true'), idempotency_key: key },
    });
    assert.equal(byBody.status, 200);
    assert.equal(byBody.body.task_id, byHeader.body.task_id);
    await rt.api.waitTerminal(byHeader.body.task_id);
  });

  it('two Idempotency-Key headers, or one that is not UTF-8, are refused, not joined', async () => {
    const body = JSON.stringify(shell('true'));
    const post = (headers: string): Promise<string> =>
      sendRawHttp(
        rt.api.baseUrl,
        Buffer.concat([
          Buffer.from(
            `POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n` +
              `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n`,
          ),
          Buffer.from(headers, 'latin1'),
          Buffer.from(`\r\n${body}`),
        ]),
      );
    const cases: [string, RegExp][] = [
      ['Idempotency-Key: k1\r\nIdempotency-Key: k9\r\n', /send one idempotency-key header, not 2/],
      ['Idempotency-Key: \xff\xfe\r\n', /the idempotency-key header is not UTF-8/],
    ];
    for (const [headers, message] of cases) {
      const answer = await post(headers);
      assert.match(answer, /^HTTP\/1\.1 400 /, answer);
      const envelope = rawHttpBody(answer) as { error: { code: string; message: string } };
      assert.equal(envelope.error.code, 'invalid_input');
      assert.match(envelope.error.message, message);
    }
    // A comma inside one header is part of its key.
    const answer = await post('Idempotency-Key: k1, k9\r\n');
    assert.match(answer, /^HTTP\/1\.1 200 /, answer);
    await rt.api.waitTerminal((rawHttpBody(answer) as Submitted).task_id);
  });

  it('bodies that mean the same request match: unknown fields, written-out defaults, spaces around task_id', async () => {
    const headers = { 'idempotency-key': 'key-same-meaning' };
    const first = await rt.api.request<Submitted>('POST', '/api/v1/tasks', {
      body: { task_id: 'same-meaning', execution: { kind: 'command', program: 'true' } },
      headers,
    });
    assert.equal(first.status, 200);
    const variants = [
      { task_id: 'same-meaning', execution: { kind: 'command', program: 'true' }, extra: 1 },
      { task_id: ' same-meaning ', execution: { kind: 'command', program: 'true', args: [] } },
      {
        task_id: 'same-meaning',
        execution: { kind: 'command', program: 'true' },
        sandbox: { profile: 'process' },
        metadata: {},
      },
    ];
    for (const body of variants) {
      const again = await rt.api.request<Submitted>('POST', '/api/v1/tasks', { body, headers });
      assert.equal(again.status, 200, JSON.stringify(body));
      assert.equal(again.body.task_id, 'same-meaning');
    }
  });

  it('same key + different body is 409 conflict', async () => {
    const headers = { 'idempotency-key': 'key-conflict' };
    assert.equal(
      (await rt.api.request('POST', '/api/v1/tasks', { body: shell('true'), headers })).status,
      200,
    );
    const other = await rt.api.request<{ error: { code: string } }>('POST', '/api/v1/tasks', {
      body: shell('false'),
      headers,
    });
    assert.equal(other.status, 409);
    assert.equal(other.body.error.code, 'conflict');
  });

  it('accepts the key as the idempotency_key field', async () => {
    const body = { ...shell('true'), idempotency_key: 'key-field' };
    const first = await rt.api.submit(body);
    assert.equal(await rt.api.submit(body), first);
  });

  it('concurrent duplicates create exactly one task', async () => {
    const marker = path.join(markerDir, 'concurrent');
    const body = shell(`echo ran >> ${marker}`);
    const responses = await Promise.all(
      Array.from({ length: 25 }, () =>
        rt.api.request<Submitted>('POST', '/api/v1/tasks', {
          body,
          headers: { 'idempotency-key': 'key-concurrent' },
        }),
      ),
    );
    assert.ok(responses.every((response) => response.status === 200));
    const ids = new Set(responses.map((response) => response.body.task_id));
    assert.equal(ids.size, 1);
    await rt.api.waitTerminal([...ids][0] ?? '');
    assert.equal(fs.readFileSync(marker, 'utf8'), 'ran\n');
  });

  it('resubmitting an existing task_id without a key stays 409', async () => {
    const id = await rt.api.submit(shell('true', { task_id: 'idem-explicit' }));
    const again = await rt.api.request('POST', '/api/v1/tasks', {
      body: shell('true', { task_id: id }),
    });
    assert.equal(again.status, 409);
  });
});

describe('idempotent submit across a restart', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    await stopServerProcesses(servers);
  });

  it('a retry after a server crash returns the original task without a second run', async () => {
    const first = await startServerProcess([]);
    servers.push(first);
    const marker = path.join(first.dataDir, 'marker');
    const body = shell(`echo ran >> ${marker}`);
    const headers = { 'idempotency-key': 'key-restart' };
    const taskId = await first.api.submit(body, headers);
    await first.api.waitTerminal(taskId);
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startServerProcess([], { dataDir: first.dataDir });
    servers.push(second);
    const replay = await second.api.request<Submitted>('POST', '/api/v1/tasks', { body, headers });
    assert.equal(replay.status, 200);
    assert.equal(replay.body.task_id, taskId);
    const changed = await second.api.request('POST', '/api/v1/tasks', {
      body: shell('true'),
      headers,
    });
    assert.equal(changed.status, 409);
    assert.equal(fs.readFileSync(marker, 'utf8'), 'ran\n');
  });
});
