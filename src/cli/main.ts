import { Command, CommanderError } from 'commander';
import { readPackageVersion } from '../config/load-config.js';
import { RuntimeError } from '../core/runtime-error.js';
import { registerClientCommands, WaitTimeoutError } from './client-commands.js';
import { registerOutputCommands } from './output-commands.js';
import { HttpError } from './runtime-client.js';
import { registerServeCommand } from './serve-command.js';

function isInvalidInput(error: unknown): error is Error {
  return error instanceof Error && (error as { code?: unknown }).code === 'invalid_input';
}

/** Exit codes: 0 ok, 1 server/HTTP error, 2 usage or configuration error, 3 wait timed out. */
async function main(argv: string[]): Promise<void> {
  const program = new Command('execgo-runtime')
    .description('Execution runtime for AI agents: persistent, supervised, sandboxed tasks')
    .version(readPackageVersion())
    .exitOverride();
  registerServeCommand(program, (code) => process.exit(code));
  registerClientCommands(program);
  registerOutputCommands(program);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
    if (error instanceof HttpError) {
      process.stderr.write(`${error.body}\n`);
      process.exit(1);
    }
    if (error instanceof WaitTimeoutError) {
      process.stdout.write(`${JSON.stringify(error.last, null, 2)}\n`);
      process.stderr.write(`execgo-runtime: ${error.message} (wait timed out)\n`);
      process.exit(3);
    }
    if (error instanceof RuntimeError || isInvalidInput(error)) {
      process.stderr.write(`execgo-runtime: ${error.message}\n`);
      process.exit(2);
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`execgo-runtime: ${message}\n`);
    process.exit(1);
  }
}

await main(process.argv);
