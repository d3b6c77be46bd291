import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
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
});
