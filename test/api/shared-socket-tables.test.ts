import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SharedSocketTables } from '../../src/api/shared-socket-tables.js';

const ROW = { file: 'tcp' as const, local: '0100007F:A000', remote: '0100007F:1F90' };
const line = (uid: number) =>
  `   1: ${ROW.local} ${ROW.remote} 01 00000000:00000000 00:00000000 00000000 ${uid} 0 ${uid + 1}`;

/** A table source whose reads finish when the test says, each showing the uid of its start. */
function controlledReads() {
  const pending: Array<() => void> = [];
  let uid = 1000;
  let started = 0;
  const tables = new SharedSocketTables(() => {
    started++;
    const table = `header\n${line(uid)}`;
    return new Promise<string>((resolve) => pending.push(() => resolve(table)));
  });
  return {
    tables,
    started: () => started,
    /** Later reads show another owner (as if the socket changed hands). */
    changeOwner: (next: number) => (uid = next),
    finishOne: async () => {
      pending.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe('shared socket table reads (security round 11: one read per connection ran the server out of heap)', () => {
  it('serve every lookup waiting at once with one read, then one more', async () => {
    const reads = controlledReads();
    const first = reads.tables.find(ROW, reads.tables.ticket());
    // 1,000 connections accepted while that read runs: they need a later read, one for all.
    const later = Array.from({ length: 1_000 }, () =>
      reads.tables.find(ROW, reads.tables.ticket()),
    );
    assert.equal(reads.started(), 1);
    await reads.finishOne();
    assert.equal((await first)?.uid, 1000);
    assert.equal(reads.started(), 2, 'the queued read started when the first ended');
    await reads.finishOne();
    for (const found of await Promise.all(later)) assert.equal(found?.uid, 1000);
    assert.equal(reads.started(), 2);
  });

  it('never answer from a read that started before the ticket was taken', async () => {
    const reads = controlledReads();
    const early = reads.tables.find(ROW, reads.tables.ticket());
    const ticket = reads.tables.ticket(); // taken after the first read started
    reads.changeOwner(2000);
    const late = reads.tables.find(ROW, ticket);
    await reads.finishOne();
    await reads.finishOne();
    assert.equal((await early)?.uid, 1000);
    assert.equal((await late)?.uid, 2000, 'from the read that started after its ticket');
  });

  it('a failed read fails its lookups, and the next one reads again', async () => {
    let calls = 0;
    const tables = new SharedSocketTables(() =>
      ++calls === 1 ? Promise.reject(new Error('EMFILE')) : Promise.resolve(`h\n${line(7)}`),
    );
    await assert.rejects(tables.find(ROW, tables.ticket()), /EMFILE/);
    assert.equal((await tables.find(ROW, tables.ticket()))?.uid, 7);
  });
});
