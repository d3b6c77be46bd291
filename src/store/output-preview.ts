import fs from 'node:fs';

/** The inline part of a log returned in a task status. */
export interface OutputPreview {
  text: string;
  truncated: boolean;
  totalBytes: number;
}

/** Length of `buf` without a trailing incomplete UTF-8 sequence (cut by the byte cap). */
export function trimIncompleteUtf8(buf: Buffer): number {
  let end = buf.length;
  // Walk back over at most 3 continuation bytes to the lead byte of the last character.
  let index = end - 1;
  let continuation = 0;
  while (index >= 0 && continuation < 3) {
    const byte = buf[index] ?? 0;
    if ((byte & 0xc0) !== 0x80) break;
    continuation++;
    index--;
  }
  if (index < 0) return end;
  const lead = buf[index] ?? 0;
  const needed = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  if (needed > continuation + 1) end = index;
  return end;
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
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { text: '', truncated: false, totalBytes: 0 };
    throw error;
  }
  try {
    const totalBytes = fs.fstatSync(fd).size;
    const length = Math.min(totalBytes, maxBytes);
    const buf = Buffer.alloc(length);
    const read = length === 0 ? 0 : fs.readSync(fd, buf, 0, length, 0);
    const slice = buf.subarray(0, read);
    const truncated = totalBytes > maxBytes;
    const end = truncated ? trimIncompleteUtf8(slice) : slice.length;
    return { text: slice.subarray(0, end).toString('utf8'), truncated, totalBytes };
  } finally {
    fs.closeSync(fd);
  }
}
