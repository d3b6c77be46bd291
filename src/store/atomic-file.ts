import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes a file so readers see either the old or the new content, never a torn one:
 * temp file, optional fsync, rename, optional fsync of the directory.
 */
export function writeFileAtomic(
  file: string,
  data: string | Buffer,
  options: { durable: boolean; mode?: number },
): void {
  const tmp = `${file}.tmp`;
  try {
    writeAndClose(fs.openSync(tmp, 'w', options.mode ?? 0o644), data, options.durable);
    fs.renameSync(tmp, file);
  } catch (error) {
    // A half-written temp file on a full disk holds the very space a retry needs (robustness
    // round 10: each retry of a large result.json refilled whatever had been freed).
    fs.rmSync(tmp, { force: true });
    throw error;
  }
  if (options.durable) syncDirectory(path.dirname(file));
}

/**
 * Creates a file that must not exist yet (O_EXCL), optionally fsynced. For files in a
 * directory nobody reads before a commit that follows (a new task's files): no temp file
 * and rename are needed to hide a torn write. The caller syncs the directory.
 */
export function writeNewFile(
  file: string,
  data: string | Buffer,
  options: { durable: boolean; mode?: number },
): void {
  const fd = fs.openSync(file, 'wx', options.mode ?? 0o644);
  try {
    writeAndClose(fd, data, options.durable);
  } catch (error) {
    fs.rmSync(file, { force: true }); // ours (O_EXCL): a torn file must not stay
    throw error;
  }
}

function writeAndClose(fd: number, data: string | Buffer, durable: boolean): void {
  try {
    fs.writeFileSync(fd, data);
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Makes a rename or create in `dir` durable. */
export function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
