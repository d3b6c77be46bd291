import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeLaunchSpec, type LaunchSpec } from '../../src/executor/launch-spec.js';
import { parseExitRecord, parseStartRecord } from '../../src/executor/shim-records.js';

describe('shim records', () => {
  it('parses a complete exit record', () => {
    const record = parseExitRecord(
      'version=1\nreason=exited\npid=5\npgid=5\nstarted_at_ms=10\nfinished_at_ms=20\nexit_code=0\nforced_kill=0\nuser_cpu_us=7\nmax_rss_kb=100\n',
    );
    assert.deepEqual(record, {
      reason: 'exited',
      pid: 5,
      pgid: 5,
      startedAtMs: 10,
      finishedAtMs: 20,
      exitCode: 0,
      forcedKill: false,
      userCpuUs: 7,
      maxRssKb: 100,
    });
  });

  it('rejects unknown versions, reasons and incomplete records', () => {
    assert.equal(parseExitRecord('version=2\nreason=exited\nfinished_at_ms=1\n'), undefined);
    assert.equal(parseExitRecord('version=1\nreason=odd\nfinished_at_ms=1\n'), undefined);
    assert.equal(parseExitRecord('version=1\nreason=exited\n'), undefined);
  });

  it('rejects an exit without its code or signal (a damaged record, not an unknown status)', () => {
    for (const reason of ['exited', 'timeout', 'cancelled'])
      assert.equal(
        parseExitRecord(`version=1\nreason=${reason}\npid=5\nfinished_at_ms=1\nexit_code=4x2\n`),
        undefined,
      );
    // Cancelled at the gate: the program never ran, so there is no status to have.
    assert.equal(
      parseExitRecord('version=1\nreason=cancelled\nfinished_at_ms=1\n')?.reason,
      'cancelled',
    );
    assert.equal(
      parseExitRecord('version=1\nreason=exited\nfinished_at_ms=1\nexit_signal=9\n')?.exitSignal,
      9,
    );
  });

  it('parses a launch failure', () => {
    const record = parseExitRecord(
      'version=1\nreason=launch_failed\nfinished_at_ms=3\nlaunch_error_stage=exec\nlaunch_errno=2\nlaunch_error=No such file or directory\n',
    );
    assert.equal(record?.launchErrorStage, 'exec');
    assert.equal(record?.launchError, 'No such file or directory');
  });

  it('parses a start record', () => {
    assert.deepEqual(parseStartRecord('version=1\npid=9\npgid=9\nstarted_at_ms=4\n'), {
      pid: 9,
      pgid: 9,
      startedAtMs: 4,
    });
    assert.equal(parseStartRecord('version=1\npid=9\n'), undefined);
  });
});

describe('launch spec encoding', () => {
  const spec: LaunchSpec = {
    taskId: 't',
    exe: 'sh',
    argv: ['sh', '-c', 'echo a=b\nc'],
    env: { PATH: '/bin', X: 'y=z' },
    cwd: '/w',
    stdoutPath: '/o',
    stderrPath: '/e',
    startRecordPath: '/s',
    exitRecordPath: '/x',
    notifyDir: '/n',
    wallMs: 5,
    graceMs: 1,
    noNewPrivs: true,
    cgroupDirs: ['/cg'],
    signalMode: 'group',
    durable: false,
  };

  it('writes NUL-terminated key=value entries, values verbatim', () => {
    const entries = encodeLaunchSpec(spec).toString().split('\0');
    assert.equal(entries.at(-1), '');
    assert.ok(entries.includes('arg=echo a=b\nc'));
    assert.ok(entries.includes('env=X=y=z'));
    assert.ok(entries.includes('cgroup=/cg'));
    assert.equal(entries[0], 'task_id=t');
  });

  it('refuses NUL in a value', () => {
    assert.throws(() => encodeLaunchSpec({ ...spec, argv: ['a\0b'] }));
  });
});
