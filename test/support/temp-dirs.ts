import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Temporary directories made by this test file's process. They are removed when the process
 * exits, unless a test failed (`process.exitCode` set by node:test), when they are kept for
 * inspection and named on stderr. Servers and their tasks are stopped by then (the harness's
 * `stop()`s run in `after` hooks), so nothing writes into them any more.
 */
const made: string[] = [];

process.on('exit', (code) => {
  if (made.length === 0) return;
  if (code !== 0) {
    process.stderr.write(`kept test data dirs for inspection: ${made.join(' ')}\n`);
    return;
  }
  for (const dir of made) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (error) {
      process.stderr.write(`could not remove test data dir ${dir}: ${String(error)}\n`);
    }
  }
});

/** A fresh directory under the system temp dir, removed at exit if every test passed. */
export function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
