import type { RuntimeConfig } from '../config/runtime-config.js';
import type { TaskRecord } from '../core/task-record.js';
import { sandboxBaseEnv, sandboxOwnProcesses } from '../sandbox/bwrap-argv.js';
import type { SandboxIdentity } from '../sandbox/sandbox-identities.js';
import type { CgroupLimits, CreatedCgroups } from '../sandbox/task-cgroups.js';
import { buildProgramInvocation, type SandboxBuilder } from '../sandbox/task-command.js';
import { scriptPath, type TaskPaths } from '../store/task-paths.js';
import type { LaunchSpec } from './launch-spec.js';

/** What a launch spec is built with, besides the task. */
export interface LaunchSpecContext {
  config: RuntimeConfig;
  sandbox: SandboxBuilder;
  /**
   * Where the shim drops its notify files; undefined for shims started by the spawner, which
   * are its children: their exit reaches the server over its pipe at once, and a start record
   * is read then or by the sweep. Notify files would cost two file creations, two unlinks and
   * four inotify wake-ups per task.
   */
  notifyDir: string | undefined;
}

/** Where the task runs: its prepared workspace, its cgroups, its sandbox uid (if any). */
export interface LaunchPlacement {
  paths: TaskPaths;
  cwd: string;
  cgroups: CreatedCgroups;
  identity: SandboxIdentity | undefined;
}

/**
 * The shim's launch spec for a task: the program (wrapped by the sandbox of its effective
 * plan), its files, its limits and how to signal it. Pure: reads and writes nothing.
 */
export function buildLaunchSpec(
  context: LaunchSpecContext,
  record: TaskRecord,
  placement: LaunchPlacement,
): LaunchSpec {
  const { config } = context;
  const { spec, plan } = record;
  const { paths, cwd, cgroups, identity } = placement;
  const script =
    spec.execution.kind === 'script'
      ? scriptPath(paths.taskDir, spec.execution.interpreter)
      : undefined;
  const baseEnv =
    plan.effective_sandbox.profile === 'linux_sandbox'
      ? sandboxBaseEnv(config.childBaseEnv, plan.effective_sandbox, cwd)
      : config.childBaseEnv;
  const program = buildProgramInvocation(spec.execution, baseEnv, script);
  const wrapped = context.sandbox.wrap(
    program,
    plan,
    {
      taskDir: paths.taskDir,
      workspaceDir: cwd,
      dataDir: config.dataDir,
      shimPath: config.shimPath,
      ...(script === undefined ? {} : { scriptPath: script }),
    },
    identity,
  );
  const enforcement = plan.resource_enforcement;
  return {
    taskId: record.taskId,
    exe: wrapped.exe,
    argv: wrapped.argv,
    env: wrapped.env,
    cwd,
    ...(spec.execution.stdin === undefined ? {} : { stdinPath: paths.stdinPath }),
    stdoutPath: paths.stdoutPath,
    stderrPath: paths.stderrPath,
    startRecordPath: paths.startRecordPath,
    exitRecordPath: paths.exitRecordPath,
    ...(context.notifyDir === undefined ? {} : { notifyDir: context.notifyDir }),
    wallMs: spec.limits.wall_time_ms,
    ...(spec.limits.idle_timeout_ms === undefined ? {} : { idleMs: spec.limits.idle_timeout_ms }),
    graceMs: config.terminationGraceMs,
    ...(enforcement.cpu_time_enforced && spec.limits.cpu_time_sec !== undefined
      ? { rlimitCpuSec: spec.limits.cpu_time_sec }
      : {}),
    // With a cgroup memory limit, RLIMIT_AS is left off: it counts address space, not
    // memory, and would make allocations fail long before the real limit (and its OOM
    // verdict) is reached.
    ...(enforcement.memory_enforced &&
    spec.limits.memory_bytes !== undefined &&
    !cgroups.memoryLimited
      ? { rlimitAsBytes: spec.limits.memory_bytes }
      : {}),
    rlimitFsizeBytes: spec.limits.log_max_bytes,
    noNewPrivs: wrapped.noNewPrivs,
    cgroupDirs: cgroups.dirs,
    signalMode: wrapped.signalMode,
    durable: config.durable,
  };
}

/**
 * The limits of a task's cgroups. Its pids limit counts the program's processes, so the
 * sandbox's own (bwrap and its init) are added on top.
 */
export function cgroupLimitsOf(record: TaskRecord): CgroupLimits {
  const { limits } = record.spec;
  const enforcement = record.plan.resource_enforcement;
  return {
    enforce: enforcement.cgroup_enforced,
    ...(limits.memory_bytes === undefined ? {} : { memoryBytes: limits.memory_bytes }),
    ...(enforcement.pids_enforced && limits.pids_max !== undefined
      ? { pidsMax: limits.pids_max + sandboxOwnProcesses(record.plan.effective_sandbox) }
      : {}),
  };
}
