import fs from 'node:fs';
import type { Logger } from 'pino';
import { readText } from '../capabilities/probe-host.js';
import { isInRange, type UidRange } from '../sandbox/sandbox-exposure.js';
import { parseSocketTable } from './local-peer-owner.js';

/** What a start needs to take its port back from sandboxed tasks. */
export interface PortReclaim {
  /** The sandbox uid ranges of this host's running sandboxed tasks (every runtime's). */
  exposedRanges(): UidRange[];
  /** Kills, cgroup and all, this runtime's running sandboxed tasks. */
  killExposedTasks(): string[];
}

const LISTEN_STATE = '0A';

/**
 * Whether a process outside the sandbox ranges listens on `port` (any address): a real
 * server, so the conflict is genuine. Rows without an owner (inode 0) do not count: a task
 * can leave such a remnant on another local address of the same port as a decoy.
 */
export function hasForeignListener(
  tables: readonly string[],
  port: number,
  ranges: readonly UidRange[],
): boolean {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  return tables
    .flatMap(parseSocketTable)
    .some(
      (row) =>
        row.state === LISTEN_STATE &&
        row.local.split(':')[1] === portHex &&
        row.inode !== 0 &&
        !ranges.some((range) => isInRange(range, row.uid)),
    );
}

/** SIGKILLs every process running as a uid of these ranges; their pids. */
function killSandboxUids(ranges: readonly UidRange[]): number[] {
  const killed: number[] = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const uid = Number(/^Uid:\s+(\d+)/m.exec(readText(`/proc/${pid}/status`))?.[1]);
    if (!ranges.some((range) => isInRange(range, uid))) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
      killed.push(Number(pid));
    } catch {
      // Already gone.
    }
  }
  return killed;
}

function isAddressInUse(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
}

/**
 * Listens, taking the port back from sandboxed tasks. A linux_sandbox task without a network
 * namespace shares the host's network and may bind any free port above 1023 — the API's too,
 * while the server is down for a restart, and then answer clients in its place. Which process
 * holds a port cannot be found reliably: a socket bound without listening is in no table, a
 * socket in flight through a unix socket is held by no process, and a task with its own user
 * namespace can move itself to another network namespace and keep the socket. So the rule is
 * a policy, not a search: when the port is in use, no process outside the sandbox ranges
 * listens on it, and sandboxed tasks share this host's network, those tasks are ended (this
 * runtime's by their cgroups, every process of a noted sandbox uid range by SIGKILL) and
 * listening is retried. A port a real server listens on fails the start at once, killing
 * nothing. Socket activation, or a port below 1024, keeps the port from being free in the
 * first place (deployment.md).
 */
export async function listenReclaimingPort(
  listen: () => Promise<void>,
  port: number,
  reclaim: PortReclaim,
  logger: Logger,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await listen();
      return;
    } catch (error) {
      if (!isAddressInUse(error) || attempt >= 50) throw error;
      const ranges = reclaim.exposedRanges();
      if (ranges.length === 0) throw error;
      const tables = [readText('/proc/net/tcp'), readText('/proc/net/tcp6')];
      if (attempt === 0 && hasForeignListener(tables, port, ranges)) throw error;
      // Again on every attempt: a task's process may have forked while the first kill landed.
      const tasks = reclaim.killExposedTasks();
      const pids = killSandboxUids(ranges);
      if (attempt === 0)
        logger.warn(
          { port, tasks, pids },
          'the API port was taken while sandboxed tasks ran; those tasks were ended to take it back',
        );
      // The socket closes when its last holder is gone: shortly, not at once.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
