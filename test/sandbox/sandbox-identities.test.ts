import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimeError } from '../../src/core/runtime-error.js';
import {
  DEFAULT_SANDBOX_UID_FLOOR,
  defaultSandboxUidBase,
  SANDBOX_IDENTITY_COUNT,
  SandboxIdentities,
} from '../../src/sandbox/sandbox-identities.js';

await test('SandboxIdentities', async (t) => {
  await t.test('each task its own uid (= gid), the same one while it holds it', () => {
    const ids = new SandboxIdentities(1000, 4);
    assert.deepEqual(ids.acquire('a'), { uid: 1000, gid: 1000 });
    assert.deepEqual(ids.acquire('b'), { uid: 1001, gid: 1001 });
    assert.deepEqual(ids.acquire('a'), { uid: 1000, gid: 1000 });
    assert.equal(ids.held, 2);
  });

  await t.test('round robin: a released uid is reused as late as possible', () => {
    const ids = new SandboxIdentities(1000, 3);
    ids.acquire('a');
    ids.release('a');
    assert.equal(ids.acquire('b').uid, 1001);
    assert.equal(ids.acquire('c').uid, 1002);
    assert.equal(ids.acquire('d').uid, 1000);
  });

  await t.test('held uids are skipped, and a full range refuses with sandbox_setup_failed', () => {
    const ids = new SandboxIdentities(1000, 2);
    ids.acquire('a');
    ids.acquire('b');
    assert.throws(
      () => ids.acquire('c'),
      (error: unknown) => error instanceof RuntimeError && error.code === 'sandbox_setup_failed',
    );
    ids.release('a');
    assert.equal(ids.acquire('c').uid, 1000);
  });

  await t.test(
    'adopt marks a re-attached task uid held; uids outside the range are ignored',
    () => {
      const ids = new SandboxIdentities(1000, 3);
      ids.adopt('old', 1000);
      ids.adopt('legacy', 65534);
      assert.equal(ids.held, 1);
      assert.equal(ids.acquire('new').uid, 1001);
      assert.equal(ids.acquire('newer').uid, 1002);
      assert.throws(() => ids.acquire('full'));
      ids.release('old');
      assert.equal(ids.acquire('full').uid, 1000);
    },
  );
});

await test('default uid base: per data dir, stable, inside 0x70000000 … 2^31 - 1', () => {
  const bases = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const base = defaultSandboxUidBase(`/var/lib/execgo-runtime-${i}`);
    assert.equal(base, defaultSandboxUidBase(`/var/lib/execgo-runtime-${i}`), 'stable');
    assert.ok(base >= DEFAULT_SANDBOX_UID_FLOOR, String(base));
    assert.equal((base - DEFAULT_SANDBOX_UID_FLOOR) % SANDBOX_IDENTITY_COUNT, 0, 'whole ranges');
    assert.ok(base + SANDBOX_IDENTITY_COUNT - 1 < 2 ** 31 - 1, 'the last uid stays below 2^31 - 1');
    bases.add(base);
  }
  // 200 data dirs over 4,095 ranges: a few may share one, most do not.
  assert.ok(bases.size > 180, `${bases.size} distinct ranges for 200 data dirs`);
});
