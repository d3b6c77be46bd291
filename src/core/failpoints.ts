/**
 * Deterministic crash injection for the crash-safety tests. Configured by
 * `EXECGO_RUNTIME_FAILPOINTS=name[,name...]`; hitting a named point SIGKILLs this process,
 * exactly as a power cut or OOM kill would, in the middle of the window under test.
 */
export const FAILPOINT_NAMES = [
  'after-submit-commit',
  'after-reserve-commit',
  'after-shim-spawn',
  'after-gate-recorded',
  'after-kill-recorded',
  'after-exit-observed',
  'after-result-written',
  'after-terminal-commit',
] as const;
export type FailpointName = (typeof FAILPOINT_NAMES)[number];

export class Failpoints {
  private readonly armed: ReadonlySet<string>;

  constructor(spec: string | undefined) {
    this.armed = new Set(
      (spec ?? '')
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== ''),
    );
  }

  /** Crashes the process if `name` is armed. */
  hit(name: FailpointName): void {
    if (this.armed.has(name)) process.kill(process.pid, 'SIGKILL');
  }
}
