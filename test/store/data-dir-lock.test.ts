import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { RuntimeError } from '../../src/core/runtime-error.js';
import { lockDataDir } from '../../src/store/data-dir-lock.js';
import { REPO_ROOT } from '../support/runtime-harness.js';
import { makeTempDir } from '../support/temp-dirs.js';

describe('lockDataDir', () => {
  it('refuses a second holder (in this process too) until the first releases', () => {
    const dir = makeTempDir('execgo-lock-');
    const first = lockDataDir(dir);
    assert.throws(
      () => lockDataDir(dir),
      (error: unknown) =>
        error instanceof RuntimeError &&
        error.code === 'conflict' &&
        error.message.includes(`(pid ${process.pid})`),
    );
    first.release();
    const second = lockDataDir(dir);
    second.release();
  });

  it('locks data dirs independently', () => {
    const a = lockDataDir(makeTempDir('execgo-lock-'));
    const b = lockDataDir(makeTempDir('execgo-lock-'));
    a.release();
    b.release();
  });

  it('refuses a data dir whose database another process has open, even with the lock file gone', async () => {
    const dir = makeTempDir('execgo-lock-');
    // What a running server looks like once someone deleted its runtime.lock: a process with
    // runtime.db open in WAL mode (and so a lock on runtime.db-shm).
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const db = new (require('better-sqlite3'))(${JSON.stringify(path.join(dir, 'runtime.db'))}); db.pragma('journal_mode = WAL'); db.exec('CREATE TABLE IF NOT EXISTS t (x)'); db.prepare('SELECT count(*) FROM t').get(); console.log('ready'); setInterval(() => {}, 1000);`,
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise((resolve) => holder.stdout.once('data', resolve));
      assert.throws(
        () => lockDataDir(dir),
        (error: unknown) =>
          error instanceof RuntimeError &&
          error.code === 'conflict' &&
          error.message.includes(`(pid ${holder.pid ?? 0}, which has runtime.db open)`),
      );
    } finally {
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.once('exit', resolve));
    }
    lockDataDir(dir).release();
  });

  it('refuses a symlinked lock file, and names a lock file that is not a database', () => {
    const dir = makeTempDir('execgo-lock-');
    fs.symlinkSync('/etc/passwd', path.join(dir, 'runtime.lock'));
    assert.throws(() => lockDataDir(dir), /runtime\.lock is a symbolic link/);
    fs.rmSync(path.join(dir, 'runtime.lock'));
    fs.writeFileSync(path.join(dir, 'runtime.lock'), 'x'.repeat(4096));
    assert.throws(() => lockDataDir(dir), /runtime\.lock: file is not a database/);
  });
});
