import fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import type { RuntimeEvents } from '../core/runtime-events.js';
import { isTerminal } from '../core/task-status.js';
import type { TaskPaths } from '../store/task-paths.js';
import { incompleteUtf8Tail } from '../store/utf8-tail.js';
import type { TaskStore } from '../store/task-store.js';
import { readAt, type LogStream } from './log-reader.js';
import { formatPosition, type StreamPosition } from './stream-position.js';
import type { TaskDirWatch } from './task-dir-watch.js';
import { openTaskFile } from '../store/open-task-file.js';

/** Output is sent in pieces of at most this size, so one flood cannot hog a connection. */
const CHUNK_BYTES = 64 * 1024;
/** Keeps idle connections alive through proxies; also re-checks for unannounced events. */
export const HEARTBEAT_MS = 15_000;

/** One server-sent event. `id` is the position after it (see stream-position.ts). */
export interface StreamMessage {
  event: 'lifecycle' | 'stdout' | 'stderr' | 'end';
  id: string;
  data: unknown;
}

/** Where messages go; `write` resolves once the transport accepted the bytes (backpressure). */
export interface StreamSink {
  write(message: StreamMessage): Promise<void>;
  heartbeat(): void;
}

export interface TaskStreamDeps {
  store: TaskStore;
  events: RuntimeEvents;
  dirWatch: TaskDirWatch;
  paths: TaskPaths;
}

/** An output piece as text when it is valid UTF-8, else base64 (bytes are never altered). */
function encodePiece(piece: Buffer): { data: string; encoding: 'utf8' | 'base64' } {
  if (isUtf8(piece)) return { data: piece.toString('utf8'), encoding: 'utf8' };
  return { data: piece.toString('base64'), encoding: 'base64' };
}

/**
 * Follows one task from `start`: lifecycle events from the events table, then new bytes of
 * stdout.log and stderr.log, until the task is terminal and everything was delivered. Both
 * sources are durable, so a follower can resume from any position, even on another server
 * process. Wake-ups come from the task directory's inotify watch and the event bus.
 */
export async function followTask(
  taskId: string,
  start: StreamPosition,
  sink: StreamSink,
  deps: TaskStreamDeps,
  signal: AbortSignal,
): Promise<void> {
  const position = { ...start };
  let isDirty = true;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    isDirty = true;
    wake?.();
  };
  const onTaskEvent = (changedId: string): void => {
    if (changedId === taskId) notify();
  };
  // Subscribe before the first read so no change between read and wait is missed.
  const unwatch = deps.dirWatch.subscribe(deps.paths.taskDir, notify);
  deps.events.on('task:changed', onTaskEvent);
  deps.events.on('task:event', onTaskEvent);
  signal.addEventListener('abort', notify);
  const heartbeat = setInterval(() => {
    sink.heartbeat();
    notify();
  }, HEARTBEAT_MS);
  try {
    while (!signal.aborted) {
      isDirty = false;
      // Status first: if it is terminal now, the logs are final before we read them.
      const status = deps.store.getTaskStatus(taskId);
      const isDone = status === undefined || isTerminal(status);
      for (const record of deps.store.listEvents(taskId, position.eventSeq)) {
        position.eventSeq = record.seq;
        await sink.write({ event: 'lifecycle', id: formatPosition(position), data: record });
      }
      await drainLog('stdout', deps.paths.stdoutPath, position, sink, signal, isDone);
      await drainLog('stderr', deps.paths.stderrPath, position, sink, signal, isDone);
      if (isDone) {
        await sink.write({
          event: 'end',
          id: formatPosition(position),
          data: { task_id: taskId, status: status ?? null },
        });
        return;
      }
      if (!isDirty) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    clearInterval(heartbeat);
    unwatch();
    deps.events.off('task:changed', onTaskEvent);
    deps.events.off('task:event', onTaskEvent);
    signal.removeEventListener('abort', notify);
  }
}

/**
 * Sends the bytes of one log past the follower's offset, up to the size seen now. A character
 * cut by the end of what was written so far is held back (not delivered, so the offset stays
 * before it) until its rest arrives; once the log is final (`isFinal`), the rest goes out
 * as it is.
 */
async function drainLog(
  stream: LogStream,
  file: string,
  position: StreamPosition,
  sink: StreamSink,
  signal: AbortSignal,
  isFinal: boolean,
): Promise<void> {
  const key = stream === 'stdout' ? 'stdoutOffset' : 'stderrOffset';
  const opened = openTaskFile(file);
  if (opened === undefined) return;
  const { fd, size } = opened;
  try {
    while (position[key] < size && !signal.aborted) {
      const offset = position[key];
      const chunk = readAt(fd, offset, Math.min(CHUNK_BYTES, size - offset));
      if (chunk.length === 0) return;
      const isLast = isFinal && offset + chunk.length >= size;
      const held = isLast ? 0 : incompleteUtf8Tail(chunk);
      // Only the start of a character so far: the next change of the file wakes us again.
      if (held === chunk.length) return;
      const piece = chunk.subarray(0, chunk.length - held);
      const { data, encoding } = encodePiece(piece);
      position[key] = offset + piece.length;
      await sink.write({
        event: stream,
        id: formatPosition(position),
        data: { offset, bytes: piece.length, encoding, data },
      });
    }
  } finally {
    fs.closeSync(fd);
  }
}
