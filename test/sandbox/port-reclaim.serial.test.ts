import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import {
  startServerProcess,
  stopServerProcesses,
  type ServerProcess,
} from '../support/runtime-harness.js';
import { describeStatus, sandboxed, startSandboxingServer } from './sandbox-test-support.js';

/**
 * The port reclaim at start (src/api/reclaim-listen-port.ts). Its kill is host-wide by design:
 * every process of every sandbox uid range noted on this host, so other runtimes' tasks too,
 * those of tests running at the same time included. Files named `*.serial.test.ts` run alone,
 * after the others (`npm run test:js`).
 */

/** The contract's default namespaces: the task shares the host's network. */
const SHARED_NETWORK = { mount: true, pid: true, uts: false, ipc: true, net: false };

describe('the port reclaim at start', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    await stopServerProcesses(servers);
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
      const first = await startSandboxingServer(t, [], servers);
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
        line.includes('the API port was taken while sandboxed tasks ran'),
      );
      assert.ok(reclaimed?.includes(taskId), second.logLines.join('\n'));
      assert.equal((await second.api.request('GET', '/readyz')).status, 200);
      const ended = await second.api.waitTerminal(taskId);
      assert.equal(ended.status, 'failed', describeStatus(ended));
      assert.equal(ended.exit_signal, 9, describeStatus(ended));
    });

  it('a port a real server listens on fails the start and kills no task', async (t) => {
    const first = await startSandboxingServer(t, [], servers);
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
