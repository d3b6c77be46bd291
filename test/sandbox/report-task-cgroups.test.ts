import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { reportTaskCgroups } from '../../src/sandbox/hierarchy-task-cgroups.js';

/** A directory standing in for a cgroup: control files are plain files here. */
function fakeCgroup(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'execgo-fake-cgroup-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

await test('reportTaskCgroups', async (t) => {
  const made: string[] = [];
  const make = (files: Record<string, string>) => {
    const dir = fakeCgroup(files);
    made.push(dir);
    return dir;
  };
  t.after(() => {
    for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
  });

  await t.test('pure v2: oom_kill in memory.events, memory.peak, cpu.stat', () => {
    const dir = make({
      'memory.events': 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n',
      'memory.peak': '67108864\n',
      'cpu.stat': 'usage_usec 1500000\nuser_usec 1200000\nsystem_usec 300000\n',
    });
    assert.deepEqual(reportTaskCgroups([dir]), {
      oomKilled: true,
      memoryPeakBytes: 67108864,
      userCpuMs: 1200,
      systemCpuMs: 300,
    });
  });

  await t.test('hybrid: unified cpu.stat for CPU, v1 memory for OOM and peak', () => {
    const unified = make({ 'cpu.stat': 'usage_usec 10\nuser_usec 7000\nsystem_usec 3000\n' });
    const memory = make({
      'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n',
      'memory.max_usage_in_bytes': '1048576\n',
    });
    assert.deepEqual(reportTaskCgroups([unified, memory]), {
      oomKilled: false,
      memoryPeakBytes: 1048576,
      userCpuMs: 7,
      systemCpuMs: 3,
    });
  });

  await t.test('v1 only: cpuacct in nanoseconds', () => {
    const cpuacct = make({
      'cpuacct.usage_user': '2000000000\n',
      'cpuacct.usage_sys': '5000000\n',
    });
    assert.deepEqual(reportTaskCgroups([cpuacct]), {
      oomKilled: false,
      userCpuMs: 2000,
      systemCpuMs: 5,
    });
  });

  await t.test('the placement says which directory holds memory: others are not read', () => {
    const unified = make({
      'cpu.stat': 'usage_usec 10\nuser_usec 4000\nsystem_usec 1000\n',
      'memory.events': 'oom_kill 1\n',
      'memory.peak': '4096\n',
    });
    assert.deepEqual(
      reportTaskCgroups([unified], () => false),
      { oomKilled: false, userCpuMs: 4, systemCpuMs: 1 },
    );
  });

  await t.test('no cgroups: nothing to report', () => {
    assert.equal(reportTaskCgroups([]), undefined);
  });
});
