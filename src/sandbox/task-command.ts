import type { ExecutionPlan } from '../contract/task-status.js';
import type { ExecutionSpec } from '../core/task-spec.js';
import type { SandboxIdentity } from './sandbox-identities.js';

/** The final program to exec for a task, before any sandbox wrapper. */
export interface ProgramInvocation {
  exe: string;
  argv: string[];
  /** The complete environment of the final exec. */
  env: Record<string, string>;
}

/** What the shim actually runs: possibly a sandbox wrapper around the program. */
export interface WrappedInvocation extends ProgramInvocation {
  signalMode: 'group' | 'cgroup';
  noNewPrivs: boolean;
}

/**
 * Builds the program invocation for a task: a command as given, a script through its
 * interpreter (script file path appended), or `/bin/sh -c <script>` without one.
 * The environment is the runtime's minimal base (PATH, HOME, LANG, TMPDIR, USER when set)
 * with the task's entries on top; nothing else leaks from the server's environment.
 */
export function buildProgramInvocation(
  execution: ExecutionSpec,
  baseEnv: Readonly<Record<string, string>>,
  scriptFile: string | undefined,
): ProgramInvocation {
  const env = { ...baseEnv, ...execution.env };
  if (execution.kind === 'command')
    return { exe: execution.program, argv: [execution.program, ...execution.args], env };
  if (execution.interpreter !== undefined && scriptFile !== undefined) {
    const [exe = '/bin/sh', ...rest] = execution.interpreter;
    return { exe, argv: [exe, ...rest, scriptFile], env };
  }
  return { exe: '/bin/sh', argv: ['/bin/sh', '-c', execution.script], env };
}

/** Paths a sandbox builder needs to know about. */
export interface SandboxPaths {
  taskDir: string;
  workspaceDir: string;
  dataDir: string;
  shimPath: string;
  /** A script task's script file (mode 0700), which the sandbox uid must be able to read. */
  scriptPath?: string;
}

/** Turns a program invocation into what the shim runs under the task's effective plan. */
export interface SandboxBuilder {
  /** `identity`: the uid/gid a linux_sandbox task runs as (its own, see sandbox-identities). */
  wrap(
    program: ProgramInvocation,
    plan: ExecutionPlan,
    paths: SandboxPaths,
    identity?: SandboxIdentity,
  ): WrappedInvocation;
}

/** The `process` profile: no wrapper, own session and group, no_new_privs. */
export const processSandbox: SandboxBuilder = {
  wrap(program) {
    return { ...program, signalMode: 'group', noNewPrivs: true };
  },
};
