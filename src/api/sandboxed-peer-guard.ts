import { fstat } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Server, Socket } from 'node:net';
import type { onRequestHookHandler } from 'fastify';
import { isInRange, type UidRange } from '../sandbox/sandbox-exposure.js';
import { isAddressOfThisHost } from './host-addresses.js';
import { ownerOf, peerSocketRows, serverSocketRow } from './local-peer-owner.js';
import { SharedSocketTables } from './shared-socket-tables.js';

export interface SandboxedPeerGuardOptions {
  /** The sandbox uid ranges of every runtime on this host that has exposed tasks running. */
  exposedRanges(): UidRange[];
  readTable?: (file: 'tcp' | 'tcp6') => Promise<string>;
  isHostAddress?: (address: string) => boolean;
  /** The inode of the server's socket of a connection (fstat of its descriptor). */
  socketInode?: (socket: Socket) => Promise<number | undefined>;
  /** Called once per connection refused (a metric). */
  onRefused?: () => void;
}

/**
 * The inode of an accepted socket, from its descriptor. `_handle.fd` is Node's own handle on
 * POSIX systems (no public API exposes it); anything unexpected reads as unknown.
 */
export function socketInodeOf(socket: Socket): Promise<number | undefined> {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    fstat(fd, (error, stats) => resolve(error === null ? stats.ino : undefined));
  });
}

/**
 * Keeps sandboxed tasks off the API. A linux_sandbox task without a network namespace shares
 * the host's network, and through the API it could read every task's output or submit a
 * `process` task, which runs as the server's user. While any runtime on this host runs such a
 * task (sandbox-exposure.ts), the first request of each new connection waits for the owner
 * of the peer's socket, read from the kernel's socket tables; a uid of an exposed range is
 * refused. A connection that arrives while none runs, and none ended within the grace
 * (exposed-tasks.ts), is never checked: a sandboxed process can only open sockets after its
 * runtime noted it, and a connection it left queued is accepted before that grace ends. The tables are read off the event loop
 * and once per connection, never per request (the kernel writes every socket of the host into
 * them, ~3 ms with a few hundred), and searched for the one row, not parsed.
 */
export class SandboxedPeerGuard {
  private readonly verdicts = new WeakMap<Socket, Promise<boolean> | false>();
  private readonly tables: SharedSocketTables;

  private readonly isHostAddress: (address: string) => boolean;
  private readonly socketInode: (socket: Socket) => Promise<number | undefined>;

  constructor(private readonly options: SandboxedPeerGuardOptions) {
    this.tables = new SharedSocketTables(
      options.readTable ?? ((file) => readFile(`/proc/net/${file}`, 'utf8')),
    );
    this.isHostAddress = options.isHostAddress ?? isAddressOfThisHost;
    this.socketInode = options.socketInode ?? socketInodeOf;
  }

  /** Resolves true when the connection must be refused; undefined when it is allowed. */
  check(socket: Socket): Promise<boolean> | undefined {
    const known = this.verdicts.get(socket);
    if (known === false) return undefined;
    if (known !== undefined) return known;
    const ranges = this.options.exposedRanges();
    if (ranges.length === 0) {
      this.verdicts.set(socket, false);
      return undefined;
    }
    // Taken now, as the connection is accepted: the tables it is looked up in are read later.
    const ticket = this.tables.ticket();
    const verdict = this.isSandboxedPeer(socket, ranges, ticket).then((isRefused) => {
      if (isRefused) this.options.onRefused?.();
      return isRefused;
    });
    this.verdicts.set(socket, verdict);
    return verdict;
  }

  /**
   * Fails closed: while a task is exposed, a connection from this host whose owner cannot be
   * established is refused — a peer gone before its address was read (a reset right after
   * sending still leaves the request buffered), a row gone before the table was read, a
   * table that could not be read (out of descriptors). Only a peer on another host, which
   * has no row here, is let through unlooked-up.
   *
   * An owner found is trusted only if the connection it owns is still this one: a task can
   * send a request and reset at once, and a process of another uid can then connect from the
   * same address and port, so that the row found is the newcomer's. So the server's own row
   * for that pair of ends is read afterwards, in a read of its own: it must be this socket
   * (its inode). Once the task's connection is reset, its server socket is gone for good and
   * cannot show up in a later read.
   */
  private async isSandboxedPeer(
    socket: Socket,
    ranges: readonly UidRange[],
    ticket: number,
  ): Promise<boolean> {
    const { remoteAddress, remotePort, localAddress, localPort } = socket;
    if (remoteAddress === undefined || remotePort === undefined) return true;
    if (localAddress === undefined || localPort === undefined) return true;
    const peer = { address: remoteAddress, port: remotePort };
    const server = { address: localAddress, port: localPort };
    const inode = this.socketInode(socket);
    // Every peer is looked up, not only loopback ones: a task may bind its socket to any of
    // the host's addresses. Each row is in a table of its own (tcp, tcp6).
    for (const row of peerSocketRows(peer, server)) {
      try {
        const uid = ownerOf(await this.tables.find(row, ticket));
        if (uid === undefined) continue;
        if (ranges.some((range) => isInRange(range, uid))) return true;
        // In a read that started after the peer's row was read.
        const own = await this.tables.find(serverSocketRow(server, peer), this.tables.ticket());
        return own?.inode === undefined || own.inode !== (await inode);
      } catch {
        break;
      }
    }
    // No owner established: refused when the peer is this host (only then could it be a task).
    return this.isHostAddress(remoteAddress);
  }
}

/**
 * The `onRequest` hook: a request whose connection the guard refuses gets 403
 * `permission_denied` and the connection is closed; any other goes on at once (no promise
 * for a connection already known to be allowed).
 */
export function refuseSandboxedCallers(guard: SandboxedPeerGuard): onRequestHookHandler {
  return (request, reply, done) => {
    const verdict = guard.check(request.raw.socket);
    if (verdict === undefined) {
      done();
      return;
    }
    const refuse = () =>
      void reply
        .code(403)
        .header('connection', 'close')
        .send({
          error: {
            code: 'permission_denied',
            message: 'sandboxed tasks may not use the runtime API',
          },
        });
    // The verdict never rejects; if it did, refusing is the safe side.
    verdict.then((isRefused) => (isRefused ? refuse() : done()), refuse);
  };
}

/** How long a connection the guard refuses may stay open without sending a request. */
const REFUSED_IDLE_MS = 1_000;

/**
 * Checks each connection as it is accepted, not only at its first request: a refused one that
 * sends a request gets the hook's 403; one that sends nothing is closed after REFUSED_IDLE_MS.
 * Without this a sandboxed task could hold tens of thousands of idle connections and take every
 * descriptor of the server (audit round 8: root clients were refused). The verdict is the
 * guard's cached one, so the hook does not look the connection up again.
 */
export function closeIdleSandboxedConnections(server: Server, guard: SandboxedPeerGuard): void {
  server.on('connection', (socket: Socket) => {
    const acceptedAt = Date.now();
    void guard.check(socket)?.then((isRefused) => {
      if (!isRefused || socket.destroyed) return;
      // Counted from the accept: a verdict that came late (many lookups at once) must not
      // keep refused connections, and their descriptors, open for longer.
      const idleMs = Math.max(0, acceptedAt + REFUSED_IDLE_MS - Date.now());
      const timer = setTimeout(() => socket.destroy(), idleMs);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    });
  });
}
