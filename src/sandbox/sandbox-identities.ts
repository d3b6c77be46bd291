import { RuntimeError } from '../core/runtime-error.js';

/** The host uid and gid one linux_sandbox task runs as (the same number). */
export interface SandboxIdentity {
  uid: number;
  gid: number;
}

/** Identities in the range: far more than tasks can run at once on one host. */
export const SANDBOX_IDENTITY_COUNT = 65_536;

/** The default first uid of the range: unused by distributions, users and subuid ranges. */
export const DEFAULT_SANDBOX_UID_BASE = 0x7000_0000;

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
