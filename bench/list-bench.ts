import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TaskRecord } from '../src/core/task-record.js';
import type { TaskSpec } from '../src/core/task-spec.js';
import type { TerminalStatus } from '../src/core/task-status.js';
import { buildListPage, parseListQuery } from '../src/service/task-listing.js';
import { openDatabase } from '../src/store/open-database.js';
import { TaskStore } from '../src/store/task-store.js';

// Listing latency with a large store: fills a temporary store through TaskStore (the same
// rows the API writes) and times the service's listing path (query parsing, SQL, mapping)
// for typical agent queries. Usage: node dist/bench/list-bench.js [task count]

const COUNT = Number(process.argv[2] ?? 100_000);
const RUNS = 200;
const TENANTS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
const STATUSES: TerminalStatus[] = ['success', 'success', 'success', 'failed', 'cancelled'];

function specOf(i: number): TaskSpec {
  return {
    task_id: `bench-${i}`,
    execution: { kind: 'command', program: '/bin/true', args: [], env: {} },
    limits: {
      wall_time_ms: 300_000,
      stdout_max_bytes: 4_194_304,
      stderr_max_bytes: 4_194_304,
      log_max_bytes: 1_073_741_824,
    },
    sandbox: {
      profile: 'process',
      chroot: false,
      namespaces: { mount: true, pid: true, uts: true, ipc: true, net: false },
    },
    control_context: {
      tenant: TENANTS[i % TENANTS.length] ?? 'alpha',
      owner: `agent-${i % 100}`,
      labels: { team: `t${i % 20}`, run: `r${Math.floor(i / 1000)}` },
    },
    metadata: { index: String(i) },
  };
}

function fill(store: TaskStore, db: ReturnType<typeof openDatabase>): void {
  const started = performance.now();
  const insert = db.transaction((first: number, last: number) => {
    for (let i = first; i < last; i++) {
      const spec = specOf(i);
      const now = Date.UTC(2025, 0, 1) + i * 1000;
      const record = {
        taskId: spec.task_id,
        queueSeq: 0,
        status: 'accepted',
        spec,
        plan: {},
        reservation: { task_slots: 1 },
        tenant: spec.control_context?.tenant,
        owner: spec.control_context?.owner,
        createdAt: now,
        updatedAt: now,
      } as TaskRecord;
      store.insertAccepted(record, [{ type: 'submitted' }, { type: 'accepted' }]);
      // Every 50th task stays queued, the rest finish with a mix of outcomes.
      if (i % 50 === 0) continue;
      const status = STATUSES[i % STATUSES.length] ?? 'success';
      const result = {
        task_id: spec.task_id,
        status,
        exit_code: status === 'failed' ? 1 : 0,
        ...(status === 'failed' ? { error: { code: 'exit_non_zero', message: 'exit 1' } } : {}),
      };
      store.markDispatched(spec.task_id, now, []);
      store.complete(spec.task_id, status, result as never, now + 500, now + 500, [
        { type: 'finished' },
      ]);
    }
  });
  for (let first = 0; first < COUNT; first += 5000) insert(first, Math.min(COUNT, first + 5000));
  console.log(`filled ${COUNT} tasks in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

function time(store: TaskStore, name: string, params: Record<string, unknown>): void {
  const samples: number[] = [];
  let rows = 0;
  for (let run = 0; run < RUNS; run++) {
    const started = performance.now();
    const query = parseListQuery(params);
    const page = buildListPage(store.listTasks(query), query.limit - 1);
    samples.push(performance.now() - started);
    rows = page.tasks.length;
  }
  samples.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(44)} rows=${String(rows).padStart(3)}  p50=${percentile(samples, 0.5).toFixed(3)} ms  p95=${percentile(samples, 0.95).toFixed(3)} ms`,
  );
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'execgo-list-bench-'));
const db = openDatabase(path.join(dir, 'runtime.db'), { durable: false });
const store = new TaskStore(db);
try {
  fill(store, db);
  const deepCursor = String(Math.floor(COUNT / 10));
  time(store, 'newest 50 (no filter)', {});
  time(store, 'status=accepted,running', { status: 'accepted,running' });
  time(store, 'status=failed', { status: 'failed' });
  time(store, 'tenant=beta', { tenant: 'beta' });
  time(store, 'owner=agent-7', { owner: 'agent-7' });
  time(store, 'label team=t3', { label: 'team=t3' });
  time(store, 'label run=r42 (1,000 matches)', { label: 'run=r42' });
  time(store, 'label team=t3 & run=r42 & tenant=delta', {
    label: ['team=t3', 'run=r42'],
    tenant: 'delta',
  });
  time(store, 'created_after (last 1,000)', {
    created_after: String(Date.UTC(2025, 0, 1) + (COUNT - 1000) * 1000),
  });
  time(store, `deep page (cursor=${deepCursor}, limit 1000)`, {
    cursor: deepCursor,
    limit: 1000,
  });
  time(store, 'label with no match', { label: 'team=none' });
} finally {
  store.close();
  if (process.env.KEEP_DB === undefined) fs.rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
}
