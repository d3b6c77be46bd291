import path from 'node:path';
import type { ExitRecord } from '../executor/shim-records.js';
import { readTaskFileHead } from '../store/open-task-file.js';

/** File (in the task dir) where `execgo-shim --sandbox-init` writes the program's real status. */
export const SANDBOX_STATUS_FILE = 'sandbox-status';

/** Path of a task's sandbox status file. */
export function resolveSandboxStatusPath(taskDir: string): string {
  return path.join(taskDir, SANDBOX_STATUS_FILE);
}

/** Longer than any status the init writes (`exit_signal=NNN\n`); only this much is read. */
const SANDBOX_STATUS_MAX_BYTES = 32;

/** Parses `exit_code=N` / `exit_signal=N`. Pure. */
export function parseSandboxStatus(
  text: string,
): { exitCode: number } | { exitSignal: number } | undefined {
  const match = /^exit_(code|signal)=(\d{1,3})\n?$/.exec(text);
  if (match === null) return undefined;
  const value = Number(match[2]);
  return match[1] === 'code' ? { exitCode: value } : { exitSignal: value };
}

/**
 * bubblewrap turns "killed by signal N" into exit 128+N. When the sandbox init reported the
 * real status and it agrees with what bwrap returned, the record gets the real signal back.
 * Anything that does not agree (a task scribbling on the file, a killed init) is ignored and
 * the shim's record stands. Pure apart from reading the file, which the sandboxed task owns
 * and may have grown, leased or replaced: it is read as an untrusted task file, 32 bytes at
 * most (a larger one does not parse and is ignored).
 */
export function applySandboxExitStatus(record: ExitRecord, taskDir: string): ExitRecord {
  // Only 128+N can be a signal death in disguise; anything else needs no file read.
  if (record.exitCode === undefined || record.exitCode <= 128) return record;
  const text = readTaskFileHead(resolveSandboxStatusPath(taskDir), SANDBOX_STATUS_MAX_BYTES);
  if (text === undefined) return record;
  const status = parseSandboxStatus(text);
  if (status === undefined || !('exitSignal' in status)) return record;
  if (record.exitCode !== 128 + status.exitSignal) return record;
  const { exitCode: _bwrapCode, ...rest } = record;
  return { ...rest, exitSignal: status.exitSignal };
}
