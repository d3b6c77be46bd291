import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load-config.js';
import type { SubmitTaskRequest } from '../../src/contract/task-request.js';
import type { TaskRecord } from '../../src/core/task-record.js';
import {
  buildLaunchSpec,
  cgroupLimitsOf,
  type LaunchSpecContext,
} from '../../src/executor/build-launch-spec.js';
import type { CreatedCgroups } from '../../src/sandbox/task-cgroups.js';
import { processSandbox } from '../../src/sandbox/task-command.js';
import { resolveTaskPaths } from '../../src/store/task-paths.js';
import { FULL_CAPABILITIES } from '../support/host-fixtures.js';
import { makeTaskRecord } from '../support/task-records.js';

const config = loadConfig(
  { dataDir: '/data', shimPath: '/opt/execgo-shim', durable: true },
  { PATH: '/usr/bin:/bin', HOME: '/root', SECRET_TOKEN: 'must-not-leak' },
);
const context: LaunchSpecContext = { config, sandbox: processSandbox, notifyDir: undefined };
const NO_CGROUPS: CreatedCgroups = { dirs: [], memoryLimited: false };

function record(request: Partial<SubmitTaskRequest>): TaskRecord {
  return makeTaskRecord({ task_id: 't-1', ...request }, { status: 'running' });
}

function build(task: TaskRecord, cgroups = NO_CGROUPS, notifyDir?: string) {
  const paths = resolveTaskPaths('/data/tasks', task.taskId);
  return buildLaunchSpec({ ...context, notifyDir }, task, {
    paths,
    cwd: paths.workspaceRoot,
    cgroups,
    identity: undefined,
  });
}

test('a command runs as given, with the base environment and its own entries only', () => {
  const spec = build(
    record({ execution: { kind: 'command', program: 'echo', args: ['a b'], env: { X: '1' } } }),
  );
  assert.equal(spec.exe, 'echo');
  assert.deepEqual(spec.argv, ['echo', 'a b']);
  assert.equal(spec.env.X, '1');
  assert.equal(spec.env.PATH, '/usr/bin:/bin');
  assert.equal(spec.env.SECRET_TOKEN, undefined);
  assert.equal(spec.cwd, '/data/tasks/t-1/workspace');
  assert.equal(spec.signalMode, 'group');
  assert.equal(spec.noNewPrivs, true);
  assert.equal(spec.durable, true);
});

test('a script with an interpreter gets its script file as the last argument', () => {
  const spec = build(
    record({ execution: { kind: 'script', script: 'print(1)', interpreter: ['python3', '-u'] } }),
  );
  assert.equal(spec.exe, 'python3');
  assert.equal(spec.argv.length, 3);
  assert.deepEqual(spec.argv.slice(0, 2), ['python3', '-u']);
  assert.match(spec.argv[2] ?? '', /^\/data\/tasks\/t-1\//);
});

test('stdin is passed as a file only when the request has stdin', () => {
  assert.equal(build(record({})).stdinPath, undefined);
  const withStdin = build(
    record({ execution: { kind: 'command', program: 'cat', stdin: 'hello' } }),
  );
  assert.equal(withStdin.stdinPath, '/data/tasks/t-1/stdin');
});

test('RLIMIT_AS stands in for a memory limit only when no cgroup enforces it', () => {
  const limited = record({ limits: { memory_bytes: 64 * 1024 * 1024, cpu_time_sec: 3 } });
  const withRlimit = build(limited);
  assert.equal(withRlimit.rlimitAsBytes, 64 * 1024 * 1024);
  assert.equal(withRlimit.rlimitCpuSec, 3);
  const withCgroup = build(limited, { dirs: ['/sys/fs/cgroup/t-1'], memoryLimited: true });
  assert.equal(withCgroup.rlimitAsBytes, undefined);
  assert.deepEqual(withCgroup.cgroupDirs, ['/sys/fs/cgroup/t-1']);
});

test('notify files are asked for only by shims the spawner did not start', () => {
  assert.equal(build(record({})).notifyDir, undefined);
  assert.equal(build(record({}), NO_CGROUPS, '/data/notify').notifyDir, '/data/notify');
});

test("a sandboxed task's pids limit makes room for the sandbox's own processes", () => {
  const sandboxed = makeTaskRecord(
    {
      task_id: 't-2',
      sandbox: { profile: 'linux_sandbox' },
      limits: { pids_max: 5, memory_bytes: 32 * 1024 * 1024 },
    },
    { host: FULL_CAPABILITIES, status: 'running' },
  );
  // bwrap, its pid 1 in the pid namespace, and the sandbox init.
  assert.deepEqual(cgroupLimitsOf(sandboxed), {
    enforce: true,
    memoryBytes: 32 * 1024 * 1024,
    pidsMax: 8,
  });
  // A process-profile task's cgroup only tracks its tree.
  assert.equal(cgroupLimitsOf(record({ limits: { pids_max: 5 } })).pidsMax, undefined);
});
