import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { shell, startTestRuntime, type TestRuntime } from '../support/runtime-harness.js';

describe('runtime endpoints', () => {
  let rt: TestRuntime;
  before(async () => {
    rt = await startTestRuntime({
      runtimeId: 'rt-test',
      maxRunningTasks: 3,
      tenantQuota: ['alpha=slots:1'],
    });
  });
  after(async () => {
    await rt.stop();
  });

  it('healthz and readyz report the version', async () => {
    assert.deepEqual((await rt.api.request('GET', '/healthz')).body, {
      status: 'ok',
      version: rt.runtime.config.version,
    });
    assert.deepEqual((await rt.api.request('GET', '/readyz')).body, {
      status: 'ready',
      version: rt.runtime.config.version,
    });
  });

  it('info', async () => {
    const info = (await rt.api.request<Record<string, unknown>>('GET', '/api/v1/runtime/info'))
      .body;
    assert.equal(info.runtime_id, 'rt-test');
    assert.equal(info.snapshot_version, 'v1');
    assert.deepEqual(Object.keys(info).sort(), [
      'platform',
      'runtime_id',
      'snapshot_version',
      'started_at',
      'version',
    ]);
  });

  it('config shows every contract field and nothing secret', async () => {
    const config = (await rt.api.request<Record<string, unknown>>('GET', '/api/v1/runtime/config'))
      .body;
    for (const key of [
      'runtime_id',
      'listen_addr',
      'data_dir',
      'max_running_tasks',
      'max_queued_tasks',
      'termination_grace_ms',
      'result_retention_secs',
      'gc_interval_ms',
      'dispatch_poll_interval_ms',
      'cgroup_root',
      'default_capability_mode',
      'cgroup_enabled',
    ])
      assert.ok(key in config, key);
    assert.equal(config.max_running_tasks, 3);
    assert.equal(config.data_dir, rt.dataDir);
    // Started on port 0: the address really bound, not the configured one.
    assert.equal(config.listen_addr, `127.0.0.1:${new URL(rt.api.baseUrl).port}`);
    // The cgroup root in use, also when detected rather than configured.
    const manifest = (
      await rt.api.request<{ resources: { cgroup_writable: boolean } }>(
        'GET',
        '/api/v1/runtime/capabilities',
      )
    ).body;
    assert.equal(typeof config.cgroup_root, 'string');
    if (config.cgroup_enabled === true) {
      assert.ok(manifest.resources.cgroup_writable);
      assert.ok(fs.statSync(String(config.cgroup_root)).isDirectory(), String(config.cgroup_root));
    } else assert.equal(config.cgroup_root, '');
  });

  it('capabilities follow the manifest shape', async () => {
    const manifest = (
      await rt.api.request<Record<string, unknown>>('GET', '/api/v1/runtime/capabilities')
    ).body;
    for (const key of [
      'runtime_id',
      'snapshot_version',
      'collected_at',
      'platform',
      'execution',
      'sandbox',
      'storage',
      'resources',
      'stable_semantics',
      'enhanced_semantics',
      'warnings',
      'degraded',
      'overrides',
    ])
      assert.ok(key in manifest, key);
    assert.equal(
      (manifest.resources as { capacity: { task_slots: number } }).capacity.task_slots,
      3,
    );
  });

  it('resources list configured tenants even at zero use', async () => {
    const resources = (
      await rt.api.request<{
        capacity: { task_slots: number };
        tenants: { tenant: string }[];
        accepted_waiting_tasks: number;
        active_reservations: unknown[];
      }>('GET', '/api/v1/runtime/resources')
    ).body;
    assert.equal(resources.capacity.task_slots, 3);
    assert.deepEqual(
      resources.tenants.map((t) => t.tenant),
      ['alpha'],
    );
    assert.equal(resources.accepted_waiting_tasks, 0);
  });

  it('metrics expose the contract names', async () => {
    await rt.api.run(shell('exit 1'));
    const text = (await rt.api.request<string>('GET', '/metrics')).body;
    for (const name of [
      'execgo_runtime_tasks_total{status="failed"}',
      'execgo_runtime_tasks_running',
      'execgo_runtime_task_errors_total{code="exit_non_zero"}',
      'execgo_runtime_task_duration_ms_bucket',
    ])
      assert.ok(text.includes(name), name);
    // Every long poll above has ended: none is counted as open.
    assert.equal(await rt.api.metric('execgo_runtime_open_long_polls{kind="wait"}'), 0);
  });

  it('rejected submissions are counted by code, wherever they were refused', async () => {
    const count = (code: string): Promise<number> =>
      rt.api.metric(`execgo_runtime_submissions_rejected_total{code="${code}"}`);
    const before = await count('invalid_input');
    const bad = [
      { execution: { kind: 'command' } }, // the schema
      { execution: { kind: 'command', program: 'x' }, limits: { wall_time_ms: -1 } },
    ];
    for (const body of bad)
      assert.equal((await rt.api.request('POST', '/api/v1/tasks', { body })).status, 400);
    const malformed = await rt.api.request('POST', '/api/v1/tasks', { rawBody: '{not json' });
    assert.equal(malformed.status, 400); // the body parser
    assert.equal(await count('invalid_input'), before + 3);
    const conflicts = await count('conflict');
    const task = { ...shell('true'), task_id: 'counted-twice' };
    await rt.api.submit(task);
    assert.equal((await rt.api.request('POST', '/api/v1/tasks', { body: task })).status, 409);
    assert.equal(await count('conflict'), conflicts + 1); // the service
  });
});
