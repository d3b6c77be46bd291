import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import {
  countedTask,
  crashServer,
  endCrashServers,
  startCrashServer,
  stopServer,
} from '../support/crash-harness.js';
import {
  FIXTURES,
  eventually,
  isProcessAlive,
  makeDataDir,
  type ServerProcess,
} from '../support/runtime-harness.js';

const MARK = `storage-gc-${process.pid}-${Date.now()}`;
const servers: ServerProcess[] = [];
const mounts: string[] = [];

after(async () => {
  await endCrashServers(servers, [MARK]);
  for (const dir of mounts) {
    try {
      execFileSync('umount', ['-l', dir]);
    } catch {
      // Not mounted.
    }
  }
});

async function start(dataDir: string, args: string[] = []): Promise<ServerProcess> {
  const server = await startCrashServer(dataDir, { args });
  servers.push(server);
  return server;
}

/** Mounts a small tmpfs we can fill up: a real ENOSPC that stops root too. */
function mountSmallTmpfs(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = makeDataDir('execgo-storage-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  mounts.push(dir);
  return dir;
}

/** mountSmallTmpfs, or skips the test with the reason printed. */
function mountSmallTmpfsOrSkip(t: TestContext): string | undefined {
  const mount = mountSmallTmpfs();
  if (mount === undefined) {
    const reason = 'needs root and tmpfs mounts to produce a real ENOSPC';
    t.skip(reason);
    console.log(`# storage fault test skipped: ${reason}`);
  }
  return mount;
}

/** Writes a filler file until the filesystem is full. */
function fillUp(file: string): void {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    fs.closeSync(fd);
  }
  // Small writes must fail too (the last partial page is used up).
  const small = fs.openSync(`${file}.tail`, 'w');
  try {
    for (;;) fs.writeSync(small, Buffer.alloc(512, 1));
  } catch {
    // Full.
  } finally {
    fs.closeSync(small);
  }
}

/**
 * A server on a small tmpfs running a task that has written `bytes` of output and waits;
 * `SIGUSR1` to `running.pid` makes it exit 7. The disk is full when this returns. Undefined
 * (the test skipped, saying why) without tmpfs mounts.
 */
async function startLargeTaskOnFullDisk(t: TestContext, taskId: string, bytes: number) {
  const mount = mountSmallTmpfsOrSkip(t);
  if (mount === undefined) return undefined;
  const dataDir = path.join(mount, 'data');
  const server = await start(dataDir);
  await server.api.submit(
    countedTask(
      taskId,
      MARK,
      `trap 'exit 7' USR1; yes 0123456789abcdef | head -c ${bytes}; while :; do sleep 0.02; done`,
    ),
  );
  // Its pid too: process.kill(0) would signal this test's whole process group.
  const running = await server.api.waitFor(
    taskId,
    (s) => (s.stdout_bytes ?? 0) >= bytes && s.pid !== undefined,
  );
  const filler = path.join(mount, 'filler');
  fillUp(filler);
  return { mount, dataDir, server, taskId, running, filler };
}

describe('garbage collection', () => {
  test('removes expired terminal tasks (row, events, dir), never a running one', async () => {
    const dataDir = makeDataDir();
    const server = await start(dataDir, ['--result-retention-secs', '0', '--gc-interval-ms', '50']);
    await server.api.submit(countedTask('long', MARK, 'echo ready; exec sleep 30'));
    await server.api.waitFor('long', (s) => s.stdout.includes('ready'));
    await server.api.submit(countedTask('done', MARK, 'exit 0'));
    await eventually(
      async () => (await server.api.request('GET', '/api/v1/tasks/done')).status === 404,
      10_000,
      'terminal task collected',
    );
    assert.equal((await server.api.request('GET', '/api/v1/tasks/done/events')).status, 404);
    assert.equal(fs.existsSync(path.join(dataDir, 'tasks', 'done')), false);
    // Several GC rounds have run meanwhile: the running task is untouched.
    const long = await server.api.status('long');
    assert.equal(long.status, 'running');
    assert.ok(fs.existsSync(path.join(dataDir, 'tasks', 'long', 'stdout.log')));
    await server.api.request('POST', '/api/v1/tasks/long/kill');
    await eventually(
      async () => (await server.api.request('GET', '/api/v1/tasks/long')).status === 404,
      10_000,
      'killed task collected',
    );
    await stopServer(server);
  });

  test('survives a half-deleted task directory', async () => {
    const dataDir = makeDataDir();
    const server = await start(dataDir, ['--result-retention-secs', '1', '--gc-interval-ms', '50']);
    await server.api.run(countedTask('half', MARK, 'mkdir -p a/b/c; echo x > a/b/c/f; exit 0'));
    await server.api.run(countedTask('gone', MARK, 'exit 0'));
    // Within the retention: someone removed parts (or all) of the directories.
    const half = path.join(dataDir, 'tasks', 'half');
    fs.rmSync(path.join(half, 'stdout.log'));
    fs.rmSync(path.join(half, 'workspace', 'a', 'b'), { recursive: true });
    fs.rmSync(path.join(dataDir, 'tasks', 'gone'), { recursive: true });
    await eventually(
      async () =>
        (await server.api.request('GET', '/api/v1/tasks/half')).status === 404 &&
        (await server.api.request('GET', '/api/v1/tasks/gone')).status === 404,
      10_000,
      'both collected',
    );
    assert.equal(fs.existsSync(half), false);
    assert.equal((await server.api.request('GET', '/readyz')).status, 200);
    await stopServer(server);
  });
});

describe('disk-bounded logs', () => {
  test('a task writing past log_max_bytes fails resource_limit_exceeded, file capped', async () => {
    const dataDir = makeDataDir();
    const server = await start(dataDir);
    const cap = 64 * 1024;
    const status = await server.api.run({
      execution: {
        kind: 'command',
        program: path.join(FIXTURES, 'flood-stdout.sh'),
        args: ['10485760'],
        env: { EXECGO_CRASH_MARK: MARK },
      },
      limits: { log_max_bytes: cap },
    });
    assert.equal(status.status, 'failed');
    assert.equal(status.error?.code, 'resource_limit_exceeded', JSON.stringify(status.error));
    assert.ok(fs.statSync(path.join(dataDir, 'tasks', status.task_id, 'stdout.log')).size <= cap);
    await stopServer(server);
  });
});

describe('storage faults', () => {
  test('a full data dir: readyz 503, submit 500 internal, nothing corrupted, then recovery', async (t) => {
    const mount = mountSmallTmpfsOrSkip(t);
    if (mount === undefined) return;
    const dataDir = path.join(mount, 'data');
    const server = await start(dataDir);
    const before = await server.api.run(countedTask('before', MARK, 'echo kept; exit 2'));
    assert.equal(before.exit_code, 2);

    const filler = path.join(mount, 'filler');
    fillUp(filler);
    const ready = await server.api.request<{ error: { code: string; message: string } }>(
      'GET',
      '/readyz',
    );
    assert.equal(ready.status, 503);
    assert.equal(ready.body.error.code, 'unavailable');
    assert.match(ready.body.error.message, /storage/);
    const refused = await server.api.request<{ error: { code: string; message: string } }>(
      'POST',
      '/api/v1/tasks',
      { body: countedTask('during', MARK, 'exit 0') },
    );
    assert.equal(refused.status, 500);
    assert.equal(refused.body.error.code, 'internal');
    assert.match(refused.body.error.message, /storage is not writable.*ENOSPC/);
    // What was recorded before is intact and readable, and the server is still up.
    assert.deepEqual(await server.api.status('before'), before);
    assert.equal((await server.api.request('GET', '/api/v1/tasks/during')).status, 404);

    fs.rmSync(filler);
    fs.rmSync(`${filler}.tail`);
    assert.equal((await server.api.request('GET', '/readyz')).status, 200);
    const afterwards = await server.api.run(countedTask('after', MARK, 'echo back; exit 0'));
    assert.equal(afterwards.status, 'success');
    assert.equal(afterwards.stdout, 'back\n');
    await stopServer(server);

    const db = new Database(path.join(dataDir, 'runtime.db'), { readonly: true });
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      db.close();
    }
  });

  test('a task that ends while the disk is full keeps its exit code', async (t) => {
    const mount = mountSmallTmpfsOrSkip(t);
    if (mount === undefined) return;
    const dataDir = path.join(mount, 'data');
    const server = await start(dataDir);
    const gate = path.join(mount, 'go');
    // Ends with 7 once the disk is full (the test creates the file just before filling up).
    const taskId = await server.api.submit(
      countedTask('full', MARK, `while [ ! -e ${gate} ]; do sleep 0.02; done; exit 7`),
    );
    await server.api.waitFor(taskId, (s) => s.pid !== undefined);
    fs.writeFileSync(gate, '');
    const filler = path.join(mount, 'filler');
    fillUp(filler);
    // The shim reserved the room for its exit record when the program started.
    const record = path.join(dataDir, 'tasks', taskId, 'exit.record');
    await eventually(() => fs.existsSync(record), 10_000, 'the exit record on a full disk');
    assert.match(fs.readFileSync(record, 'utf8'), /^exit_code=7$/m);

    fs.rmSync(filler);
    fs.rmSync(`${filler}.tail`);
    const status = await server.api.waitTerminal(taskId, 20_000);
    assert.equal(status.status, 'failed');
    assert.equal(status.exit_code, 7, JSON.stringify(status.error));
    assert.equal(status.error?.code, 'exit_non_zero');
    await stopServer(server);
  });

  test('a result.json that does not fit leaves no temp file eating the space a retry needs', async (t) => {
    // ~5 MB of output: the result's inline stdout (capped at 4 MiB) makes result.json large.
    const large = await startLargeTaskOnFullDisk(t, 'large', 5_000_000);
    if (large === undefined) return;
    const { mount, dataDir, server, taskId, running, filler } = large;
    // A little room again: enough for small writes, not for the result.
    fs.rmSync(`${filler}.tail`);
    fs.truncateSync(filler, fs.statSync(filler).size - 1024 * 1024);
    process.kill(running.pid ?? -1, 'SIGUSR1');
    // The first try is the shim's exit report's, later ones the sweep's.
    const isFailedTry = (line: string) =>
      line.includes('settling an exited supervisor failed') ||
      line.includes('settling a task failed');
    try {
      await eventually(() => server.logLines.some(isFailedTry), 20_000, 'a failed try');
    } catch (error) {
      const status = await server.api.status(taskId);
      const { stdout: _out, ...rest } = status;
      const df = execFileSync('df', ['-k', mount], { encoding: 'utf8' });
      throw new Error(`${(error as Error).message}: ${JSON.stringify(rest)}\n${df}`);
    }
    // Between tries (a retry may be writing it right now) there is no temp file, and the
    // freed MiB is free again: before, each try left its partial temp file, eating it.
    const tmp = path.join(dataDir, 'tasks', taskId, 'result.json.tmp');
    const freeBytes = () => {
      const stats = fs.statfsSync(mount);
      return stats.bavail * stats.bsize;
    };
    await eventually(
      () => !fs.existsSync(tmp) && freeBytes() >= 512 * 1024,
      10_000,
      'no temp file left, the freed space free',
    );

    fs.rmSync(filler);
    const status = await server.api.waitTerminal(taskId, 30_000);
    assert.equal(status.exit_code, 7, JSON.stringify(status.error));
    await stopServer(server);
  });

  test('a restart on a full disk serves at once; the task whose result does not fit ends once there is room', async (t) => {
    const large = await startLargeTaskOnFullDisk(t, 'large-restart', 3_000_000);
    if (large === undefined) return;
    const { dataDir, server: first, taskId, running, filler } = large;
    process.kill(running.pid ?? -1, 'SIGUSR1');
    const exitRecord = path.join(dataDir, 'tasks', taskId, 'exit.record');
    await eventually(() => fs.existsSync(exitRecord), 20_000, 'the exit record');
    await crashServer(first);

    // Recovery cannot commit this task's result: before, the server did not start at all.
    const second = await start(dataDir);
    assert.ok(second.logLines.some((line) => line.includes('recovering a task failed')));
    assert.equal((await second.api.status(taskId)).status, 'running');
    fs.rmSync(filler);
    fs.rmSync(`${filler}.tail`, { force: true });
    const status = await second.api.waitTerminal(taskId, 30_000);
    assert.equal(status.exit_code, 7, JSON.stringify(status.error));
    await stopServer(second);
  });

  test('a queued task dispatched while its task dir has no room never runs its program, and has no pid', async (t) => {
    // tasks/ on a small file system of its own, the database on another with room: the
    // dispatch commits, the supervisor finds no room for its records.
    const mount = mountSmallTmpfsOrSkip(t);
    if (mount === undefined) return;
    const dataDir = makeDataDir('execgo-storage-');
    const tasksDir = path.join(dataDir, 'tasks');
    fs.mkdirSync(tasksDir);
    execFileSync('mount', ['--bind', mount, tasksDir]);
    mounts.push(tasksDir);
    const server = await start(dataDir, ['--max-running-tasks', '1']);
    const gate = path.join(dataDir, 'go');
    const ran = path.join(dataDir, 'ran');
    const first = await server.api.submit(
      countedTask('first', MARK, `while [ ! -e ${gate} ]; do sleep 0.02; done; exit 0`),
    );
    await server.api.waitFor(first, (s) => s.pid !== undefined);
    const queued = await server.api.submit(countedTask('queued', MARK, `touch ${ran}`));
    const filler = path.join(mount, 'filler');
    fillUp(filler);
    // The first task ends (its records were reserved); its slot goes to the queued one, whose
    // supervisor finds no room for its own records and gives up before the program exists.
    fs.writeFileSync(gate, '');
    // Room comes back only once its supervisor has decided and exited: a dispatched status
    // alone came before the supervisor's attempt on a loaded host, which then found room.
    const dispatched = await server.api.waitFor(queued, (s) => s.shim_pid !== undefined, 20_000);
    const shim = dispatched.shim_pid ?? -1;
    await eventually(() => !isProcessAlive(shim), 20_000, 'the supervisor of the queued task gone');
    fs.rmSync(filler);
    fs.rmSync(`${filler}.tail`);
    const status = await server.api.waitTerminal(queued, 20_000);
    assert.equal(status.status, 'failed', JSON.stringify(status));
    // launch_failed at records: from the exit record if it still fitted, else from the
    // supervisor's exit status (3); either way without a pid, and the program never ran.
    assert.equal(status.error?.code, 'launch_failed', JSON.stringify(status.error));
    assert.match(status.error?.message ?? '', /^launch failed at records: /);
    assert.equal(status.pid, undefined);
    assert.equal(fs.existsSync(ran), false, 'the program never ran');
    assert.equal((await server.api.waitTerminal(first)).exit_code, 0);
    const taskDir = path.join(tasksDir, queued);
    assert.deepEqual(
      fs.readdirSync(taskDir).filter((name) => name.endsWith('.tmp')),
      [],
    );
    await stopServer(server);
  });
});
