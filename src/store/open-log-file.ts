import fs from 'node:fs';

/**
 * Opens a task's log (stdout.log, stderr.log) for reading, with its size when opened;
 * undefined when there is none. A log
 * replaced by anything but a regular file counts as none: a symlink is not followed (it could
 * point at /etc/shadow, served then as the task's output), a FIFO does not block the server
 * (O_NONBLOCK). The task's own program writes into the log, never renames it; only someone
 * with write access to the data dir could swap it, so this is hardening.
 */
export function openLogFile(file: string): { fd: number; size: number } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(
      file,
      fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK,
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') return undefined;
    throw error;
  }
  const stat = fs.fstatSync(fd);
  if (stat.isFile()) return { fd, size: stat.size };
  fs.closeSync(fd);
  return undefined;
}
