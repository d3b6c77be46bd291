import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { RuntimeError } from '../core/runtime-error.js';
import type { ProcessIdentity } from '../core/task-record.js';
import { captureIdentity } from './process-identity.js';

/** A started shim waiting at its gate. */
export interface GatedShim {
  identity: ProcessIdentity;
  /** Lets the shim start the program. Call only after the identity is durably recorded. */
  open(): void;
  /** Closes the gate without opening it: the shim exits and leaves no trace. */
  abort(): void;
}

/**
 * Starts one shim per task through Node's spawn. The shim is detached (own session, not in
 * the server's process group) and its stdin is the gate pipe; stderr goes to shim.log.
 * `onExit` reports the shim's own exit so a shim that died is noticed at once.
 */
export function spawnGatedShim(
  shimPath: string,
  specPath: string,
  shimLogPath: string,
  onExit: (code: number | null, signal: NodeJS.Signals | null) => void,
): GatedShim {
  const logFd = fs.openSync(shimLogPath, 'a', 0o640);
  let child: ChildProcess;
  try {
    child = spawn(shimPath, [specPath], {
      detached: true,
      stdio: ['pipe', 'ignore', logFd],
      env: {},
    });
  } finally {
    fs.closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined)
    throw new RuntimeError('launch_failed', `could not start the supervisor ${shimPath}`);
  child.on('exit', onExit);
  child.on('error', () => undefined);
  child.stdin?.on('error', () => undefined);
  child.unref();
  const identity = captureIdentity(pid);
  if (identity === undefined) {
    child.stdin?.destroy();
    throw new RuntimeError('launch_failed', 'the supervisor exited before it could be recorded');
  }
  return {
    identity,
    open: () => {
      child.stdin?.end('G');
    },
    abort: () => {
      child.stdin?.destroy();
    },
  };
}
