import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { describe, it } from 'node:test';
import { ExposedTasks } from '../../src/sandbox/exposed-tasks.js';

const OWN = { base: 1_879_048_192, count: 65_536 };
const GRACE_MS = 30;

/** An ExposedTasks whose retirements are events to wait for. */
function makeExposed(): { exposed: ExposedTasks; retired: EventEmitter } {
  const retired = new EventEmitter();
  return { exposed: new ExposedTasks(OWN, () => retired.emit('retired'), GRACE_MS), retired };
}

/** The next retirement; the retire timer is unref'd, so the test keeps the loop alive. */
async function nextRetirement(retired: EventEmitter): Promise<void> {
  const alive = setInterval(() => undefined, 1_000);
  try {
    await once(retired, 'retired');
  } finally {
    clearInterval(alive);
  }
}

describe('exposed sandboxed tasks', () => {
  it('expose the own range while a task runs, and the uid of one outside it', () => {
    const { exposed } = makeExposed();
    assert.deepEqual(exposed.ranges(), []);
    exposed.add('a', OWN.base + 5);
    exposed.add('b', 4242);
    assert.deepEqual(exposed.ranges(), [OWN, { base: 4242, count: 1 }]);
    assert.equal(exposed.isRunning('a'), true);
  });

  it('keep an ended task exposed for the grace, with its end, then retire it', async () => {
    const { exposed, retired } = makeExposed();
    exposed.add('a', OWN.base + 5);
    const before = Date.now();
    assert.equal(exposed.end('a'), true);
    assert.equal(exposed.end('a'), false, 'ended once');
    assert.equal(exposed.isRunning('a'), false);
    const [range] = exposed.ranges();
    assert.equal(range?.base, OWN.base);
    assert.ok((range?.until ?? 0) >= before + GRACE_MS, 'the note says until when');
    await nextRetirement(retired);
    assert.deepEqual(exposed.ranges(), []);
  });

  it('retire only after a poll phase: a connection queued meanwhile is accepted first', async () => {
    const { exposed, retired } = makeExposed();
    exposed.add('a', undefined);
    exposed.end('a');
    // A timer due after the retirement's, then a stall of the event loop past both: when the
    // loop turns again, both run in the same timers phase, the retirement's first. The
    // retirement itself waits for the check phase, after that turn's poll phase, so this
    // one still sees the task exposed.
    let seenInPoll: number | undefined;
    setTimeout(() => {
      seenInPoll = exposed.ranges().length;
    }, GRACE_MS * 2);
    const until = Date.now() + GRACE_MS * 3;
    while (Date.now() < until);
    await nextRetirement(retired);
    assert.equal(seenInPoll, 1);
  });

  it('a task that runs again (requeued, relaunched) is exposed for good again', async () => {
    const { exposed, retired } = makeExposed();
    exposed.add('a', 4242);
    exposed.add('b', 4243);
    exposed.end('a');
    exposed.end('b');
    exposed.add('a', 4242);
    await nextRetirement(retired);
    assert.deepEqual(exposed.ranges(), [OWN, { base: 4242, count: 1 }]);
  });
});
