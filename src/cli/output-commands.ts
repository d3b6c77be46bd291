import type { Command } from 'commander';
import type { TaskListResponse } from '../contract/task-list.js';
import { followTask, type OutputStart } from './follow-task.js';
import { RuntimeClient } from './runtime-client.js';
import { parseIntegerOption } from './task-input.js';
import { serverOption } from './server-option.js';

/** Writes to stdout/stderr honouring backpressure (a slow pipe must not buffer a flood). */
function writeTo(target: NodeJS.WriteStream, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    target.write(bytes, (error) => (error ? reject(error) : resolve()));
  });
}

/** A log read: the bytes, and the offset just after them (where following resumes). */
async function fetchLog(
  client: RuntimeClient,
  taskId: string,
  stream: 'stdout' | 'stderr',
  tail: number | undefined,
): Promise<{ bytes: Buffer; nextOffset: number }> {
  const query = tail === undefined ? '' : `?tail=${tail}`;
  const response = await client.stream(
    `/api/v1/tasks/${encodeURIComponent(taskId)}/${stream}${query}`,
  );
  const nextOffset = Number(response.headers.get('x-execgo-log-next-offset'));
  const bytes = Buffer.from(await response.arrayBuffer());
  if (!Number.isSafeInteger(nextOffset) || nextOffset < 0)
    throw new Error(`the runtime sent no x-execgo-log-next-offset for ${stream}`);
  return { bytes, nextOffset };
}

interface LogsOptions {
  server: string;
  follow?: boolean;
  tail?: number;
  events?: boolean;
}

interface ListOptions {
  server: string;
  status?: string;
  tenant?: string;
  owner?: string;
  label: string[];
  createdAfter?: string;
  limit?: number;
  cursor?: string;
  all?: boolean;
}

function buildListQuery(options: ListOptions, cursor: string | undefined): string {
  const params = new URLSearchParams();
  if (options.status !== undefined) params.set('status', options.status);
  if (options.tenant !== undefined) params.set('tenant', options.tenant);
  if (options.owner !== undefined) params.set('owner', options.owner);
  for (const label of options.label) params.append('label', label);
  if (options.createdAfter !== undefined) params.set('created_after', options.createdAfter);
  if (options.limit !== undefined) params.set('limit', String(options.limit));
  if (cursor !== undefined) params.set('cursor', cursor);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

/** logs [-f] and list (alias ps). */
export function registerOutputCommands(program: Command): void {
  program
    .command('logs')
    .description("print a task's stdout and stderr; -f follows it live until it ends")
    .argument('<task_id>')
    .addOption(serverOption())
    .option('-f, --follow', 'stream output as it is written (resumes after disconnects)')
    .option(
      '--tail <lines>',
      'only the last N lines of each stream (with -f: then follow from there)',
      parseIntegerOption,
    )
    .option('--events', 'with -f: also print lifecycle events (JSON lines) to stderr')
    .action(async (taskId: string, options: LogsOptions) => {
      const client = new RuntimeClient(options.server);
      const printLogs = async (): Promise<OutputStart> => {
        const stdout = await fetchLog(client, taskId, 'stdout', options.tail);
        await writeTo(process.stdout, stdout.bytes);
        const stderr = await fetchLog(client, taskId, 'stderr', options.tail);
        await writeTo(process.stderr, stderr.bytes);
        return { stdoutOffset: stdout.nextOffset, stderrOffset: stderr.nextOffset };
      };
      if (options.follow !== true) {
        await printLogs();
        return;
      }
      // Like tail -n N -f: the last N lines of each log, then the stream from just after them.
      const start = options.tail === undefined ? undefined : await printLogs();
      await followTask(
        client,
        taskId,
        {
          onOutput: (stream, bytes) =>
            writeTo(stream === 'stdout' ? process.stdout : process.stderr, bytes),
          ...(options.events === true
            ? { onLifecycle: (record) => process.stderr.write(`${JSON.stringify(record)}\n`) }
            : {}),
        },
        start,
      );
    });

  program
    .command('list')
    .alias('ps')
    .description('list tasks, newest first (JSON); filters combine with AND')
    .addOption(serverOption())
    .option('--status <list>', 'status or comma-separated statuses, e.g. accepted,running')
    .option('--tenant <tenant>', 'only this tenant')
    .option('--owner <owner>', 'only this owner')
    .option(
      '--label <key=value>',
      'only tasks with this label (repeatable)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--created-after <time>', 'RFC 3339 timestamp or epoch ms')
    .option('--limit <n>', 'page size (1..1000, default 50)', parseIntegerOption)
    .option('--cursor <cursor>', 'next_cursor of a previous page')
    .option('--all', 'follow next_cursor and print every matching task')
    .action(async (options: ListOptions) => {
      const client = new RuntimeClient(options.server);
      const tasks: TaskListResponse['tasks'] = [];
      let cursor = options.cursor;
      for (;;) {
        const page = await client.request<TaskListResponse>(
          'GET',
          `/api/v1/tasks${buildListQuery(options, cursor)}`,
        );
        if (options.all !== true) {
          process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
          return;
        }
        tasks.push(...page.tasks);
        if (page.next_cursor === undefined) break;
        cursor = page.next_cursor;
      }
      process.stdout.write(`${JSON.stringify({ tasks }, null, 2)}\n`);
    });
}
