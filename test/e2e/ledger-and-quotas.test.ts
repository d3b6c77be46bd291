import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RuntimeResources } from '../../src/contract/runtime.js';
import { shell, startTestRuntime, type TestRuntime } from '../support/runtime-harness.js';

interface Envelope {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

const forTenant = (tenant: string, script: string, extra: Record<string, unknown> = {}) => ({
  ...shell(script),
  control_context: { tenant },
  ...extra,
});

describe('resource ledger and tenant quotas', () => {
  let rt: TestRuntime;
  before(async () => {
    rt = await startTestRuntime({
      maxRunningTasks: 4,
      maxQueuedTasks: 1000,
      capacityMemoryBytes: 1 << 30,
      tenantQuota: ['alpha=slots:1,memory:268435456', 'beta=slots:2', 'gamma=slots:2,pids:64'],
    });
  });
  after(async () => {
    await rt.stop();
  });

  const resources = async () =>
    (await rt.api.request<RuntimeResources>('GET', '/api/v1/runtime/resources')).body;

  it('rejects a task larger than the runtime capacity, naming the resource and both numbers', async () => {
    const response = await rt.api.request<Envelope>('POST', '/api/v1/tasks', {
      body: { ...shell('true'), limits: { memory_bytes: 2 ** 31 } },
    });
    assert.equal(response.status, 400);
    assert.equal(response.body.error.code, 'insufficient_resources');
    assert.match(
      response.body.error.message,
      /memory_bytes 2147483648 exceeds the runtime capacity of 1073741824/,
    );
    assert.equal(response.body.error.details?.scope, 'runtime');
  });

  it('rejects a task larger than its tenant quota', async () => {
    const response = await rt.api.request<Envelope>('POST', '/api/v1/tasks', {
      body: forTenant('alpha', 'true', { limits: { memory_bytes: 536870912 } }),
    });
    assert.equal(response.status, 400);
    assert.equal(response.body.error.code, 'insufficient_resources');
    assert.match(
      response.body.error.message,
      /memory_bytes 536870912 exceeds the tenant alpha quota of 268435456/,
    );
  });

  it("a tenant's second task waits while its first runs, and another tenant proceeds", async () => {
    const first = await rt.api.submit(forTenant('alpha', 'echo ready; sleep 30'));
    await rt.api.waitFor(first, (s) => s.status === 'running');
    const second = await rt.api.submit(forTenant('alpha', 'echo second'));
    const other = await rt.api.run(forTenant('beta', 'echo other'));
    assert.equal(other.status, 'success');
    assert.equal((await rt.api.status(second)).status, 'accepted');
    const view = await resources();
    assert.equal(view.accepted_waiting_tasks, 1);
    const alpha = view.tenants.find((t) => t.tenant === 'alpha');
    assert.equal(alpha?.reserved.task_slots, 1);
    assert.equal(alpha?.available?.task_slots, 0);
    assert.ok(
      view.active_reservations.some(
        (r) => r.task_id === first && r.status === 'running' && r.reserved_at !== undefined,
      ),
    );
    await rt.api.request('POST', `/api/v1/tasks/${first}/kill`);
    assert.equal((await rt.api.waitTerminal(second)).status, 'success');
  });

  it('lists every configured tenant even at zero use', async () => {
    const view = await resources();
    assert.deepEqual(
      view.tenants.map((t) => t.tenant).filter((t) => ['alpha', 'beta', 'gamma'].includes(t)),
      ['alpha', 'beta', 'gamma'],
    );
    const gamma = view.tenants.find((t) => t.tenant === 'gamma');
    assert.deepEqual(gamma?.quota, { task_slots: 2, pids: 64 });
  });

  it('a burst of 200 tasks across 3 tenants returns every reservation to zero', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning.name);
    };
    process.on('warning', onWarning);
    const tenants = ['alpha', 'beta', 'gamma'];
    const ids = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        rt.api.submit(
          forTenant(tenants[i % 3] ?? 'alpha', `echo ${i}`, { limits: { memory_bytes: 64 << 20 } }),
        ),
      ),
    );
    const statuses = await Promise.all(ids.map((id) => rt.api.waitTerminal(id, 120_000)));
    assert.ok(statuses.every((s) => s.status === 'success'));
    assert.ok(
      statuses.every((s) => s.reservation?.memory_bytes === 64 << 20),
      'reservation kept for audit',
    );
    const view = await resources();
    assert.deepEqual(view.reserved, { task_slots: 0, memory_bytes: 0, pids: 0 });
    assert.deepEqual(view.active_reservations, []);
    for (const tenant of view.tenants) assert.equal(tenant.reserved.task_slots, 0, tenant.tenant);
    // Warnings are emitted on a later tick.
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    // 200 concurrent long-polls are normal load, not a listener leak.
    assert.ok(!warnings.includes('MaxListenersExceededWarning'), warnings.join(', '));
  });
});

describe('owner-gated kill', () => {
  let rt: TestRuntime;
  before(async () => {
    rt = await startTestRuntime();
  });
  after(async () => {
    await rt.stop();
  });

  it('403 without or with a wrong owner, no signal and no kill_requested event; matching owner (any header case) kills', async () => {
    const id = await rt.api.submit({
      ...shell('echo ready; sleep 30'),
      control_context: { owner: 'alice' },
    });
    await rt.api.waitFor(id, (s) => s.stdout.includes('ready'));
    const attempts: Record<string, string>[] = [{}, { 'x-execgo-owner': 'mallory' }];
    for (const headers of attempts) {
      const denied = await rt.api.request<Envelope>('POST', `/api/v1/tasks/${id}/kill`, {
        headers,
      });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error.code, 'permission_denied');
    }
    assert.equal((await rt.api.status(id)).status, 'running');
    let events = (
      await rt.api.request<{ event_type: string }[]>('GET', `/api/v1/tasks/${id}/events`)
    ).body;
    assert.ok(!events.some((e) => e.event_type === 'kill_requested'));
    const allowed = await rt.api.request('POST', `/api/v1/tasks/${id}/kill`, {
      headers: { 'X-Execgo-Owner': 'alice' },
    });
    assert.equal(allowed.status, 200);
    assert.equal((await rt.api.waitTerminal(id)).status, 'cancelled');
    events = (await rt.api.request<{ event_type: string }[]>('GET', `/api/v1/tasks/${id}/events`))
      .body;
    assert.equal(events.filter((e) => e.event_type === 'kill_requested').length, 1);
  });

  it('a non-ASCII owner is matched as the UTF-8 bytes of the header', async () => {
    const id = await rt.api.submit({
      ...shell('sleep 30'),
      control_context: { owner: 'José 日本' },
    });
    // What curl -H 'x-execgo-owner: José 日本' sends: the UTF-8 bytes (fetch takes latin1).
    const asHeader = (owner: string) => Buffer.from(owner, 'utf8').toString('latin1');
    const denied = await rt.api.request<Envelope>('POST', `/api/v1/tasks/${id}/kill`, {
      headers: { 'x-execgo-owner': asHeader('Jose 日本') },
    });
    assert.equal(denied.status, 403);
    // Bytes that are not UTF-8 match nothing (not even an owner holding U+FFFD).
    const invalid = await rt.api.request<Envelope>('POST', `/api/v1/tasks/${id}/kill`, {
      headers: { 'x-execgo-owner': 'Jos\xe9 日本'.replace('日本', asHeader('日本')) },
    });
    assert.equal(invalid.status, 403);
    const allowed = await rt.api.request('POST', `/api/v1/tasks/${id}/kill`, {
      headers: { 'x-execgo-owner': asHeader('José 日本') },
    });
    assert.equal(allowed.status, 200);
    assert.equal((await rt.api.waitTerminal(id)).status, 'cancelled');
  });

  it('tasks without an owner can be killed by anyone', async () => {
    const id = await rt.api.submit(shell('sleep 30'));
    const response = await rt.api.request('POST', `/api/v1/tasks/${id}/kill`, {
      headers: { 'x-execgo-owner': 'whoever' },
    });
    assert.equal(response.status, 200);
    assert.equal((await rt.api.waitTerminal(id)).status, 'cancelled');
  });
});
