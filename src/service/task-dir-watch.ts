import fs from 'node:fs';

interface DirWatch {
  watcher: fs.FSWatcher;
  listeners: Set<() => void>;
}

/**
 * One inotify watch per task directory, shared by every client following that task: a
 * write to stdout.log or stderr.log (by the shim, another process) wakes all of them. No
 * timer per client; the watch is closed when the last follower leaves.
 */
export class TaskDirWatch {
  private readonly watches = new Map<string, DirWatch>();

  /** Calls `listener` on any change in `taskDir`; returns the unsubscribe function. */
  subscribe(taskDir: string, listener: () => void): () => void {
    let entry = this.watches.get(taskDir);
    if (entry === undefined) {
      let watcher: fs.FSWatcher;
      try {
        watcher = fs.watch(taskDir, { persistent: false });
      } catch (error) {
        // Directory already collected: nothing will change there any more.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return () => undefined;
        throw error;
      }
      const created: DirWatch = { watcher, listeners: new Set() };
      watcher.on('change', () => created.listeners.forEach((notify) => notify()));
      // The directory went away (GC): wake followers so they notice and finish.
      watcher.on('error', () => {
        created.listeners.forEach((notify) => notify());
        this.close(taskDir);
      });
      this.watches.set(taskDir, created);
      entry = created;
    }
    const { listeners } = entry;
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.close(taskDir);
    };
  }

  /** Closes every watch (runtime stop). */
  closeAll(): void {
    for (const taskDir of [...this.watches.keys()]) this.close(taskDir);
  }

  private close(taskDir: string): void {
    const entry = this.watches.get(taskDir);
    if (entry === undefined) return;
    this.watches.delete(taskDir);
    entry.watcher.close();
  }
}
