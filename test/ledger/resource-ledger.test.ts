import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResourceAmounts } from '../../src/ledger/resource-amounts.js';
import {
  ReservationRefusedError,
  ResourceLedger,
  type Admission,
} from '../../src/ledger/resource-ledger.js';

const AT = '2024-01-01T00:00:00.000Z';

function createLedger(): ResourceLedger {
  return new ResourceLedger({ task_slots: 4, memory_bytes: 1000, pids: 100 }, [
    { tenant: 'small', slots: 2, memory_bytes: 300, pids: 10 },
    { tenant: 'slots-only', slots: 1 },
  ]);
}

await test('new ResourceLedger', async (t) => {
  await t.test('rejects malformed capacity and duplicate quotas', () => {
    assert.throws(() => new ResourceLedger({ task_slots: -1 }, []), RangeError);
    assert.throws(
      () => new ResourceLedger({ task_slots: 1 }, [{ tenant: 'a', slots: 1.5 }]),
      RangeError,
    );
    assert.throws(
      () =>
        new ResourceLedger({ task_slots: 1 }, [
          { tenant: 'a', slots: 1 },
          { tenant: 'a', slots: 2 },
        ]),
      RangeError,
    );
  });
});

await test('ResourceLedger.checkAdmissible', async (t) => {
  const cases: { name: string; req: ResourceAmounts; tenant?: string; expected: Admission }[] = [
    { name: 'a plain task', req: { task_slots: 1 }, expected: { ok: true } },
    {
      name: 'everything the runtime has',
      req: { task_slots: 4, memory_bytes: 1000, pids: 100 },
      expected: { ok: true },
    },
    {
      name: 'more slots than the runtime has',
      req: { task_slots: 5 },
      expected: { ok: false, scope: 'runtime', resource: 'task_slots', requested: 5, limit: 4 },
    },
    {
      name: 'more memory than the runtime has',
      req: { task_slots: 1, memory_bytes: 1001 },
      expected: {
        ok: false,
        scope: 'runtime',
        resource: 'memory_bytes',
        requested: 1001,
        limit: 1000,
      },
    },
    {
      name: 'more pids than the runtime has',
      req: { task_slots: 1, pids: 101 },
      expected: { ok: false, scope: 'runtime', resource: 'pids', requested: 101, limit: 100 },
    },
    {
      name: 'runtime scope wins over tenant scope',
      req: { task_slots: 1, memory_bytes: 2000 },
      tenant: 'small',
      expected: {
        ok: false,
        scope: 'runtime',
        resource: 'memory_bytes',
        requested: 2000,
        limit: 1000,
      },
    },
    {
      name: 'more slots than the tenant quota',
      req: { task_slots: 3 },
      tenant: 'small',
      expected: {
        ok: false,
        scope: 'tenant',
        tenant: 'small',
        resource: 'task_slots',
        requested: 3,
        limit: 2,
      },
    },
    {
      name: 'more memory than the tenant quota',
      req: { task_slots: 1, memory_bytes: 301 },
      tenant: 'small',
      expected: {
        ok: false,
        scope: 'tenant',
        tenant: 'small',
        resource: 'memory_bytes',
        requested: 301,
        limit: 300,
      },
    },
    {
      name: 'more pids than the tenant quota',
      req: { task_slots: 1, pids: 11 },
      tenant: 'small',
      expected: {
        ok: false,
        scope: 'tenant',
        tenant: 'small',
        resource: 'pids',
        requested: 11,
        limit: 10,
      },
    },
    {
      name: 'a quota without memory does not limit memory',
      req: { task_slots: 1, memory_bytes: 900, pids: 90 },
      tenant: 'slots-only',
      expected: { ok: true },
    },
    {
      name: 'a tenant without quota is only held to the runtime',
      req: { task_slots: 4, memory_bytes: 1000 },
      tenant: 'unknown',
      expected: { ok: true },
    },
  ];
  for (const { name, req, tenant, expected } of cases) {
    await t.test(name, () =>
      assert.deepEqual(createLedger().checkAdmissible(req, tenant), expected),
    );
  }

  await t.test('does not check memory or pids when their capacity is unknown', () => {
    const ledger = new ResourceLedger({ task_slots: 1 }, []);
    assert.deepEqual(ledger.checkAdmissible({ task_slots: 1, memory_bytes: 2 ** 50, pids: 1e6 }), {
      ok: true,
    });
  });

  await t.test('ignores what is currently reserved', () => {
    const ledger = createLedger();
    ledger.reserve('t1', { task_slots: 4 }, undefined, AT);
    assert.deepEqual(ledger.checkAdmissible({ task_slots: 4 }), { ok: true });
    assert.equal(ledger.fitsNow({ task_slots: 1 }), false);
  });
});

await test('ResourceLedger.fitsNow', async (t) => {
  await t.test('follows runtime availability', () => {
    const ledger = createLedger();
    ledger.reserve('t1', { task_slots: 1, memory_bytes: 800 }, undefined, AT);
    assert.equal(ledger.fitsNow({ task_slots: 1, memory_bytes: 200 }), true);
    assert.equal(ledger.fitsNow({ task_slots: 1, memory_bytes: 201 }), false);
    assert.equal(ledger.fitsNow({ task_slots: 3 }), true);
    assert.equal(ledger.fitsNow({ task_slots: 4 }), false);
  });

  await t.test('follows the tenant quota without affecting other tenants', () => {
    const ledger = createLedger();
    ledger.reserve('t1', { task_slots: 1, pids: 6 }, 'small', AT);
    assert.equal(ledger.fitsNow({ task_slots: 1, pids: 4 }, 'small'), true);
    assert.equal(ledger.fitsNow({ task_slots: 1, pids: 5 }, 'small'), false);
    ledger.reserve('t2', { task_slots: 1 }, 'small', AT);
    assert.equal(ledger.fitsNow({ task_slots: 1 }, 'small'), false);
    assert.equal(ledger.fitsNow({ task_slots: 1 }, 'other'), true);
    assert.equal(ledger.fitsNow({ task_slots: 1 }), true);
  });
});

await test('ResourceLedger.reserve / release', async (t) => {
  await t.test('reserves and releases exactly once', () => {
    const ledger = createLedger();
    const held = ledger.reserve('t1', { task_slots: 1, memory_bytes: 100 }, 'small', AT);
    assert.deepEqual(held, {
      task_id: 't1',
      tenant: 'small',
      reservation: { task_slots: 1, memory_bytes: 100 },
      reserved_at: AT,
    });
    assert.equal(ledger.has('t1'), true);
    assert.deepEqual(ledger.getAvailable(), { task_slots: 3, memory_bytes: 900, pids: 100 });

    assert.deepEqual(ledger.release('t1'), held);
    assert.equal(ledger.has('t1'), false);
    assert.equal(ledger.release('t1'), undefined);
    assert.deepEqual(ledger.getAvailable(), { task_slots: 4, memory_bytes: 1000, pids: 100 });
    assert.deepEqual(ledger.getTenantAvailable('small'), {
      task_slots: 2,
      memory_bytes: 300,
      pids: 10,
    });
  });

  await t.test('releasing an unknown task is harmless', () => {
    const ledger = createLedger();
    assert.equal(ledger.release('nope'), undefined);
    assert.deepEqual(ledger.snapshot().reserved, { task_slots: 0, memory_bytes: 0, pids: 0 });
  });

  await t.test('refuses a second reservation for the same task', () => {
    const ledger = createLedger();
    ledger.reserve('t1', { task_slots: 1 }, undefined, AT);
    assert.throws(
      () => ledger.reserve('t1', { task_slots: 1 }, undefined, AT),
      (error: unknown) =>
        error instanceof ReservationRefusedError &&
        error.reason === 'already_reserved' &&
        error.taskId === 't1',
    );
    assert.equal(ledger.snapshot().reserved.task_slots, 1);
  });

  await t.test('refuses what does not fit, runtime-wide or in the quota', () => {
    const ledger = createLedger();
    ledger.reserve('t1', { task_slots: 1, memory_bytes: 250 }, 'small', AT);
    const refusals: [ResourceAmounts, string | undefined][] = [
      [{ task_slots: 1, memory_bytes: 51 }, 'small'],
      [{ task_slots: 1, memory_bytes: 751 }, undefined],
      [{ task_slots: 4 }, 'other'],
    ];
    for (const [req, tenant] of refusals) {
      assert.throws(
        () => ledger.reserve('t2', req, tenant, AT),
        (error: unknown) =>
          error instanceof ReservationRefusedError && error.reason === 'does_not_fit',
      );
    }
    assert.equal(ledger.has('t2'), false);
  });

  await t.test('rejects malformed amounts before touching the totals', () => {
    const ledger = createLedger();
    assert.throws(
      () => ledger.reserve('t1', { task_slots: Number.NaN }, undefined, AT),
      RangeError,
    );
    assert.equal(ledger.has('t1'), false);
  });

  await t.test('keeps its own copy of the reservation', () => {
    const ledger = createLedger();
    const req: ResourceAmounts = { task_slots: 1, memory_bytes: 100 };
    ledger.reserve('t1', req, undefined, AT);
    req.memory_bytes = 999;
    assert.deepEqual(ledger.release('t1')?.reservation, { task_slots: 1, memory_bytes: 100 });
    assert.deepEqual(ledger.snapshot().reserved, { task_slots: 0, memory_bytes: 0, pids: 0 });
  });

  await t.test('restore records surviving tasks even past a shrunken capacity', () => {
    const ledger = new ResourceLedger({ task_slots: 1 }, [{ tenant: 'a', slots: 1 }]);
    ledger.restore('t1', { task_slots: 1 }, 'a', AT);
    ledger.restore('t2', { task_slots: 1 }, 'a', AT);
    assert.deepEqual(ledger.getAvailable(), { task_slots: 0 });
    assert.equal(ledger.fitsNow({ task_slots: 1 }), false);
    assert.throws(() => ledger.restore('t1', { task_slots: 1 }, 'a', AT), ReservationRefusedError);
    ledger.release('t1');
    assert.equal(ledger.fitsNow({ task_slots: 1 }), false, 'still one over capacity');
    ledger.release('t2');
    assert.equal(ledger.fitsNow({ task_slots: 1 }, 'a'), true);
  });
});

await test('ResourceLedger.snapshot', async (t) => {
  await t.test('lists configured tenants at zero use and omits unknown capacities', () => {
    const ledger = new ResourceLedger({ task_slots: 2 }, [
      { tenant: 'zeta', slots: 1, memory_bytes: 64 },
      { tenant: 'alpha', slots: 2 },
    ]);
    assert.deepEqual(ledger.snapshot(), {
      capacity: { task_slots: 2 },
      reserved: { task_slots: 0, memory_bytes: 0, pids: 0 },
      available: { task_slots: 2 },
      active: [],
      tenants: [
        {
          tenant: 'alpha',
          quota: { task_slots: 2 },
          reserved: { task_slots: 0, memory_bytes: 0, pids: 0 },
          available: { task_slots: 2 },
        },
        {
          tenant: 'zeta',
          quota: { task_slots: 1, memory_bytes: 64 },
          reserved: { task_slots: 0, memory_bytes: 0, pids: 0 },
          available: { task_slots: 1, memory_bytes: 64 },
        },
      ],
    });
  });

  await t.test('shows active reservations and tenants holding them, quota or not', () => {
    const ledger = createLedger();
    ledger.reserve('t1', { task_slots: 1, memory_bytes: 100, pids: 5 }, 'small', AT);
    ledger.reserve('t2', { task_slots: 1, memory_bytes: 200 }, 'adhoc', AT);
    ledger.reserve('t3', { task_slots: 1 }, undefined, '2024-01-01T00:00:01.000Z');
    const snapshot = ledger.snapshot();

    assert.deepEqual(snapshot.capacity, { task_slots: 4, memory_bytes: 1000, pids: 100 });
    assert.deepEqual(snapshot.reserved, { task_slots: 3, memory_bytes: 300, pids: 5 });
    assert.deepEqual(snapshot.available, { task_slots: 1, memory_bytes: 700, pids: 95 });
    assert.deepEqual(
      snapshot.active.map((held) => [held.task_id, held.tenant]),
      [
        ['t1', 'small'],
        ['t2', 'adhoc'],
        ['t3', undefined],
      ],
    );
    assert.equal('tenant' in (snapshot.active[2] ?? {}), false, 'no tenant key at all');
    assert.deepEqual(snapshot.tenants, [
      { tenant: 'adhoc', reserved: { task_slots: 1, memory_bytes: 200, pids: 0 } },
      {
        tenant: 'slots-only',
        quota: { task_slots: 1 },
        reserved: { task_slots: 0, memory_bytes: 0, pids: 0 },
        available: { task_slots: 1 },
      },
      {
        tenant: 'small',
        quota: { task_slots: 2, memory_bytes: 300, pids: 10 },
        reserved: { task_slots: 1, memory_bytes: 100, pids: 5 },
        available: { task_slots: 1, memory_bytes: 200, pids: 5 },
      },
    ]);
  });

  await t.test('drops a tenant without quota once it holds nothing', () => {
    const ledger = createLedger();
    ledger.reserve('t1', { task_slots: 1 }, 'adhoc', AT);
    ledger.reserve('t2', { task_slots: 1 }, 'adhoc', AT);
    ledger.release('t1');
    assert.deepEqual(
      ledger.snapshot().tenants.map((usage) => usage.tenant),
      ['adhoc', 'slots-only', 'small'],
    );
    ledger.release('t2');
    assert.deepEqual(
      ledger.snapshot().tenants.map((usage) => usage.tenant),
      ['slots-only', 'small'],
    );
  });

  await t.test('is a copy: editing it does not change the ledger', () => {
    const ledger = createLedger();
    const snapshot = ledger.snapshot();
    snapshot.capacity.task_slots = 99;
    snapshot.reserved.task_slots = 99;
    assert.deepEqual(ledger.snapshot().capacity.task_slots, 4);
    assert.deepEqual(ledger.snapshot().reserved.task_slots, 0);
  });
});
