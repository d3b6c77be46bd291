import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { after, describe, it } from 'node:test';
import { ApiClient, BIN, makeDataDir } from '../support/runtime-harness.js';

/**
 * Starts `serve` the way systemd socket activation does: a listening socket on descriptor 3,
 * LISTEN_FDS=1 and LISTEN_PID naming the server's pid (python3 binds, then execs node, so the
 * pid stays). `pidOffset` makes LISTEN_PID name another process. Resolves with the bound port
 * and the port the server says it listens on.
 */
function serveActivated(pidOffset: number) {
  const wrapper = [
    'import os, socket, sys',
    's = socket.socket()',
    "s.bind(('127.0.0.1', 0))",
    's.listen(128)',
    'print(s.getsockname()[1], flush=True)',
    'os.dup2(s.fileno(), 3)',
    'os.set_inheritable(3, True)',
    "os.environ['LISTEN_FDS'] = '1'",
    `os.environ['LISTEN_PID'] = str(os.getpid() + ${pidOffset})`,
    'os.execv(sys.argv[1], sys.argv[1:])',
  ].join('\n');
  const child = spawn(
    'python3',
    [
      '-c',
      wrapper,
      process.execPath,
      BIN,
      'serve',
      '--listen-addr',
      '127.0.0.1:0',
      '--data-dir',
      makeDataDir(),
    ],
    {
      env: { ...process.env, EXECGO_RUNTIME_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const started = new Promise<{ boundPort: number; servedPort: number; activated: boolean }>(
    (resolve, reject) => {
      let boundPort = 0;
      child.on('exit', (code) => reject(new Error(`server exited early (${code})`)));
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        if (/^\d+$/.test(line)) boundPort = Number(line);
        if (!line.includes('execgo-runtime listening')) return;
        const entry = JSON.parse(line) as { port: number; socket_activation?: boolean };
        resolve({ boundPort, servedPort: entry.port, activated: entry.socket_activation === true });
      });
    },
  );
  return { child, started };
}

describe('systemd socket activation', () => {
  const children: ReturnType<typeof spawn>[] = [];
  after(() => {
    for (const child of children) child.kill('SIGTERM');
  });

  it('serves on the socket passed as descriptor 3 when LISTEN_PID is its own pid', async () => {
    const { child, started } = serveActivated(0);
    children.push(child);
    const { boundPort, servedPort, activated } = await started;
    assert.equal(activated, true);
    assert.equal(servedPort, boundPort);
    const api = new ApiClient(`http://127.0.0.1:${boundPort}`);
    assert.equal((await api.request('GET', '/readyz')).status, 200);
  });

  it('ignores the variables when they name another process (inherited from a parent)', async () => {
    const { child, started } = serveActivated(1);
    children.push(child);
    const { boundPort, servedPort, activated } = await started;
    assert.equal(activated, false);
    assert.notEqual(servedPort, boundPort, 'it bound a port of its own');
  });
});
