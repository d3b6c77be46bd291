import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { writeNewFile } from '../../src/store/atomic-file.js';
import { createTaskFiles } from '../../src/store/task-files.js';
import { resolveTaskPaths } from '../../src/store/task-paths.js';
import type { TaskSpec } from '../../src/core/task-spec.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'execgo-task-files-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function readRequestId(file: string): unknown {
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { task_id?: unknown }).task_id;
}

function scriptSpec(taskId: string): TaskSpec {
  return {
    task_id: taskId,
    execution: { kind: 'script', interpreter: 'sh', script: 'echo hi', stdin: 'input' },
  } as unknown as TaskSpec;
}

describe('createTaskFiles', () => {
  it('creates the directory, workspace, request, script and stdin of a new task', () => {
    const paths = resolveTaskPaths(path.join(root, 'tasks'), 'fresh');
    const script = createTaskFiles(paths, scriptSpec('fresh'), true);
    assert.equal(fs.statSync(paths.workspaceRoot).isDirectory(), true);
    assert.equal(readRequestId(paths.requestPath), 'fresh');
    assert.equal(script !== undefined && fs.readFileSync(script, 'utf8'), 'echo hi');
    assert.equal(fs.readFileSync(paths.stdinPath, 'utf8'), 'input');
  });

  it('replaces what a submission that crashed before its commit left under the same id', () => {
    const paths = resolveTaskPaths(path.join(root, 'tasks'), 'leftover');
    fs.mkdirSync(paths.workspaceRoot, { recursive: true });
    fs.writeFileSync(path.join(paths.workspaceRoot, 'stale'), 'x');
    fs.writeFileSync(paths.requestPath, 'torn');
    createTaskFiles(paths, scriptSpec('leftover'), false);
    assert.deepEqual(fs.readdirSync(paths.workspaceRoot), []);
    assert.equal(readRequestId(paths.requestPath), 'leftover');
  });
});

describe('writeNewFile', () => {
  it('recreates a removed tasks/ as start-up creates it, 0700: it keeps other users out', () => {
    const tasks = path.join(root, 'removed', 'tasks');
    const paths = resolveTaskPaths(tasks, 'after-removal');
    createTaskFiles(paths, scriptSpec('after-removal'), false);
    assert.equal(fs.statSync(tasks).mode & 0o777, 0o700);
    assert.equal(fs.statSync(paths.taskDir).mode & 0o777, 0o755);
  });

  it('never overwrites an existing file', () => {
    const file = path.join(root, 'once');
    writeNewFile(file, 'first', { durable: false });
    assert.throws(() => writeNewFile(file, 'second', { durable: false }), { code: 'EEXIST' });
    assert.equal(fs.readFileSync(file, 'utf8'), 'first');
  });
});
