import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TenantQuota } from '../../src/ledger/resource-amounts.js';
import {
  InvalidTenantQuotaError,
  parseTenantQuotaSpec,
  parseTenantQuotas,
} from '../../src/ledger/tenant-quota-spec.js';

await test('parseTenantQuotaSpec: accepted', async (t) => {
  const cases: { spec: string; expected: TenantQuota }[] = [
    { spec: 'demo=slots:2', expected: { tenant: 'demo', slots: 2 } },
    {
      spec: 'demo=slots:2,memory:1073741824,pids:128',
      expected: { tenant: 'demo', slots: 2, memory_bytes: 1073741824, pids: 128 },
    },
    {
      spec: 'team-a.prod=pids:16,slots:1',
      expected: { tenant: 'team-a.prod', slots: 1, pids: 16 },
    },
    { spec: 'a=slots:1,memory:64Ki', expected: { tenant: 'a', slots: 1, memory_bytes: 65536 } },
    {
      spec: 'a=slots:1,memory:512Mi',
      expected: { tenant: 'a', slots: 1, memory_bytes: 512 * 2 ** 20 },
    },
    {
      spec: 'a=slots:1,memory:2Gi',
      expected: { tenant: 'a', slots: 1, memory_bytes: 2 * 2 ** 30 },
    },
    { spec: 'a=slots:1,memory:1Ti', expected: { tenant: 'a', slots: 1, memory_bytes: 2 ** 40 } },
    {
      spec: ' demo = slots: 2 , memory :100 ',
      expected: { tenant: 'demo', slots: 2, memory_bytes: 100 },
    },
    { spec: 'a=slots:007', expected: { tenant: 'a', slots: 7 } },
  ];
  for (const { spec, expected } of cases) {
    await t.test(spec, () => assert.deepEqual(parseTenantQuotaSpec(spec), expected));
  }

  await t.test('leaves absent limits absent', () => {
    const quota = parseTenantQuotaSpec('demo=slots:1');
    assert.equal('memory_bytes' in quota, false);
    assert.equal('pids' in quota, false);
  });
});

await test('parseTenantQuotaSpec: rejected', async (t) => {
  const cases: { spec: string; problem: RegExp }[] = [
    { spec: '', problem: /missing "="/ },
    { spec: 'demo', problem: /missing "="/ },
    { spec: 'slots:2', problem: /missing "="/ },
    { spec: '=slots:2', problem: /tenant name is empty/ },
    { spec: '  =slots:2', problem: /tenant name is empty/ },
    { spec: 'demo=', problem: /no limits/ },
    { spec: 'demo=memory:100', problem: /slots is required/ },
    { spec: 'demo=slots:1,,pids:2', problem: /empty entry/ },
    { spec: 'demo=slots:1,', problem: /empty entry/ },
    { spec: 'demo=slots', problem: /"slots" is not KEY:VALUE/ },
    { spec: 'demo=slots:1,cpu:2', problem: /unknown key "cpu"/ },
    { spec: 'demo=slots:1,Memory:2', problem: /unknown key "Memory"/ },
    { spec: 'demo=slots:1,slots:2', problem: /slots is given more than once/ },
    { spec: 'demo=slots:1,pids:2,pids:2', problem: /pids is given more than once/ },
    { spec: 'demo=slots:0', problem: /slots must be greater than 0/ },
    { spec: 'demo=slots:1,memory:0Gi', problem: /memory must be greater than 0/ },
    { spec: 'demo=slots:-1', problem: /slots must be a positive integer, got "-1"/ },
    { spec: 'demo=slots:1.5', problem: /slots must be a positive integer/ },
    { spec: 'demo=slots:abc', problem: /slots must be a positive integer/ },
    { spec: 'demo=slots:', problem: /slots must be a positive integer, got ""/ },
    { spec: 'demo=slots:2Ki', problem: /slots must be a positive integer, got "2Ki"/ },
    { spec: 'demo=slots:1,pids:0x10', problem: /pids must be a positive integer/ },
    { spec: 'demo=slots:1,memory:1e9', problem: /memory must be a positive integer of bytes/ },
    { spec: 'demo=slots:1,memory:1G', problem: /memory must be a positive integer of bytes/ },
    { spec: 'demo=slots:1,memory:1gi', problem: /memory must be a positive integer of bytes/ },
    { spec: 'demo=slots:99999999999999999999', problem: /slots is too large/ },
    { spec: 'demo=slots:1,memory:9007199254740991Ki', problem: /memory is too large/ },
    { spec: 'demo=slots:1=2', problem: /slots must be a positive integer/ },
  ];
  for (const { spec, problem } of cases) {
    await t.test(JSON.stringify(spec), () => {
      assert.throws(
        () => parseTenantQuotaSpec(spec),
        (error: unknown) => {
          assert.ok(error instanceof InvalidTenantQuotaError);
          assert.equal(error.code, 'invalid_input');
          assert.equal(error.spec, spec);
          assert.match(error.problem, problem);
          // The message names both the offending spec and the expected format.
          assert.ok(error.message.includes(JSON.stringify(spec)), error.message);
          assert.match(error.message, /NAME=slots:N/);
          return true;
        },
      );
    });
  }
});

await test('parseTenantQuotas', async (t) => {
  await t.test('parses every spec in order', () => {
    assert.deepEqual(parseTenantQuotas(['b=slots:1', 'a=slots:2,pids:3']), [
      { tenant: 'b', slots: 1 },
      { tenant: 'a', slots: 2, pids: 3 },
    ]);
  });

  await t.test('accepts no specs', () => {
    assert.deepEqual(parseTenantQuotas([]), []);
  });

  await t.test('rejects the same tenant twice, naming the second spec', () => {
    assert.throws(
      () => parseTenantQuotas(['demo=slots:1', 'other=slots:1', ' demo=slots:2']),
      (error: unknown) => {
        assert.ok(error instanceof InvalidTenantQuotaError);
        assert.equal(error.spec, ' demo=slots:2');
        assert.match(error.problem, /tenant "demo" already has a quota/);
        return true;
      },
    );
  });

  await t.test('propagates a bad spec', () => {
    assert.throws(() => parseTenantQuotas(['demo=slots:1', 'x=']), InvalidTenantQuotaError);
  });
});
