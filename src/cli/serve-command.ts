import type { Command } from 'commander';
import { loadConfig, type ConfigInput } from '../config/load-config.js';
import { createRuntime } from '../runtime.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `serve`: the only command that installs signal handlers. */
export function registerServeCommand(program: Command, onStopped: (code: number) => void): void {
  program
    .command('serve')
    .description('run the HTTP server')
    .option('--listen-addr <addr>', 'host:port to listen on', '127.0.0.1:8080')
    .option('--data-dir <dir>', 'data directory (runtime.db and tasks/)', 'data')
    .option('--max-running-tasks <n>', 'task slots', '4')
    .option('--max-queued-tasks <n>', 'accepted tasks that may wait', '128')
    .option('--termination-grace-ms <ms>', 'SIGTERM → SIGKILL delay', '5000')
    .option('--result-retention-secs <s>', 'keep terminal tasks this long', '604800')
    .option('--gc-interval-ms <ms>', 'garbage collection interval', '1000')
    .option(
      '--dispatch-poll-interval-ms <ms>',
      'safety-net sweep interval (dispatch is event-driven)',
      '250',
    )
    .option(
      '--cgroup-root <dir>',
      'parent cgroup for per-task cgroups (env EXECGO_RUNTIME_CGROUP_ROOT)',
    )
    .option('--runtime-id <id>', 'runtime id (env EXECGO_RUNTIME_ID)')
    .option(
      '--default-capability-mode <mode>',
      'adaptive or strict (env EXECGO_RUNTIME_DEFAULT_CAPABILITY_MODE)',
    )
    .option(
      '--disable-linux-sandbox',
      'never use linux_sandbox (env EXECGO_RUNTIME_DISABLE_LINUX_SANDBOX)',
    )
    .option('--disable-cgroup', 'never use cgroups (env EXECGO_RUNTIME_DISABLE_CGROUP)')
    .option(
      '--capacity-memory-bytes <n>',
      'ledger memory capacity (env EXECGO_RUNTIME_CAPACITY_MEMORY_BYTES)',
    )
    .option('--capacity-pids <n>', 'ledger pids capacity (env EXECGO_RUNTIME_CAPACITY_PIDS)')
    .option(
      '--tenant-quota <spec>',
      'NAME=slots:N[,memory:BYTES][,pids:N], repeatable',
      collect,
      [],
    )
    .option(
      '--durable',
      'fsync task files and use SQLite synchronous=FULL (env EXECGO_RUNTIME_DURABLE)',
    )
    .option('--max-body-bytes <n>', 'request body limit', String(8 * 1024 * 1024))
    .option('--log-level <level>', 'log level (env EXECGO_RUNTIME_LOG_LEVEL)')
    .option(
      '--sandbox-uid-base <uid>',
      'first of 65536 host uids linux_sandbox tasks get one each from (default: one of 4095 ranges from 0x70000000, by data dir; env EXECGO_RUNTIME_SANDBOX_UID_BASE)',
    )
    .action(async (options: ConfigInput) => {
      const runtime = createRuntime(loadConfig(options));
      let isStopping = false;
      const stop = (signal: NodeJS.Signals): void => {
        if (isStopping) return;
        isStopping = true;
        runtime.logger.info(
          { signal },
          'draining: running tasks keep running under their supervisors',
        );
        runtime.stop().then(
          () => onStopped(0),
          (error: unknown) => {
            runtime.logger.error({ err: error }, 'shutdown failed');
            onStopped(1);
          },
        );
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      await runtime.start();
    });
}
