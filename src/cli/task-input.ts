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

/**
 * Reads a task request from --json, --file (`-` = stdin) or a command line given after `--`
 * (a command task with no other fields: the server's defaults apply).
 */
export function readTaskInput(
  options: { json?: string; file?: string },
  command: readonly string[] = [],
): unknown {
  const given = [
    options.json === undefined ? undefined : '--json',
    options.file === undefined ? undefined : '--file',
    command.length === 0 ? undefined : 'a command',
  ].filter((source) => source !== undefined);
  if (given.length > 1) throw new UsageError(`${given.join(' and ')} are mutually exclusive`);
  const [program, ...args] = command;
  if (program !== undefined) return { execution: { kind: 'command', program, args } };
  if (given.length === 0)
    throw new UsageError(
      'a task is required: --json, --file, or a command after -- (e.g. run -- ls -l)',
    );
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
