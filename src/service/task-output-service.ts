import type { TaskStatus } from '../core/task-status.js';
import { RuntimeError } from '../core/runtime-error.js';
import type { RuntimeEvents } from '../core/runtime-events.js';
import type { TaskPaths } from '../store/task-paths.js';
import type { TaskStore } from '../store/task-store.js';
import { readLogSlice, type LogSelection, type LogSlice, type LogStream } from './log-reader.js';
import type { StreamPosition } from './stream-position.js';
import { TaskDirWatch } from './task-dir-watch.js';
import { followTask, type StreamSink } from './task-stream.js';

export interface TaskOutputDeps {
  store: TaskStore;
  events: RuntimeEvents;
  pathsOf(taskId: string): TaskPaths;
}

/** A ranged read plus the task status at the time (tells a reader whether more can come). */
export interface LogRead {
  slice: LogSlice;
  status: TaskStatus;
}

/** Task output for agents: ranged/tail reads of the logs and resumable live streams. */
export class TaskOutputService {
  private readonly dirWatch = new TaskDirWatch();

  constructor(private readonly deps: TaskOutputDeps) {}

  /** Reads part of stdout.log or stderr.log. */
  readLog(taskId: string, stream: LogStream, selection: LogSelection): LogRead {
    const status = this.requireStatus(taskId);
    const paths = this.deps.pathsOf(taskId);
    const file = stream === 'stdout' ? paths.stdoutPath : paths.stderrPath;
    return { slice: readLogSlice(file, selection), status };
  }

  /** Throws `not_found` for an unknown task (checked before a stream's headers go out). */
  requireStatus(taskId: string): TaskStatus {
    const record = this.deps.store.getTask(taskId);
    if (record === undefined)
      throw new RuntimeError('not_found', `task ${taskId} not found`, { task_id: taskId });
    return record.status;
  }

  /** Streams the task from `start` to its end (or until `signal` aborts). */
  async follow(
    taskId: string,
    start: StreamPosition,
    sink: StreamSink,
    signal: AbortSignal,
  ): Promise<void> {
    const { store, events } = this.deps;
    events.emit('client:long-poll', 'stream', 1);
    try {
      await followTask(
        taskId,
        start,
        sink,
        { store, events, dirWatch: this.dirWatch, paths: this.deps.pathsOf(taskId) },
        signal,
      );
    } finally {
      events.emit('client:long-poll', 'stream', -1);
    }
  }

  /** Releases every inotify watch (runtime stop). */
  close(): void {
    this.dirWatch.closeAll();
  }
}
