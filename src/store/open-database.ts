import fs from 'node:fs';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

export type SqliteDatabase = Database.Database;

/**
 * How long a statement waits for a lock another process holds (an operator's `sqlite3`, a
 * backup) before it fails with SQLITE_BUSY. The WAL checkpointer is this process's only other
 * connection, and it never blocks writers.
 */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens `runtime.db` in WAL mode and applies pending migrations in one transaction each.
 * `durable` trades latency for surviving power loss (synchronous=FULL); WAL with NORMAL
 * already survives a process crash, which is the failure this runtime must always survive.
 */
export function openDatabase(file: string, options: { durable: boolean }): SqliteDatabase {
  const db = new Database(file);
  restrictToOwner(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.durable ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const applied = db.pragma('user_version', { simple: true }) as number;
  for (let index = applied; index < MIGRATIONS.length; index++) {
    const sql = MIGRATIONS[index] ?? '';
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${index + 1}`);
    })();
  }
  for (const suffix of ['-wal', '-shm']) restrictToOwner(`${file}${suffix}`);
  return db;
}

/**
 * The database holds every task's request (environment values included): readable by the
 * runtime's user only. SQLite gives the -wal and -shm files the database file's mode when it
 * creates them; ones left by an older version are tightened too.
 */
function restrictToOwner(file: string): void {
  try {
    fs.chmodSync(file, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
