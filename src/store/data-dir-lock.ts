import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { RuntimeError } from '../core/runtime-error.js';

/** Held while a runtime owns its data dir; `release()` at stop (the kernel frees it on death). */
export interface DataDirLock {
  release(): void;
}

/**
 * A file as /proc/locks names it: `major:minor:inode`, the device numbers in two-digit hex.
 * The device matters: inode numbers repeat across file systems (a tmpfs's are small), and a
 * lock on another device's file with the same inode once made a restart refuse its own data
 * dir.
 */
function lockFileId(stats: fs.Stats): string {
  const dev = BigInt(stats.dev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  const hex = (value: bigint) => value.toString(16).padStart(2, '0');
  return `${hex(major)}:${hex(minor)}:${stats.ino}`;
}

/**
 * A pid other than this process's holding a POSIX lock on `file`, from /proc/locks (`N: POSIX
 * ADVISORY WRITE pid maj:min:inode start end`); undefined when none is listed, the file does
 * not exist, or /proc is not there.
 */
function findOtherLockHolder(file: string): number | undefined {
  try {
    const id = lockFileId(fs.statSync(file));
    for (const line of fs.readFileSync('/proc/locks', 'utf8').split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (fields[1] !== 'POSIX' || fields[5] !== id) continue;
      const pid = Number(fields[4]);
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid) return pid;
    }
  } catch {
    // Best effort: the message says less.
  }
  return undefined;
}

function inUse(dataDir: string, holder: number | undefined, what: string): RuntimeError {
  return new RuntimeError(
    'conflict',
    `data dir ${dataDir} is in use by another execgo-runtime${holder === undefined ? '' : ` (pid ${holder}${what})`}; one data dir serves one runtime`,
  );
}

/**
 * Takes the data dir for this runtime, or refuses at once if another runtime has it. Two
 * servers on one data dir would each run recovery over the other's live tasks and each keep
 * a ledger of its own: tasks finished twice, slots leaked, limits exceeded.
 *
 * The lock is SQLite's own, on `runtime.lock` (an empty database) in exclusive locking mode:
 * a POSIX record lock the kernel drops when the process dies (so a SIGKILLed server never
 * leaves a stale lock, unlike a pid file), that shims and the spawner do not inherit (SQLite
 * opens with O_CLOEXEC, and record locks are not inherited across fork), and that also
 * excludes a second runtime in the same process. Node has no flock of its own. A lock file
 * someone deleted or replaced under a running server no longer excludes anything, so the
 * database is checked too: every SQLite connection to it (WAL) holds a lock on
 * `runtime.db-shm`, and one held by another process means the data dir is in use.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = path.join(dataDir, 'runtime.lock');
  if (fs.lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink() === true)
    throw new RuntimeError('invalid_input', `${file} is a symbolic link; remove it`);
  let db: Database.Database;
  try {
    db = new Database(file);
  } catch (error) {
    throw new RuntimeError('invalid_input', `cannot open ${file}: ${(error as Error).message}`);
  }
  try {
    fs.chmodSync(file, 0o600);
    db.pragma('busy_timeout = 0');
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
  } catch (error) {
    db.close();
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY')
      throw inUse(dataDir, findOtherLockHolder(file) ?? process.pid, '');
    throw new RuntimeError('invalid_input', `cannot lock ${file}: ${(error as Error).message}`);
  }
  const user = findOtherLockHolder(path.join(dataDir, 'runtime.db-shm'));
  if (user !== undefined) {
    db.close();
    throw inUse(dataDir, user, ', which has runtime.db open');
  }
  return { release: () => db.close() };
}
