import {
  addAmounts,
  assertValidAmounts,
  computeAvailable,
  convertQuotaToCapacity,
  copyCapacity,
  findShortfall,
  subtractAmounts,
  type Capacity,
  type ResourceAmounts,
  type ResourceName,
  type ResourceTotals,
  type TenantQuota,
} from './resource-amounts.js';
import { compareTenantNames } from './tenant-order.js';

/** One task's hold on resources, as listed in /api/v1/runtime/resources. */
export interface ActiveReservation {
  readonly task_id: string;
  readonly tenant?: string;
  readonly reservation: Readonly<ResourceAmounts>;
  readonly reserved_at: string;
}

/** Why a single task can never run here; becomes 400 `insufficient_resources`. */
export interface AdmissionFailure {
  ok: false;
  scope: 'runtime' | 'tenant';
  resource: ResourceName;
  requested: number;
  limit: number;
  tenant?: string;
}

export type Admission = { ok: true } | AdmissionFailure;

/** Per-tenant line of the snapshot; quota/available only for tenants with a quota. */
export interface TenantUsage {
  tenant: string;
  quota?: Capacity;
  reserved: ResourceTotals;
  available?: Capacity;
}

export interface LedgerSnapshot {
  capacity: Capacity;
  reserved: ResourceTotals;
  available: Capacity;
  active: ActiveReservation[];
  tenants: TenantUsage[];
}

/** reserve() refused: a dispatcher bug (it should have asked fitsNow/has first), so `internal`. */
export class ReservationRefusedError extends Error {
  readonly code = 'internal';
  readonly reason: 'already_reserved' | 'does_not_fit';
  readonly taskId: string;

  constructor(taskId: string, reason: 'already_reserved' | 'does_not_fit', detail: string) {
    super(`cannot reserve resources for task ${taskId}: ${detail}`);
    this.name = 'ReservationRefusedError';
    this.taskId = taskId;
    this.reason = reason;
  }
}

interface TenantHolding {
  holders: number;
  reserved: ResourceTotals;
}

const NOTHING: ResourceTotals = { task_slots: 0, memory_bytes: 0, pids: 0 };

/**
 * Who holds which resources, runtime-wide and per tenant. Pure bookkeeping: the runtime persists
 * reservations itself and replays them with restore() on start.
 */
export class ResourceLedger {
  readonly #capacity: Capacity;
  readonly #quotas: ReadonlyMap<string, Capacity>;
  readonly #active = new Map<string, ActiveReservation>();
  readonly #byTenant = new Map<string, TenantHolding>();
  #reserved: ResourceTotals = NOTHING;

  constructor(capacity: Capacity, quotas: readonly TenantQuota[]) {
    assertValidAmounts(capacity, 'ledger capacity');
    this.#capacity = copyCapacity(capacity);
    const byName = new Map<string, Capacity>();
    for (const quota of quotas) {
      const limit = convertQuotaToCapacity(quota);
      assertValidAmounts(limit, `quota of tenant ${quota.tenant}`);
      if (byName.has(quota.tenant)) throw new RangeError(`duplicate quota for ${quota.tenant}`);
      byName.set(quota.tenant, limit);
    }
    this.#quotas = byName;
  }

  /** Tells whether one task could ever run: against total capacity, then its tenant's quota. */
  checkAdmissible(req: ResourceAmounts, tenant?: string): Admission {
    const overCapacity = findShortfall(req, this.#capacity);
    if (overCapacity !== undefined) return { ok: false, scope: 'runtime', ...overCapacity };
    const quota = tenant === undefined ? undefined : this.#quotas.get(tenant);
    if (tenant !== undefined && quota !== undefined) {
      const overQuota = findShortfall(req, quota);
      if (overQuota !== undefined) return { ok: false, scope: 'tenant', tenant, ...overQuota };
    }
    return { ok: true };
  }

  /** Tells whether the task fits in what is free right now, runtime-wide and for its tenant. */
  fitsNow(req: ResourceAmounts, tenant?: string): boolean {
    if (findShortfall(req, this.getAvailable()) !== undefined) return false;
    const tenantAvailable = this.getTenantAvailable(tenant);
    return tenantAvailable === undefined || findShortfall(req, tenantAvailable) === undefined;
  }

  /** Holds resources for a task that is about to start; refuses if they are not free. */
  reserve(
    taskId: string,
    req: ResourceAmounts,
    tenant: string | undefined,
    reservedAt: string,
  ): ActiveReservation {
    this.#assertNotHeld(taskId);
    assertValidAmounts(req, `reservation of task ${taskId}`);
    if (!this.fitsNow(req, tenant)) {
      throw new ReservationRefusedError(taskId, 'does_not_fit', 'not enough free resources');
    }
    return this.#record(taskId, req, tenant, reservedAt);
  }

  // On start the runtime replays reservations of tasks that survived a restart. They are already
  // running, so they are recorded even if a smaller capacity is now configured; new work simply
  // waits until enough of them finish.
  /** Re-records a persisted reservation without checking capacity or quota. */
  restore(
    taskId: string,
    req: ResourceAmounts,
    tenant: string | undefined,
    reservedAt: string,
  ): ActiveReservation {
    this.#assertNotHeld(taskId);
    assertValidAmounts(req, `reservation of task ${taskId}`);
    return this.#record(taskId, req, tenant, reservedAt);
  }

  /** Frees a task's reservation; returns it, or undefined if the task held none. */
  release(taskId: string): ActiveReservation | undefined {
    const held = this.#active.get(taskId);
    if (held === undefined) return undefined;
    this.#active.delete(taskId);
    this.#reserved = subtractAmounts(this.#reserved, held.reservation);
    if (held.tenant !== undefined) this.#releaseForTenant(held.tenant, held.reservation);
    return held;
  }

  has(taskId: string): boolean {
    return this.#active.has(taskId);
  }

  /** Returns what is free runtime-wide; unknown capacities stay absent. */
  getAvailable(): Capacity {
    return computeAvailable(this.#capacity, this.#reserved);
  }

  /** Returns what the tenant may still take under its quota, or undefined if it has none. */
  getTenantAvailable(tenant: string | undefined): Capacity | undefined {
    if (tenant === undefined) return undefined;
    const quota = this.#quotas.get(tenant);
    if (quota === undefined) return undefined;
    return computeAvailable(quota, this.#byTenant.get(tenant)?.reserved ?? NOTHING);
  }

  /** Describes capacity, use and every tenant of interest, ready for /api/v1/runtime/resources. */
  snapshot(): LedgerSnapshot {
    return {
      capacity: copyCapacity(this.#capacity),
      reserved: { ...this.#reserved },
      available: this.getAvailable(),
      active: [...this.#active.values()],
      tenants: this.#describeTenants(),
    };
  }

  #assertNotHeld(taskId: string): void {
    if (this.#active.has(taskId)) {
      throw new ReservationRefusedError(taskId, 'already_reserved', 'it already holds one');
    }
  }

  #record(
    taskId: string,
    req: ResourceAmounts,
    tenant: string | undefined,
    reservedAt: string,
  ): ActiveReservation {
    // Frozen copies: snapshots hand these out, and a caller's later edits must not move totals.
    const reservation = Object.freeze(copyRequest(req));
    const held: ActiveReservation = Object.freeze({
      task_id: taskId,
      ...(tenant === undefined ? {} : { tenant }),
      reservation,
      reserved_at: reservedAt,
    });
    this.#active.set(taskId, held);
    this.#reserved = addAmounts(this.#reserved, reservation);
    if (tenant !== undefined) {
      const holding = this.#byTenant.get(tenant) ?? { holders: 0, reserved: NOTHING };
      this.#byTenant.set(tenant, {
        holders: holding.holders + 1,
        reserved: addAmounts(holding.reserved, reservation),
      });
    }
    return held;
  }

  #releaseForTenant(tenant: string, reservation: ResourceAmounts): void {
    const holding = this.#byTenant.get(tenant);
    if (holding === undefined) return;
    // Dropped at zero holders so a tenant seen once does not stay in snapshots forever.
    if (holding.holders <= 1) {
      this.#byTenant.delete(tenant);
      return;
    }
    this.#byTenant.set(tenant, {
      holders: holding.holders - 1,
      reserved: subtractAmounts(holding.reserved, reservation),
    });
  }

  #describeTenants(): TenantUsage[] {
    const names = new Set([...this.#quotas.keys(), ...this.#byTenant.keys()]);
    return [...names].sort(compareTenantNames).map((tenant) => {
      const reserved = { ...(this.#byTenant.get(tenant)?.reserved ?? NOTHING) };
      const quota = this.#quotas.get(tenant);
      if (quota === undefined) return { tenant, reserved };
      return {
        tenant,
        quota: copyCapacity(quota),
        reserved,
        available: computeAvailable(quota, reserved),
      };
    });
  }
}

function copyRequest(req: ResourceAmounts): ResourceAmounts {
  const copy: ResourceAmounts = { task_slots: req.task_slots };
  if (req.memory_bytes !== undefined) copy.memory_bytes = req.memory_bytes;
  if (req.pids !== undefined) copy.pids = req.pids;
  return copy;
}
