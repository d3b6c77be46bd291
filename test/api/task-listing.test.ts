import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TaskListResponse, TaskSummary } from '../../src/contract/task-list.js';
import { command, startTestRuntime, type TestRuntime } from '../support/runtime-harness.js';

const TOTAL = 1000;
const TENANTS = ['alpha', 'beta', 'gamma', 'delta'];

/** Task i: tenant by i % 4, owner for every 10th, labels team=(i % 5) and parity. */
function taskBody(i: number): Record<string, unknown> {
  return command('/bin/true', [], {
    task_id: `list-${String(i).padStart(4, '0')}`,
    control_context: {
      tenant: TENANTS[i % 4],
      ...(i % 10 === 0 ? { owner: 'ops' } : {}),
      labels: { team: `t${i % 5}`, parity: i % 2 === 0 ? 'even' : 'odd' },
    },
    metadata: { index: String(i) },
  });
}

async function list(rt: TestRuntime, query: string): Promise<TaskListResponse> {
  const response = await rt.api.request<TaskListResponse>('GET', `/api/v1/tasks${query}`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body;
}

/** Follows next_cursor to the end. */
async function listAll(rt: TestRuntime, filters: string, limit: number): Promise<TaskSummary[]> {
  const tasks: TaskSummary[] = [];
  let cursor: string | undefined;
  for (;;) {
    const sep = filters === '' ? '?' : `${filters}&`;
    const page = await list(
      rt,
      `${sep}limit=${limit}${cursor === undefined ? '' : `&cursor=${cursor}`}`,
    );
    assert.ok(page.tasks.length <= limit);
    tasks.push(...page.tasks);
    if (page.next_cursor === undefined) return tasks;
    cursor = page.next_cursor;
  }
}

const indexOf = (task: TaskSummary): number => Number(task.task_id.slice('list-'.length));

describe('task listing over 1,000 tasks', () => {
  let rt: TestRuntime;
  before(async () => {
    rt = await startTestRuntime({ maxRunningTasks: 64, maxQueuedTasks: TOTAL + 100 });
    // Submitted in order (so queue order is known), then all awaited.
    for (let i = 0; i < TOTAL; i++) await rt.api.submit(taskBody(i));
    for (let i = 0; i < TOTAL; i += 1)
      await rt.api.waitTerminal(`list-${String(i).padStart(4, '0')}`);
  });
  after(async () => {
    await rt.stop();
  });

  it('pages through everything newest first with no duplicate and no gap', async () => {
    const all = await listAll(rt, '', 97);
    assert.equal(all.length, TOTAL);
    assert.deepEqual(
      all.map(indexOf),
      Array.from({ length: TOTAL }, (_, i) => TOTAL - 1 - i),
    );
    const first = all[0];
    assert.equal(first?.status, 'success');
    assert.equal(first?.exit_code, 0);
    assert.deepEqual(first?.labels, { team: 't4', parity: 'odd' });
    assert.deepEqual(first?.metadata, { index: '999' });
    assert.equal(first?.tenant, 'delta');
    // A trailing slash is the same listing, not the status of a task with an empty id.
    const slashed = await rt.api.request<TaskListResponse>('GET', '/api/v1/tasks/?limit=3');
    assert.equal(slashed.status, 200);
    assert.deepEqual(slashed.body.tasks, all.slice(0, 3));
  });

  it('filters by status, tenant, owner, labels and created_after (AND)', async () => {
    const beta = await listAll(rt, '?tenant=beta', 100);
    assert.equal(beta.length, TOTAL / 4);
    assert.ok(beta.every((task) => indexOf(task) % 4 === 1));
    const owned = await listAll(rt, '?owner=ops&status=success', 1000);
    assert.equal(owned.length, TOTAL / 10);
    const team = await listAll(rt, '?label=team=t3', 50);
    assert.equal(team.length, TOTAL / 5);
    assert.ok(team.every((task) => indexOf(task) % 5 === 3));
    const both = await listAll(rt, '?label=team=t3&label=parity=even&tenant=alpha', 1000);
    assert.deepEqual(
      both.map(indexOf),
      Array.from({ length: TOTAL }, (_, i) => TOTAL - 1 - i).filter(
        (i) => i % 5 === 3 && i % 2 === 0 && i % 4 === 0,
      ),
    );
    assert.equal((await list(rt, '?status=accepted,running')).tasks.length, 0);
    assert.equal((await list(rt, '?status=failed')).tasks.length, 0);
    const pivot = (await list(rt, '?limit=10')).tasks[9];
    assert.ok(pivot !== undefined);
    const newer = await list(rt, `?created_after=${encodeURIComponent(pivot.created_at)}`);
    assert.ok(newer.tasks.length <= 9);
    assert.ok(newer.tasks.every((task) => task.created_at > pivot.created_at));
  });

  it('keeps a cursor stable while new tasks arrive', async () => {
    const page1 = await list(rt, '?limit=5');
    await rt.api.run(taskBody(TOTAL));
    const page2 = await list(rt, `?limit=5&cursor=${page1.next_cursor ?? ''}`);
    assert.deepEqual(
      [...page1.tasks, ...page2.tasks].map(indexOf),
      [999, 998, 997, 996, 995, 994, 993, 992, 991, 990],
    );
  });

  it('rejects bad filters with invalid_input', async () => {
    for (const query of [
      '?status=bogus',
      '?label=novalue',
      '?cursor=abc',
      '?limit=0',
      '?limit=1001',
      '?created_after=yesterday',
      '?created_after=2026-11-24', // a date alone is not an RFC 3339 timestamp
      '?created_after=-1',
      '?created_after=2024-02-31T00:00:00Z', // no such day (Date.parse would roll it over)
    ]) {
      const response = await rt.api.request<{ error: { code: string } }>(
        'GET',
        `/api/v1/tasks${query}`,
      );
      assert.equal(response.status, 400, query);
      assert.equal(response.body.error.code, 'invalid_input', query);
    }
  });
});
