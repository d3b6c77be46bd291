import fs from 'node:fs';
import path from 'node:path';
import { SANDBOX_IDENTITY_COUNT } from './sandbox-identities.js';

/**
 * Where every runtime on this host notes that it runs sandboxed tasks: one file per runtime
 * (per data dir) holding the uid ranges of those tasks, one `base count` line each, or
 * `base count until` for the uids of tasks that ended, exposed until that time (ms since the
 * epoch; exposed-tasks.ts says why). A bare `base` line, as earlier versions wrote, is a
 * whole range; earlier versions read an `until` line as a range exposed for good. Every sandboxed task counts, one
 * with its own network namespace too: it can be handed a socket of the host's network by
 * another task. Shared by all runtimes, so that each one's API refuses every runtime's
 * sandboxed tasks, not only its own; root-only, so no task can remove a note.
 */
export const DEFAULT_EXPOSURE_DIR = '/run/execgo-runtime/exposed';

/** A range of sandbox uids: [base, base + count). */
export interface UidRange {
  base: number;
  count: number;
}

/** A noted range: exposed for good (a task runs in it), or `until` then (ms since the epoch). */
export interface ExposedRange extends UidRange {
  until?: number;
}

export function isInRange(range: UidRange, uid: number): boolean {
  return uid >= range.base && uid < range.base + range.count;
}

/**
 * This runtime's note in the shared directory, and the reading of everyone's. A note is
 * written before the first such task's program can start and removed once none runs; a
 * runtime that died leaves its note until it starts again on the same data dir (its tasks
 * outlive it), which keeps the check on: the safe side.
 */
export class SandboxExposure {
  private readonly file: string;
  /** What the note holds now ('' when there is none); undefined until first set. */
  private noted: string | undefined;

  constructor(
    private readonly dir: string,
    name: string,
  ) {
    this.file = path.join(dir, name);
  }

  /**
   * Notes the uid ranges of this runtime's exposed tasks, or clears the note when there are
   * none (idempotent; an I/O error is thrown). The note is replaced whole (temp file and
   * rename), so a reader never sees it half written. The first call also replaces or removes
   * a note an earlier run of this runtime left: at start-up it is called once, with the
   * re-attached tasks' ranges, so that the note never disappears while their tasks run (a
   * removal followed by a rewrite left a gap another runtime's guard could fall into).
   */
  set(ranges: readonly ExposedRange[]): void {
    const text = ranges
      .map(
        ({ base, count, until }) => `${base} ${count}${until === undefined ? '' : ` ${until}`}\n`,
      )
      .join('');
    if (text === this.noted) return;
    if (text === '') fs.rmSync(this.file, { force: true });
    else {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const temp = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(temp, text, { mode: 0o600 });
      fs.renameSync(temp, this.file);
    }
    this.noted = text;
  }
}

/**
 * The ranges of one note exposed at `now`; lines that are not numbers are skipped, and so are
 * ranges whose `until` has passed.
 */
export function parseExposureNote(text: string, now = Date.now()): UidRange[] {
  const ranges: UidRange[] = [];
  for (const line of text.split('\n')) {
    const [base, count = String(SANDBOX_IDENTITY_COUNT), until] = line.trim().split(/\s+/);
    const range = { base: Number(base), count: Number(count) };
    if (line.trim() === '' || !Number.isSafeInteger(range.base)) continue;
    if (!Number.isSafeInteger(range.count)) continue;
    // An `until` that is not a number is no expiry: the safe side.
    if (until !== undefined && Number(until) <= now) continue;
    ranges.push(range);
  }
  return ranges;
}

/**
 * Every uid but root's: what the API guard must treat as possibly sandboxed when the notes
 * cannot be read. Never a range to kill (the port reclaim uses readExposedRanges).
 */
export const ANY_NON_ROOT_UID: UidRange = { base: 1, count: 2 ** 32 - 2 };

const isGone = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * The uid ranges of every runtime on this host that runs exposed sandboxed tasks now;
 * undefined when the notes could not be read (out of descriptors, say), which is not "none".
 */
export function tryReadExposedRanges(dir: string): UidRange[] | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    return isGone(error) ? [] : undefined;
  }
  const ranges: UidRange[] = [];
  for (const name of names) {
    if (name.endsWith('.tmp')) continue;
    try {
      ranges.push(...parseExposureNote(fs.readFileSync(path.join(dir, name), 'utf8')));
    } catch (error) {
      if (!isGone(error)) return undefined; // else removed meanwhile
    }
  }
  return ranges;
}

/** tryReadExposedRanges, with notes that cannot be read counted as none (for killing). */
export function readExposedRanges(dir: string): UidRange[] {
  return tryReadExposedRanges(dir) ?? [];
}
