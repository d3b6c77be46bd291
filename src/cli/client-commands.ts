import type { Command } from 'commander';
import type { TaskStatusResponse } from '../contract/task-status.js';
import { isWorthRetrying, pauseBeforeReconnect, RECONNECT_ATTEMPTS } from './reconnect-policy.js';
import { RuntimeClient } from './runtime-client.js';
import { serverOption } from './server-option.js';
import { parseIntegerOption, readTaskInput } from './task-input.js';

const TERMINAL = new Set(['success', 'failed', 'cancelled']);

/** Thrown when `wait` runs out of time; main turns it into exit code 3. */
export class WaitTimeoutError extends Error {
  constructor(readonly last: TaskStatusResponse) {
    super(`task ${last.task_id} is still ${last.status}`);
    this.name = 'WaitTimeoutError';
  }
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Waits for a terminal status with the server's long-poll endpoint (no client-side
 * polling): each request returns as soon as the task ends, or after a slice of the
 * remaining time.
 */
export async function waitForTask(
  client: RuntimeClient,
  taskId: string,
  timeoutMs: number | undefined,
): Promise<TaskStatusResponse> {
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  const id = encodeURIComponent(taskId);
  let failures = 0;
  let last: TaskStatusResponse | undefined;
  for (;;) {
    const slice = Math.max(0, Math.min(60_000, deadline - Date.now()));
    try {
      last = await client.request<TaskStatusResponse>(
        'GET',
        `/api/v1/tasks/${id}/wait?timeout_ms=${Math.floor(slice)}`,
      );
      failures = 0;
      if (TERMINAL.has(last.status)) return last;
    } catch (error) {
      // A restarting server: ask again once it is back (reconnect-policy.ts).
      failures++;
      if (!isWorthRetrying(error) || failures > RECONNECT_ATTEMPTS || last === undefined)
        throw error;
      if (Date.now() < deadline) await pauseBeforeReconnect();
    }
    if (Date.now() >= deadline) throw new WaitTimeoutError(last);
  }
}

function withServer(command: Command): Command {
  return command.addOption(serverOption());
}

/**
 * The task of submit and run: a JSON request (--json, --file), or a program and its
 * arguments after `--`, which becomes `{"execution":{"kind":"command",…}}`.
 */
function withTaskInput(command: Command): Command {
  return command
    .argument('[command...]', 'program and arguments to run, after -- (instead of --json/--file)')
    .option('--json <json>', 'task request as JSON')
    .option('--file <path>', 'read the task request from a file (- for stdin)');
}

/** submit, status, wait, kill, run, events. */
export function registerClientCommands(program: Command): void {
  withTaskInput(
    withServer(program.command('submit').description('submit a task and print the response')),
  ).action(async (command: string[], options: { server: string; json?: string; file?: string }) => {
    print(
      await new RuntimeClient(options.server).request('POST', '/api/v1/tasks', {
        body: readTaskInput(options, command),
      }),
    );
  });

  withServer(
    program.command('status').description('print the status of a task').argument('<task_id>'),
  ).action(async (taskId: string, options: { server: string }) => {
    print(
      await new RuntimeClient(options.server).request(
        'GET',
        `/api/v1/tasks/${encodeURIComponent(taskId)}`,
      ),
    );
  });

  withServer(
    program.command('events').description('print the events of a task').argument('<task_id>'),
  ).action(async (taskId: string, options: { server: string }) => {
    print(
      await new RuntimeClient(options.server).request(
        'GET',
        `/api/v1/tasks/${encodeURIComponent(taskId)}/events`,
      ),
    );
  });

  withServer(
    program
      .command('wait')
      .description('wait until a task is terminal and print it')
      .argument('<task_id>'),
  )
    .option('--timeout-ms <ms>', 'give up after this long (exit code 3)', parseIntegerOption)
    .option(
      '--poll-interval-ms <ms>',
      'accepted for compatibility; waiting uses server long-poll',
      parseIntegerOption,
      500,
    )
    .action(async (taskId: string, options: { server: string; timeoutMs?: number }) => {
      print(await waitForTask(new RuntimeClient(options.server), taskId, options.timeoutMs));
    });

  withServer(program.command('kill').description('cancel a task').argument('<task_id>'))
    .option('--owner <owner>', 'owner for owner-gated tasks (env EXECGO_RUNTIME_OWNER)')
    .action(async (taskId: string, options: { server: string; owner?: string }) => {
      const owner = options.owner ?? process.env.EXECGO_RUNTIME_OWNER;
      print(
        await new RuntimeClient(options.server).request(
          'POST',
          `/api/v1/tasks/${encodeURIComponent(taskId)}/kill`,
          {
            ...(owner === undefined || owner === ''
              ? {}
              : // fetch sends header values as latin1 bytes: the UTF-8 bytes of the owner, so.
                { headers: { 'x-execgo-owner': Buffer.from(owner, 'utf8').toString('latin1') } }),
          },
        ),
      );
    });

  withTaskInput(
    withServer(
      program.command('run').description('submit a task, wait for it, print the final status'),
    ),
  )
    .option(
      '--timeout-ms <ms>',
      'give up waiting after this long (exit code 3)',
      parseIntegerOption,
    )
    .option(
      '--poll-interval-ms <ms>',
      'accepted for compatibility; waiting uses server long-poll',
      parseIntegerOption,
      500,
    )
    .action(
      async (
        command: string[],
        options: { server: string; json?: string; file?: string; timeoutMs?: number },
      ) => {
        const client = new RuntimeClient(options.server);
        const submitted = await client.request<{ task_id: string }>('POST', '/api/v1/tasks', {
          body: readTaskInput(options, command),
        });
        print(await waitForTask(client, submitted.task_id, options.timeoutMs));
      },
    );
}
