import type { IncomingMessage } from 'node:http';
import { invalidInput } from '../core/runtime-error.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Node hands header values over as latin1 (one char per byte); this API's text headers are
 * UTF-8, so their bytes are decoded again. Plain ASCII, the common case, is returned as is.
 * Undefined when the bytes are not UTF-8.
 */
export function decodeUtf8Header(value: string): string | undefined {
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  try {
    return strictUtf8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return undefined;
  }
}

/** How many lines of a header the request had (Node joins most repeats into one value). */
function countHeaderLines(request: IncomingMessage, name: string): number {
  let count = 0;
  for (let i = 0; i < request.rawHeaders.length; i += 2)
    if (request.rawHeaders[i]?.toLowerCase() === name) count++;
  return count;
}

/**
 * A text header that must be sent at most once, decoded as UTF-8 (the same text as the body
 * field it stands for). Two of them, or bytes that are not UTF-8, are refused: joined or
 * mangled, the value would silently mean something else.
 */
export function readSingleTextHeader(request: IncomingMessage, name: string): string | undefined {
  const lines = countHeaderLines(request, name);
  if (lines === 0) return undefined;
  if (lines > 1)
    throw invalidInput(`send one ${name} header, not ${lines}`, { field: name, headers: lines });
  const value = request.headers[name];
  const text = decodeUtf8Header(Array.isArray(value) ? (value[0] ?? '') : (value ?? ''));
  if (text === undefined) throw invalidInput(`the ${name} header is not UTF-8`, { field: name });
  return text;
}
