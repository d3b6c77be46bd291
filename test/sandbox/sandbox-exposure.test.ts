import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import type { CapabilityManifest } from '../../src/contract/runtime.js';
import {
  parseExposureNote,
  readExposedRanges,
  SandboxExposure,
} from '../../src/sandbox/sandbox-exposure.js';
import { SANDBOX_IDENTITY_COUNT } from '../../src/sandbox/sandbox-identities.js';
import {
  startServerProcess,
  stopServerProcesses,
  type ServerProcess,
} from '../support/runtime-harness.js';
import { describeStatus, sandboxed } from './sandbox-test-support.js';

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

/** Does a GET of the task list as `uid`, as a task running as that uid would; the status. */
function getAs(uid: number, baseUrl: string): Promise<string> {
  const script = `fetch('${baseUrl}/api/v1/tasks').then((r)=>console.log(r.status),(e)=>console.log('error',e.message))`;
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

/** The contract's default namespaces: the task shares the host's network. */
const SHARED_NETWORK = { mount: true, pid: true, uts: false, ipc: true, net: false };

describe('the API guard across restarts', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    await stopServerProcesses(servers);
  });

  /** A server process; undefined (the test skipped, with the reason) when it cannot sandbox. */
  async function startSandboxingServer(t: TestContext, args: string[]) {
    const server = await startServerProcess(args);
    servers.push(server);
    const manifest = (
      await server.api.request<CapabilityManifest>('GET', '/api/v1/runtime/capabilities')
    ).body;
    if (manifest.sandbox.linux_sandbox) return server;
    t.skip(
      `linux_sandbox unavailable per the capability manifest: ${manifest.warnings.join('; ')}`,
    );
    return undefined;
  }

  it('a task started under one --sandbox-uid-base stays refused after a restart with another', async (t) => {
    const first = await startSandboxingServer(t, []);
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

  /**
   * Squatters (python3 scripts, the port in SQUAT_PORT): each takes the port once it is free,
   * prints `squatting` and stays.
   */
  const SQUATTERS: Record<string, string> = {
    'listens on it': 'listen()',
    // A socket bound without listening is in none of the kernel's socket tables.
    'binds it without listening': '',
    // The leader exits alone (SYS_exit), a thread keeps the socket: /proc/<pid>/fd is empty.
    'listens from a thread whose leader exited': 'listen()\nLEADER_EXITS = True',
    // The bound socket is in flight through a unix socket: no process holds a descriptor.
    'binds it and passes it through a unix socket':
      'a, b = socket.socketpair()\nsocket.send_fds(a, [b"s"], [s.fileno()])\ns.close()',
  };
  const squatScript = (take: string) =>
    [
      'import ctypes, os, socket, threading, time',
      'LEADER_EXITS = False',
      's = socket.socket()',
      'while True:',
      '    try:',
      "        s.bind(('127.0.0.1', int(os.environ['SQUAT_PORT'])))",
      '        break',
      '    except OSError:',
      '        time.sleep(0.01)',
      ...take
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => (line === 'listen()' ? 's.listen()' : line)),
      "print('squatting', flush=True)",
      'if LEADER_EXITS:',
      '    threading.Thread(target=lambda: time.sleep(600)).start()',
      '    ctypes.CDLL(None).syscall(60, 0)',
      'time.sleep(600)',
    ].join('\n');

  for (const [how, take] of Object.entries(SQUATTERS))
    it(`a task that ${how} the API port while the server is down loses it at the next start`, async (t) => {
      // The port the next server starts on. The first server never uses it: a port it served
      // keeps its closed connections in TIME_WAIT for a minute, and only a socket with
      // SO_REUSEADDR (as Node's) could bind it meanwhile; a bind-only squatter has none.
      const port = await freePort();
      const first = await startSandboxingServer(t, []);
      if (first === undefined) return;
      const taskId = await first.api.submit({
        execution: {
          kind: 'script',
          interpreter: ['python3'],
          script: squatScript(take),
          env: { SQUAT_PORT: String(port) },
        },
        sandbox: { profile: 'linux_sandbox', namespaces: SHARED_NETWORK },
        policy: { capability_mode: 'strict' },
        limits: { wall_time_ms: 60_000 },
      });
      await first.api.waitFor(taskId, (s) => s.stdout.includes('squatting'));
      first.child.kill('SIGTERM');
      await first.exited;

      const second = await startServerProcess(['--listen-addr', `127.0.0.1:${port}`], {
        dataDir: first.dataDir,
      });
      servers.push(second);
      const reclaimed = second.logLines.find((line) =>
        line.includes('the API port was taken while sandboxed tasks shared the host network'),
      );
      assert.ok(reclaimed?.includes(taskId), second.logLines.join('\n'));
      assert.equal((await second.api.request('GET', '/readyz')).status, 200);
      const ended = await second.api.waitTerminal(taskId);
      assert.equal(ended.status, 'failed', describeStatus(ended));
      assert.equal(ended.exit_signal, 9, describeStatus(ended));
    });

  it('a port a real server listens on fails the start and kills no task', async (t) => {
    const first = await startSandboxingServer(t, []);
    if (first === undefined) return;
    const taskId = await first.api.submit(
      sandboxed('echo ready; exec sleep 60', { namespaces: SHARED_NETWORK }),
    );
    await first.api.waitFor(taskId, (s) => s.stdout.includes('ready'));
    first.child.kill('SIGTERM');
    await first.exited;
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = other.address() as net.AddressInfo;
      await assert.rejects(
        startServerProcess(['--listen-addr', `127.0.0.1:${port}`], { dataDir: first.dataDir }),
        /EADDRINUSE/,
      );
      const third = await startServerProcess([], { dataDir: first.dataDir });
      servers.push(third);
      assert.equal((await third.api.status(taskId)).status, 'running', 'the task was spared');
      await third.api.request('POST', `/api/v1/tasks/${taskId}/kill`, { body: {} });
      await third.api.waitTerminal(taskId);
    } finally {
      other.close();
    }
  });
});

/** A loopback port that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
