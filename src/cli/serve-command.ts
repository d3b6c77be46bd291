import { Option, type Command } from 'commander';
import { loadConfig, type ConfigInput } from '../config/load-config.js';
import { createRuntime } from '../runtime.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * A default shown as commander shows its own, for options whose default is not a commander
 * default: computed at startup, or left unset so that the environment fallback applies.
 */
function withDefault(description: string, shown: string): string {
  return `${description} (default: ${shown})`;
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
      withDefault('parent cgroup for per-task cgroups (env EXECGO_RUNTIME_CGROUP_ROOT)', 'auto'),
    )
    .option(
      '--runtime-id <id>',
      withDefault('runtime id (env EXECGO_RUNTIME_ID)', '<hostname>-<port>'),
    )
    .option(
      '--default-capability-mode <mode>',
      withDefault(
        'adaptive or strict (env EXECGO_RUNTIME_DEFAULT_CAPABILITY_MODE)',
        JSON.stringify('adaptive'),
      ),
    )
    .option(
      '--disable-linux-sandbox',
      'never use linux_sandbox (env EXECGO_RUNTIME_DISABLE_LINUX_SANDBOX)',
    )
    .option('--disable-cgroup', 'never use cgroups (env EXECGO_RUNTIME_DISABLE_CGROUP)')
    .option(
      '--capacity-memory-bytes <n>',
      withDefault('ledger memory capacity (env EXECGO_RUNTIME_CAPACITY_MEMORY_BYTES)', 'probed'),
    )
    .option(
      '--capacity-pids <n>',
      withDefault('ledger pids capacity (env EXECGO_RUNTIME_CAPACITY_PIDS)', 'probed'),
    )
    .addOption(
      new Option(
        '--tenant-quota <spec>',
        'NAME=slots:N[,memory:BYTES][,pids:N], repeatable; memory accepts Ki/Mi/Gi/Ti',
      )
        .argParser(collect)
        .default([], 'none'),
    )
    .option(
      '--durable',
      'fsync task files and use SQLite synchronous=FULL (env EXECGO_RUNTIME_DURABLE)',
    )
    .addOption(
      new Option('--max-body-bytes <n>', 'request body limit in bytes, at least 1024').default(
        String(8 * 1024 * 1024),
        '8388608 (8 MiB)',
      ),
    )
    .option(
      '--log-level <level>',
      withDefault(
        'fatal, error, warn, info, debug, trace or silent (env EXECGO_RUNTIME_LOG_LEVEL)',
        JSON.stringify('info'),
      ),
    )
    .option(
      '--sandbox-uid-base <uid>',
      withDefault(
        'first of 65536 host uids linux_sandbox tasks get one each from (env EXECGO_RUNTIME_SANDBOX_UID_BASE)',
        'one of 4,095 ranges from 1879048192 (0x70000000), picked by a hash of the data dir',
      ),
    )
    .action(async (options: ConfigInput) => {
      const runtime = createRuntime(loadConfig(options));
      let isStopping = false;
      const stop = (signal: NodeJS.Signals): void => {
        if (isStopping) return;
        isStopping = true;
        const drainStart = performance.now();
        runtime.logger.info(
          { signal },
          'draining: running tasks keep running under their supervisors',
        );
        runtime.stop().then(
          () => {
            // The last line of a clean stop: a log that ends at "draining" means it never got
            // here (killed, or hung past the service manager's stop timeout).
            runtime.logger.info(
              { signal, drain_ms: Math.round(performance.now() - drainStart) },
              'stopped',
            );
            onStopped(0);
          },
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
