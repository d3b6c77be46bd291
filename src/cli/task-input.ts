import fs from 'node:fs';
import { InvalidArgumentError } from 'commander';

/**
 * A usage error found inside a command's action. Commander prints the errors of its own
 * parsing, not these, so main prints them (exit 2).
 */
export class UsageError extends Error {
  readonly code = 'invalid_input';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function readInputFile(file: string): string {
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --file ${file}: ${messageOf(error)}`);
  }
}

/** Reads a task request from --json or --file (`-` = stdin). */
export function readTaskInput(options: { json?: string; file?: string }): unknown {
  if (options.json !== undefined && options.file !== undefined)
    throw new UsageError('--json and --file are mutually exclusive');
  if (options.json === undefined && options.file === undefined)
    throw new UsageError('exactly one of --json or --file is required');
  const text = options.json ?? readInputFile(options.file ?? '');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`task input is not valid JSON: ${messageOf(error)}`);
  }
}

/** Commander parser for non-negative integer flags. */
export function parseIntegerOption(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0)
    throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  return parsed;
}
