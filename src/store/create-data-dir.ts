import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../core/runtime-error.js';

/**
 * Creates the data dir (0700, and any missing parent) one level at a time, or explains why it
 * cannot: a configuration error (exit 2), not a raw errno. Node's recursive mkdirSync loops
 * for ever on some paths (`/proc/1/nope`: robustness round 10 counted 168,508 mkdir calls in
 * 8 s), so it is not used here.
 */
export function createDataDir(dir: string): void {
  const absolute = path.resolve(dir);
  const fail = (at: string, why: string): never => {
    throw new RuntimeError('invalid_input', `data dir ${absolute}: ${at} ${why}`);
  };
  let current = path.parse(absolute).root;
  for (const part of absolute.slice(current.length).split(path.sep).filter(Boolean)) {
    current = path.join(current, part);
    let stats: fs.Stats | undefined;
    try {
      stats = fs.statSync(current, { throwIfNoEntry: false });
    } catch (error) {
      fail(current, `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
    if (stats?.isDirectory() === true) continue;
    if (stats !== undefined) fail(current, 'exists and is not a directory');
    if (fs.lstatSync(current, { throwIfNoEntry: false })?.isSymbolicLink() === true)
      fail(current, 'is a symbolic link to nothing');
    try {
      fs.mkdirSync(current, { mode: 0o700 });
    } catch (error) {
      fail(
        current,
        `cannot be created (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      );
    }
  }
}
