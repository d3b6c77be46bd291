import fs from 'node:fs';
import type { ProcessIdentity } from '../core/task-record.js';

/**
 * Start time (clock ticks since boot) from /proc/<pid>/stat. The command name in field 2 may
 * contain spaces and parentheses (a program named `x) 1 2 3`), so fields are counted from the
 * *last* `)`; starttime is field 22, the 20th after it.
 */
export function parseStartTicks(stat: string): number | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = stat.slice(close + 2).split(' ');
  const value = Number(fields[19]);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Reads the start ticks of a live process, undefined when it does not exist. */
export function readStartTicks(pid: number): number | undefined {
  try {
    return parseStartTicks(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** This process's own process group (field 5 of /proc/self/stat), never a signal target. */
export function readOwnProcessGroup(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/** A process group the runtime may signal: a real group that is not init's and not ours. */
export function isSignallableGroup(pgid: number): boolean {
  return (
    Number.isSafeInteger(pgid) && pgid > 1 && pgid !== process.pid && pgid !== readOwnProcessGroup()
  );
}

let cachedBootId: string | undefined;

/** The kernel's boot id; pids and start ticks are only comparable within one boot. */
export function readBootId(): string {
  cachedBootId ??= fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return cachedBootId;
}

/** Captures the identity of a process that was just started. */
export function captureIdentity(pid: number): ProcessIdentity | undefined {
  const startTicks = readStartTicks(pid);
  return startTicks === undefined ? undefined : { pid, startTicks, bootId: readBootId() };
}

/**
 * The state letter of the very process identified (`/proc/<pid>/stat`: R, S, D, T, t, Z…);
 * undefined when it is gone or its pid now names another process.
 */
export function readProcessState(identity: ProcessIdentity): string | undefined {
  if (identity.bootId !== readBootId()) return undefined;
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${identity.pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  if (parseStartTicks(stat) !== identity.startTicks) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

/** True only if the very process identified is still alive (not a reused pid, not a zombie). */
export function isSameProcessAlive(identity: ProcessIdentity): boolean {
  return isAliveState(readProcessState(identity));
}

/** A state of a live process: a zombie keeps its stat entry, it is not a live supervisor. */
export function isAliveState(state: string | undefined): state is string {
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** Stopped (SIGSTOP, job control) or stopped by a tracer: it runs no code until resumed. */
export function isStoppedState(state: string | undefined): boolean {
  return state === 'T' || state === 't';
}

/**
 * Sends a signal to a supervisor only after re-checking its identity, so a recycled pid is
 * never signalled. Returns whether the signal was delivered.
 */
export function signalIfSame(identity: ProcessIdentity, signal: NodeJS.Signals): boolean {
  if (identity.pid <= 1 || identity.pid === process.pid) return false;
  if (!isSameProcessAlive(identity)) return false;
  try {
    process.kill(identity.pid, signal);
    return true;
  } catch {
    return false;
  }
}
