import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  countOpenReservations,
  countedTask,
  countRuns,
  crashServer,
  endCrashServers,
  getEvents,
  readStatFields,
  startCrashServer,
  stopServer,
} from '../support/crash-harness.js';
import { isStoppedState } from '../../src/executor/process-identity.js';
import {
  eventually,
  isProcessAlive,
  makeDataDir,
  type ServerProcess,
} from '../support/runtime-harness.js';

// The spawner keeps one pooled shim per slot (up to 8): two slots, two pooled shims.
const SLOTS = 2;
const MARK = `spawner-pool-${process.pid}-${Date.now()}`;
const servers: ServerProcess[] = [];

// Spawners this file stopped. One left stopped (a test failed before it was killed) would
// outlive its server on the host for good (the harness already closes the server's pipes it
// holds, so the file still exits). Resumed, it reads EOF from its dead server and exits
// (SIGCONT harms no other process).
const stoppedSpawners: number[] = [];

after(async () => {
  await endCrashServers(servers, [MARK]);
  for (const pid of stoppedSpawners) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // Gone.
    }
  }
});

/** SIGSTOPs a spawner and waits until it is stopped (kill() only queues the signal). */
async function stopSpawner(spawner: number): Promise<void> {
  stoppedSpawners.push(spawner);
  process.kill(spawner, 'SIGSTOP');
  await eventually(
    () => isStoppedState(readStatFields(spawner)?.[0]),
    10_000,
    'the spawner to stop',
  );
}

/**
 * SIGKILLs pooled shims and waits until they are dead: kill() only queues the signal, and a
 * shim not yet scheduled to exit still looks alive to the server, which would give it a task.
 */
async function killPooledShims(pids: readonly number[]): Promise<void> {
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  await eventually(
    () => pids.every((pid) => !isProcessAlive(pid)),
    10_000,
    'the killed pooled shims to die',
  );
}

async function start(dataDir = makeDataDir()): Promise<ServerProcess> {
  const server = await startCrashServer(dataDir, {
    args: ['--max-running-tasks', String(SLOTS)],
  });
  servers.push(server);
  return server;
}

/** Live children of a process, by their /proc/<pid>/stat. */
function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isSafeInteger(pid)) continue;
    const fields = readStatFields(pid);
    if (fields?.[1] === String(parent) && fields[0] !== 'Z') children.push(pid);
  }
  return children;
}

function commOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The server's spawner; it starts with the first launch, so one task is run first. */
async function warmSpawner(server: ServerProcess): Promise<number> {
  await server.api.submit(countedTask('warm', MARK, 'true'));
  assert.equal((await server.api.waitTerminal('warm')).status, 'success');
  const spawner = childrenOf(server.child.pid ?? 0).find((pid) => commOf(pid) === 'execgo-spawner');
  assert.ok(spawner !== undefined, 'the server has a spawner');
  return spawner;
}

/** The spawner's children once they are exactly `count` (every one of them when idle). */
async function waitForChildren(spawner: number, count: number): Promise<number[]> {
  let children: number[] = [];
  await eventually(
    () => (children = childrenOf(spawner)).length === count,
    10_000,
    `${count} children of the spawner`,
  );
  return children;
}

/**
 * Stops the server's spawner and kills its pooled shims, then submits `taskId` (`echo ran`).
 * Stopped, the spawner can neither fork nor report exits: the pooled shims are zombies the
 * server will not hand a task to, so the launch waits for a fork. Returns the spawner's pid.
 */
async function stallSpawnerWithWaitingLaunch(
  server: ServerProcess,
  taskId: string,
): Promise<number> {
  const spawner = await warmSpawner(server);
  await stopSpawner(spawner);
  await killPooledShims(await waitForChildren(spawner, SLOTS));
  await server.api.submit(countedTask(taskId, MARK, 'echo ran'));
  return spawner;
}

describe('spawner shim pool', () => {
  test('a task runs under a shim forked ahead of time; the pool refills', async () => {
    const server = await start();
    const spawner = await warmSpawner(server);
    const pooled = await waitForChildren(spawner, SLOTS);
    for (const pid of pooled) {
      assert.equal(commOf(pid), 'execgo-spawner', 'a pooled shim is a fork of the spawner');
      // At its gate: stdin is a pipe, nothing of a task is open yet.
      assert.match(fs.readlinkSync(`/proc/${pid}/fd/0`), /^pipe:/);
    }
    await server.api.submit(countedTask('t1', MARK, 'echo ready; exec sleep 30'));
    const status = await server.api.waitFor(
      't1',
      (s) => s.stdout.includes('ready') && s.pid !== undefined,
    );
    assert.ok(
      pooled.includes(status.shim_pid ?? -1),
      `shim ${status.shim_pid} is one of the pooled ${pooled.join(', ')}`,
    );
    // The running task's shim, plus a full pool again.
    const children = await waitForChildren(spawner, SLOTS + 1);
    assert.ok(children.includes(status.shim_pid ?? -1));
    await server.api.request('POST', '/api/v1/tasks/t1/kill');
    assert.equal((await server.api.waitTerminal('t1')).status, 'cancelled');
    await stopServer(server);
  });

  test('pooled shims killed before any task took them are dropped; tasks still run', async () => {
    const server = await start();
    const spawner = await warmSpawner(server);
    // Submitted as soon as they are dead: the server may not have read their exits yet, and
    // must not hand a task to a dead shim (the task would fail without having run). More tasks
    // than the pool held: each finds a live shim, pooled or forked for it.
    await killPooledShims(await waitForChildren(spawner, SLOTS));
    const ids = ['a', 'b', 'c'];
    for (const id of ids) await server.api.submit(countedTask(id, MARK, `echo ${id}`));
    for (const id of ids) {
      const status = await server.api.waitTerminal(id);
      assert.equal(status.status, 'success', `task ${id}`);
      assert.equal(status.stdout, `${id}\n`);
    }
    await waitForChildren(spawner, SLOTS);
    await stopServer(server);
  });

  test('a spawner killed while a launch waits for its fork: a new spawner, the task queued again and run', async () => {
    const server = await start();
    const spawner = await stallSpawnerWithWaitingLaunch(server, 'waiting');
    await server.api.waitFor('waiting', (s) => s.status === 'running');
    process.kill(spawner, 'SIGKILL');
    const status = await server.api.waitTerminal('waiting');
    assert.equal(status.status, 'success', JSON.stringify(status));
    assert.equal(status.stdout, 'ran\n');
    assert.equal(countRuns(server.dataDir, 'waiting'), 1);
    const events = await getEvents(server.api, 'waiting');
    const requeued = events.find((e) => e.event_type === 'recovered');
    assert.deepEqual(requeued?.data, { action: 'requeued', found: 'spawner_gone' });
    assert.equal(countOpenReservations(events), 0);
    // Launched by a new spawner, not by Node's spawn.
    const next = childrenOf(server.child.pid ?? 0).find(
      (pid) => commOf(pid) === 'execgo-spawner' && pid !== spawner,
    );
    assert.ok(next !== undefined, 'a new spawner runs');
    assert.ok(server.logLines.some((line) => line.includes('spawner died; starting a new one')));
    await stopServer(server);
  });

  test('a hung spawner is killed by the watchdog and replaced; the launch waiting for it runs', async () => {
    const server = await start();
    // As above, but nobody kills the stopped spawner: the server's own watchdog must.
    const spawner = await stallSpawnerWithWaitingLaunch(server, 'hung');
    // The watchdog pings after 2 s of quiet and gives up 10 s later (spawner-client.ts).
    const status = await server.api.waitTerminal('hung', 30_000);
    assert.equal(status.status, 'success', JSON.stringify(status));
    assert.equal(status.stdout, 'ran\n');
    assert.equal(countRuns(server.dataDir, 'hung'), 1);
    assert.ok(!isProcessAlive(spawner), 'the hung spawner was killed');
    assert.ok(
      server.logLines.some((line) => line.includes('answered nothing for 10 s; killed')),
      'the kill is logged with its reason',
    );
    const events = await getEvents(server.api, 'hung');
    assert.deepEqual(events.find((e) => e.event_type === 'recovered')?.data, {
      action: 'requeued',
      found: 'spawner_gone',
    });
    await stopServer(server);
  });

  test('a spawner killed with a gate message still in its pipe: the task fails without pid, or is cancelled if a kill was asked', async () => {
    const server = await start();
    const spawner = await warmSpawner(server);
    await waitForChildren(spawner, SLOTS);
    // Stopped, the spawner holds the gate messages of the tasks given its pooled shims.
    await stopSpawner(spawner);
    for (const id of ['kept', 'killed']) await server.api.submit(countedTask(id, MARK, 'echo ran'));
    for (const id of ['kept', 'killed'])
      await server.api.waitFor(id, (s) => s.shim_pid !== undefined);
    await server.api.request('POST', '/api/v1/tasks/killed/kill');
    process.kill(spawner, 'SIGKILL');
    const kept = await server.api.waitTerminal('kept');
    assert.equal(kept.status, 'failed', JSON.stringify(kept));
    assert.equal(kept.error?.code, 'internal');
    assert.equal(kept.pid, undefined);
    const killed = await server.api.waitTerminal('killed');
    assert.equal(killed.status, 'cancelled', JSON.stringify(killed));
    for (const id of ['kept', 'killed']) assert.equal(countRuns(server.dataDir, id), 0);
    await stopServer(server);
  });

  test('a stray SIGTERM to pooled shims cancels no task they are given later', async () => {
    const server = await start();
    const spawner = await warmSpawner(server);
    const pooled = await waitForChildren(spawner, SLOTS);
    // From this test process, not the server: what a `pkill execgo-spawner` would send.
    for (const pid of pooled) process.kill(pid, 'SIGTERM');
    const ids = pooled.map((_pid, index) => `s${index}`);
    for (const id of ids) await server.api.submit(countedTask(id, MARK, `echo ${id}`));
    for (const id of ids) {
      const status = await server.api.waitTerminal(id);
      assert.equal(status.status, 'success', `task ${id}`);
      assert.ok(pooled.includes(status.shim_pid ?? -1), `task ${id} ran under a pooled shim`);
    }
    await stopServer(server);
  });

  for (const ending of ['graceful stop', 'SIGKILL'] as const)
    test(`pooled shims leave no trace when the server ends (${ending})`, async () => {
      const dataDir = makeDataDir();
      const server = await start(dataDir);
      const pooled = await waitForChildren(await warmSpawner(server), SLOTS);
      if (ending === 'SIGKILL') await crashServer(server);
      else await stopServer(server);
      await eventually(
        () => pooled.every((pid) => !isProcessAlive(pid)),
        10_000,
        'the pooled shims to exit',
      );
      // They never knew a task: the only task directory is the warm-up task's, untouched.
      assert.deepEqual(fs.readdirSync(path.join(dataDir, 'tasks')), ['warm']);
      const next = await start(dataDir);
      assert.equal((await next.api.status('warm')).status, 'success');
      await stopServer(next);
    });
});
