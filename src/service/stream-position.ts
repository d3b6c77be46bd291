import { invalidInput } from '../core/runtime-error.js';

/** Where a follower is: last event seq delivered and bytes delivered of each log. */
export interface StreamPosition {
  eventSeq: number;
  stdoutOffset: number;
  stderrOffset: number;
}

export const START_POSITION: StreamPosition = { eventSeq: 0, stdoutOffset: 0, stderrOffset: 0 };

const POSITION_PATTERN = /^e(\d{1,15})-o(\d{1,15})-r(\d{1,15})$/;

/** The SSE id: `e<event seq>-o<stdout offset>-r<stderr offset>`. */
export function formatPosition(position: StreamPosition): string {
  return `e${position.eventSeq}-o${position.stdoutOffset}-r${position.stderrOffset}`;
}

/** Parses an SSE id / cursor; anything else is `invalid_input`. */
export function parsePosition(text: string): StreamPosition {
  const match = POSITION_PATTERN.exec(text.trim());
  if (match === null)
    throw invalidInput(`stream cursor "${text}" must look like e<seq>-o<offset>-r<offset>`, {
      field: 'cursor',
    });
  return {
    eventSeq: Number(match[1]),
    stdoutOffset: Number(match[2]),
    stderrOffset: Number(match[3]),
  };
}
