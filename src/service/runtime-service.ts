import path from 'node:path';
import type { RuntimeConfig } from '../config/runtime-config.js';
import { formatListenAddr } from '../config/runtime-config.js';
import type { HostCapabilities } from '../capabilities/host-capabilities.js';
import { buildManifest } from '../capabilities/build-manifest.js';
import type {
  CapabilityManifest,
  RuntimeConfigView,
  RuntimeInfo,
  RuntimeResources,
} from '../contract/runtime.js';
import { formatTimestamp } from '../core/clock.js';
import type { ResourceLedger } from '../ledger/resource-ledger.js';
import { convertQuotaToCapacity } from '../ledger/resource-amounts.js';
import type { TaskStore } from '../store/task-store.js';

/**
 * The cgroup root in use: `--cgroup-root` when given; else the directory the runtime chose in
 * its own cgroup (`<own>/execgo-runtime`, the parent of its `<instance>` cgroup) in the unified
 * hierarchy, or in the first usable v1 one; empty when no hierarchy is usable
 * (`cgroup_enabled: false`).
 */
function effectiveCgroupRoot(
  configured: string | undefined,
  capabilities: HostCapabilities,
): string {
  if (configured !== undefined) return configured;
  const cgroups = capabilities.cgroups;
  if (cgroups === null) return '';
  const parent = cgroups.unifiedParent ?? Object.values(cgroups.v1Parents)[0];
  return parent === undefined ? '' : path.dirname(parent);
}

/** Read-only views of the runtime itself: info, capabilities, config, resources, readiness. */
export class RuntimeService {
  private readonly manifest: CapabilityManifest;
  /** The address really bound (port 0 and socket activation are only known after listen). */
  private listenAddr: string;

  constructor(
    private readonly deps: {
      config: RuntimeConfig;
      capabilities: HostCapabilities;
      ledger: ResourceLedger;
      store: TaskStore;
      startedAt: number;
      checkStorage(): void;
    },
  ) {
    this.manifest = buildManifest(deps.config.runtimeId, deps.capabilities);
    this.listenAddr = formatListenAddr(deps.config);
  }

  /** Called once listening: `/runtime/config` then reports the bound address. */
  setBoundAddress(host: string, port: number): void {
    this.listenAddr = formatListenAddr({ listenHost: host, listenPort: port });
  }

  info(): RuntimeInfo {
    const { config, capabilities, startedAt } = this.deps;
    return {
      runtime_id: config.runtimeId,
      version: config.version,
      started_at: formatTimestamp(startedAt),
      snapshot_version: 'v1',
      platform: { os: capabilities.os, arch: capabilities.arch },
    };
  }

  capabilities(): CapabilityManifest {
    return this.manifest;
  }

  configView(): RuntimeConfigView {
    const { config, capabilities } = this.deps;
    return {
      runtime_id: config.runtimeId,
      listen_addr: this.listenAddr,
      data_dir: config.dataDir,
      max_running_tasks: config.maxRunningTasks,
      max_queued_tasks: config.maxQueuedTasks,
      termination_grace_ms: config.terminationGraceMs,
      result_retention_secs: config.resultRetentionSecs,
      gc_interval_ms: config.gcIntervalMs,
      dispatch_poll_interval_ms: config.dispatchPollIntervalMs,
      cgroup_root: effectiveCgroupRoot(config.cgroupRoot, capabilities),
      default_capability_mode: config.defaultCapabilityMode,
      cgroup_enabled: capabilities.cgroups !== null,
      durable: config.durable,
    };
  }

  resources(): RuntimeResources {
    const { ledger, store, config } = this.deps;
    const snapshot = ledger.snapshot();
    const waiting = store.listWaiting();
    const waitingByTenant = new Map<string, number>();
    for (const row of waiting)
      if (row.tenant !== undefined)
        waitingByTenant.set(row.tenant, (waitingByTenant.get(row.tenant) ?? 0) + 1);
    const tenants = new Map(snapshot.tenants.map((usage) => [usage.tenant, usage]));
    for (const tenant of waitingByTenant.keys())
      if (!tenants.has(tenant)) {
        const quota = config.tenantQuotas.find((q) => q.tenant === tenant);
        tenants.set(tenant, {
          tenant,
          ...(quota === undefined ? {} : { quota: convertQuotaToCapacity(quota) }),
          reserved: { task_slots: 0, memory_bytes: 0, pids: 0 },
        });
      }
    return {
      runtime_id: config.runtimeId,
      capacity: snapshot.capacity,
      reserved: snapshot.reserved,
      available: snapshot.available,
      active_reservations: snapshot.active.map((active) => ({
        task_id: active.task_id,
        status: store.getTaskStatus(active.task_id) ?? 'running',
        reservation: active.reservation,
        reserved_at: active.reserved_at,
        ...(active.tenant === undefined ? {} : { tenant: active.tenant }),
      })),
      accepted_waiting_tasks: waiting.length,
      tenants: [...tenants.values()]
        .sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0))
        .map((usage) => ({ ...usage, waiting_tasks: waitingByTenant.get(usage.tenant) ?? 0 })),
    };
  }

  /** Throws when storage is unusable (readiness). */
  checkReady(): void {
    this.deps.checkStorage();
  }
}
