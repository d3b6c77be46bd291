import { invalidInput } from '../core/runtime-error.js';
import {
  DEFAULT_LOG_READ_BYTES,
  MAX_LOG_READ_BYTES,
  type LogSelection,
} from '../service/log-reader.js';

/** Query parameters of GET /api/v1/tasks/:id/stdout|stderr. */
export interface LogQuery {
  offset?: number;
  limit?: number;
  tail?: number;
}

/** A single `Range: bytes=...` range: first-last, first-, or a suffix -n. */
type ParsedRange = { kind: 'range'; first: number; last?: number } | { kind: 'suffix'; n: number };

function parseRangeHeader(header: string): ParsedRange {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null || (match[1] === '' && match[2] === ''))
    throw invalidInput(`unsupported Range "${header}": use a single bytes=a-b, a- or -n range`, {
      field: 'range',
    });
  const [, first = '', last = ''] = match;
  if (first === '') return { kind: 'suffix', n: Number(last) };
  if (last !== '' && Number(last) < Number(first))
    throw invalidInput(`invalid Range "${header}"`, { field: 'range' });
  return { kind: 'range', first: Number(first), ...(last === '' ? {} : { last: Number(last) }) };
}

/**
 * Which bytes a log request asks for. Precedence: `tail` (last N lines), then an HTTP Range
 * header, then offset/limit. `limit` (default DEFAULT_LOG_READ_BYTES, at most
 * MAX_LOG_READ_BYTES) caps every form, a closed range included: its 206 then says, in
 * Content-Range, the shorter range it holds.
 */
export function selectLogBytes(
  query: LogQuery,
  rangeHeader: string | undefined,
): { selection: LogSelection; isRange: boolean } {
  const limit = Math.min(query.limit ?? DEFAULT_LOG_READ_BYTES, MAX_LOG_READ_BYTES);
  if (query.tail !== undefined) {
    if (query.offset !== undefined) throw invalidInput('tail and offset are mutually exclusive');
    return { selection: { kind: 'tail', lines: query.tail, limit }, isRange: false };
  }
  if (rangeHeader !== undefined) {
    const range = parseRangeHeader(rangeHeader);
    if (range.kind === 'suffix')
      return { selection: { kind: 'suffix', bytes: range.n, limit }, isRange: true };
    const length = range.last === undefined ? limit : range.last - range.first + 1;
    return {
      selection: { kind: 'range', offset: range.first, limit: Math.min(length, limit) },
      isRange: true,
    };
  }
  return { selection: { kind: 'range', offset: query.offset ?? 0, limit }, isRange: false };
}

/**
 * Whether a Range selection has no byte to return (RFC 9110 §14.1.2, §15.5.17): it starts
 * past the end, the log is empty, or it is the zero-length suffix `bytes=-0`.
 */
export function isRangeUnsatisfiable(selection: LogSelection, totalBytes: number): boolean {
  if (totalBytes === 0) return true;
  if (selection.kind === 'range') return selection.offset >= totalBytes;
  if (selection.kind === 'suffix') return selection.bytes === 0;
  return false;
}
