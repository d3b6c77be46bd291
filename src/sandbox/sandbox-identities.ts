import { createHash } from 'node:crypto';
import { RuntimeError } from '../core/runtime-error.js';

/** The host uid and gid one linux_sandbox task runs as (the same number). */
export interface SandboxIdentity {
  uid: number;
  gid: number;
}

/** Identities in the range: far more than tasks can run at once on one host. */
export const SANDBOX_IDENTITY_COUNT = 65_536;

/** Where the default ranges start: unused by distributions, users and subuid ranges. */
export const DEFAULT_SANDBOX_UID_FLOOR = 0x7000_0000;

/** How many ranges the defaults spread over: 0x70000000 … 0x7FFEFFFF, below 2^31 - 1. */
const DEFAULT_RANGE_SLOTS = 4095;

/**
 * The default first uid for a data dir: one of 4,095 ranges from 0x70000000, picked by a
 * hash of the data dir's path. One data dir keeps its range across restarts; two runtimes on
 * one host (two data dirs) get disjoint ranges without coordinating, except with a chance of
 * 1 in 4,095 — hosts that run several runtimes should give each its own `--sandbox-uid-base`.
 */
export function defaultSandboxUidBase(dataDir: string): number {
  const slot = createHash('sha256').update(dataDir).digest().readUInt32BE(0) % DEFAULT_RANGE_SLOTS;
  return DEFAULT_SANDBOX_UID_FLOOR + slot * SANDBOX_IDENTITY_COUNT;
}

/**
 * Gives every running linux_sandbox task a uid/gid of its own, so that no task can read or
 * signal another's processes (`/proc/<pid>/environ`, `cwd`, ptrace, kill all allow a same-uid
 * peer) even when it shares the host pid namespace. Identities come round-robin from
 * `base … base + count - 1`, so one is reused as late as possible; a task keeps its identity
 * until it is finished (all its processes gone). The range holds no account: the kernel needs
 * none, and `ls` shows the number.
 */
export class SandboxIdentities {
  private readonly offsetByTask = new Map<string, number>();
  private readonly inUse = new Set<number>();
  private cursor = 0;

  constructor(
    private readonly base: number,
    private readonly count = SANDBOX_IDENTITY_COUNT,
  ) {}

  /** The task's identity: the one it holds, else the next free one. */
  acquire(taskId: string): SandboxIdentity {
    const held = this.offsetByTask.get(taskId);
    if (held !== undefined) return this.identityAt(held);
    for (let tried = 0; tried < this.count; tried++) {
      const offset = this.cursor;
      this.cursor = (this.cursor + 1) % this.count;
      if (this.inUse.has(offset)) continue;
      this.inUse.add(offset);
      this.offsetByTask.set(taskId, offset);
      return this.identityAt(offset);
    }
    throw new RuntimeError('sandbox_setup_failed', 'every sandbox uid is held by a running task', {
      sandbox_uids: this.count,
    });
  }

  /** Marks a re-attached task's recorded uid as held (after a restart); others are ignored. */
  adopt(taskId: string, uid: number): void {
    const offset = uid - this.base;
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.count) return;
    this.inUse.add(offset);
    this.offsetByTask.set(taskId, offset);
  }

  /** The task is finished: its identity may go to another task. */
  release(taskId: string): void {
    const offset = this.offsetByTask.get(taskId);
    if (offset === undefined) return;
    this.offsetByTask.delete(taskId);
    this.inUse.delete(offset);
  }

  /** How many identities running tasks hold. */
  get held(): number {
    return this.inUse.size;
  }

  private identityAt(offset: number): SandboxIdentity {
    return { uid: this.base + offset, gid: this.base + offset };
  }
}
