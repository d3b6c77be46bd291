import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  captureIdentity,
  isSameProcessAlive,
  isSignallableGroup,
  readOwnProcessGroup,
  parseStartTicks,
  readStartTicks,
} from '../../src/executor/process-identity.js';

describe('process identity', () => {
  it('counts fields after the last ")" so a hostile comm cannot shift them', () => {
    const tail = 'S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 20 21';
    assert.equal(parseStartTicks(`123 (x) 1 2 3) ${tail}`), 424242);
    assert.equal(parseStartTicks(`123 (plain) ${tail}`), 424242);
    assert.equal(parseStartTicks('garbage'), undefined);
  });

  it('recognises this process and rejects a different start time', () => {
    const me = captureIdentity(process.pid);
    assert.ok(me !== undefined);
    assert.equal(me.startTicks, readStartTicks(process.pid));
    assert.ok(isSameProcessAlive(me));
    assert.ok(!isSameProcessAlive({ ...me, startTicks: me.startTicks + 1 }));
    assert.ok(!isSameProcessAlive({ ...me, bootId: 'another-boot' }));
  });

  it('never treats init, our pid or our own process group as a signal target', () => {
    for (const pgid of [0, 1, -5, process.pid, readOwnProcessGroup(), Number.NaN])
      assert.equal(isSignallableGroup(pgid), false, String(pgid));
    assert.equal(isSignallableGroup(999_999_999), true);
  });
});
