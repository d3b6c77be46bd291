import fs from 'node:fs';
import { openTaskFile } from '../store/open-task-file.js';

/** The two output streams of a task. */
export type LogStream = 'stdout' | 'stderr';

/** Default and ceiling for one ranged read: bounded memory per request. */
export const DEFAULT_LOG_READ_BYTES = 1024 * 1024;
export const MAX_LOG_READ_BYTES = 16 * 1024 * 1024;
/** Tail is scanned backwards in blocks of this size. */
const TAIL_BLOCK_BYTES = 64 * 1024;

/** Which bytes to read: a window, the last `bytes` bytes, or the last `lines` lines. */
export type LogSelection =
  | { kind: 'range'; offset: number; limit: number }
  | { kind: 'suffix'; bytes: number; limit: number }
  | { kind: 'tail'; lines: number; limit: number };

/** Bytes [start, end) of a log whose size was `totalBytes` when read. */
export interface LogSlice {
  data: Buffer;
  start: number;
  end: number;
  totalBytes: number;
}

/** Current size of a log file; a missing file (not created yet, or collected) is empty. */
export function statLogSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

/** Reads up to `length` bytes at `position` from an open file. */
export function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

/**
 * Offset where the last `lines` lines of the first `size` bytes begin, but not before
 * `floor` (the answer is capped there anyway: scanning further back would only cost time,
 * up to the whole log on one event-loop turn). A final newline ends the last line rather
 * than starting an empty one, as `tail -n` counts.
 */
function findTailStart(fd: number, size: number, lines: number, floor: number): number {
  if (lines === 0) return size;
  let remaining = lines;
  let blockEnd = size;
  let skipFinalNewline = true;
  while (blockEnd > floor) {
    const blockStart = Math.max(floor, blockEnd - TAIL_BLOCK_BYTES);
    const block = readAt(fd, blockStart, blockEnd - blockStart);
    for (let i = block.length - 1; i >= 0; i--) {
      if (block[i] !== 0x0a) {
        skipFinalNewline = false;
        continue;
      }
      if (skipFinalNewline) {
        skipFinalNewline = false;
        continue;
      }
      remaining--;
      if (remaining === 0) return blockStart + i + 1;
    }
    blockEnd = blockStart;
  }
  return floor;
}

/** Reads the selected part of a log file without loading the whole file. */
export function readLogSlice(file: string, selection: LogSelection): LogSlice {
  const opened = openTaskFile(file);
  if (opened === undefined) return { data: Buffer.alloc(0), start: 0, end: 0, totalBytes: 0 };
  const { fd, size: totalBytes } = opened;
  try {
    let start: number;
    let end: number;
    if (selection.kind === 'tail') {
      end = totalBytes;
      const floor = Math.max(0, end - selection.limit);
      start = findTailStart(fd, totalBytes, selection.lines, floor);
    } else if (selection.kind === 'suffix') {
      end = totalBytes;
      start = Math.max(0, end - Math.min(selection.bytes, selection.limit));
    } else {
      start = Math.min(selection.offset, totalBytes);
      end = Math.min(totalBytes, start + selection.limit);
    }
    const data = readAt(fd, start, end - start);
    return { data, start, end: start + data.length, totalBytes };
  } finally {
    fs.closeSync(fd);
  }
}
