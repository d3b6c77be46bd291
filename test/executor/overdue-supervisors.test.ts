import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import type { TaskRecord } from '../../src/core/task-record.js';
import { OVERDUE_SLACK_MS, OverdueSupervisors } from '../../src/executor/overdue-supervisors.js';
import { isStoppedState } from '../../src/executor/process-identity.js';
import {
  countOpenReservations,
  countedTask,
  endCrashServers,
  getEvents,
  readStatFields,
  startCrashServer,
} from '../support/crash-harness.js';
import {
  eventually,
  isProcessAlive,
  makeDataDir,
  type ServerProcess,
} from '../support/runtime-harness.js';

const GRACE_MS = 300;
const MARK = `overdue-${process.pid}-${Date.now()}`;
const servers: ServerProcess[] = [];

after(async () => {
  await endCrashServers(servers, [MARK]);
});

function running(fields: Partial<TaskRecord>): TaskRecord {
  return {
    taskId: 't',
    spec: { limits: { wall_time_ms: 1_000 } },
    ...fields,
  } as unknown as TaskRecord;
}

describe('the deadline backstop (pure)', () => {
  test('resumes once past the deadline + grace + slack, kills a grace + slack later', () => {
    const overdue = new OverdueSupervisors(GRACE_MS);
    const record = running({ startedAt: 10_000 });
    const deadline = 10_000 + 1_000 + GRACE_MS;
    assert.equal(overdue.deadlineOf(record), deadline);
    assert.equal(overdue.check(record, deadline + OVERDUE_SLACK_MS - 1, true), 'none');
    assert.equal(overdue.check(record, deadline + OVERDUE_SLACK_MS, true), 'resume');
    const resumed = deadline + OVERDUE_SLACK_MS;
    assert.equal(overdue.check(record, resumed + GRACE_MS + OVERDUE_SLACK_MS - 1, true), 'none');
    assert.equal(overdue.check(record, resumed + GRACE_MS + OVERDUE_SLACK_MS, true), 'kill');
    assert.equal(overdue.wasKilled('t'), true);
    assert.equal(overdue.check(record, resumed + 60_000, true), 'none', 'killed once');
    overdue.forget('t');
    assert.equal(overdue.wasKilled('t'), false);
  });

  test('a shim that is not stopped is never touched, whatever the wall clock says', () => {
    // Its own timers run on the monotonic clock; a step of the wall clock moves only ours.
    const overdue = new OverdueSupervisors(GRACE_MS);
    const record = running({ startedAt: 10_000 });
    assert.equal(overdue.check(record, 10_000 + 3_600_000, false), 'none');
    assert.equal(overdue.check(record, 10_000 + 3_600_000, true), 'resume');
  });

  test('a kill request before the wall time sets the deadline; an unstarted task has none', () => {
    const overdue = new OverdueSupervisors(GRACE_MS);
    assert.equal(overdue.deadlineOf(running({ startedAt: 0, killRequestedAt: 200 })), 500);
    assert.equal(
      overdue.deadlineOf(running({ launch: { cgroupDirs: [], gateOpenedAt: 7 } })),
      1_307,
    );
    assert.equal(overdue.deadlineOf(running({})), undefined);
  });
});

describe('a stopped supervisor (robustness round 10)', () => {
  async function start(): Promise<ServerProcess> {
    const server = await startCrashServer(makeDataDir(), {
      args: ['--termination-grace-ms', String(GRACE_MS)],
    });
    servers.push(server);
    return server;
  }

  test('a task that stops its own shim still times out, and frees its slot', async () => {
    const server = await start();
    await server.api.submit(
      countedTask('stops-shim', MARK, 'kill -STOP $PPID; exec sleep 1000', { wall_time_ms: 1_000 }),
    );
    const status = await server.api.waitTerminal('stops-shim');
    assert.equal(status.status, 'failed', JSON.stringify(status));
    assert.equal(status.error?.code, 'timeout');
    assert.equal(status.pid === undefined || !isProcessAlive(status.pid), true);
    assert.equal(countOpenReservations(await getEvents(server.api, 'stops-shim')), 0);
  });

  test('a kill of a task whose shim is stopped ends it cancelled', async () => {
    const server = await start();
    await server.api.submit(countedTask('kill-stopped', MARK, 'kill -STOP $PPID; exec sleep 1000'));
    // Stopped, possibly before it recorded the program's start (no pid then).
    const { shim_pid: shim } = await server.api.waitFor(
      'kill-stopped',
      (s) => s.shim_pid !== undefined,
    );
    await eventually(
      () => isStoppedState(readStatFields(shim ?? 0)?.[0]),
      10_000,
      'the shim stopped',
    );
    assert.equal((await server.api.request('POST', '/api/v1/tasks/kill-stopped/kill')).status, 200);
    const status = await server.api.waitTerminal('kill-stopped');
    assert.equal(status.status, 'cancelled', JSON.stringify(status));
  });

  test('a shim stopped again and again ends its task as a timeout, with nothing left running', async () => {
    const server = await start();
    await server.api.submit(
      countedTask('kept-stopped', MARK, 'exec sleep 1000', { wall_time_ms: 500 }),
    );
    const { shim_pid: shim, pid } = await server.api.waitFor(
      'kept-stopped',
      (s) => s.pid !== undefined && s.shim_pid !== undefined,
    );
    assert.ok(shim !== undefined && pid !== undefined);
    // Something outside keeps it stopped, undoing the server's SIGCONT at once: a process
    // that does nothing else, on the other CPU.
    const stopper = spawn(
      process.execPath,
      ['-e', `for (;;) { try { process.kill(${shim}, 'SIGSTOP') } catch { process.exit(0) } }`],
      { stdio: 'ignore' },
    );
    try {
      const status = await server.api.waitTerminal('kept-stopped');
      assert.equal(status.status, 'failed', JSON.stringify(status));
      assert.equal(status.error?.code, 'timeout');
      // The shim may still do its job in the moments between SIGCONT and the next stop
      // (its own timeout), or be killed by the server (the backstop's second step): both are
      // a timeout, with nothing left running.
      assert.match(
        status.error?.message ?? '',
        /stopped past the task's deadline|exceeded wall_time_ms/,
      );
    } finally {
      stopper.kill('SIGKILL');
    }
    assert.equal(isProcessAlive(shim), false);
    assert.equal(isProcessAlive(pid), false, 'the program was killed too');
  });
});
