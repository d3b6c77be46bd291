import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import {
  ownerOf,
  peerSocketRows,
  procNetEndpoint,
  serverSocketRow,
  type PeerSocketRow,
} from '../../src/api/local-peer-owner.js';
import { SandboxedPeerGuard } from '../../src/api/sandboxed-peer-guard.js';
import { SharedSocketTables } from '../../src/api/shared-socket-tables.js';

/** The owner of `row` in `table`, looked up as the guard does (shared, indexed reads). */
async function uidIn(table: string, row: PeerSocketRow): Promise<number | undefined> {
  const tables = new SharedSocketTables(() => Promise.resolve(table));
  return ownerOf(await tables.find(row, tables.ticket()));
}

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

await test('the owner of the peer socket is read from either table', async () => {
  const [row] = peerSocketRows(PEER, SERVER);
  assert.ok(row !== undefined);
  assert.equal(await uidIn(TABLE, row), 1879048193);
  // The same ends the other way round (the server's own row) are not the peer's.
  const reversed = serverSocketRow(SERVER, PEER);
  assert.equal(await uidIn(TABLE, { ...reversed, file: 'tcp' }), undefined);
  // Found among many rows (a task can fill the tables), the last one included.
  const many = [
    TABLE,
    ...Array.from(
      { length: 5000 },
      (_, i) =>
        `${String(i + 2).padStart(4)}: 0100007F:${(0xb000 + i).toString(16).toUpperCase()} 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 ${1000 + i} 0 ${10 + i}`,
    ),
  ].join('\n');
  const [last] = peerSocketRows({ ...PEER, port: 0xb000 + 4999 }, SERVER);
  assert.ok(last !== undefined);
  assert.equal(await uidIn(many, last), 1000 + 4999);
  const [other] = peerSocketRows({ ...PEER, port: 1 }, SERVER);
  assert.ok(other !== undefined);
  assert.equal(await uidIn(TABLE, other), undefined);
  // A socket its process closed (FIN_WAIT2 remnant): uid 0, inode 0 — no owner, unknown.
  const closed =
    '   2: 0100007F:A000 0100007F:1F90 05 00000000:00000000 03:00000ABC 00000000     0        0 0 3 0';
  assert.equal(await uidIn(closed, row), undefined);
  // An IPv4 connection is in tcp (IPv4 client socket) or tcp6 with mapped addresses (IPv6
  // client socket to ::ffff:127.0.0.1); a dual-stack server sees ::ffff: either way.
  const mapped = (e: { address: string; port: number }) => ({
    ...e,
    address: `::ffff:${e.address}`,
  });
  for (const [peer, server] of [
    [PEER, SERVER],
    [mapped(PEER), mapped(SERVER)],
  ] as const)
    assert.deepEqual(peerSocketRows(peer, server), [
      { file: 'tcp', local: '0100007F:A000', remote: '0100007F:1F90' },
      {
        file: 'tcp6',
        local: '0000000000000000FFFF00000100007F:A000',
        remote: '0000000000000000FFFF00000100007F:1F90',
      },
    ]);
  assert.equal(peerSocketRows({ address: '::1', port: 1 }, { address: '::1', port: 2 }).length, 1);
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
  const own = process.getuid?.() ?? 0;
  await t.test('reads the real tables and refuses only a uid of an exposed range', async () => {
    const pair = await connectedPair();
    try {
      const elsewhere = new SandboxedPeerGuard({
        exposedRanges: () => [{ base: own + 1, count: 10 }],
      });
      assert.equal(await elsewhere.check(pair.socket), false);
      const covering = new SandboxedPeerGuard({
        exposedRanges: () => [{ base: own, count: 1 }],
      });
      assert.equal(await covering.check(pair.socket), true);
    } finally {
      pair.close();
    }
  });

  await t.test('a connection that came while nothing was exposed is never checked', async () => {
    const pair = await connectedPair();
    let reads = 0;
    let ranges: { base: number; count: number }[] = [];
    const guard = new SandboxedPeerGuard({
      exposedRanges: () => ranges,
      readTable: () => {
        reads++;
        return Promise.resolve('');
      },
    });
    const later = await connectedPair();
    try {
      assert.equal(guard.check(pair.socket), undefined);
      ranges = [{ base: own, count: 1 }];
      assert.equal(guard.check(pair.socket), undefined, 'its verdict stands');
      assert.equal(reads, 0);
      // A new connection is looked up once (both tables), then cached. Not found in either
      // while from this host: its owner is unknown, so it is refused.
      assert.equal(await guard.check(later.socket), true);
      await guard.check(later.socket);
      assert.equal(reads, 2);
    } finally {
      pair.close();
      later.close();
    }
  });
});

await test('SandboxedPeerGuard trusts an owner only while the connection is still this socket', async () => {
  const pair = await connectedPair();
  try {
    const { socket } = pair;
    const peer = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const server = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
    const [peerRow] = peerSocketRows(peer, server);
    const serverRow = serverSocketRow(server, peer);
    const line = (row: { local: string; remote: string }, uid: number, inode: number) =>
      `   0: ${row.local} ${row.remote} 01 00000000:00000000 00:00000000 00000000 ${uid} 0 ${inode} 1`;
    // A root-owned peer (another process that connected from the same address and port after
    // a task's reset), and the server's row for that pair of ends with the given inode.
    const guardWith = (serverLines: string[]) =>
      new SandboxedPeerGuard({
        exposedRanges: () => [{ base: 1_879_048_192, count: 65_536 }],
        socketInode: () => Promise.resolve(4242),
        readTable: (file) =>
          Promise.resolve(
            [
              'header',
              ...(file === peerRow?.file ? [line(peerRow, 0, 777)] : []),
              ...(file === serverRow.file ? serverLines : []),
            ].join('\n'),
          ),
      });
    assert.equal(await guardWith([line(serverRow, 0, 4242)]).check(socket), false, 'this socket');
    assert.equal(await guardWith([line(serverRow, 0, 5151)]).check(socket), true, 'a newer one');
    assert.equal(await guardWith([]).check(socket), true, 'this socket is gone');
  } finally {
    pair.close();
  }
});

await test('SandboxedPeerGuard fails closed for this host, stays open for other hosts', async () => {
  const exposed = () => [{ base: 1_879_048_192, count: 65_536 }];
  const pair = await connectedPair();
  try {
    const failing = (isHostAddress: boolean) =>
      new SandboxedPeerGuard({
        exposedRanges: exposed,
        isHostAddress: () => isHostAddress,
        readTable: () => Promise.reject(new Error('EMFILE')),
      });
    assert.equal(await failing(true).check(pair.socket), true, 'unreadable table, local peer');
    assert.equal(await failing(false).check(pair.socket), false, 'a peer on another host');
    // A peer that reset before its address was read (Node then reports none).
    const gone = { remoteAddress: undefined, remotePort: undefined } as unknown as net.Socket;
    const guard = new SandboxedPeerGuard({ exposedRanges: exposed });
    assert.equal(await guard.check(gone), true);
  } finally {
    pair.close();
  }
});
