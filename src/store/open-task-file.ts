import fs from 'node:fs';

/**
 * Opens a file a task can write to or replace (its logs, a sandbox's status file) for
 * reading, with its size when opened; undefined when there is none, or when it is anything
 * but a regular file. The open cannot be turned against the server:
 * - a symlink is not followed (it could point at /etc/shadow, served then as the output);
 * - O_NONBLOCK: a FIFO does not block the server, and neither does a file lease the task
 *   took (an open that would break it fails with EWOULDBLOCK instead of waiting for
 *   `lease-break-time`, 45 s, with the event loop frozen). That counts as none too.
 */
export function openTaskFile(file: string): { fd: number; size: number } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(
      file,
      fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK,
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'EWOULDBLOCK' || code === 'EAGAIN')
      return undefined;
    throw error;
  }
  const stat = fs.fstatSync(fd);
  if (stat.isFile()) return { fd, size: stat.size };
  fs.closeSync(fd);
  return undefined;
}

/**
 * The first `maxBytes` of such a file as UTF-8, or undefined when there is none or it cannot
 * be read. Only that much is ever read: a task can make its file as large as its file-size
 * limit (sparse, at no cost to it), and a whole read would stall the server and cost it that
 * much memory.
 */
export function readTaskFileHead(file: string, maxBytes: number): string | undefined {
  let opened: { fd: number; size: number } | undefined;
  try {
    opened = openTaskFile(file);
    if (opened === undefined) return undefined;
    const buffer = Buffer.alloc(Math.min(opened.size, maxBytes));
    const read = fs.readSync(opened.fd, buffer, 0, buffer.length, 0);
    return buffer.subarray(0, read).toString('utf8');
  } catch {
    return undefined;
  } finally {
    if (opened !== undefined) fs.closeSync(opened.fd);
  }
}
