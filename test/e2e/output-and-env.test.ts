import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  command,
  FIXTURES,
  shell,
  startTestRuntime,
  type TestRuntime,
} from '../support/runtime-harness.js';

describe('output capture and environment isolation', () => {
  let rt: TestRuntime;
  const serverEnv = {
    ...process.env,
    EXECGO_SECRET_TOKEN: 'do-not-leak',
    PATH: '/usr/bin:/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
  };
  before(async () => {
    rt = await startTestRuntime({}, serverEnv);
  });
  after(async () => {
    await rt.stop();
  });

  it('inline output is capped with *_truncated while the file on disk stays whole', async () => {
    const status = await rt.api.run(
      command(path.join(FIXTURES, 'flood-stdout.sh'), ['100000'], {
        limits: { stdout_max_bytes: 1000, stderr_max_bytes: 10 },
      }),
    );
    assert.equal(status.status, 'success');
    assert.equal(status.stdout.length, 1000);
    assert.equal(status.stdout_truncated, true);
    assert.equal(status.stderr_truncated, false);
    assert.equal(status.stdout_bytes, 100000);
    assert.equal(fs.statSync(status.artifacts.stdout_path).size, 100000);
  });

  it('the child gets PATH, HOME, LANG (+TMPDIR, USER when set) and its own env, nothing else', async () => {
    const status = await rt.api.run(
      command(path.join(FIXTURES, 'print-env.sh'), [], {
        execution: {
          kind: 'command',
          program: path.join(FIXTURES, 'print-env.sh'),
          env: { GREETING: 'hi there', PATH: '/bin:/usr/bin' },
        },
      }),
    );
    const names = status.stdout
      .trim()
      .split('\n')
      .map((line) => line.slice(0, line.indexOf('=')))
      .filter((name) => name !== 'PWD' && name !== 'SHLVL' && name !== '_');
    assert.deepEqual(names.sort(), ['GREETING', 'HOME', 'LANG', 'PATH']);
    assert.ok(status.stdout.includes('GREETING=hi there\n'));
    assert.ok(status.stdout.includes('PATH=/bin:/usr/bin\n'), 'task env wins over the base env');
    assert.ok(!status.stdout.includes('do-not-leak'));
  });

  it('LD_PRELOAD in the task env applies only to the final program', async () => {
    const status = await rt.api.run({
      execution: {
        kind: 'command',
        program: '/bin/sh',
        args: ['-c', 'echo "$LD_PRELOAD"'],
        env: { LD_PRELOAD: '/nonexistent/evil.so' },
      },
    });
    assert.equal(status.status, 'success');
    assert.equal(status.stdout, '/nonexistent/evil.so\n');
  });

  it('stdin is /dev/null and only fds 0-2 are open', async () => {
    const status = await rt.api.run(shell('cat; ls /proc/self/fd | sort -n | tr "\\n" " "'));
    assert.equal(status.status, 'success');
    // ls itself opens one directory fd while listing.
    assert.match(status.stdout, /^0 1 2 3 $/);
  });

  it('runs in its own session and process group in the (sub)workspace', async () => {
    const status = await rt.api.run(
      shell('echo $$; ps -o sid=,pgid= -p $$; pwd', { sandbox: { workspace_subdir: 'a/b' } }),
    );
    const [pid, ids, cwd] = status.stdout.trim().split('\n');
    assert.deepEqual(ids?.trim().split(/\s+/), [pid, pid]);
    assert.equal(cwd, path.join(status.artifacts.task_dir, 'workspace/a/b'));
  });

  it('metadata is echoed back', async () => {
    const status = await rt.api.run({ ...shell('true'), metadata: { purpose: 'test' } });
    assert.deepEqual(status.metadata, { purpose: 'test' });
    assert.equal((await rt.api.run(shell('true'))).metadata, undefined);
  });
});
