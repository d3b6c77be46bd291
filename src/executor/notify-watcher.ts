import fs from 'node:fs';
import path from 'node:path';

/** What a notify file says happened. */
export type NotifyKind = 'started' | 'exited';

/** Parses `<task_id>.started` / `<task_id>.exited`. */
export function parseNotifyName(name: string): { taskId: string; kind: NotifyKind } | undefined {
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const kind = name.slice(dot + 1);
  if (kind !== 'started' && kind !== 'exited') return undefined;
  return { taskId: name.slice(0, dot), kind };
}

/**
 * Watches the notify directory with inotify: shims drop an empty file there after each
 * record, so one watch wakes the server within microseconds for every task, including
 * tasks re-attached after a restart (which are not our children).
 */
export class NotifyWatcher {
  private watcher: fs.FSWatcher | undefined;

  constructor(
    private readonly dir: string,
    private readonly onNotify: (taskId: string, kind: NotifyKind) => void,
  ) {}

  start(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    this.watcher = fs.watch(this.dir, (_event, filename) => {
      // Our own acknowledgements (unlinks) raise events too; only present files count.
      if (filename !== null && fs.existsSync(path.join(this.dir, filename)))
        this.dispatch(filename);
    });
    this.scan();
  }

  /** Handles files already present (written while no one was watching). */
  scan(): void {
    for (const name of fs.readdirSync(this.dir)) this.dispatch(name);
  }

  /** Removes a handled notify file; absent is fine. */
  acknowledge(taskId: string, kind: NotifyKind): void {
    fs.rmSync(path.join(this.dir, `${taskId}.${kind}`), { force: true });
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private dispatch(name: string): void {
    const parsed = parseNotifyName(name);
    if (parsed !== undefined) this.onNotify(parsed.taskId, parsed.kind);
  }
}
