import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { RuntimeError } from '../core/runtime-error.js';
import type { ProcessIdentity } from '../core/task-record.js';
import { captureIdentity } from './process-identity.js';
import { SpawnerClient } from './spawner-client.js';

/** A started shim waiting at its gate. */
export interface GatedShim {
  identity: ProcessIdentity;
  /** Lets the shim start the program. Call only after the identity is durably recorded. */
  open(): void;
  /** Closes the gate without opening it: the shim exits and leaves no trace. */
  abort(): void;
}

/**
 * Starts one shim per task through Node's spawn. The shim is detached (own session, not in
 * the server's process group) and its stdin is the gate pipe; stderr goes to shim.log.
 * `onExit` reports the shim's own exit so a shim that died is noticed at once.
 */
export function spawnGatedShim(
  shimPath: string,
  specPath: string,
  shimLogPath: string,
  onExit: (code: number | null, signal: NodeJS.Signals | null) => void,
): GatedShim {
  const logFd = fs.openSync(shimLogPath, 'a', 0o640);
  let child: ChildProcess;
  try {
    child = spawn(shimPath, [specPath], {
      detached: true,
      stdio: ['pipe', 'ignore', logFd],
      env: {},
    });
  } finally {
    fs.closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined)
    throw new RuntimeError('launch_failed', `could not start the supervisor ${shimPath}`);
  child.on('exit', onExit);
  child.on('error', () => undefined);
  child.stdin?.on('error', () => undefined);
  child.unref();
  const identity = captureIdentity(pid);
  if (identity === undefined) {
    child.stdin?.destroy();
    throw new RuntimeError('launch_failed', 'the supervisor exited before it could be recorded');
  }
  return {
    identity,
    open: () => {
      child.stdin?.end('G');
    },
    abort: () => {
      child.stdin?.destroy();
    },
  };
}

/** How shims are started: through the native spawner, or Node's spawn as the fallback. */
export type LaunchPath = 'spawner' | 'node-spawn';

/** One shim to start: its encoded launch spec, where that spec lives on disk, its log. */
export interface ShimStart {
  /** The encoded launch spec (docs/shim-protocol.md). */
  spec: Buffer;
  /** launch.spec: written only by the Node fallback, whose shim reads its spec from a file. */
  specPath: string;
  /** shim.log: the fallback's shim writes its stderr there; the spawner's creates it lazily. */
  shimLogPath: string;
}

/** Hands out gated shims; owns the spawner process when there is one. */
export interface ShimLauncher {
  readonly path: LaunchPath;
  /**
   * A shim at its gate for this task: at once when one is ready (the spawner's pool, or
   * Node's spawn), else once one has been forked. `onExit` runs when the shim exits.
   */
  acquire(shim: ShimStart, onExit: (code: number | null) => void): GatedShim | Promise<GatedShim>;
  close(): void;
}

/** Spawner deaths within this window that make the launcher give up on it (Node's spawn). */
const SPAWNER_RESTARTS = { max: 3, windowMs: 60_000 };

/**
 * Uses `execgo-spawner` next to the shim binary, keeping `poolSize` shims forked ahead of
 * need. If it dies (killed, OOM), a new one is started, and launches that were waiting for a
 * shim are queued again by the executor; after SPAWNER_RESTARTS.max deaths within a minute, or
 * when it is missing, shims are launched with Node's spawn (with a warning): slower (Node
 * forks its whole process per task) but with the same guarantees.
 */
export function createShimLauncher(
  shimPath: string,
  poolSize: number,
  logger: Logger,
): ShimLauncher {
  const spawnerPath = path.join(path.dirname(shimPath), 'execgo-spawner');
  const viaNode = (shim: ShimStart, onExit: (code: number | null) => void): GatedShim => {
    // Written in place, not fsynced even in durable mode: only the shim reads it, before
    // its gate; a relaunch rewrites it and no shim survives a power loss to read it again.
    fs.writeFileSync(shim.specPath, shim.spec, { mode: 0o644 });
    return spawnGatedShim(shimPath, shim.specPath, shim.shimLogPath, onExit);
  };
  let client: SpawnerClient | undefined;
  let isClosed = false;
  const deaths: number[] = [];
  const startSpawner = (): void => {
    client = new SpawnerClient(spawnerPath, poolSize, (reason) => {
      const now = Date.now();
      deaths.push(now);
      while (deaths.length > 0 && (deaths[0] ?? now) < now - SPAWNER_RESTARTS.windowMs)
        deaths.shift();
      if (isClosed) return;
      if (deaths.length >= SPAWNER_RESTARTS.max) {
        logger.warn(
          { spawner: spawnerPath, reason, deaths_last_minute: deaths.length },
          'spawner keeps dying; launching shims with spawn from now on',
        );
        return;
      }
      logger.warn({ spawner: spawnerPath, reason }, 'spawner died; starting a new one');
      startSpawner();
    });
  };
  try {
    fs.accessSync(spawnerPath, fs.constants.X_OK);
    startSpawner();
  } catch (error) {
    logger.warn({ err: error, spawner: spawnerPath }, 'no spawner; launching shims with spawn');
  }
  return {
    get path(): LaunchPath {
      return client?.alive === true ? 'spawner' : 'node-spawn';
    },
    acquire: (shim, onExit) =>
      client?.alive === true ? client.acquire(shim, onExit) : viaNode(shim, onExit),
    close: () => {
      isClosed = true;
      client?.close();
    },
  };
}
