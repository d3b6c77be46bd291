import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { SqliteDatabase } from './open-database.js';

/** SQLite's default, restored on the server's own connection if the worker is gone. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

/**
 * The server's own checkpoint, with the worker running. Under a steady load the worker's
 * checkpoints never end with the WAL fully copied (the server commits while they run), and
 * only a writer that finds it fully copied starts the WAL over: without this the WAL grew by
 * ~100 MiB per 1,000 tasks. The server's checkpoint at 4,000 pages finds nearly everything
 * copied already and costs it one small copy and the fsyncs, every ~150 tasks.
 */
const SERVER_AUTOCHECKPOINT_PAGES = 4000;

/** Checkpoints the WAL off the event loop; `stop` before closing the database. */
export interface WalCheckpointer {
  stop(): Promise<void>;
}

/**
 * Moves SQLite's WAL checkpoints off the event loop. With the default auto-checkpoint the
 * commit that crosses 1,000 WAL pages (every ~38 tasks here) copies them into the database
 * and fsyncs it, stalling every request for ~5 ms: the sequential p99. A worker thread with
 * its own connection checkpoints on a timer instead (PASSIVE: it never blocks a write), and
 * the server's connection stops checkpointing. Should the worker fail, the server's
 * connection checkpoints again as before. Checkpoints are maintenance, not durability: the
 * WAL holds every commit until it is copied, so nothing here changes what a crash keeps.
 */
export function startWalCheckpointer(
  db: SqliteDatabase,
  options: {
    file: string;
    durable: boolean;
    intervalMs: number;
    logger: Logger;
    /** The worker's script (tests substitute one that fails). */
    workerScript?: URL;
  },
): WalCheckpointer {
  const script = options.workerScript ?? new URL('./wal-checkpoint-worker.js', import.meta.url);
  const worker = new Worker(script, {
    workerData: { file: options.file, durable: options.durable, intervalMs: options.intervalMs },
  });
  let stopping = false;
  const fallBack = (reason: string): void => {
    if (stopping || !db.open) return;
    db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    options.logger.warn({ reason }, 'WAL checkpoint worker gone; checkpointing on the server');
  };
  // Only once the worker runs: until then (or if it never starts) the server checkpoints.
  worker.once('message', () => {
    if (!stopping && db.open) db.pragma(`wal_autocheckpoint = ${SERVER_AUTOCHECKPOINT_PAGES}`);
  });
  worker.on('error', (error) => fallBack(error.message));
  worker.on('exit', (code) => fallBack(`exited (${code})`));
  worker.unref();
  return {
    async stop() {
      stopping = true;
      await worker.terminate();
      if (db.open) db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    },
  };
}
