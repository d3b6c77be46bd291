import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  DEFAULT_EXPOSURE_DIR,
  parseExposureNote,
  readExposedRanges,
} from '../../src/sandbox/sandbox-exposure.js';
import { nameRuntimeCgroup } from '../../src/capabilities/probe-capabilities.js';
import { eventually, stopServerProcesses, type ServerProcess } from '../support/runtime-harness.js';
import { describeStatus, sandboxed, startSandboxingServer } from './sandbox-test-support.js';

/**
 * The grace after a sandboxed task ends (src/sandbox/exposed-tasks.ts). Serial
 * (`*.serial.test.ts` run alone, after the others): the first request must meet a host where
 * no runtime runs a sandboxed task, so that the guard does not look it up.
 */

/** The contract's default namespaces: the task shares the host's network. */
const SHARED_NETWORK = { mount: true, pid: true, uts: false, ipc: true, net: false };

const REFUSED = 'execgo_runtime_api_refused_connections_total';

/**
 * What a task can do (security round 10): leave a complete submit in the API's accept queue
 * and be gone before the server accepts it. The server is stopped meanwhile, so the peer's
 * socket is closed (no owner left) when the connection is accepted.
 */
async function submitFromGonePeer(server: ServerProcess, taskId: string): Promise<void> {
  const body = JSON.stringify({
    task_id: taskId,
    execution: { kind: 'command', program: '/bin/true' },
  });
  server.child.kill('SIGSTOP');
  try {
    const client = net.connect(server.port, '127.0.0.1');
    await once(client, 'connect');
    client.end(
      `POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    client.destroy();
    await once(client, 'close');
  } finally {
    server.child.kill('SIGCONT');
  }
}

describe('the API guard after a sandboxed task ended', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    await stopServerProcesses(servers);
  });

  it('a submit left queued by a peer already gone is served before any sandboxed task ran, and refused in the grace after one', async (t) => {
    const server = await startSandboxingServer(t, [], servers);
    if (server === undefined) return;
    // Nothing exposed anywhere: not looked up, served (a client may close after sending).
    // Another runtime's note (a server stopped less than a minute ago) expires by itself.
    try {
      await eventually(() => readExposedRanges(DEFAULT_EXPOSURE_DIR).length === 0, 75_000);
    } catch {
      t.skip('another runtime on this host keeps running sandboxed tasks (its note stays)');
      return;
    }
    const refusedAtFirst = await server.api.metric(REFUSED);
    await submitFromGonePeer(server, 'before-any');
    let served = false;
    await eventually(
      async () =>
        (served = (await server.api.request('GET', '/api/v1/tasks/before-any')).status === 200) ||
        (await server.api.metric(REFUSED)) > refusedAtFirst,
      10_000,
      'the queued submit served or refused',
    );
    if (!served) {
      // Looked up and refused although this server ran no sandboxed task: fine only if
      // another runtime on the host started one since the check above (its note lasts the
      // grace, so it is still there).
      if (readExposedRanges(DEFAULT_EXPOSURE_DIR).length > 0) {
        t.skip('another runtime on this host started a sandboxed task during the test');
        return;
      }
      assert.fail('the queued submit was refused with nothing exposed on the host');
    }

    const taskId = await server.api.submit(sandboxed('true', { namespaces: SHARED_NETWORK }));
    const ended = await server.api.waitTerminal(taskId);
    assert.equal(ended.status, 'success', describeStatus(ended));

    // Its uids stay exposed: the same request, from a peer with no owner left, is refused.
    const refusedBefore = await server.api.metric(REFUSED);
    await submitFromGonePeer(server, 'after-sandboxed');
    await eventually(
      async () => (await server.api.metric(REFUSED)) > refusedBefore,
      10_000,
      'the queued submit refused',
    );
    assert.equal((await server.api.request('GET', '/api/v1/tasks/after-sandboxed')).status, 404);

    // The host-wide note tells other runtimes, with the grace's end (so it expires by itself).
    const note = fs.readFileSync(
      path.join(DEFAULT_EXPOSURE_DIR, nameRuntimeCgroup(server.dataDir)),
      'utf8',
    );
    assert.match(note, /^\d+ \d+ \d+\n$/);
    assert.equal(parseExposureNote(note).length, 1);
    assert.equal(parseExposureNote(note, Date.now() + 61_000).length, 0);
  });
});
