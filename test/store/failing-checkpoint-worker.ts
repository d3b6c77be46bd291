// A checkpoint worker that starts, reports ready, and then dies of an uncaught error: the
// server must take checkpointing back (wal-checkpointer.test.ts).
import { parentPort } from 'node:worker_threads';

parentPort?.postMessage('ready');
setTimeout(() => {
  throw new Error('the checkpoint worker fails on purpose');
}, 100);
