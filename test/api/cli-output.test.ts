import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  eventually,
  makeDataDir,
  runCli,
  shell,
  startServerProcess,
  stopServerProcesses,
  type ServerProcess,
} from '../support/runtime-harness.js';

describe('CLI logs and list', () => {
  let server: ServerProcess;
  let url: string;
  before(async () => {
    server = await startServerProcess([]);
    url = `http://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await stopServerProcesses([server]);
  });

  it('logs -f follows a running task to its end; logs --tail prints the end', async () => {
    const taskId = await server.api.submit(
      shell('for i in 1 2 3; do echo out $i; echo err $i >&2; sleep 0.1; done', {
        control_context: { labels: { suite: 'cli-output' } },
      }),
    );
    const followed = await runCli(['logs', '-f', taskId, '--server', url]);
    assert.equal(followed.code, 0, followed.stderr);
    assert.equal(followed.stdout, 'out 1\nout 2\nout 3\n');
    assert.equal(followed.stderr, 'err 1\nerr 2\nerr 3\n');
    const tail = await runCli(['logs', taskId, '--tail', '1', '--server', url]);
    assert.equal(tail.stdout, 'out 3\n');
    assert.equal(tail.stderr, 'err 3\n');
    // On a task that has ended, -f --tail N is --tail N.
    const followedTail = await runCli(['logs', '-f', taskId, '--tail', '1', '--server', url]);
    assert.equal(followedTail.code, 0, followedTail.stderr);
    assert.equal(followedTail.stdout, 'out 3\n');
    assert.equal(followedTail.stderr, 'err 3\n');
  });

  it('logs -f --tail N prints the last N lines of each stream, then follows from there', async () => {
    const go = path.join(makeDataDir(), 'go');
    const taskId = await server.api.submit(
      shell(
        'for i in 1 2 3 4 5; do echo out $i; done; for i in 1 2 3; do echo err $i >&2; done; ' +
          `while [ ! -e ${go} ]; do sleep 0.05; done; echo out 6; echo err 4 >&2`,
      ),
    );
    await server.api.waitFor(
      taskId,
      (s) => s.stdout.includes('out 5') && s.stderr.includes('err 3'),
    );
    const followed = runCli(['logs', '-f', taskId, '--tail', '2', '--server', url]);
    // The CLI has printed the tails once it holds the stream open.
    await eventually(
      async () => (await server.api.metric('execgo_runtime_open_long_polls{kind="stream"}')) === 1,
      60_000,
      'the CLI to open its stream',
    );
    fs.writeFileSync(go, '');
    const result = await followed;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'out 4\nout 5\nout 6\n');
    assert.equal(result.stderr, 'err 2\nerr 3\nerr 4\n');
  });

  it('list (ps) prints matching tasks as JSON', async () => {
    const listed = await runCli(['ps', '--label', 'suite=cli-output', '--all', '--server', url]);
    assert.equal(listed.code, 0, listed.stderr);
    const body = JSON.parse(listed.stdout) as { tasks: Array<{ status: string }> };
    assert.equal(body.tasks.length, 1);
    assert.equal(body.tasks[0]?.status, 'success');
    const bad = await runCli(['list', '--status', 'nope', '--server', url]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid_input/);
  });

  it('logs of an unknown task fails with the server error', async () => {
    const result = await runCli(['logs', '-f', 'missing-task', '--server', url]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /not_found/);
  });
});
