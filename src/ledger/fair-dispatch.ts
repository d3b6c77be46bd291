import {
  computeAvailable,
  findShortfall,
  type Capacity,
  type ResourceAmounts,
} from './resource-amounts.js';
import type { ResourceLedger } from './resource-ledger.js';
import { compareTenantNames } from './tenant-order.js';

/** An accepted task waiting for resources. `seq` is its place in the global FIFO order. */
export interface WaitingTask {
  task_id: string;
  tenant?: string;
  reservation: ResourceAmounts;
  seq: number;
}

export interface DispatchSelection {
  /** Tasks to reserve and start, in this order. */
  selected: WaitingTask[];
  /** Group key of the last tenant served; pass it to the next call. */
  cursor: string | undefined;
}

/**
 * Group key (and cursor value) of tasks without a tenant. The contract rejects blank tenant
 * names, so the empty string can never be a real tenant.
 */
export const DEFAULT_TENANT_GROUP = '';

interface TenantQueue {
  key: string;
  tasks: WaitingTask[];
  next: number;
  // What the tenant's quota still allows in this simulation; undefined = no quota.
  quotaLeft: Capacity | undefined;
}

/**
 * Chooses which waiting tasks to start now. Each tenant's tasks go strictly in `seq` order; a
 * tenant whose oldest task does not fit is skipped this time without holding anyone else up; the
 * others are served one task per turn, round-robin in name order starting after `cursor`.
 * Reservations are simulated on a scratch copy; the ledger itself is not touched.
 */
export function selectDispatchable(
  waiting: readonly WaitingTask[],
  ledger: ResourceLedger,
  cursor: string | undefined,
): DispatchSelection {
  const queues = arrangeRing(groupByTenant(waiting, ledger), cursor);
  let runtimeLeft = ledger.getAvailable();
  const selected: WaitingTask[] = [];
  let lastServed = cursor;

  // Each visit either takes a task or drops the queue for good (drained, or its head does not
  // fit; availability only shrinks during a call, so it will not fit later either). The whole
  // loop is therefore linear in the number of waiting tasks.
  let turn = queues;
  while (turn.length > 0) {
    const nextTurn: TenantQueue[] = [];
    for (const queue of turn) {
      const head = queue.tasks[queue.next];
      if (head === undefined || !fitsIn(head.reservation, runtimeLeft, queue.quotaLeft)) continue;
      selected.push(head);
      lastServed = queue.key;
      queue.next += 1;
      runtimeLeft = computeAvailable(runtimeLeft, head.reservation);
      if (queue.quotaLeft !== undefined) {
        queue.quotaLeft = computeAvailable(queue.quotaLeft, head.reservation);
      }
      if (queue.next < queue.tasks.length) nextTurn.push(queue);
    }
    turn = nextTurn;
  }
  return { selected, cursor: lastServed };
}

/** Returns the group key a task is queued under; tasks without a tenant share one group. */
export function findTenantGroup(task: Pick<WaitingTask, 'tenant'>): string {
  return task.tenant ?? DEFAULT_TENANT_GROUP;
}

function groupByTenant(waiting: readonly WaitingTask[], ledger: ResourceLedger): TenantQueue[] {
  const queues = new Map<string, TenantQueue>();
  for (const task of [...waiting].sort((a, b) => a.seq - b.seq)) {
    const key = findTenantGroup(task);
    let queue = queues.get(key);
    if (queue === undefined) {
      queue = { key, tasks: [], next: 0, quotaLeft: ledger.getTenantAvailable(task.tenant) };
      queues.set(key, queue);
    }
    queue.tasks.push(task);
  }
  return [...queues.values()];
}

// The ring is every tenant with waiting work in name order; the turn starts at the first tenant
// after the one served last, wrapping around, so the cursor stays meaningful even when that
// tenant has since run out of work.
function arrangeRing(queues: TenantQueue[], cursor: string | undefined): TenantQueue[] {
  const ring = queues.sort((a, b) => compareTenantNames(a.key, b.key));
  if (cursor === undefined) return ring;
  const start = ring.findIndex((queue) => compareTenantNames(queue.key, cursor) > 0);
  if (start <= 0) return ring;
  return [...ring.slice(start), ...ring.slice(0, start)];
}

function fitsIn(
  req: ResourceAmounts,
  runtimeLeft: Capacity,
  quotaLeft: Capacity | undefined,
): boolean {
  if (findShortfall(req, runtimeLeft) !== undefined) return false;
  return quotaLeft === undefined || findShortfall(req, quotaLeft) === undefined;
}
