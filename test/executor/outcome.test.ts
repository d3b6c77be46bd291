import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyOutcome, type CgroupReport } from '../../src/executor/outcome.js';
import type { ExitRecord } from '../../src/executor/shim-records.js';

const base: ExitRecord = {
  reason: 'exited',
  finishedAtMs: 2,
  startedAtMs: 1,
  pid: 10,
  pgid: 10,
  forcedKill: false,
};
const limits = { wallTimeMs: 1000, cpuTimeSec: 2, memoryBytes: 1 << 20 };

const table: [string, Partial<ExitRecord>, CgroupReport | undefined, string, string | undefined][] =
  [
    ['exit 0', { exitCode: 0 }, undefined, 'success', undefined],
    ['exit 3', { exitCode: 3 }, undefined, 'failed', 'exit_non_zero'],
    ['foreign signal', { exitSignal: 11 }, undefined, 'failed', 'exit_non_zero'],
    [
      'timeout wins over exit',
      { reason: 'timeout', exitSignal: 15 },
      undefined,
      'failed',
      'timeout',
    ],
    ['cancel', { reason: 'cancelled', exitSignal: 15 }, undefined, 'cancelled', 'cancelled'],
    ['idle', { reason: 'idle_timeout', exitSignal: 9 }, undefined, 'failed', 'idle_timeout'],
    [
      'missing program',
      { reason: 'launch_failed', launchErrorStage: 'exec', launchErrno: 2 },
      undefined,
      'failed',
      'launch_failed',
    ],
    [
      'cgroup join failed',
      { reason: 'launch_failed', launchErrorStage: 'cgroup' },
      undefined,
      'failed',
      'sandbox_setup_failed',
    ],
    ['oom kill', { exitSignal: 9 }, { oomKilled: true }, 'failed', 'memory_limit_exceeded'],
    ['SIGXCPU', { exitSignal: 24 }, undefined, 'failed', 'cpu_limit_exceeded'],
    [
      'hard cpu limit SIGKILL',
      { exitSignal: 9, userCpuUs: 2_500_000 },
      undefined,
      'failed',
      'cpu_limit_exceeded',
    ],
    [
      'SIGKILL under cpu limit',
      { exitSignal: 9, userCpuUs: 100 },
      undefined,
      'failed',
      'exit_non_zero',
    ],
    ['log cap SIGXFSZ', { exitSignal: 25 }, undefined, 'failed', 'resource_limit_exceeded'],
  ];

describe('classifyOutcome', () => {
  for (const [name, record, cgroup, status, code] of table)
    it(name, () => {
      const outcome = classifyOutcome({ ...base, ...record }, limits, cgroup);
      assert.equal(outcome.status, status);
      assert.equal(outcome.error?.code, code);
    });

  it('keeps exit facts on failures', () => {
    const outcome = classifyOutcome({ ...base, exitSignal: 9 }, limits, undefined);
    assert.equal(outcome.exitSignal, 9);
    assert.match(outcome.error?.message ?? '', /SIGKILL/);
  });
});
