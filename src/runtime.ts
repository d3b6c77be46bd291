import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyListenOptions } from 'fastify';
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { buildApp } from './api/build-app.js';
import type { HostCapabilities } from './capabilities/host-capabilities.js';
import { nameRuntimeCgroup, probeCapabilities } from './capabilities/probe-capabilities.js';
import type { RuntimeConfig } from './config/runtime-config.js';
import { systemClock, type Clock } from './core/clock.js';
import { Failpoints } from './core/failpoints.js';
import { RuntimeEvents } from './core/runtime-events.js';
import { NotifyWatcher } from './executor/notify-watcher.js';
import { recoverTasks, removeOrphanTaskDirs, type RecoverySummary } from './executor/recovery.js';
import { TaskExecutor } from './executor/task-executor.js';
import { TaskFinisher } from './executor/task-finisher.js';
import { ResourceLedger } from './ledger/resource-ledger.js';
import { createRuntimeMetrics } from './metrics/runtime-metrics.js';
import { createIsolation } from './sandbox/create-isolation.js';
import { Dispatcher } from './scheduler/dispatcher.js';
import { collectExpiredTasks } from './scheduler/garbage-collector.js';
import { RuntimeService } from './service/runtime-service.js';
import { TaskOutputService } from './service/task-output-service.js';
import { TaskService } from './service/task-service.js';
import { createDataDir } from './store/create-data-dir.js';
import { lockDataDir, type DataDirLock } from './store/data-dir-lock.js';
import { openDatabase } from './store/open-database.js';
import { probeDataDirWritable } from './capabilities/probe-host.js';
import { resolveTaskPaths } from './store/task-paths.js';
import { TaskStore } from './store/task-store.js';
import { startWalCheckpointer, type WalCheckpointer } from './store/wal-checkpointer.js';
import {
  ANY_NON_ROOT_UID,
  DEFAULT_EXPOSURE_DIR,
  readExposedRanges,
  SandboxExposure,
  tryReadExposedRanges,
} from './sandbox/sandbox-exposure.js';
import { listenReclaimingPort } from './api/reclaim-listen-port.js';
import { SandboxedPeerGuard } from './api/sandboxed-peer-guard.js';

/**
 * How often the checkpoint worker copies the WAL into runtime.db: often enough that the WAL
 * stays a few MiB at full load (~26 pages per task), rarely enough to cost nothing idle.
 */
const WAL_CHECKPOINT_INTERVAL_MS = 200;

/** Options a caller (CLI or test) may inject. */
export interface RuntimeOptions {
  logger?: Logger;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
}

/** A running runtime instance. */
export interface Runtime {
  readonly config: RuntimeConfig;
  readonly events: RuntimeEvents;
  readonly capabilities: HostCapabilities;
  readonly tasks: TaskService;
  readonly logger: Logger;
  /** Recovers, starts dispatching and listens; resolves with the bound address. */
  start(): Promise<{ host: string; port: number; recovery: RecoverySummary }>;
  /** Graceful stop: refuses new work, stops listening; running tasks keep running. */
  stop(): Promise<void>;
  readonly app: FastifyInstance;
  readonly metrics: Registry;
}

/** How long a stopping server lets requests in flight finish before it cuts them. */
const DRAIN_DEADLINE_MS = 2_000;

/**
 * Wires one runtime from its configuration. No module-level state: two runtimes on two
 * data directories can live in one process (the tests do this).
 */
export function createRuntime(config: RuntimeConfig, options: RuntimeOptions = {}): Runtime {
  // The data dir is this runtime's before anything in it is read or touched (recovery, stale
  // cgroups, orphan directories): a second server on it is refused here.
  createDataDir(config.dataDir);
  const lock = lockDataDir(config.dataDir);
  try {
    return wireRuntime(config, options, lock);
  } catch (error) {
    lock.release();
    throw error;
  }
}

function wireRuntime(config: RuntimeConfig, options: RuntimeOptions, lock: DataDirLock): Runtime {
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  // Synchronous writes: a line is out before the next step runs, so the log of a server that
  // was SIGKILLed ends where it died; and a write(2) costs less than pino's default
  // asynchronous fs.write through the libuv thread pool (docs/performance.md).
  const logger =
    options.logger ??
    pino(
      { level: config.logLevel, base: { runtime_id: config.runtimeId } },
      pino.destination({ dest: 1, sync: true }),
    );
  const tasksRoot = path.join(config.dataDir, 'tasks');
  const notifyDir = path.join(config.dataDir, 'notify');
  // Task files hold requests (environment values included) and output: the runtime's user
  // only. Sandboxed tasks never need a path through them (bwrap, as root, mounts what a task
  // may see); the data dir itself is the operator's, made 0700 only when it is created here.
  fs.mkdirSync(tasksRoot, { recursive: true, mode: 0o700 });
  fs.chmodSync(tasksRoot, 0o700);
  fs.mkdirSync(notifyDir, { recursive: true, mode: 0o700 });
  const pathsOf = (taskId: string) => resolveTaskPaths(tasksRoot, taskId);

  const events = new RuntimeEvents();
  const databaseFile = path.join(config.dataDir, 'runtime.db');
  const database = openDatabase(databaseFile, { durable: config.durable });
  const store = new TaskStore(database, (taskId) => events.emit('task:event', taskId));
  let checkpointer: WalCheckpointer | undefined;
  const capabilities = probeCapabilities(config, env);
  const isolation = createIsolation(config, capabilities);
  const { sandbox, cgroups } = isolation;
  const failpoints = new Failpoints(env.EXECGO_RUNTIME_FAILPOINTS);
  const ledger = new ResourceLedger(capabilities.capacity, config.tenantQuotas);
  const finisher = new TaskFinisher({
    store,
    events,
    logger,
    clock,
    cgroups,
    failpoints,
    durable: config.durable,
    pathsOf,
  });
  const executor = new TaskExecutor({
    config,
    store,
    logger,
    clock,
    sandbox,
    cgroups,
    failpoints,
    finisher,
    events,
    notifyDir,
    ...(capabilities.linuxSandbox === null
      ? {}
      : {
          exposure: new SandboxExposure(DEFAULT_EXPOSURE_DIR, nameRuntimeCgroup(config.dataDir)),
        }),
    pathsOf,
  });
  const dispatcher = new Dispatcher({ store, ledger, executor, events, clock, logger, failpoints });
  const tasks = new TaskService({
    config,
    capabilities,
    store,
    ledger,
    dispatcher,
    executor,
    finisher,
    events,
    clock,
    logger,
    failpoints,
    pathsOf,
  });
  const output = new TaskOutputService({ store, events, pathsOf });
  const startedAt = clock.now();
  const runtimeService = new RuntimeService({
    config,
    capabilities,
    ledger,
    store,
    startedAt,
    checkStorage: () => {
      store.checkWritable();
      if (!probeDataDirWritable(config.dataDir))
        throw new Error(`data dir ${config.dataDir} is not writable`);
    },
  });
  const metrics = createRuntimeMetrics({ events, ledger, store });
  const shutdown = new AbortController();
  // Every long-poll waiter and stream listens for shutdown; many at once is normal here.
  setMaxListeners(0, shutdown.signal);
  /** Sandbox uids of this host's running sandboxed tasks: every runtime's, and ours. */
  const exposedRanges = () => [
    ...readExposedRanges(DEFAULT_EXPOSURE_DIR),
    ...executor.exposedRanges(),
  ];
  /**
   * The same for the API guard, failing closed: notes that cannot be read (out of
   * descriptors, which a task can cause) make every non-root uid suspect, rather than none.
   */
  const guardedRanges = () => [
    ...(tryReadExposedRanges(DEFAULT_EXPOSURE_DIR) ?? [ANY_NON_ROOT_UID]),
    ...executor.exposedRanges(),
  ];
  const app = buildApp({
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    version: config.version,
    tasks,
    output,
    runtime: runtimeService,
    metrics,
    shutdown: shutdown.signal,
    // Always, even where this runtime cannot sandbox: other runtimes on the host may.
    peerGuard: new SandboxedPeerGuard({
      exposedRanges: guardedRanges,
      onRefused: () => events.emit('api:peer-refused'),
    }),
  });
  const watcher = new NotifyWatcher(notifyDir, (taskId, kind) => {
    // Runs from an fs.watch callback: a storage fault here must not crash the server. The
    // notify file stays, so the next scan retries.
    try {
      executor.onNotify(taskId, kind);
      const status = store.getTaskStatus(taskId);
      if (kind === 'started' || status !== 'running') watcher.acknowledge(taskId, kind);
    } catch (error) {
      logger.error({ err: error, task_id: taskId, kind }, 'notify handling failed');
    }
  });
  events.on('task:exited', (taskId) => dispatcher.onTaskExited(taskId));
  events.on('task:finished', (record) => dispatcher.onTaskFinished(record.taskId));
  events.on('task:requeued', (record) => dispatcher.onTaskRequeued(record));
  const timers: NodeJS.Timeout[] = [];

  const guard = (what: string, fn: () => void) => () => {
    try {
      fn();
    } catch (error) {
      logger.error({ err: error }, `${what} failed`);
    }
  };

  return {
    config,
    events,
    capabilities,
    tasks,
    logger,
    app,
    metrics,
    async start() {
      const recovery = recoverTasks({ store, finisher, clock, logger, pathsOf });
      // Cgroups of tasks that ended while no server was there to remove them.
      const staleCgroups = isolation.removeStaleCgroups(
        (taskId) => store.getTaskStatus(taskId) === 'running',
      );
      if (staleCgroups > 0) logger.info({ removed: staleCgroups }, 'removed stale task cgroups');
      const orphans = removeOrphanTaskDirs(tasksRoot, store, pathsOf);
      if (orphans > 0) logger.info({ removed: orphans }, 'removed task directories without a row');
      for (const record of store.listReserved())
        ledger.restore(
          record.taskId,
          record.reservation,
          record.tenant,
          new Date(record.reservedAt ?? record.createdAt).toISOString(),
        );
      checkpointer = startWalCheckpointer(database, {
        file: databaseFile,
        durable: config.durable,
        intervalMs: WAL_CHECKPOINT_INTERVAL_MS,
        logger,
      });
      watcher.start();
      executor.start();
      dispatcher.start();
      timers.push(
        setInterval(
          guard('supervision sweep', () => {
            executor.sweep();
            watcher.scan();
            dispatcher.resync();
            dispatcher.wake();
          }),
          config.dispatchPollIntervalMs,
        ),
        setInterval(
          guard('garbage collection', () => {
            collectExpiredTasks({
              store,
              clock,
              logger,
              retentionMs: config.resultRetentionSecs * 1000,
              pathsOf,
            });
          }),
          config.gcIntervalMs,
        ),
      );
      if (config.listenFd !== undefined)
        // Socket activation: the service manager holds the port across restarts (connections
        // wait in its backlog), so no task can take it while the server is down.
        await app.listen({ host: config.listenHost, fd: config.listenFd } as FastifyListenOptions);
      else
        await listenReclaimingPort(
          async () => {
            await app.listen({ host: config.listenHost, port: config.listenPort });
          },
          config.listenPort,
          {
            exposedRanges,
            killExposedTasks: () => executor.killExposedTasks(),
          },
          logger,
        );
      const address = app.server.address();
      const bound = typeof address === 'object' && address !== null ? address : undefined;
      const port = bound?.port ?? config.listenPort;
      const host = config.listenFd === undefined ? config.listenHost : (bound?.address ?? '');
      runtimeService.setBoundAddress(host, port);
      logger.info(
        {
          host,
          port,
          ...(config.listenFd === undefined ? {} : { socket_activation: true }),
          recovery,
          capabilities: { warnings: capabilities.warnings },
        },
        'execgo-runtime listening',
      );
      return { host, port, recovery };
    },
    async stop() {
      tasks.startDraining();
      dispatcher.stop();
      executor.stop();
      cgroups.close();
      for (const timer of timers) clearInterval(timer);
      timers.length = 0;
      watcher.stop();
      shutdown.abort();
      output.close();
      // Long polls and streams answer on the abort (the current status; the stream's end);
      // one turn of the loop lets them write it. close() then closes idle connections and
      // waits for requests in flight (a submit gets 503 `unavailable`), whose answers say
      // `Connection: close` (build-app.ts), so their connections close after them; what is
      // still open after the deadline (a client that stopped mid-body) is cut.
      await new Promise((resolve) => setImmediate(resolve));
      const deadline = setTimeout(() => app.server.closeAllConnections(), DRAIN_DEADLINE_MS);
      await app.close();
      clearTimeout(deadline);
      await checkpointer?.stop();
      store.close();
      lock.release();
    },
  };
}
