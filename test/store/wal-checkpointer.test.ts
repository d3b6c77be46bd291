import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { openDatabase } from '../../src/store/open-database.js';
import { startWalCheckpointer } from '../../src/store/wal-checkpointer.js';
import { eventually } from '../support/runtime-harness.js';

const logger = pino({ level: 'silent' });

function openScratch(): { db: ReturnType<typeof openDatabase>; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'execgo-wal-'));
  const file = path.join(dir, 'runtime.db');
  const db = openDatabase(file, { durable: false });
  db.exec('CREATE TABLE scratch (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)');
  return { db, file };
}

function autocheckpoint(db: ReturnType<typeof openDatabase>): number {
  return db.pragma('wal_autocheckpoint', { simple: true }) as number;
}

/** `count` commits of `bytes` each. */
function commitMany(db: ReturnType<typeof openDatabase>, count: number, bytes = 4096): void {
  const insert = db.prepare('INSERT INTO scratch (payload) VALUES (?)');
  for (let i = 0; i < count; i++) insert.run(Buffer.alloc(bytes, i % 251));
}

/**
 * A scratch database with a checkpointer (its worker script substituted if given), removed
 * after the test; resolves once the worker has taken over.
 */
async function startScratch(
  t: TestContext,
  workerScript?: URL,
): Promise<{
  db: ReturnType<typeof openDatabase>;
  file: string;
  checkpointer: ReturnType<typeof startWalCheckpointer>;
}> {
  const { db, file } = openScratch();
  const checkpointer = startWalCheckpointer(db, {
    file,
    durable: false,
    intervalMs: 20,
    logger,
    ...(workerScript === undefined ? {} : { workerScript }),
  });
  t.after(async () => {
    await checkpointer.stop();
    db.close();
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
  await eventually(() => autocheckpoint(db) === 4000, 10_000, 'the worker to take over');
  return { db, file, checkpointer };
}

await test('the worker copies the WAL into runtime.db, the server connection does not', async (t) => {
  const { db, file, checkpointer } = await startScratch(t);
  const before = fs.statSync(file).size;
  // Over 3,000 WAL pages: three times what the server's own checkpoint used to copy at, below
  // what it copies at now. The data reaches runtime.db all the same.
  commitMany(db, 3000);
  await eventually(
    () => fs.statSync(file).size >= before + 3000 * 4096,
    10_000,
    'the worker to copy the WAL into runtime.db',
  );
  await checkpointer.stop();
  assert.equal(autocheckpoint(db), 1000, 'stop hands checkpointing back');
  assert.equal((db.prepare('SELECT count(*) AS n FROM scratch').get() as { n: number }).n, 3000);
});

await test('under steady writes the WAL stays bounded (the server restarts it)', async (t) => {
  const { db, file } = await startScratch(t);
  // ~30,000 WAL pages written without a pause: the worker's checkpoints never find the WAL
  // fully copied, so only the server's own checkpoint at 4,000 pages lets it start over.
  // Unbounded, the WAL file would reach all 30,000 pages. Bounded, it starts over whenever a
  // server checkpoint finds the worker's copy complete: near 4,000 pages on a quiet host, but
  // when the worker's checkpoints keep the server's from running, later (9,009 and 22,561
  // pages were seen under a loaded npm test). How soon is a timing; that it starts over at
  // all is the property, so the bound asserted is below the unbounded size.
  const commits = 30_000;
  commitMany(db, commits, 1024);
  const walPages = fs.statSync(`${file}-wal`).size / 4096;
  assert.ok(walPages < commits * 0.9, `WAL of ${walPages.toFixed(0)} pages`);
  assert.equal((db.prepare('SELECT count(*) AS n FROM scratch').get() as { n: number }).n, commits);
});

await test('a worker that dies hands checkpointing back to the server connection', async (t) => {
  const { db, file } = await startScratch(
    t,
    new URL('./failing-checkpoint-worker.js', import.meta.url),
  );
  await eventually(() => autocheckpoint(db) === 1000, 10_000, 'the server to take over');
  commitMany(db, 1500);
  // The server's own auto-checkpoint copied pages into runtime.db.
  assert.ok(fs.statSync(file).size > 1000 * 4096);
});
