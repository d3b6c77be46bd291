import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { incompleteUtf8Tail } from '../../src/store/utf8-tail.js';

describe('incompleteUtf8Tail', () => {
  const bytes = (...values: number[]): Buffer => Buffer.from(values);

  it('counts the start of a character whose rest is not written yet', () => {
    const euro = Buffer.from('€'); // e2 82 ac
    const emoji = Buffer.from('😀'); // f0 9f 98 80
    assert.equal(incompleteUtf8Tail(Buffer.from('abc')), 0);
    assert.equal(incompleteUtf8Tail(Buffer.from('a€')), 0);
    assert.equal(incompleteUtf8Tail(Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)])), 1);
    assert.equal(incompleteUtf8Tail(euro.subarray(0, 2)), 2);
    assert.equal(incompleteUtf8Tail(emoji.subarray(0, 3)), 3);
    assert.equal(incompleteUtf8Tail(emoji), 0);
  });

  it('holds back nothing that can never become UTF-8', () => {
    assert.equal(incompleteUtf8Tail(bytes(0x61, 0xff)), 0); // never a UTF-8 byte
    assert.equal(incompleteUtf8Tail(bytes(0xc0)), 0); // overlong lead
    assert.equal(incompleteUtf8Tail(bytes(0xa9)), 0); // a lone continuation byte
    assert.equal(incompleteUtf8Tail(bytes(0xe0, 0x80)), 0); // overlong 3-byte form
    assert.equal(incompleteUtf8Tail(bytes(0xed, 0xa0)), 0); // a surrogate
    assert.equal(incompleteUtf8Tail(bytes(0xf4, 0x90)), 0); // beyond U+10FFFF
    assert.equal(incompleteUtf8Tail(bytes(0xc3, 0x61)), 0);
  });
});
