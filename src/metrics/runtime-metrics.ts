import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RuntimeEvents } from '../core/runtime-events.js';
import type { ResourceLedger } from '../ledger/resource-ledger.js';
import type { TaskStore } from '../store/task-store.js';

/**
 * Prometheus metrics fed by lifecycle events. One registry per runtime instance (no global
 * default registry) so two runtimes can live in one process.
 */
export function createRuntimeMetrics(deps: {
  events: RuntimeEvents;
  ledger: ResourceLedger;
  store: TaskStore;
}): Registry {
  const registry = new Registry();
  const tasksTotal = new Counter({
    name: 'execgo_runtime_tasks_total',
    help: 'Tasks that reached a terminal status, by status',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const errorsTotal = new Counter({
    name: 'execgo_runtime_task_errors_total',
    help: 'Terminal task errors, by error code',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'execgo_runtime_task_duration_ms',
    help: 'Task run time from start to exit, in milliseconds',
    buckets: [5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000, 120000, 600000],
    registers: [registry],
  });
  const submitted = new Counter({
    name: 'execgo_runtime_tasks_submitted_total',
    help: 'Tasks accepted at submit',
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'execgo_runtime_submissions_rejected_total',
    help: 'Submissions rejected, by error code',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'execgo_runtime_tasks_running',
    help: 'Tasks currently running',
    registers: [registry],
    collect() {
      this.set(deps.ledger.snapshot().active.length);
    },
  });
  new Gauge({
    name: 'execgo_runtime_tasks_waiting',
    help: 'Accepted tasks waiting for dispatch',
    registers: [registry],
    collect() {
      this.set(deps.store.countAccepted());
    },
  });
  const ledgerGauge = (name: string, help: string, pick: 'capacity' | 'reserved' | 'available') =>
    new Gauge({
      name,
      help,
      labelNames: ['resource'] as const,
      registers: [registry],
      collect() {
        const amounts = deps.ledger.snapshot()[pick];
        for (const [resource, value] of Object.entries(amounts))
          if (typeof value === 'number') this.set({ resource }, value);
      },
    });
  ledgerGauge('execgo_runtime_ledger_capacity', 'Ledger capacity by resource', 'capacity');
  ledgerGauge('execgo_runtime_ledger_reserved', 'Ledger reservations by resource', 'reserved');
  ledgerGauge('execgo_runtime_ledger_available', 'Ledger availability by resource', 'available');
  new Gauge({
    name: 'execgo_runtime_tenant_reserved_slots',
    help: 'Task slots reserved per tenant',
    labelNames: ['tenant'] as const,
    registers: [registry],
    collect() {
      for (const usage of deps.ledger.snapshot().tenants)
        this.set({ tenant: usage.tenant }, usage.reserved.task_slots);
    },
  });

  new Gauge({
    name: 'execgo_runtime_tenant_waiting_tasks',
    help: 'Accepted tasks waiting for dispatch, per tenant ("" = no tenant)',
    labelNames: ['tenant'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const row of deps.store.listWaiting())
        counts.set(row.tenant ?? '', (counts.get(row.tenant ?? '') ?? 0) + 1);
      for (const [tenant, count] of counts) this.set({ tenant }, count);
    },
  });

  deps.events.on('task:accepted', () => submitted.inc());
  deps.events.on('task:rejected', (code) => rejected.inc({ code }));
  const longPolls = new Gauge({
    name: 'execgo_runtime_open_long_polls',
    help: 'Clients holding a long poll (kind="wait") or a live stream (kind="stream")',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  for (const kind of ['wait', 'stream'] as const) longPolls.set({ kind }, 0);
  deps.events.on('client:long-poll', (kind, delta) =>
    delta > 0 ? longPolls.inc({ kind }) : longPolls.dec({ kind }),
  );
  const refusedPeers = new Counter({
    name: 'execgo_runtime_api_refused_connections_total',
    help: 'API connections refused as possibly from a sandboxed task (403 permission_denied)',
    registers: [registry],
  });
  deps.events.on('api:peer-refused', () => refusedPeers.inc());
  deps.events.on('task:finished', (record) => {
    tasksTotal.inc({ status: record.status });
    const result = record.result;
    if (result?.error !== undefined) errorsTotal.inc({ code: result.error.code });
    if (result?.duration_ms !== undefined) duration.observe(result.duration_ms);
  });
  return registry;
}
