import fs from 'node:fs';
import type { Logger } from 'pino';
import { readText } from '../capabilities/probe-host.js';
import { isInRange, type UidRange } from '../sandbox/sandbox-exposure.js';

/** A socket of the kernel's tables that holds the port: its owner and inode. */
interface PortHolder {
  uid: number;
  inode: number;
}

/** Everything that takes the port away from a new listener, and what kills sandboxed tasks. */
export interface PortReclaim {
  /** The sandbox uid ranges of this host whose tasks share its network. */
  exposedRanges(): UidRange[];
  /** Kills, cgroup and all, this runtime's tasks that run as one of these uids. */
  killTasksRunningAs(uids: ReadonlySet<number>): string[];
}

const SOCKET_TABLES = ['tcp', 'tcp6', 'udp', 'udp6', 'raw', 'raw6', 'unix', 'netlink', 'packet'];

/**
 * Sockets of /proc/net/tcp{,6} bound to local `port` on any address and in any state (a
 * listener, or a connection made from that port: both keep a listener from binding it).
 */
export function findPortHolders(tables: readonly string[], port: number): PortHolder[] {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const holders: PortHolder[] = [];
  for (const table of tables)
    for (const line of table.split('\n')) {
      // "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …"
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.split(':')[1] !== portHex) continue;
      holders.push({ uid: Number(fields[7]), inode: Number(fields[9]) });
    }
  return holders;
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function processUid(pid: string): number | undefined {
  const uid = /^Uid:\s+(\d+)/m.exec(readText(`/proc/${pid}/status`))?.[1];
  return uid === undefined ? undefined : Number(uid);
}

/**
 * A process's /proc directory and those of its threads: a process whose leader exited alone
 * (raw SYS_exit) shows no descriptors and no namespaces there, only under its threads'.
 */
function processDirs(pid: string): string[] {
  return [`/proc/${pid}`, ...listDir(`/proc/${pid}/task`).map((t) => `/proc/${pid}/task/${t}`)];
}

/** A process's network namespace. */
function netNamespaceOf(pid: string): string | undefined {
  for (const dir of processDirs(pid))
    try {
      return fs.readlinkSync(`${dir}/ns/net`);
    } catch {
      // A zombie leader has no namespaces left: try its threads.
    }
  return undefined;
}

/** The socket inodes a process holds, through any of its threads. */
function socketInodesOf(pid: string): Set<number> {
  const inodes = new Set<number>();
  for (const dir of processDirs(pid).map((d) => `${d}/fd`))
    for (const fd of listDir(dir)) {
      try {
        const inode = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`${dir}/${fd}`))?.[1];
        if (inode !== undefined) inodes.add(Number(inode));
      } catch {
        // Closed meanwhile.
      }
    }
  return inodes;
}

/** Every inode the kernel's socket tables list (a socket bound but not listening is in none). */
function listedSocketInodes(): Set<number> {
  const inodes = new Set<number>();
  for (const table of SOCKET_TABLES)
    for (const line of readText(`/proc/net/${table}`).split('\n'))
      for (const field of line.trim().split(/\s+/))
        if (/^\d{4,}$/.test(field)) inodes.add(Number(field));
  return inodes;
}

/**
 * The sandboxed processes that take the port: those holding a socket the tables show on it,
 * and — when no socket of the tables holds it at all — those holding a socket no table lists,
 * which is what a socket bound to the port without listening looks like.
 */
function findSquatters(port: number, ranges: readonly UidRange[]): Map<number, number> {
  const isSandboxed = (uid: number | undefined) =>
    uid !== undefined && ranges.some((range) => isInRange(range, uid));
  const holders = findPortHolders([readText('/proc/net/tcp'), readText('/proc/net/tcp6')], port);
  const wanted = new Set(holders.filter((h) => isSandboxed(h.uid)).map((h) => h.inode));
  const isInvisible = holders.length === 0;
  const listed = isInvisible ? listedSocketInodes() : new Set<number>();
  // Only a process of this network namespace can hold this port (a `net: true` task's
  // sockets are in no table read here, and are no threat to it).
  const ownNetwork = netNamespaceOf('self');
  const squatters = new Map<number, number>(); // pid → uid
  for (const pid of listDir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const uid = processUid(pid);
    if (uid === undefined || !isSandboxed(uid)) continue;
    if (netNamespaceOf(pid) !== ownNetwork) continue;
    for (const inode of socketInodesOf(pid))
      if (wanted.has(inode) || (isInvisible && !listed.has(inode))) {
        squatters.set(Number(pid), uid);
        break;
      }
  }
  return squatters;
}

function isAddressInUse(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
}

/**
 * Listens, taking the port back from sandboxed tasks that hold it. A linux_sandbox task
 * without a network namespace shares the host's network and may bind any free port above
 * 1023 — the API's too, while the server is down for a restart, and then answer clients in
 * its place. So when the port is in use while tasks of sandbox uids of this host share its
 * network, the sandboxed processes holding it are killed (SIGKILL), this runtime's tasks
 * among them as a whole (their cgroups), and listening is retried. A port held by anyone else
 * is a real conflict: the start fails as it always did. Socket activation, or a port below
 * 1024, keeps the port from being free in the first place (deployment.md).
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
      const squatters = findSquatters(port, reclaim.exposedRanges());
      if (squatters.size === 0 && attempt === 0) throw error;
      if (squatters.size > 0) {
        const tasks = reclaim.killTasksRunningAs(new Set(squatters.values()));
        for (const pid of squatters.keys()) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
        logger.warn(
          { port, uids: [...new Set(squatters.values())], pids: [...squatters.keys()], tasks },
          'a sandboxed task held the API port; its processes were killed to take it back',
        );
      }
      // The socket closes when its last holder is gone: shortly, not at once.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
