import fs from 'node:fs';
import type { Logger } from 'pino';
import { isInRange, type UidRange } from '../sandbox/sandbox-exposure.js';

/** A listening socket on the port, as the kernel's tables show it. */
interface Listener {
  uid: number;
  inode: number;
}

const LISTEN_STATE = '0A';

/** Listening sockets on `port` (any address, IPv4 and IPv6) from /proc/net/tcp{,6}. */
export function findListeners(tables: readonly string[], port: number): Listener[] {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const listeners: Listener[] = [];
  for (const table of tables)
    for (const line of table.split('\n')) {
      // "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …"
      const fields = line.trim().split(/\s+/);
      if (fields[3] !== LISTEN_STATE || fields[1]?.split(':')[1] !== portHex) continue;
      listeners.push({ uid: Number(fields[7]), inode: Number(fields[9]) });
    }
  return listeners;
}

/** Pids of the processes that hold a descriptor of one of these socket inodes. */
function findHolders(inodes: ReadonlySet<number>): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // ended meanwhile
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined && inodes.has(Number(inode))) {
        pids.push(Number(entry));
        break;
      }
    }
  }
  return pids;
}

function readTable(file: 'tcp' | 'tcp6'): string {
  try {
    return fs.readFileSync(`/proc/net/${file}`, 'utf8');
  } catch {
    return '';
  }
}

function isAddressInUse(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
}

/**
 * Listens, taking the port back from a sandboxed task that holds it. A linux_sandbox task
 * without a network namespace shares the host's network and may listen on any free port above
 * 1023 — the API's too, while the server is down for a restart, and then answer clients in
 * its place. So when the port is in use by a socket of a sandbox uid of this host (any
 * runtime's exposed range), the processes holding that socket are killed and listening is
 * retried. A port held by anyone else is a real conflict: the start fails as it always did.
 */
export async function listenReclaimingPort(
  listen: () => Promise<void>,
  port: number,
  exposedRanges: () => UidRange[],
  logger: Logger,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await listen();
      return;
    } catch (error) {
      if (!isAddressInUse(error) || attempt >= 50) throw error;
      const ranges = exposedRanges();
      const squatters = findListeners([readTable('tcp'), readTable('tcp6')], port).filter(
        (listener) => ranges.some((range) => isInRange(range, listener.uid)),
      );
      if (squatters.length === 0 && attempt === 0) throw error;
      if (squatters.length > 0) {
        const pids = findHolders(new Set(squatters.map((squatter) => squatter.inode)));
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
        logger.warn(
          { port, uids: squatters.map((squatter) => squatter.uid), pids },
          'a sandboxed task held the API port; its processes were killed to take it back',
        );
      }
      // The socket closes when its last holder is gone: shortly, not at once.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
