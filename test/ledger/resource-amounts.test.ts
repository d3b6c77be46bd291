import assert from 'node:assert/strict';
import { test } from 'node:test';
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
  type ResourceShortfall,
} from '../../src/ledger/resource-amounts.js';

const ZERO = { task_slots: 0, memory_bytes: 0, pids: 0 };

await test('addAmounts / subtractAmounts', async (t) => {
  await t.test('counts absent memory and pids as zero', () => {
    const total = addAmounts(ZERO, { task_slots: 1 });
    assert.deepEqual(total, { task_slots: 1, memory_bytes: 0, pids: 0 });
  });

  await t.test('adds every resource', () => {
    const total = addAmounts(
      { task_slots: 1, memory_bytes: 100, pids: 4 },
      {
        task_slots: 1,
        memory_bytes: 50,
        pids: 2,
      },
    );
    assert.deepEqual(total, { task_slots: 2, memory_bytes: 150, pids: 6 });
  });

  await t.test('subtracting what was added gives back the start', () => {
    const start = { task_slots: 3, memory_bytes: 700, pids: 9 };
    const req: ResourceAmounts = { task_slots: 1, memory_bytes: 200 };
    assert.deepEqual(subtractAmounts(addAmounts(start, req), req), start);
  });
});

await test('findShortfall', async (t) => {
  const cases: {
    name: string;
    req: ResourceAmounts;
    limit: Capacity;
    expected: ResourceShortfall | undefined;
  }[] = [
    { name: 'fits exactly', req: { task_slots: 2 }, limit: { task_slots: 2 }, expected: undefined },
    {
      name: 'too many slots',
      req: { task_slots: 3 },
      limit: { task_slots: 2 },
      expected: { resource: 'task_slots', requested: 3, limit: 2 },
    },
    {
      name: 'too much memory',
      req: { task_slots: 1, memory_bytes: 101 },
      limit: { task_slots: 4, memory_bytes: 100 },
      expected: { resource: 'memory_bytes', requested: 101, limit: 100 },
    },
    {
      name: 'too many pids',
      req: { task_slots: 1, pids: 65 },
      limit: { task_slots: 4, memory_bytes: 100, pids: 64 },
      expected: { resource: 'pids', requested: 65, limit: 64 },
    },
    {
      name: 'unknown memory and pids capacity are not checked',
      req: { task_slots: 1, memory_bytes: 10 ** 15, pids: 10 ** 9 },
      limit: { task_slots: 1 },
      expected: undefined,
    },
    {
      name: 'a request without memory fits a zero memory limit',
      req: { task_slots: 1 },
      limit: { task_slots: 1, memory_bytes: 0, pids: 0 },
      expected: undefined,
    },
    {
      name: 'slots are named first when several resources are short',
      req: { task_slots: 2, memory_bytes: 200, pids: 20 },
      limit: { task_slots: 1, memory_bytes: 100, pids: 10 },
      expected: { resource: 'task_slots', requested: 2, limit: 1 },
    },
  ];
  for (const { name, req, limit, expected } of cases) {
    await t.test(name, () => assert.deepEqual(findShortfall(req, limit), expected));
  }
});

await test('computeAvailable', async (t) => {
  const cases: { name: string; limit: Capacity; used: ResourceAmounts; expected: Capacity }[] = [
    {
      name: 'subtracts known resources',
      limit: { task_slots: 4, memory_bytes: 1000, pids: 100 },
      used: { task_slots: 1, memory_bytes: 300, pids: 10 },
      expected: { task_slots: 3, memory_bytes: 700, pids: 90 },
    },
    {
      name: 'omits unknown capacities instead of inventing numbers',
      limit: { task_slots: 4 },
      used: { task_slots: 1, memory_bytes: 300, pids: 10 },
      expected: { task_slots: 3 },
    },
    {
      name: 'never goes below zero when oversubscribed',
      limit: { task_slots: 2, memory_bytes: 100 },
      used: { task_slots: 3, memory_bytes: 150 },
      expected: { task_slots: 0, memory_bytes: 0 },
    },
  ];
  for (const { name, limit, used, expected } of cases) {
    await t.test(name, () => assert.deepEqual(computeAvailable(limit, used), expected));
  }
});

await test('convertQuotaToCapacity / copyCapacity', async (t) => {
  await t.test('renames slots and keeps absent limits absent', () => {
    const capacity = convertQuotaToCapacity({ tenant: 'a', slots: 2, pids: 8 });
    assert.deepEqual(capacity, { task_slots: 2, pids: 8 });
    assert.equal('memory_bytes' in capacity, false);
  });

  await t.test('copies without aliasing', () => {
    const original: Capacity = { task_slots: 2, memory_bytes: 5 };
    const copy = copyCapacity(original);
    copy.task_slots = 9;
    assert.deepEqual(original, { task_slots: 2, memory_bytes: 5 });
    assert.equal('pids' in copy, false);
  });
});

await test('assertValidAmounts', async (t) => {
  const bad: ResourceAmounts[] = [
    { task_slots: -1 },
    { task_slots: 1.5 },
    { task_slots: Number.NaN },
    { task_slots: 1, memory_bytes: Number.POSITIVE_INFINITY },
    { task_slots: 1, pids: -3 },
  ];
  for (const amounts of bad) {
    await t.test(`rejects ${JSON.stringify(amounts)}`, () => {
      assert.throws(() => assertValidAmounts(amounts, 'test'), RangeError);
    });
  }

  await t.test('accepts zero and absent values', () => {
    assert.doesNotThrow(() => assertValidAmounts({ task_slots: 0, pids: 0 }, 'test'));
  });
});
