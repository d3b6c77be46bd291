// Resource arithmetic shared by the ledger and the dispatch policy. Two shapes look alike but
// read differently: in a request an absent memory/pids means "asks for none" (counts as 0); in a
// limit (runtime capacity, tenant quota, what is left of either) it means "unknown, not checked".

export type ResourceName = 'task_slots' | 'memory_bytes' | 'pids';

/** Checked in this order, so a request that exceeds several limits always names the same one. */
export const RESOURCE_NAMES: readonly ResourceName[] = ['task_slots', 'memory_bytes', 'pids'];

/** What one task holds while it runs: the contract's TaskResourceReservation. */
export interface ResourceAmounts {
  task_slots: number;
  memory_bytes?: number;
  pids?: number;
}

/** A limit. Absent memory_bytes/pids are unknown and never block a task. */
export interface Capacity {
  task_slots: number;
  memory_bytes?: number;
  pids?: number;
}

/** A sum of reservations: every resource is known, absent requests having counted as 0. */
export type ResourceTotals = Required<ResourceAmounts>;

/** One --tenant-quota entry; absent memory_bytes/pids are not limited for the tenant. */
export interface TenantQuota {
  tenant: string;
  slots: number;
  memory_bytes?: number;
  pids?: number;
}

/** The first resource a request exceeds a limit by, with both numbers for the error message. */
export interface ResourceShortfall {
  resource: ResourceName;
  requested: number;
  limit: number;
}

// Amounts come from validated input, but a NaN or negative value would silently poison every
// later comparison, so the ledger refuses it loudly at the door.
export function assertValidAmounts(amounts: ResourceAmounts, what: string): void {
  for (const resource of RESOURCE_NAMES) {
    const value = amounts[resource];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`${what}: ${resource} must be a non-negative integer, got ${value}`);
    }
  }
}

/** Adds one request to a running total. */
export function addAmounts(total: ResourceTotals, amounts: ResourceAmounts): ResourceTotals {
  return {
    task_slots: total.task_slots + amounts.task_slots,
    memory_bytes: total.memory_bytes + (amounts.memory_bytes ?? 0),
    pids: total.pids + (amounts.pids ?? 0),
  };
}

/** Takes one request back out of a running total. */
export function subtractAmounts(total: ResourceTotals, amounts: ResourceAmounts): ResourceTotals {
  return {
    task_slots: total.task_slots - amounts.task_slots,
    memory_bytes: total.memory_bytes - (amounts.memory_bytes ?? 0),
    pids: total.pids - (amounts.pids ?? 0),
  };
}

/** Finds the first resource the request needs more of than the limit allows; unknown limits pass. */
export function findShortfall(
  requested: ResourceAmounts,
  limit: Capacity,
): ResourceShortfall | undefined {
  for (const resource of RESOURCE_NAMES) {
    const limitValue = limit[resource];
    if (limitValue === undefined) continue;
    const requestedValue = requested[resource] ?? 0;
    if (requestedValue > limitValue) {
      return { resource, requested: requestedValue, limit: limitValue };
    }
  }
  return undefined;
}

// Never below zero: after a restart with a smaller capacity the surviving reservations may
// oversubscribe it, and "-2 slots available" would only confuse clients.
/** Computes what is left of a limit once `used` is taken; unknown limits stay unknown. */
export function computeAvailable(limit: Capacity, used: ResourceAmounts): Capacity {
  const available: Capacity = { task_slots: Math.max(0, limit.task_slots - used.task_slots) };
  if (limit.memory_bytes !== undefined) {
    available.memory_bytes = Math.max(0, limit.memory_bytes - (used.memory_bytes ?? 0));
  }
  if (limit.pids !== undefined) {
    available.pids = Math.max(0, limit.pids - (used.pids ?? 0));
  }
  return available;
}

/** Reads a tenant quota as a limit in the same shape as the runtime capacity. */
export function convertQuotaToCapacity(quota: TenantQuota): Capacity {
  const capacity: Capacity = { task_slots: quota.slots };
  if (quota.memory_bytes !== undefined) capacity.memory_bytes = quota.memory_bytes;
  if (quota.pids !== undefined) capacity.pids = quota.pids;
  return capacity;
}

/** Copies a limit, keeping absent fields absent rather than present-but-undefined. */
export function copyCapacity(capacity: Capacity): Capacity {
  return computeAvailable(capacity, { task_slots: 0 });
}
