import type { Logger } from 'pino';
import type { TaskRecord } from '../core/task-record.js';
import { ExposedTasks } from '../sandbox/exposed-tasks.js';
import type { SandboxExposure, UidRange } from '../sandbox/sandbox-exposure.js';
import {
  SANDBOX_IDENTITY_COUNT,
  SandboxIdentities,
  type SandboxIdentity,
} from '../sandbox/sandbox-identities.js';

export interface SandboxedTasksDeps {
  sandboxUidBase: number;
  /** The host-wide note that this runtime runs sandboxed tasks (sandbox-exposure.ts). */
  exposure?: SandboxExposure;
  logger: Logger;
}

function isSandboxed(record: TaskRecord): boolean {
  return record.plan.effective_sandbox.profile === 'linux_sandbox';
}

/**
 * This runtime's running (and recently ended) linux_sandbox tasks: the uid each runs as
 * (sandbox-identities.ts), the uids the API guards must treat as sandboxed
 * (exposed-tasks.ts), and the host-wide note that tells other runtimes' guards the same.
 */
export class SandboxedTasks {
  private readonly identities: SandboxIdentities;
  private readonly exposed: ExposedTasks;

  constructor(private readonly deps: SandboxedTasksDeps) {
    this.identities = new SandboxIdentities(deps.sandboxUidBase);
    this.exposed = new ExposedTasks(
      { base: deps.sandboxUidBase, count: SANDBOX_IDENTITY_COUNT },
      () => this.writeNote(),
    );
  }

  /**
   * Start-up: re-attached running tasks hold their recorded uids again, and the note of an
   * earlier run is replaced in one write (or removed), never absent meanwhile.
   */
  adopt(running: readonly TaskRecord[]): void {
    for (const record of running) {
      if (!isSandboxed(record)) continue;
      const uid = record.launch?.sandboxUid;
      this.exposed.add(record.taskId, uid);
      if (uid !== undefined) this.identities.adopt(record.taskId, uid);
    }
    this.writeNote();
  }

  /**
   * A task about to launch: a sandboxed one gets its own uid, noted host-wide before its
   * program can start; any other task gets none. Throws when every uid is held.
   */
  acquire(record: TaskRecord): SandboxIdentity | undefined {
    if (!isSandboxed(record)) return undefined;
    const identity = this.identities.acquire(record.taskId);
    this.exposed.add(record.taskId, identity.uid);
    this.writeNote();
    return identity;
  }

  /** The task stopped running: its uid is free again, and stays exposed for the grace. */
  release(taskId: string): void {
    this.identities.release(taskId);
    if (this.exposed.end(taskId)) this.writeNote();
  }

  /** Whether the task runs as a sandboxed task of this runtime. */
  isRunning(taskId: string): boolean {
    return this.exposed.isRunning(taskId);
  }

  /** The uids of running (and recently ended) sandboxed tasks, any of which could reach the API. */
  ranges(): UidRange[] {
    return this.exposed.ranges();
  }

  /**
   * Writes or clears the host-wide note. If it cannot be written, this runtime still guards
   * its own API (runtime.ts adds its own range while it has such tasks); other runtimes on the
   * host then do not know, which the warning says.
   */
  private writeNote(): void {
    try {
      this.deps.exposure?.set(this.ranges());
    } catch (error) {
      this.deps.logger.warn(
        { err: error },
        "could not note sandboxed tasks for other runtimes' API guards",
      );
    }
  }
}
