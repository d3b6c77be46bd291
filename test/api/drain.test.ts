import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { startTestRuntime } from '../support/runtime-harness.js';

/** Reads from a socket until the peer closes it; resolves with everything received. */
function readUntilClosed(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('drain', () => {
  it('a submit that arrives while the server stops gets 503 unavailable and creates nothing', async () => {
    const rt = await startTestRuntime();
    const port = new URL(rt.api.baseUrl).port;
    const body = JSON.stringify({
      task_id: 'during-drain',
      execution: { kind: 'command', program: 'true' },
    });
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const answer = readUntilClosed(socket);
    // Headers now, body after the stop began: the request is in flight, not idle, so the
    // stop lets it finish (the service drains: 503), then closes the connection.
    const headersParsed = new Promise((resolve) => rt.runtime.app.server.once('request', resolve));
    socket.write(
      `POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    await headersParsed;
    const stopped = rt.stop();
    socket.write(body);
    const text = await answer;
    await stopped;
    const [head = '', json = ''] = text.split('\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 503 /, text);
    // Its answer closes the connection: a keep-alive client sends nothing more into it.
    assert.match(head, /\r\nconnection: close\r\n/i, text);
    assert.equal((JSON.parse(json) as { error: { code: string } }).error.code, 'unavailable', json);
    const restarted = await startTestRuntime({ dataDir: rt.dataDir });
    try {
      assert.equal((await restarted.api.request('GET', '/api/v1/tasks/during-drain')).status, 404);
    } finally {
      await restarted.stop();
    }
  });
});
