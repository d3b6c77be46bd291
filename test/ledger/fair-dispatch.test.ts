import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_TENANT_GROUP,
  findTenantGroup,
  selectDispatchable,
  type WaitingTask,
} from '../../src/ledger/fair-dispatch.js';
import type { Capacity, ResourceAmounts, TenantQuota } from '../../src/ledger/resource-amounts.js';
import { ResourceLedger } from '../../src/ledger/resource-ledger.js';

const AT = '2024-01-01T00:00:00.000Z';

function createTask(
  task_id: string,
  tenant: string | undefined,
  seq: number,
  reservation: ResourceAmounts = { task_slots: 1 },
): WaitingTask {
  return tenant === undefined
    ? { task_id, reservation, seq }
    : { task_id, tenant, reservation, seq };
}

function selectIds(
  waiting: readonly WaitingTask[],
  capacity: Capacity,
  quotas: readonly TenantQuota[] = [],
  cursor?: string,
): string[] {
  const ledger = new ResourceLedger(capacity, quotas);
  return selectDispatchable(waiting, ledger, cursor).selected.map((task) => task.task_id);
}

// Reserves what was selected and removes it from the waiting list, as the runtime would.
function dispatch(
  waiting: WaitingTask[],
  ledger: ResourceLedger,
  cursor: string | undefined,
): { started: WaitingTask[]; cursor: string | undefined } {
  const { selected, cursor: next } = selectDispatchable(waiting, ledger, cursor);
  for (const task of selected) {
    ledger.reserve(task.task_id, task.reservation, task.tenant, AT);
    waiting.splice(waiting.indexOf(task), 1);
  }
  return { started: selected, cursor: next };
}

await test('selectDispatchable: basics', async (t) => {
  await t.test('selects nothing from nothing and keeps the cursor', () => {
    const ledger = new ResourceLedger({ task_slots: 2 }, []);
    assert.deepEqual(selectDispatchable([], ledger, 'b'), { selected: [], cursor: 'b' });
  });

  await t.test('keeps the cursor when nothing fits', () => {
    const ledger = new ResourceLedger({ task_slots: 1 }, []);
    ledger.reserve('running', { task_slots: 1 }, undefined, AT);
    const waiting = [createTask('a1', 'a', 1)];
    assert.deepEqual(selectDispatchable(waiting, ledger, 'z'), { selected: [], cursor: 'z' });
  });

  await t.test('selects as many as fit, counting each selection against availability', () => {
    const waiting = [1, 2, 3, 4, 5].map((seq) => createTask(`t${seq}`, undefined, seq));
    assert.deepEqual(selectIds(waiting, { task_slots: 3 }), ['t1', 't2', 't3']);
    const heavy = [1, 2, 3].map((seq) =>
      createTask(`m${seq}`, undefined, seq, { task_slots: 1, memory_bytes: 400 }),
    );
    assert.deepEqual(selectIds(heavy, { task_slots: 8, memory_bytes: 1000 }), ['m1', 'm2']);
  });

  await t.test('starts from what the ledger already holds', () => {
    const ledger = new ResourceLedger({ task_slots: 3 }, [{ tenant: 'a', slots: 2 }]);
    ledger.reserve('running', { task_slots: 1 }, 'a', AT);
    const waiting = [createTask('a1', 'a', 1), createTask('a2', 'a', 2), createTask('b1', 'b', 3)];
    const ids = selectDispatchable(waiting, ledger, undefined).selected.map((t) => t.task_id);
    assert.deepEqual(ids, ['a1', 'b1']);
  });

  await t.test('does not touch the real ledger', () => {
    const ledger = new ResourceLedger({ task_slots: 2 }, [{ tenant: 'a', slots: 1 }]);
    const before = ledger.snapshot();
    selectDispatchable([createTask('a1', 'a', 1), createTask('b1', 'b', 2)], ledger, undefined);
    assert.deepEqual(ledger.snapshot(), before);
  });
});

await test('selectDispatchable: FIFO within a tenant', async (t) => {
  await t.test('never lets a later task overtake a head that does not fit', () => {
    const waiting = [
      createTask('a-big', 'a', 1, { task_slots: 1, memory_bytes: 800 }),
      createTask('a-small', 'a', 2, { task_slots: 1, memory_bytes: 100 }),
    ];
    assert.deepEqual(selectIds(waiting, { task_slots: 4, memory_bytes: 500 }), []);
  });

  await t.test('orders by seq, not by position in the input', () => {
    const waiting = [
      createTask('a3', 'a', 30),
      createTask('a1', 'a', 10),
      createTask('a2', 'a', 20),
    ];
    assert.deepEqual(selectIds(waiting, { task_slots: 2 }), ['a1', 'a2']);
  });

  await t.test('stops a tenant at its quota but keeps its order', () => {
    const waiting = [createTask('a1', 'a', 1), createTask('a2', 'a', 2), createTask('a3', 'a', 3)];
    assert.deepEqual(selectIds(waiting, { task_slots: 8 }, [{ tenant: 'a', slots: 2 }]), [
      'a1',
      'a2',
    ]);
  });
});

await test('selectDispatchable: no head-of-line blocking across tenants', async (t) => {
  await t.test("a tenant's big task does not block another tenant", () => {
    const waiting = [
      createTask('a-big', 'a', 1, { task_slots: 1, memory_bytes: 900 }),
      createTask('b1', 'b', 2, { task_slots: 1, memory_bytes: 100 }),
      createTask('b2', 'b', 3, { task_slots: 1, memory_bytes: 100 }),
    ];
    assert.deepEqual(selectIds(waiting, { task_slots: 4, memory_bytes: 500 }), ['b1', 'b2']);
  });

  await t.test('a tenant at its quota does not block another tenant', () => {
    const ledger = new ResourceLedger({ task_slots: 4 }, [{ tenant: 'a', slots: 1 }]);
    ledger.reserve('a0', { task_slots: 1 }, 'a', AT);
    const waiting = [createTask('a1', 'a', 1), createTask('b1', 'b', 2)];
    const { selected, cursor } = selectDispatchable(waiting, ledger, undefined);
    assert.deepEqual(
      selected.map((task) => task.task_id),
      ['b1'],
    );
    assert.equal(cursor, 'b');
  });

  await t.test('the tenant after the cursor gets first pick of scarce room', () => {
    // Room for two of the three: b goes first (cursor a), then a, and b2 no longer fits.
    const waiting = [
      createTask('a1', 'a', 1, { task_slots: 1, memory_bytes: 300 }),
      createTask('b1', 'b', 2, { task_slots: 1, memory_bytes: 300 }),
      createTask('b2', 'b', 3, { task_slots: 1, memory_bytes: 300 }),
    ];
    assert.deepEqual(selectIds(waiting, { task_slots: 4, memory_bytes: 700 }, [], 'a'), [
      'b1',
      'a1',
    ]);
  });
});

await test('selectDispatchable: round-robin', async (t) => {
  await t.test('interleaves tenants one task per turn, in name order', () => {
    const waiting = [
      ...[1, 2, 3].map((n) => createTask(`c${n}`, 'c', n)),
      ...[1, 2, 3].map((n) => createTask(`a${n}`, 'a', 10 + n)),
      ...[1, 2].map((n) => createTask(`b${n}`, 'b', 20 + n)),
    ];
    assert.deepEqual(selectIds(waiting, { task_slots: 7 }), [
      'a1',
      'b1',
      'c1',
      'a2',
      'b2',
      'c2',
      'a3',
    ]);
  });

  await t.test('rotates the starting tenant through the cursor over several rounds', () => {
    const ledger = new ResourceLedger({ task_slots: 2 }, []);
    const waiting = ['a', 'b', 'c'].flatMap((tenant, t) =>
      [0, 1, 2, 3].map((n) => createTask(`${tenant}${n}`, tenant, t * 10 + n)),
    );
    let cursor: string | undefined;
    const rounds: string[][] = [];
    for (let round = 0; round < 6; round += 1) {
      const result = dispatch(waiting, ledger, cursor);
      rounds.push(result.started.map((task) => task.task_id));
      cursor = result.cursor;
      for (const task of result.started) ledger.release(task.task_id);
    }
    assert.deepEqual(rounds, [
      ['a0', 'b0'],
      ['c0', 'a1'],
      ['b1', 'c1'],
      ['a2', 'b2'],
      ['c2', 'a3'],
      ['b3', 'c3'],
    ]);
  });

  await t.test('starts after the cursor even if that tenant no longer waits', () => {
    const waiting = [createTask('a1', 'a', 1), createTask('c1', 'c', 2), createTask('d1', 'd', 3)];
    assert.deepEqual(selectIds(waiting, { task_slots: 1 }, [], 'b'), ['c1']);
    assert.deepEqual(selectIds(waiting, { task_slots: 1 }, [], 'c'), ['d1']);
    assert.deepEqual(selectIds(waiting, { task_slots: 1 }, [], 'zzz'), ['a1']);
  });

  await t.test('returns the last tenant served as the cursor', () => {
    const ledger = new ResourceLedger({ task_slots: 3 }, []);
    const waiting = [createTask('a1', 'a', 1), createTask('a2', 'a', 2), createTask('b1', 'b', 3)];
    assert.equal(selectDispatchable(waiting, ledger, undefined).cursor, 'a');
    assert.equal(selectDispatchable(waiting, ledger, 'a').cursor, 'a');
  });
});

await test('selectDispatchable: tasks without a tenant', async (t) => {
  await t.test('share one FIFO group that takes its turn like a tenant', () => {
    const waiting = [
      createTask('n1', undefined, 1),
      createTask('n2', undefined, 2),
      createTask('n3', undefined, 3),
      createTask('x1', 'x', 4),
    ];
    const ledger = new ResourceLedger({ task_slots: 3 }, []);
    const { selected, cursor } = selectDispatchable(waiting, ledger, undefined);
    assert.deepEqual(
      selected.map((task) => task.task_id),
      ['n1', 'x1', 'n2'],
    );
    assert.equal(cursor, DEFAULT_TENANT_GROUP);
  });

  await t.test('is a group of its own, distinct from a tenant named "default"', () => {
    const waiting = [createTask('n1', undefined, 1), createTask('d1', 'default', 2)];
    assert.deepEqual(selectIds(waiting, { task_slots: 1 }, [], DEFAULT_TENANT_GROUP), ['d1']);
    assert.deepEqual(selectIds(waiting, { task_slots: 1 }, [], 'default'), ['n1']);
    assert.notEqual(findTenantGroup({ tenant: 'default' }), findTenantGroup({}));
  });

  await t.test('is not held to any tenant quota', () => {
    const waiting = [createTask('n1', undefined, 1), createTask('n2', undefined, 2)];
    assert.deepEqual(selectIds(waiting, { task_slots: 2 }, [{ tenant: 'a', slots: 1 }]), [
      'n1',
      'n2',
    ]);
  });
});

await test('selectDispatchable: no starvation under contention', async (t) => {
  // Small deterministic PRNG so that completions happen in a varied but repeatable order.
  function createRandom(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    };
  }

  await t.test('serves every waiting tenant at least once per round for 50 rounds', () => {
    const groups = ['a', 'b', 'c', undefined];
    const rounds = 50;
    const ledger = new ResourceLedger({ task_slots: 3, memory_bytes: 1000 }, []);
    // Tenant a floods first, so a global FIFO would serve only a for a long time.
    let seq = 0;
    const waiting: WaitingTask[] = groups.flatMap((tenant, g) =>
      Array.from({ length: rounds * 2 }, (_, n) =>
        createTask(`${tenant ?? 'none'}-${n}`, tenant, (seq += 1), {
          task_slots: 1,
          memory_bytes: 100 + ((n * 37 + g * 11) % 200),
        }),
      ),
    );
    const random = createRandom(42);
    const running: WaitingTask[] = [];
    const served: string[] = [];
    let cursor: string | undefined;

    while (served.length < rounds * groups.length) {
      // Finish one or two random running tasks, then dispatch into the freed room.
      const finishing = running.length > 1 && random() < 0.3 ? 2 : Math.min(1, running.length);
      for (let i = 0; i < finishing; i += 1) {
        const [done] = running.splice(Math.floor(random() * running.length), 1);
        if (done !== undefined) ledger.release(done.task_id);
      }
      const result = dispatch(waiting, ledger, cursor);
      cursor = result.cursor;
      running.push(...result.started);
      served.push(...result.started.map(findTenantGroup));
      assert.equal(ledger.getAvailable().task_slots, 0, 'contention: every slot stays busy');
    }

    const expected = new Set(groups.map((tenant) => findTenantGroup({ tenant })));
    for (let start = 0; start + groups.length <= served.length; start += 1) {
      const round = new Set(served.slice(start, start + groups.length));
      assert.deepEqual(round, expected, `dispatches ${start}..${start + groups.length - 1}`);
    }
  });
});

await test('selectDispatchable: scale', async (t) => {
  await t.test('handles thousands of waiting tasks across many tenants', () => {
    const waiting = Array.from({ length: 20_000 }, (_, n) =>
      createTask(`t${n}`, `tenant-${n % 500}`, 20_000 - n),
    );
    const ledger = new ResourceLedger({ task_slots: 5_000 }, []);
    const { selected } = selectDispatchable(waiting, ledger, undefined);
    assert.equal(selected.length, 5_000);
    // Ten full turns of 500 tenants, each taking its lowest seq first.
    const perTenant = new Map<string, number>();
    for (const task of selected) {
      const last = perTenant.get(task.tenant ?? '') ?? -1;
      assert.ok(task.seq > last, `${task.task_id} overtook an earlier task of its tenant`);
      perTenant.set(task.tenant ?? '', task.seq);
    }
    assert.equal(perTenant.size, 500);
  });
});
