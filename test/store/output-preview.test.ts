import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { readLogSlice } from '../../src/service/log-reader.js';
import { readOutputPreview } from '../../src/store/output-preview.js';
import { makeTempDir } from '../support/temp-dirs.js';

describe('readOutputPreview', () => {
  const dir = makeTempDir('execgo-preview-');
  const file = path.join(dir, 'out.log');

  it('returns the head and marks truncation while the file stays whole', () => {
    fs.writeFileSync(file, 'abcdef');
    assert.deepEqual(readOutputPreview(file, 4), { text: 'abcd', truncated: true, totalBytes: 6 });
    assert.deepEqual(readOutputPreview(file, 6), {
      text: 'abcdef',
      truncated: false,
      totalBytes: 6,
    });
    assert.equal(fs.statSync(file).size, 6);
  });

  it('does not open a finished log whose size is known to be zero', () => {
    fs.writeFileSync(file, 'late');
    assert.deepEqual(readOutputPreview(file, 10, 0), { text: '', truncated: false, totalBytes: 0 });
    assert.deepEqual(readOutputPreview(file, 10, 4), {
      text: 'late',
      truncated: false,
      totalBytes: 4,
    });
  });

  it('never splits a multi-byte character at the cap', () => {
    fs.writeFileSync(file, 'aé€😀');
    for (let cap = 1; cap <= 10; cap++)
      assert.ok(!readOutputPreview(file, cap).text.includes('\uFFFD'), `cap ${cap}`);
  });

  it('replaces invalid UTF-8 lossily', () => {
    fs.writeFileSync(file, Buffer.from([0x61, 0xff, 0x62]));
    assert.equal(readOutputPreview(file, 100).text, 'a\uFFFDb');
  });

  it('reads a missing file as empty', () => {
    assert.deepEqual(readOutputPreview(path.join(dir, 'none'), 10), {
      text: '',
      truncated: false,
      totalBytes: 0,
    });
  });

  it('reads a log replaced by a symlink or a FIFO as empty: never followed, never blocking', () => {
    const secret = path.join(dir, 'secret');
    fs.writeFileSync(secret, 'not the task output');
    const link = path.join(dir, 'linked.log');
    fs.symlinkSync(secret, link);
    const empty = { text: '', truncated: false, totalBytes: 0 };
    assert.deepEqual(readOutputPreview(link, 100), empty);
    const fifo = path.join(dir, 'fifo.log');
    execFileSync('mkfifo', [fifo]);
    assert.deepEqual(readOutputPreview(fifo, 100), empty);
    assert.equal(readLogSlice(link, { kind: 'range', offset: 0, limit: 100 }).totalBytes, 0);
  });
});
