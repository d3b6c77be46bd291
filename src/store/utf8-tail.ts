// Where a byte buffer cuts a UTF-8 character: the output preview trims it, the live stream
// holds it back until the rest is written.

/** Bytes in the UTF-8 character a lead byte starts; 0 if it cannot start one (RFC 3629). */
function sequenceLength(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/** The second byte a lead byte allows (no overlong forms, surrogates or > U+10FFFF). */
function secondByteRange(lead: number): [number, number] {
  if (lead === 0xe0) return [0xa0, 0xbf];
  if (lead === 0xed) return [0x80, 0x9f];
  if (lead === 0xf0) return [0x90, 0xbf];
  if (lead === 0xf4) return [0x80, 0x8f];
  return [0x80, 0xbf];
}

/**
 * How many bytes (0-3) at the end of `chunk` begin a UTF-8 character whose remaining bytes
 * are not written yet. Bytes that can never become valid UTF-8 are not counted: they are
 * sent (as base64) rather than held back.
 */
export function incompleteUtf8Tail(chunk: Buffer): number {
  for (let n = 1; n <= Math.min(3, chunk.length); n++) {
    const lead = chunk[chunk.length - n] ?? 0;
    if (lead >= 0x80 && lead <= 0xbf) continue; // a continuation byte: look further back
    if (sequenceLength(lead) <= n) return 0;
    if (n >= 2) {
      const second = chunk[chunk.length - n + 1] ?? 0;
      const [low, high] = secondByteRange(lead);
      if (second < low || second > high) return 0;
    }
    return n;
  }
  return 0;
}
