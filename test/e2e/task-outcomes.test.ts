import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  command,
  eventually,
  FIXTURES,
  isProcessAlive,
  shell,
  startTestRuntime,
  type TestRuntime,
} from '../support/runtime-harness.js';

describe('task outcomes (real shim, real processes)', () => {
  let rt: TestRuntime;
  before(async () => {
    rt = await startTestRuntime({ maxRunningTasks: 4 });
  });
  after(async () => {
    await rt.stop();
  });

  it('a process-profile task cannot disguise its exit code as a signal via sandbox-status', async () => {
    // Only a linux_sandbox init writes that file; the program's cwd is inside the task dir.
    const status = await rt.api.run(shell('echo exit_signal=9 > ../sandbox-status; exit 137'));
    assert.equal(status.status, 'failed');
    assert.equal(status.exit_code, 137);
    assert.equal(status.exit_signal, undefined);
  });

  it('exit 0 → success with output, usage and result.json equal to the status', async () => {
    const status = await rt.api.run(shell('echo out; echo err >&2'));
    assert.equal(status.status, 'success');
    assert.equal(status.exit_code, 0);
    assert.equal(status.error, undefined);
    assert.equal(status.stdout, 'out\n');
    assert.equal(status.stderr, 'err\n');
    assert.ok(status.usage !== undefined && status.usage.duration_ms >= 0);
    assert.ok(status.usage.user_cpu_ms !== undefined && status.usage.max_rss_bytes !== undefined);
    assert.ok(
      status.pid !== undefined && status.pgid === status.pid && status.shim_pid !== undefined,
    );
    assert.ok(status.started_at !== undefined && status.finished_at !== undefined);
    const result = JSON.parse(fs.readFileSync(status.artifacts.result_path, 'utf8')) as unknown;
    assert.deepEqual(result, status);
    // GET serves the stored terminal snapshot as JSON: the same content as result.json.
    const viaGet = await rt.api.request('GET', `/api/v1/tasks/${status.task_id}`);
    assert.equal(viaGet.status, 200);
    assert.match(viaGet.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(viaGet.body, result);
    for (const file of ['request.json', 'stdout.log', 'stderr.log', 'result.json'])
      assert.ok(fs.existsSync(path.join(status.artifacts.task_dir, file)), file);
    assert.ok(fs.statSync(path.join(status.artifacts.task_dir, 'workspace')).isDirectory());
  });

  it('non-zero exit → failed exit_non_zero with exit_code', async () => {
    const status = await rt.api.run(shell('exit 7'));
    assert.equal(status.status, 'failed');
    assert.equal(status.exit_code, 7);
    assert.equal(status.error?.code, 'exit_non_zero');
  });

  it('killed by a signal the runtime did not send → failed with exit_signal', async () => {
    const status = await rt.api.run(shell('kill -SEGV $$'));
    assert.equal(status.status, 'failed');
    assert.equal(status.exit_signal, 11);
    assert.equal(status.exit_code, undefined);
    assert.match(status.error?.message ?? '', /SIGSEGV/);
  });

  it('missing program → failed launch_failed', async () => {
    const status = await rt.api.run(command('/nonexistent/program'));
    assert.equal(status.status, 'failed');
    assert.equal(status.error?.code, 'launch_failed');
    assert.match(status.error?.message ?? '', /No such file/);
  });

  it('non-executable program → failed launch_failed', async () => {
    const file = path.join(rt.dataDir, 'not-executable');
    fs.writeFileSync(file, '#!/bin/sh\necho no\n', { mode: 0o644 });
    const status = await rt.api.run(command(file));
    assert.equal(status.error?.code, 'launch_failed');
    assert.match(status.error?.message ?? '', /Permission denied/);
  });

  it('a bare program name is found on PATH', async () => {
    const status = await rt.api.run(command('echo', ['via', 'path']));
    assert.equal(status.status, 'success');
    assert.equal(status.stdout, 'via path\n');
  });

  it('script without interpreter runs with /bin/sh -c; with one, from the script file', async () => {
    const plain = await rt.api.run({ execution: { kind: 'script', script: 'echo "$0"; pwd' } });
    assert.equal(plain.status, 'success');
    assert.ok(plain.artifacts.script_path?.endsWith('script.sh'));
    assert.equal(plain.stdout, `/bin/sh\n${path.join(plain.artifacts.task_dir, 'workspace')}\n`);
    const withInterpreter = await rt.api.run({
      execution: {
        kind: 'script',
        script: 'import sys; print(sys.argv[0])',
        interpreter: ['python3'],
      },
    });
    assert.equal(withInterpreter.status, 'success');
    assert.ok(withInterpreter.artifacts.script_path?.endsWith('script.py'));
    assert.equal(withInterpreter.stdout.trim(), withInterpreter.artifacts.script_path);
    assert.equal(fs.statSync(withInterpreter.artifacts.script_path ?? '').mode & 0o777, 0o700);
  });

  it('wall time → failed timeout; SIGKILL after the grace; grandchildren die too', async () => {
    const id = await rt.api.submit(
      command(path.join(FIXTURES, 'spawn-grandchild.sh'), [], { limits: { wall_time_ms: 800 } }),
    );
    const running = await rt.api.waitFor(id, (s) => s.stdout.includes('ready'));
    const grandchild = Number(/grandchild (\d+)/.exec(running.stdout)?.[1]);
    assert.ok(grandchild > 1 && isProcessAlive(grandchild));
    const status = await rt.api.waitTerminal(id);
    assert.equal(status.status, 'failed');
    assert.equal(status.error?.code, 'timeout');
    await eventually(() => !isProcessAlive(grandchild), 5000, 'grandchild to die');
    const events = (
      await rt.api.request<{ event_type: string }[]>('GET', `/api/v1/tasks/${id}/events`)
    ).body;
    assert.ok(events.some((event) => event.event_type === 'timeout_triggered'));
  });

  it('a program that ignores SIGTERM is SIGKILLed after the grace period', async () => {
    const id = await rt.api.submit(
      command(path.join(FIXTURES, 'ignore-sigterm.sh'), [], { limits: { wall_time_ms: 300 } }),
    );
    const status = await rt.api.waitTerminal(id);
    assert.equal(status.error?.code, 'timeout');
    assert.deepEqual(status.error?.details, { forced_kill: true });
    assert.equal(status.exit_signal, 9);
  });

  it('records the full event sequence of a successful task', async () => {
    const status = await rt.api.run(shell('true'));
    const events = (
      await rt.api.request<{ event_type: string; seq: number }[]>(
        'GET',
        `/api/v1/tasks/${status.task_id}/events`,
      )
    ).body;
    assert.deepEqual(
      events.map((event) => event.event_type),
      [
        'submitted',
        'accepted',
        'planned',
        'resource_reserved',
        'started',
        'finished',
        'resource_released',
      ],
    );
    assert.deepEqual(
      events.map((e) => e.seq),
      [...events.map((e) => e.seq)].sort((a, b) => a - b),
    );
    const started = events.find((event) => event.event_type === 'started') as
      { timestamp?: string } | undefined;
    assert.equal(started?.timestamp, status.started_at, 'started is stamped with the real start');
  });

  it('a wall time above 2^31-1 ms does not fire early (timers are not truncated)', async () => {
    const status = await rt.api.run(
      shell('sleep 0.3; echo done', { limits: { wall_time_ms: 3_000_000_000 } }),
    );
    assert.equal(status.status, 'success');
    assert.equal(status.stdout, 'done\n');
    assert.equal(status.execution_plan?.resource_enforcement.wall_time_ms, 3_000_000_000);
  });
});
