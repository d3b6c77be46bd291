// Worker thread of WalCheckpointer: its own connection to runtime.db, checkpointing the WAL
// on a timer so that the server's event loop never runs a checkpoint (docs/performance.md).
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

interface CheckpointWorkerData {
  file: string;
  durable: boolean;
  intervalMs: number;
}

const { file, durable, intervalMs } = workerData as CheckpointWorkerData;
const db = new Database(file);
// The checkpoint syncs the WAL before copying it and the database after, as the server's own
// checkpoints did; OFF would skip both.
db.pragma(`synchronous = ${durable ? 'FULL' : 'NORMAL'}`);
db.pragma('busy_timeout = 5000');
// PASSIVE: copy what no reader still needs, never wait for or block the server's writes.
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
setInterval(() => checkpoint.run(), intervalMs);
parentPort?.postMessage('ready');
