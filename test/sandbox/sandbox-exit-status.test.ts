import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { ExitRecord } from '../../src/executor/shim-records.js';
import {
  applySandboxExitStatus,
  parseSandboxStatus,
  resolveSandboxStatusPath,
} from '../../src/sandbox/sandbox-exit-status.js';

const BASE: ExitRecord = { reason: 'exited', finishedAtMs: 1, forcedKill: false };

function withStatus(text: string | undefined, record: ExitRecord): ExitRecord {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'execgo-status-'));
  try {
    if (text !== undefined) fs.writeFileSync(resolveSandboxStatusPath(dir), text);
    return applySandboxExitStatus(record, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await test('parseSandboxStatus', () => {
  assert.deepEqual(parseSandboxStatus('exit_signal=24\n'), { exitSignal: 24 });
  assert.deepEqual(parseSandboxStatus('exit_code=3\n'), { exitCode: 3 });
  for (const bad of ['', 'exit_signal=\n', 'exit_signal=9\nexit_code=1\n', 'garbage'])
    assert.equal(parseSandboxStatus(bad), undefined);
});

await test('applySandboxExitStatus', async (t) => {
  await t.test('restores the signal when the report agrees with bwrap (128+N)', () => {
    const fixed = withStatus('exit_signal=24\n', { ...BASE, exitCode: 152 });
    assert.equal(fixed.exitSignal, 24);
    assert.equal(fixed.exitCode, undefined);
  });
  await t.test('keeps a real exit code that merely looks like 128+N', () => {
    assert.deepEqual(withStatus('exit_code=139\n', { ...BASE, exitCode: 139 }), {
      ...BASE,
      exitCode: 139,
    });
  });
  await t.test('ignores a report that disagrees with bwrap, or none at all', () => {
    assert.deepEqual(withStatus('exit_signal=9\n', { ...BASE, exitCode: 1 }), {
      ...BASE,
      exitCode: 1,
    });
    assert.deepEqual(withStatus(undefined, { ...BASE, exitCode: 137 }), { ...BASE, exitCode: 137 });
    assert.deepEqual(withStatus('', { ...BASE, exitCode: 137 }), { ...BASE, exitCode: 137 });
  });
  await t.test('leaves a record that already has a signal alone', () => {
    assert.deepEqual(withStatus('exit_signal=15\n', { ...BASE, exitSignal: 9 }), {
      ...BASE,
      exitSignal: 9,
    });
  });
});
