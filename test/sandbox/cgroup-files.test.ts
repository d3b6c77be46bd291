import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { tryRemoveCgroupDir } from '../../src/sandbox/cgroup-files.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'execgo-cgroup-files-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

describe('tryRemoveCgroupDir', () => {
  it('is true once the directory is gone, whether it removed it or it was already gone', () => {
    const dir = path.join(root, 'empty');
    fs.mkdirSync(dir);
    assert.equal(tryRemoveCgroupDir(dir), true);
    assert.equal(fs.existsSync(dir), false);
    assert.equal(tryRemoveCgroupDir(dir), true);
  });

  it('is false for a directory that cannot go yet (a cgroup with processes is EBUSY)', () => {
    const dir = path.join(root, 'busy');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'member'), '');
    assert.equal(tryRemoveCgroupDir(dir), false);
    assert.equal(fs.existsSync(dir), true);
  });
});
