import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  startServerProcess,
  stopServerProcesses,
  type ServerProcess,
} from '../support/runtime-harness.js';

/**
 * A launcher that starts the server the way systemd socket activation does: a listening socket
 * on descriptor 3, LISTEN_FDS=1 and LISTEN_PID naming the server's pid (python3 binds, prints
 * the port, then execs the server, so the pid stays). `pidOffset` makes LISTEN_PID name
 * another process.
 */
function socketActivation(pidOffset: number): string[] {
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
  return ['python3', '-c', wrapper];
}

/** The port the launcher bound (its first output line) and whether the server used it. */
function activation(server: ServerProcess): { boundPort: number; activated: boolean } {
  const boundPort = Number(server.logLines.find((line) => /^\d+$/.test(line)));
  const listening = server.logLines.find((line) => line.includes('execgo-runtime listening'));
  return { boundPort, activated: listening?.includes('"socket_activation":true') === true };
}

describe('systemd socket activation', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    await stopServerProcesses(servers);
  });

  it('serves on the socket passed as descriptor 3 when LISTEN_PID is its own pid', async () => {
    const server = await startServerProcess([], { launcher: socketActivation(0) });
    servers.push(server);
    const { boundPort, activated } = activation(server);
    assert.equal(activated, true);
    assert.equal(server.port, boundPort);
    assert.equal((await server.api.request('GET', '/readyz')).status, 200);
  });

  it('ignores the variables when they name another process (inherited from a parent)', async () => {
    const server = await startServerProcess([], { launcher: socketActivation(1) });
    servers.push(server);
    const { boundPort, activated } = activation(server);
    assert.equal(activated, false);
    assert.notEqual(server.port, boundPort, 'it bound a port of its own');
  });
});
