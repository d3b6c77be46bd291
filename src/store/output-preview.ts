import fs from 'node:fs';
import { incompleteUtf8Tail } from './utf8-tail.js';
import { openTaskFile } from './open-task-file.js';

/** The inline part of a log returned in a task status. */
export interface OutputPreview {
  text: string;
  truncated: boolean;
  totalBytes: number;
}

/**
 * Reads at most `maxBytes` from the start of a log file. The file on disk stays whole;
 * invalid UTF-8 becomes U+FFFD (lossy, as the contract says). A missing file reads as empty.
 * `knownBytes` is the size of a log that can no longer grow (its task ended): an empty one
 * is not opened at all.
 */
export function readOutputPreview(
  file: string,
  maxBytes: number,
  knownBytes?: number,
): OutputPreview {
  if (knownBytes === 0) return { text: '', truncated: false, totalBytes: 0 };
  const opened = openTaskFile(file);
  if (opened === undefined) return { text: '', truncated: false, totalBytes: 0 };
  const { fd, size: totalBytes } = opened;
  try {
    const length = Math.min(totalBytes, maxBytes);
    const buf = Buffer.alloc(length);
    const read = length === 0 ? 0 : fs.readSync(fd, buf, 0, length, 0);
    const slice = buf.subarray(0, read);
    const truncated = totalBytes > maxBytes;
    // A character cut by the byte cap is left out, not shown as U+FFFD.
    const end = truncated ? slice.length - incompleteUtf8Tail(slice) : slice.length;
    return { text: slice.subarray(0, end).toString('utf8'), truncated, totalBytes };
  } finally {
    fs.closeSync(fd);
  }
}
