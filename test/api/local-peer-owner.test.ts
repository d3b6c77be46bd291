import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import {
  findSocketUid,
  isLocalPeer,
  peerSocketRows,
  procNetEndpoint,
} from '../../src/api/local-peer-owner.js';
import { SandboxedPeerGuard } from '../../src/api/sandboxed-peer-guard.js';

await test('procNetEndpoint writes addresses as /proc/net/tcp{,6} does', () => {
  const at = (address: string) => procNetEndpoint({ address, port: 8080 });
  assert.deepEqual(at('127.0.0.1'), { file: 'tcp', text: '0100007F:1F90' });
  assert.deepEqual(at('::1'), { file: 'tcp6', text: '00000000000000000000000001000000:1F90' });
  assert.deepEqual(at('::ffff:127.0.0.1'), {
    file: 'tcp6',
    text: '0000000000000000FFFF00000100007F:1F90',
  });
  assert.equal(at('2001:db8::1:2').text, 'B80D0120000000000000000002000100:1F90');
});

const TABLE = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1',
  '   1: 0100007F:A000 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 1879048193 0 2',
].join('\n');
const PEER = { address: '127.0.0.1', port: 0xa000 };
const SERVER = { address: '127.0.0.1', port: 8080 };

await test('findSocketUid reads the owner of the peer socket; an IPv4 form comes first', () => {
  const [row] = peerSocketRows(PEER, SERVER);
  assert.ok(row !== undefined);
  assert.equal(findSocketUid(TABLE, row), 1879048193);
  const [other] = peerSocketRows({ ...PEER, port: 1 }, SERVER);
  assert.ok(other !== undefined);
  assert.equal(findSocketUid(TABLE, other), undefined);
  // A dual-stack server sees an IPv4 client as ::ffff:…; the client's own socket is IPv4.
  const mapped = (e: { address: string; port: number }) => ({
    ...e,
    address: `::ffff:${e.address}`,
  });
  const rows = peerSocketRows(mapped(PEER), mapped(SERVER));
  assert.deepEqual(
    rows.map((r) => r.file),
    ['tcp', 'tcp6'],
  );
  assert.equal(findSocketUid(TABLE, rows[0] ?? row), 1879048193);
});

await test('isLocalPeer: loopback or the same address', () => {
  assert.ok(isLocalPeer('127.0.0.1', '127.0.0.1'));
  assert.ok(isLocalPeer('::ffff:127.0.0.1', '::ffff:127.0.0.1'));
  assert.ok(isLocalPeer('10.0.0.5', '10.0.0.5'));
  assert.ok(!isLocalPeer('10.0.0.6', '10.0.0.5'));
});

/** A real loopback connection of this process: the server side's socket. */
async function connectedPair(): Promise<{ socket: net.Socket; close(): void }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const socket = await accepted;
  return {
    socket,
    close() {
      client.destroy();
      socket.destroy();
      server.close();
    },
  };
}

await test('SandboxedPeerGuard', async (t) => {
  await t.test(
    'reads the real table and finds this process uid; refuses only sandbox uids',
    async () => {
      const pair = await connectedPair();
      try {
        const own = process.getuid?.() ?? 0;
        const allowing = new SandboxedPeerGuard({
          isSandboxUid: (uid) => uid !== own,
          isExposed: () => true,
        });
        assert.equal(await allowing.check(pair.socket), false);
        const refusing = new SandboxedPeerGuard({
          isSandboxUid: (uid) => uid === own,
          isExposed: () => true,
        });
        assert.equal(await refusing.check(pair.socket), true);
      } finally {
        pair.close();
      }
    },
  );

  await t.test(
    'nothing is read while no task is exposed; once per connection otherwise',
    async () => {
      const pair = await connectedPair();
      let reads = 0;
      let isExposed = false;
      const guard = new SandboxedPeerGuard({
        isSandboxUid: () => true,
        isExposed: () => isExposed,
        readTable: () => {
          reads++;
          return Promise.resolve('');
        },
      });
      try {
        assert.equal(guard.check(pair.socket), undefined);
        isExposed = true;
        assert.equal(await guard.check(pair.socket), false, 'not in the table: allowed');
        await guard.check(pair.socket);
        assert.equal(reads, 1);
      } finally {
        pair.close();
      }
    },
  );
});
