import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { RuntimeError } from '../core/runtime-error.js';

/** Held while a runtime owns its data dir; `release()` at stop (the kernel frees it on death). */
export interface DataDirLock {
  release(): void;
}

/**
 * The pid holding a POSIX lock on `file`, from /proc/locks (`N: POSIX ADVISORY WRITE pid
 * maj:min:inode start end`); undefined when none is listed or /proc is not there.
 */
function findLockHolder(file: string): number | undefined {
  try {
    const inode = fs.statSync(file).ino;
    for (const line of fs.readFileSync('/proc/locks', 'utf8').split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (fields[1] !== 'POSIX' || !fields[5]?.endsWith(`:${inode}`)) continue;
      const pid = Number(fields[4]);
      if (Number.isSafeInteger(pid) && pid > 0) return pid;
    }
  } catch {
    // Best effort: the message says less.
  }
  return undefined;
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
 * excludes a second runtime in the same process. Node has no flock of its own.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = path.join(dataDir, 'runtime.lock');
  const db = new Database(file);
  try {
    fs.chmodSync(file, 0o600);
    db.pragma('busy_timeout = 0');
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
  } catch (error) {
    db.close();
    if ((error as { code?: unknown }).code !== 'SQLITE_BUSY') throw error;
    const holder = findLockHolder(file);
    throw new RuntimeError(
      'conflict',
      `data dir ${dataDir} is in use by another execgo-runtime${holder === undefined ? '' : ` (pid ${holder})`}; one data dir serves one runtime`,
    );
  }
  return { release: () => db.close() };
}
