import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RuntimeError } from '../../src/core/runtime-error.js';
import { lockDataDir } from '../../src/store/data-dir-lock.js';
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
});
