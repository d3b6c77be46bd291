import fs from 'node:fs';
import { InvalidArgumentError } from 'commander';

/** Reads a task request from --json or --file (`-` = stdin). */
export function readTaskInput(options: { json?: string; file?: string }): unknown {
  if ((options.json === undefined) === (options.file === undefined))
    throw new InvalidArgumentError('exactly one of --json or --file is required');
  const text =
    options.json ?? fs.readFileSync(options.file === '-' ? 0 : (options.file ?? ''), 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidArgumentError(
      `task input is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** Commander parser for non-negative integer flags. */
export function parseIntegerOption(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0)
    throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  return parsed;
}
