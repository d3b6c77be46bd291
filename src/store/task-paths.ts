import path from 'node:path';

/** Every file of one task's directory; the single source of the on-disk layout. */
export interface TaskPaths {
  taskDir: string;
  requestPath: string;
  resultPath: string;
  stdoutPath: string;
  stderrPath: string;
  stdinPath: string;
  workspaceRoot: string;
  launchSpecPath: string;
  startRecordPath: string;
  exitRecordPath: string;
  shimLogPath: string;
}

/** Resolves the layout of `<data-dir>/tasks/<id>/`. The id was validated as a file name. */
export function resolveTaskPaths(tasksRoot: string, taskId: string): TaskPaths {
  const taskDir = path.join(tasksRoot, taskId);
  return {
    taskDir,
    requestPath: path.join(taskDir, 'request.json'),
    resultPath: path.join(taskDir, 'result.json'),
    stdoutPath: path.join(taskDir, 'stdout.log'),
    stderrPath: path.join(taskDir, 'stderr.log'),
    stdinPath: path.join(taskDir, 'stdin'),
    workspaceRoot: path.join(taskDir, 'workspace'),
    launchSpecPath: path.join(taskDir, 'launch.spec'),
    startRecordPath: path.join(taskDir, 'start.record'),
    exitRecordPath: path.join(taskDir, 'exit.record'),
    shimLogPath: path.join(taskDir, 'shim.log'),
  };
}

/** Script file extension by interpreter, as the contract specifies. */
export function scriptExtension(interpreter: readonly string[] | undefined): string {
  const name = path.basename(interpreter?.[0] ?? 'sh');
  if (name.includes('python')) return 'py';
  if (name.includes('node')) return 'js';
  if (name.includes('zsh')) return 'zsh';
  return 'sh';
}

export function scriptPath(taskDir: string, interpreter: readonly string[] | undefined): string {
  return path.join(taskDir, `script.${scriptExtension(interpreter)}`);
}
