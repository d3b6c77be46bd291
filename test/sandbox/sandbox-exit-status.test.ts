import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
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

// The sandboxed task owns its status file: whatever it does to it must not stall the server.
await test('a status file the task turned against the server is ignored at once', async (t) => {
  await t.test('grown to 1 GiB (sparse) behind a valid status: only its head is read', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'execgo-status-'));
    try {
      const file = resolveSandboxStatusPath(dir);
      fs.writeFileSync(file, 'exit_signal=9\n');
      fs.truncateSync(file, 1024 ** 3);
      const rssBefore = process.memoryUsage().rss;
      assert.deepEqual(applySandboxExitStatus({ ...BASE, exitCode: 137 }, dir), {
        ...BASE,
        exitCode: 137,
      });
      // A whole read would have needed the GiB (and failed as a string).
      assert.ok(process.memoryUsage().rss - rssBefore < 64 * 1024 ** 2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  await t.test(
    'under a write lease held elsewhere: not opened, no wait for the lease break',
    async (t) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'execgo-status-'));
      const file = resolveSandboxStatusPath(dir);
      fs.writeFileSync(file, 'exit_signal=24\n');
      // Node cannot take a lease; python3 (a node-gyp requirement) can.
      const holder = spawn(
        'python3',
        [
          '-c',
          'import fcntl,os,sys,time\n' +
            'fd=os.open(sys.argv[1],os.O_RDONLY)\n' +
            'fcntl.fcntl(fd,fcntl.F_SETLEASE,fcntl.F_WRLCK)\n' +
            'print("leased",flush=True)\n' +
            'time.sleep(120)',
          file,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      try {
        const [line] = (await once(holder.stdout, 'data')) as [Buffer];
        if (line.toString().trim() !== 'leased') {
          t.skip('python3 could not take a lease here');
          return;
        }
        // Before: the open blocked for lease-break-time (45 s), then read the status.
        assert.deepEqual(applySandboxExitStatus({ ...BASE, exitCode: 152 }, dir), {
          ...BASE,
          exitCode: 152,
        });
      } finally {
        holder.kill('SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
