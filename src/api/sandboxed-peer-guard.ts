import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { findSocketUid, isLocalPeer, peerSocketRows } from './local-peer-owner.js';

export interface SandboxedPeerGuardOptions {
  /** Whether a socket of this uid belongs to a sandboxed task. */
  isSandboxUid(uid: number): boolean;
  /** Whether any running task could reach the API (a linux_sandbox task without `net`). */
  isExposed(): boolean;
  readTable?: (file: 'tcp' | 'tcp6') => Promise<string>;
}

/**
 * Keeps sandboxed tasks off the API. A linux_sandbox task without a network namespace shares
 * the host's loopback, and through the API it could read every task's output or submit a
 * `process` task, which runs as the server's user. While such a task runs, the first request
 * of each connection from this host waits for the owner of the peer's socket, read from the
 * kernel's socket table; a sandbox uid is refused. The table is read off the event loop: the
 * kernel walks its whole connection hash for it (~3 ms on a 24 GiB host, whatever the number
 * of sockets), so it is read only while a task is exposed and once per connection, never per
 * request, and not at all for connections from other hosts.
 */
export class SandboxedPeerGuard {
  private readonly verdicts = new WeakMap<Socket, Promise<boolean>>();
  private readonly readTable: (file: 'tcp' | 'tcp6') => Promise<string>;

  constructor(private readonly options: SandboxedPeerGuardOptions) {
    this.readTable = options.readTable ?? ((file) => readFile(`/proc/net/${file}`, 'utf8'));
  }

  /** Resolves true when the connection must be refused. Undefined: nothing to check now. */
  check(socket: Socket): Promise<boolean> | undefined {
    if (!this.options.isExposed()) return undefined;
    let verdict = this.verdicts.get(socket);
    if (verdict === undefined) {
      verdict = this.isSandboxedPeer(socket);
      this.verdicts.set(socket, verdict);
    }
    return verdict;
  }

  private async isSandboxedPeer(socket: Socket): Promise<boolean> {
    const { remoteAddress, remotePort, localAddress, localPort } = socket;
    if (remoteAddress === undefined || remotePort === undefined) return false;
    if (localAddress === undefined || localPort === undefined) return false;
    if (!isLocalPeer(remoteAddress, localAddress)) return false;
    const rows = peerSocketRows(
      { address: remoteAddress, port: remotePort },
      { address: localAddress, port: localPort },
    );
    for (const row of rows) {
      let table: string;
      try {
        table = await this.readTable(row.file);
      } catch {
        continue;
      }
      const uid = findSocketUid(table, row);
      if (uid !== undefined) return this.options.isSandboxUid(uid);
    }
    return false;
  }
}
