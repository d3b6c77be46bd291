import fs from 'node:fs';
import path from 'node:path';
import { SANDBOX_IDENTITY_COUNT } from './sandbox-identities.js';

/**
 * Where every runtime on this host notes that it runs sandboxed tasks sharing the host's
 * network: one file per runtime (per data dir) holding its sandbox uid base. Shared by all
 * runtimes, so that each one's API refuses every runtime's sandboxed tasks, not only its own;
 * root-only, so no task can remove a note.
 */
export const DEFAULT_EXPOSURE_DIR = '/run/execgo-runtime/exposed';

/** A range of sandbox uids: [base, base + count). */
export interface UidRange {
  base: number;
  count: number;
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
  private isNoted = false;

  constructor(
    private readonly dir: string,
    name: string,
    private readonly base: number,
  ) {
    this.file = path.join(dir, name);
  }

  /** Notes or clears this runtime's exposure (idempotent; an I/O error is thrown). */
  set(isExposed: boolean): void {
    if (isExposed === this.isNoted) return;
    if (isExposed) {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(this.file, `${this.base}\n`, { mode: 0o600 });
    } else fs.rmSync(this.file, { force: true });
    this.isNoted = isExposed;
  }

  /** Forgets a note of this runtime left by an earlier run (start-up, before set()). */
  clearStale(): void {
    fs.rmSync(this.file, { force: true });
    this.isNoted = false;
  }
}

/** The uid ranges of every runtime on this host that runs exposed sandboxed tasks now. */
export function readExposedRanges(dir: string): UidRange[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const ranges: UidRange[] = [];
  for (const name of names) {
    try {
      const base = Number(fs.readFileSync(path.join(dir, name), 'utf8').trim());
      if (Number.isSafeInteger(base)) ranges.push({ base, count: SANDBOX_IDENTITY_COUNT });
    } catch {
      // Removed meanwhile.
    }
  }
  return ranges;
}
