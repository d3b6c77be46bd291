import fs from 'node:fs';
import path from 'node:path';
import type { TaskSpec } from '../core/task-spec.js';
import type { TaskStatusResponse } from '../contract/task-status.js';
import { RuntimeError } from '../core/runtime-error.js';
import { syncDirectory, writeFileAtomic, writeNewFile } from './atomic-file.js';
import { scriptPath, type TaskPaths } from './task-paths.js';

/**
 * Creates `tasks/<id>/` with request.json, empty logs, the script and stdin files. Runs
 * before the row is committed: a crash in between leaves a directory without a row, which
 * start-up cleans; a row never points at missing files.
 */
export function createTaskFiles(
  paths: TaskPaths,
  spec: TaskSpec,
  durable: boolean,
): string | undefined {
  makeFreshDirectory(paths.taskDir);
  fs.mkdirSync(paths.workspaceRoot, { mode: 0o755 });
  writeNewFile(paths.requestPath, `${JSON.stringify(spec, null, 2)}\n`, { durable });
  // Empty logs from the start (the contract's submit step): the status names them as
  // artifacts while the task still waits, and whoever opens them finds them. The shim
  // appends to them (O_APPEND | O_CREAT, the same mode 0640). Empty, they have nothing to
  // fsync; the directory sync below makes their entries durable.
  writeNewFile(paths.stdoutPath, '', { durable: false, mode: 0o640 });
  writeNewFile(paths.stderrPath, '', { durable: false, mode: 0o640 });
  let script: string | undefined;
  if (spec.execution.kind === 'script') {
    script = scriptPath(paths.taskDir, spec.execution.interpreter);
    writeNewFile(script, spec.execution.script, { durable, mode: 0o700 });
  }
  if (spec.execution.stdin !== undefined)
    writeNewFile(paths.stdinPath, spec.execution.stdin, { durable, mode: 0o600 });
  if (durable) {
    syncDirectory(paths.taskDir);
    syncDirectory(path.dirname(paths.taskDir));
  }
  return script;
}

/**
 * Creates an empty directory: the usual case is one mkdir. A leftover of a submission that
 * crashed before its commit (same task id) is removed first. A missing parent (`tasks/`,
 * removed under a running server) is created as start-up creates it, 0700: task dirs are
 * 0755 and their request.json (env values included) 0644, so `tasks/` is what keeps other
 * users out.
 */
function makeFreshDirectory(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o755 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') fs.rmSync(dir, { recursive: true, force: true });
    else if (code === 'ENOENT') fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
    else throw error;
    fs.mkdirSync(dir, { mode: 0o755 });
  }
}

/**
 * Creates the working directory and proves it resolves inside the task directory even
 * through symlinks (a task could plant one in its workspace before a re-run).
 */
export function prepareWorkspace(paths: TaskPaths, subdir: string | undefined): string {
  // The workspace root itself was created with the task directory, before its row; a
  // program that could plant a symlink there has run, and such a task is never launched
  // again (recovery re-runs only tasks whose gate never opened).
  if (subdir === undefined) return paths.workspaceRoot;
  const target = path.join(paths.workspaceRoot, subdir);
  fs.mkdirSync(target, { recursive: true, mode: 0o755 });
  const real = fs.realpathSync(target);
  const root = fs.realpathSync(paths.workspaceRoot);
  if (real !== root && !real.startsWith(`${root}${path.sep}`))
    throw new RuntimeError('sandbox_setup_failed', `workspace_subdir escapes the task workspace`, {
      workspace_subdir: subdir,
    });
  return real;
}

/** result.json equals the terminal status response. */
export function writeResultFile(
  paths: TaskPaths,
  snapshot: TaskStatusResponse,
  durable: boolean,
): void {
  writeFileAtomic(paths.resultPath, `${JSON.stringify(snapshot, null, 2)}\n`, { durable });
}

/** Removes a task directory; tolerant of a half-deleted one. */
export function removeTaskDir(paths: TaskPaths): void {
  fs.rmSync(paths.taskDir, { recursive: true, force: true, maxRetries: 3 });
}

/** Reads a file if it exists. */
export function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
