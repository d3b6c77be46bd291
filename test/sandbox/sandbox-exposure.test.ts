import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  parseExposureNote,
  readExposedRanges,
  tryReadExposedRanges,
  SandboxExposure,
} from '../../src/sandbox/sandbox-exposure.js';
import { SANDBOX_IDENTITY_COUNT } from '../../src/sandbox/sandbox-identities.js';
import {
  startServerProcess,
  stopServerProcesses,
  type ServerProcess,
} from '../support/runtime-harness.js';
import { makeTempDir } from '../support/temp-dirs.js';
import { describeStatus, sandboxed, startSandboxingServer } from './sandbox-test-support.js';

describe('sandbox exposure notes', () => {
  it('hold one range per line; a bare base (earlier versions) is a whole range', () => {
    assert.deepEqual(parseExposureNote('1879048192 65536\n1610612740 1\n'), [
      { base: 1879048192, count: 65536 },
      { base: 1610612740, count: 1 },
    ]);
    assert.deepEqual(parseExposureNote('1879048192\n'), [
      { base: 1879048192, count: SANDBOX_IDENTITY_COUNT },
    ]);
    assert.deepEqual(parseExposureNote('\nnot a number\n'), []);
  });

  it('ranges of ended tasks carry their end, and are not read once it passed', () => {
    assert.deepEqual(parseExposureNote('100000 10 2000\n5 1\n', 1999), [
      { base: 100_000, count: 10 },
      { base: 5, count: 1 },
    ]);
    assert.deepEqual(parseExposureNote('100000 10 2000\n5 1\n', 2000), [{ base: 5, count: 1 }]);
    // An end that is not a number is none: exposed (the safe side).
    assert.deepEqual(parseExposureNote('100000 10 soon\n', 2000), [{ base: 100_000, count: 10 }]);
    const dir = makeTempDir('execgo-exposure-');
    new SandboxExposure(dir, 'rt-test').set([{ base: 100_000, count: 10, until: Date.now() - 1 }]);
    assert.deepEqual(readExposedRanges(dir), [], 'expired: a stopped server leaves no live note');
  });

  it('are written whole, replaced when the ranges change, removed when none is left', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'execgo-exposure-'));
    try {
      const note = new SandboxExposure(dir, 'rt-test');
      note.set([{ base: 100_000, count: 10 }]);
      assert.deepEqual(readExposedRanges(dir), [{ base: 100_000, count: 10 }]);
      note.set([
        { base: 100_000, count: 10 },
        { base: 5, count: 1 },
      ]);
      assert.deepEqual(readExposedRanges(dir), [
        { base: 100_000, count: 10 },
        { base: 5, count: 1 },
      ]);
      assert.deepEqual(fs.readdirSync(dir), ['rt-test'], 'no temp file is left');
      note.set([]);
      assert.deepEqual(readExposedRanges(dir), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('that cannot be read are not "none": the guard fails closed, the reclaim kills nothing', () => {
    const dir = makeTempDir('execgo-exposure-');
    // A note that cannot be read (EISDIR here; EMFILE, which a task can cause, alike).
    fs.mkdirSync(path.join(dir, 'unreadable'));
    assert.equal(tryReadExposedRanges(dir), undefined);
    assert.deepEqual(readExposedRanges(dir), []);
    // No directory at all is "none".
    assert.deepEqual(tryReadExposedRanges(path.join(dir, 'missing')), []);
  });

  it("an earlier run's note is replaced in place by the first set, or removed if none runs", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'execgo-exposure-'));
    try {
      const file = path.join(dir, 'rt-test');
      fs.writeFileSync(file, '100000 10\n');
      const inode = fs.statSync(file).ino;
      // The re-attached tasks' ranges replace it by rename: it never disappears meanwhile.
      new SandboxExposure(dir, 'rt-test').set([{ base: 100_000, count: 10 }]);
      assert.deepEqual(readExposedRanges(dir), [{ base: 100_000, count: 10 }]);
      assert.notEqual(fs.statSync(file).ino, inode, 'replaced, not left as it was');
      new SandboxExposure(dir, 'rt-test').set([]);
      assert.equal(fs.existsSync(file), false, 'no task runs: removed');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Runs a node script as `uid` (what a task running as that uid would do); its output. */
function runNodeAs(uid: number, script: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(
      'setpriv',
      [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', script],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('close', () => resolve(out.trim()));
  });
}

/** Does a GET of the task list as `uid`; the status. */
function getAs(uid: number, baseUrl: string): Promise<string> {
  return runNodeAs(
    uid,
    `fetch('${baseUrl}/api/v1/tasks').then((r)=>console.log(r.status),(e)=>console.log('error',e.message))`,
  );
}

/**
 * Opens a connection to the API as `uid` and sends nothing; resolves with what happened to
 * it within `waitMs`: 'closed' by the server, or 'open'.
 */
function idleAs(uid: number, baseUrl: string, waitMs = 10_000): Promise<string> {
  const { port } = new URL(baseUrl);
  return runNodeAs(
    uid,
    `const s=require('net').connect(${port},'127.0.0.1');s.on('error',()=>{});s.on('close',()=>{console.log('closed');process.exit(0)});setTimeout(()=>{console.log('open');process.exit(0)},${waitMs})`,
  );
}

/** The contract's default namespaces: the task shares the host's network. */
const SHARED_NETWORK = { mount: true, pid: true, uts: false, ipc: true, net: false };

describe('the API guard across restarts', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    await stopServerProcesses(servers);
  });

  it('a net: true task is noted too: its uid is refused on the host network, where a handed-over socket would reach the API', async (t) => {
    const server = await startSandboxingServer(t, [], servers);
    if (server === undefined) return;
    // Its host uid (inside its user namespace it may be root): the uid map's second column.
    const taskId = await server.api.submit(
      sandboxed("awk '{print $2}' /proc/self/uid_map; exec sleep 60"),
    );
    const running = await server.api.waitFor(taskId, (s) => /^\d+\n/.test(s.stdout ?? ''));
    const uid = Number(running.stdout?.trim());
    assert.ok(uid >= 65_536, describeStatus(running));
    assert.equal(
      running.execution_plan?.effective_sandbox.namespaces.net,
      true,
      describeStatus(running),
    );
    // A socket of this uid on the host's network: what a net: false task creates and passes
    // to a net: true one over a unix socket before it exits (audit round 8 ran a root task so).
    assert.equal(await getAs(uid, server.api.baseUrl), '403');
    // Nor can it hold connections that send nothing (descriptor exhaustion): closed soon.
    assert.equal(await idleAs(uid, server.api.baseUrl), 'closed');
    // A root client's idle connection is left alone (3 s: three times the refused ones' 1 s).
    assert.equal(await idleAs(0, server.api.baseUrl, 3_000), 'open');
    await server.api.request('POST', `/api/v1/tasks/${taskId}/kill`, { body: {} });
    await server.api.waitTerminal(taskId);
    // Once it ended, its range stays refused for a grace (a request it left queued is looked
    // up: exposed-tasks.ts); the root client is served.
    assert.equal(await getAs(uid, server.api.baseUrl), '403');
    assert.equal(await getAs(0, server.api.baseUrl), '200');
  });

  it('a task started under one --sandbox-uid-base stays refused after a restart with another', async (t) => {
    const first = await startSandboxingServer(t, [], servers);
    if (first === undefined) return;
    const taskId = await first.api.submit(
      sandboxed('id -u; exec sleep 60', {
        namespaces: SHARED_NETWORK,
      }),
    );
    const running = await first.api.waitFor(taskId, (s) => /^\d+\n/.test(s.stdout ?? ''));
    const uid = Number(running.stdout?.trim());
    assert.ok(uid >= 65_536, describeStatus(running));
    assert.equal(await getAs(uid, first.api.baseUrl), '403');

    first.child.kill('SIGTERM');
    await first.exited;
    const second = await startServerProcess(['--sandbox-uid-base', String(0x6000_0000)], {
      dataDir: first.dataDir,
    });
    servers.push(second);
    assert.equal((await second.api.status(taskId)).status, 'running');
    assert.equal(await getAs(uid, second.api.baseUrl), '403', 'the running task is still refused');

    await second.api.request('POST', `/api/v1/tasks/${taskId}/kill`, { body: {} });
    const ended = await second.api.waitTerminal(taskId);
    assert.equal(ended.status, 'cancelled', describeStatus(ended));
  });
});
