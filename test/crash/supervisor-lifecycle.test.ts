import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  countOpenReservations,
  countedTask,
  crashServer,
  endCrashServers,
  findMarkedProcesses,
  getEvents,
  getResources,
  killMarkedProcesses,
  readResultFile,
  readStatFields,
  recoveredActions,
  startCrashServer,
  stopServer,
} from '../support/crash-harness.js';
import {
  BIN,
  eventually,
  isProcessAlive,
  makeDataDir,
  startTestRuntime,
  type ServerProcess,
} from '../support/runtime-harness.js';

const MARK = `supervisor-${process.pid}-${Date.now()}`;
const servers: ServerProcess[] = [];
const impostors: ChildProcess[] = [];

after(async () => {
  for (const impostor of impostors) impostor.kill('SIGKILL');
  await endCrashServers(servers, [MARK]);
});

async function start(dataDir: string): Promise<ServerProcess> {
  const server = await startCrashServer(dataDir);
  servers.push(server);
  return server;
}

const NS_LAST_PID = '/proc/sys/kernel/ns_last_pid';

function whyNoPidControl(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to write /proc/sys/kernel/ns_last_pid';
  try {
    fs.accessSync(NS_LAST_PID, fs.constants.W_OK);
  } catch {
    return `${NS_LAST_PID} is not writable here`;
  }
  return undefined;
}

/**
 * Spawns a process that records every catchable signal it gets into `trapFile`, forcing its
 * pid to `pid` through ns_last_pid (retried: other processes may take the number first).
 */
async function spawnImpostorAt(pid: number, trapFile: string): Promise<ChildProcess | undefined> {
  const script = `trap 'echo TERM >> ${trapFile}' TERM; trap 'echo INT >> ${trapFile}' INT; trap 'echo USR1 >> ${trapFile}' USR1; trap 'echo HUP >> ${trapFile}' HUP; echo ready; while :; do sleep 0.2; done`;
  for (let attempt = 0; attempt < 50; attempt++) {
    fs.writeFileSync(NS_LAST_PID, String(pid - 1));
    const child = spawn('/bin/sh', ['-c', script], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', EXECGO_IMPOSTOR: MARK },
    });
    if (child.pid === pid) {
      impostors.push(child);
      await new Promise<void>((resolve) => child.stdout?.once('data', () => resolve()));
      return child;
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    // Someone else took the number: give up rather than signal-test a stranger.
    if (fs.existsSync(`/proc/${pid}`)) return undefined;
  }
  return undefined;
}

describe('supervisors', () => {
  test('a supervisor lives in its own session, outside the server kill scope', async () => {
    const server = await start(makeDataDir());
    await server.api.submit(countedTask('t1', MARK, 'echo ready; exec sleep 30'));
    const status = await server.api.waitFor(
      't1',
      (s) => s.stdout.includes('ready') && s.pid !== undefined,
    );
    const shimPid = status.shim_pid ?? 0;
    const shimStat = readStatFields(shimPid);
    const serverStat = readStatFields(server.child.pid ?? 0);
    assert.ok(shimStat !== undefined && serverStat !== undefined);
    // Fields after ')': state, ppid, pgrp, session.
    assert.notEqual(shimStat[3], serverStat[3], 'session differs from the server');
    assert.notEqual(shimStat[2], serverStat[2], 'process group differs from the server');
    // The program leads yet another session (its own process group).
    const programStat = readStatFields(status.pid ?? 0);
    assert.equal(programStat?.[2], String(status.pid));
    await server.api.request('POST', '/api/v1/tasks/t1/kill');
    assert.equal((await server.api.waitTerminal('t1')).status, 'cancelled');
    await stopServer(server);
  });

  test("a second server on a running server's data dir is refused before it touches anything", async () => {
    const server = await start(makeDataDir());
    await server.api.submit(countedTask('t1', MARK, 'echo ready; exec sleep 30'));
    await server.api.waitFor('t1', (s) => s.stdout.includes('ready') && s.pid !== undefined);
    const eventsBefore = await getEvents(server.api, 't1');
    const second = spawnSync(
      process.execPath,
      [BIN, 'serve', '--listen-addr', '127.0.0.1:0', '--data-dir', server.dataDir],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(second.status, 2, second.stderr);
    assert.match(
      second.stderr,
      new RegExp(`in use by another execgo-runtime \\(pid ${server.child.pid ?? 0}\\)`),
    );
    // No recovery ran over the live task: no event was added, it runs on.
    assert.deepEqual(await getEvents(server.api, 't1'), eventsBefore);
    assert.equal((await server.api.status('t1')).status, 'running');
    await server.api.request('POST', '/api/v1/tasks/t1/kill');
    assert.equal((await server.api.waitTerminal('t1')).status, 'cancelled');
    // A SIGKILLed server leaves no stale lock: the next one starts on the same data dir.
    await crashServer(server);
    const next = await start(server.dataDir);
    assert.equal((await next.api.status('t1')).status, 'cancelled');
    await stopServer(next);
  });

  test('a supervisor killed while the server is up: noticed, task failed, group killed', async () => {
    const server = await start(makeDataDir());
    await server.api.submit(countedTask('t1', MARK, 'sleep 30 & echo ready; wait'));
    // The output can show up before the start record is processed: wait for both.
    const running = await server.api.waitFor(
      't1',
      (s) => s.stdout.includes('ready') && s.pgid !== undefined,
    );
    assert.ok(running.shim_pid !== undefined && running.pgid !== undefined);
    process.kill(running.shim_pid, 'SIGKILL');
    const status = await server.api.waitTerminal('t1', 10_000);
    assert.equal(status.status, 'failed');
    assert.equal(status.error?.code, 'internal');
    assert.match(status.error?.message ?? '', /supervisor/);
    // The whole process group (the shell and its background sleep) is killed.
    const pgid = running.pgid;
    await eventually(
      () => findMarkedProcesses([MARK]).length === 0,
      10_000,
      `process group ${pgid} to be gone`,
    );
    assert.equal(countOpenReservations(await getEvents(server.api, 't1')), 0);
    assert.equal((await getResources(server.api)).reserved.task_slots, 0);
    assert.deepEqual(readResultFile(server.dataDir, 't1'), status);
    // The exit record the supervisor had reserved room for, never written, is not left behind.
    const taskDir = path.join(server.dataDir, 'tasks', 't1');
    assert.equal(fs.existsSync(path.join(taskDir, 'exit.record.tmp')), false);
    await stopServer(server);
  });

  test('pid reuse: an impostor holding the supervisor pid is never signalled', async (t) => {
    const reason = whyNoPidControl();
    if (reason !== undefined) {
      t.skip(reason);
      console.log(`# pid reuse test skipped: ${reason}`);
      return;
    }
    const dataDir = makeDataDir();
    const first = await start(dataDir);
    await first.api.submit(countedTask('t1', MARK, 'echo ready; exec sleep 60'));
    const running = await first.api.waitFor(
      't1',
      (s) => s.stdout.includes('ready') && s.pid !== undefined,
    );
    const shimPid = running.shim_pid ?? 0;
    await crashServer(first);
    // While no server runs, the supervisor dies and an impostor takes its pid.
    process.kill(shimPid, 'SIGKILL');
    await eventually(() => !fs.existsSync(`/proc/${shimPid}`), 10_000, 'shim reaped');
    const trapFile = path.join(dataDir, 'impostor-signals.txt');
    const impostor = await spawnImpostorAt(shimPid, trapFile);
    if (impostor === undefined) {
      t.skip(`could not place a process at pid ${shimPid} (busy machine)`);
      return;
    }
    const second = await start(dataDir);
    const status = await second.api.waitTerminal('t1', 10_000);
    assert.equal(status.status, 'failed');
    assert.equal(status.error?.code, 'internal');
    assert.match(status.error?.message ?? '', /supervisor is gone/);
    assert.equal(status.shim_pid, impostor.pid, 'the stored supervisor pid is the impostor pid');
    assert.deepEqual(recoveredActions(await getEvents(second.api, 't1')), [
      'failed_supervisor_lost',
    ]);
    // A kill request on the (terminal) task must not signal anything either.
    await second.api.request('POST', '/api/v1/tasks/t1/kill');
    // The orphaned program (its own group, provably ours) was killed; the impostor was not.
    await eventually(() => !isProcessAlive(running.pid ?? 0), 10_000, 'program killed');
    assert.ok(isProcessAlive(impostor.pid ?? 0), 'impostor still alive');
    assert.equal(fs.existsSync(trapFile), false, 'impostor received no signal');
    assert.equal(impostor.exitCode, null);
    assert.equal((await getResources(second.api)).reserved.task_slots, 0);
    await stopServer(second);
  });

  test('graceful stop: tasks keep running, the next start re-attaches', async () => {
    const dataDir = makeDataDir();
    const first = await start(dataDir);
    await first.api.submit(
      countedTask('t1', MARK, 'echo a; while [ ! -f go ]; do sleep 0.05; done; echo b; exit 4'),
    );
    const running = await first.api.waitFor(
      't1',
      (s) => s.stdout.includes('a') && s.pid !== undefined,
    );
    first.child.kill('SIGTERM');
    const exit = await first.exited;
    assert.equal(exit.code, 0, 'serve exits cleanly on SIGTERM');
    assert.ok(isProcessAlive(running.shim_pid ?? 0), 'supervisor survives the stop');
    assert.ok(isProcessAlive(running.pid ?? 0), 'program survives the stop');
    const second = await start(dataDir);
    fs.writeFileSync(path.join(dataDir, 'tasks', 't1', 'workspace', 'go'), '');
    const status = await second.api.waitTerminal('t1');
    assert.equal(status.exit_code, 4);
    assert.equal(status.stdout, 'a\nb\n');
    assert.deepEqual(recoveredActions(await getEvents(second.api, 't1')), ['reattached']);
    await stopServer(second);
  });

  test('SIGTERM: long polls get the current status and streams end cleanly', async () => {
    const server = await start(makeDataDir());
    const id = await server.api.submit(countedTask('t1', MARK, 'echo ready; exec sleep 30'));
    await server.api.waitFor(id, (s) => s.stdout.includes('ready'));
    const waiting = server.api.request<{ status: string }>(
      'GET',
      `/api/v1/tasks/${id}/wait?timeout_ms=60000`,
    );
    const stream = await fetch(`${server.api.baseUrl}/api/v1/tasks/${id}/stream`);
    const streamed = stream.text(); // rejects if the connection is cut mid-response
    const held = async (kind: string): Promise<boolean> =>
      (await server.api.metric(`execgo_runtime_open_long_polls{kind="${kind}"}`)) === 1;
    await eventually(async () => (await held('wait')) && (await held('stream')));
    await stopServer(server);
    const answer = await waiting;
    assert.equal(answer.status, 200);
    assert.equal(answer.body.status, 'running');
    assert.match(await streamed, /event: stdout/);
    killMarkedProcesses([MARK]);
  });

  test('draining: new submissions get 503 while running tasks are untouched', async () => {
    const rt = await startTestRuntime();
    try {
      const id = await rt.api.submit(countedTask('t1', MARK, 'echo ready; exec sleep 30'));
      await rt.api.waitFor(id, (s) => s.stdout.includes('ready'));
      rt.runtime.tasks.startDraining();
      const refused = await rt.api.request<{ error: { code: string; message: string } }>(
        'POST',
        '/api/v1/tasks',
        { body: countedTask('t2', MARK, 'exit 0') },
      );
      assert.equal(refused.status, 503);
      assert.match(refused.body.error.message, /shutting down/);
      assert.equal((await rt.api.status(id)).status, 'running');
      await rt.api.request('POST', `/api/v1/tasks/${id}/kill`);
      assert.equal((await rt.api.waitTerminal(id)).status, 'cancelled');
    } finally {
      await rt.stop();
    }
  });
});
