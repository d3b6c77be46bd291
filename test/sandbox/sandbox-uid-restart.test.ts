import assert from 'node:assert/strict';
import fs from 'node:fs';
import { it } from 'node:test';
import { startTestRuntime } from '../support/runtime-harness.js';
import {
  describeStatus,
  fetchManifest,
  sandboxed,
  skipUnavailable,
} from './sandbox-test-support.js';

/** The host uid of a task's workspace: the task's own uid (it is chowned at launch). */
function workspaceUid(taskDir: string): number {
  return fs.statSync(`${taskDir}/workspace`).uid;
}

it('a restart keeps a running task uid out of the next tasks hands', async (t) => {
  const first = await startTestRuntime();
  const manifest = await fetchManifest(first);
  if (skipUnavailable(t, manifest, 'linux_sandbox', manifest.sandbox.linux_sandbox)) {
    await first.stop();
    return;
  }
  const long = await first.api.submit(sandboxed('echo ready; exec sleep 600'));
  const running = await first.api.waitFor(long, (s) => s.stdout.includes('ready'));
  const longUid = workspaceUid(running.artifacts.task_dir);
  // A graceful stop leaves the task running under its supervisor; the next start re-attaches.
  await first.runtime.stop();
  const second = await startTestRuntime({ dataDir: first.dataDir });
  try {
    // The new runtime starts handing out uids from the beginning of the range again: the
    // re-attached task's uid must be skipped.
    const next = await second.api.run(sandboxed('true'));
    assert.equal(next.status, 'success', describeStatus(next));
    assert.notEqual(workspaceUid(next.artifacts.task_dir), longUid);
  } finally {
    await second.api.request('POST', `/api/v1/tasks/${long}/kill`);
    await second.api.waitTerminal(long);
    await second.stop();
  }
});
