import { spawn, type ChildProcess } from 'node:child_process';
import { RuntimeError } from '../core/runtime-error.js';
import { isSameProcessAlive, readBootId } from './process-identity.js';
import type { ProcessIdentity } from '../core/task-record.js';
import type { GatedShim, ShimStart } from './shim-launcher.js';

/**
 * The spawner exited before this launch got a shim: nothing was recorded, nothing started,
 * so the task can simply be queued again (task-executor.ts).
 */
export class SpawnerGoneError extends RuntimeError {
  constructor(reason: string) {
    super('launch_failed', `the spawner is gone: ${reason}`);
    this.name = 'SpawnerGoneError';
  }
}

/** A launch waiting for the next forked shim (the pool was empty). */
interface Waiter {
  resolve(shim: PooledShim): void;
  reject(error: Error): void;
}

/** A shim the spawner forked ahead of need, waiting at its gate for a task. */
interface PooledShim {
  id: number;
  identity: ProcessIdentity;
}

/**
 * The watchdog for a spawner that hangs instead of dying (stopped, or blocked writing a spec
 * to a shim that stopped reading). While the spawner owes the server something (a fork, the
 * exit of a shim it started), a quiet spell of WATCH_INTERVAL_MS sends a ping (`Q`), which it
 * answers after every earlier request; no reply at all for REPLY_DEADLINE_MS after the ping
 * and it is taken for hung and SIGKILLed, so that it is replaced like a dead one. Generous:
 * a busy two-vCPU host answers within milliseconds, and killing a slow spawner fails the
 * launches whose gate message it still held (docs/performance.md, "The spawner").
 */
const WATCH_INTERVAL_MS = 2_000;
const REPLY_DEADLINE_MS = 10_000;

/** SPEC_MAX_BYTES of native/spec.h: the spawner takes a longer spec for a garbled request. */
const SPEC_MAX_BYTES = 16 * 1024 * 1024;

function field(value: string): Buffer {
  if (value.includes('\0')) throw new RuntimeError('launch_failed', 'path contains NUL');
  return Buffer.from(`${value}\0`);
}

/**
 * Client of `execgo-spawner` (native/spawner.c): a small C process that forks every shim
 * (a zygote: the shim code is linked into it, no exec per task), so the Node process (tens
 * of MiB, whose fork is slow and blocks the event loop) never forks per task. It holds the
 * gate pipes; if it dies, every unopened gate closes and those shims leave no trace, as with
 * Node's own pipe. Requests are an op byte plus NUL-terminated fields, the launch request
 * followed by the spec's bytes (no launch.spec file); replies are lines (see the C file).
 *
 * It keeps `poolSize` shims forked ahead of need: a launch takes one whose identity is
 * already known, so the server can record it and open the gate at once, with no round trip
 * to the spawner in between; the replacement is forked while the task runs. Pooled shims
 * that no task ever took read EOF when the spawner exits and leave no trace.
 */
export class SpawnerClient {
  private readonly child: ChildProcess;
  private readonly ready: PooledShim[] = [];
  /** Forks requested and not yet answered. */
  private forking = 0;
  private readonly waiters: Waiter[] = [];
  private readonly exitListeners = new Map<number, (code: number | null) => void>();
  private nextId = 1;
  private buffered = '';
  private isAlive = true;
  private topUpQueued = false;
  /**
   * When the spawner last wrote anything, and when the unanswered ping went out: monotonic
   * (performance.now), so that a step of the wall clock neither kills a healthy spawner nor
   * turns the watchdog off.
   */
  private lastHeardAt = performance.now();
  private pingSentAt: number | undefined;
  private readonly watchdog: NodeJS.Timeout;

  /** Starts the spawner; `onDeath` runs once if it exits while the runtime still needs it. */
  constructor(
    spawnerPath: string,
    private readonly poolSize: number,
    onDeath: (reason: string) => void,
  ) {
    this.child = spawn(spawnerPath, [], { stdio: ['pipe', 'pipe', 'inherit'], env: {} });
    const die = (reason: string): void => {
      if (!this.isAlive) return;
      this.isAlive = false;
      clearInterval(this.watchdog);
      const error = new SpawnerGoneError(reason);
      for (const waiter of this.waiters.splice(0)) waiter.reject(error);
      this.ready.length = 0;
      onDeath(reason);
    };
    this.child.on('error', (error) => die(error.message));
    this.child.on('exit', (code, signal) => die(`exited (${signal ?? code ?? '?'})`));
    this.watchdog = setInterval(() => {
      if (this.isHung()) {
        this.child.kill('SIGKILL');
        die(`it answered nothing for ${REPLY_DEADLINE_MS / 1000} s; killed`);
      }
    }, WATCH_INTERVAL_MS).unref();
    this.child.stdin?.on('error', () => undefined);
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => this.onData(chunk));
    // The spawner must not keep a stopping server alive; it exits on EOF of its stdin.
    this.child.unref();
    for (const stream of [this.child.stdin, this.child.stdout])
      (stream as unknown as { unref?: () => void } | null)?.unref?.();
    this.topUp();
  }

  get alive(): boolean {
    return this.isAlive;
  }

  /**
   * A shim at its gate for this launch: a pooled one at once, else the next one forked.
   * `onExit` runs when the shim exits. The spec goes over the pipe with the launch (`open`),
   * length-prefixed (it is NUL-separated itself); the shim creates its log only if it has
   * something to say.
   */
  acquire(shim: ShimStart, onExit: (code: number | null) => void): GatedShim | Promise<GatedShim> {
    if (!this.isAlive) return Promise.reject(new SpawnerGoneError('it is not running'));
    if (shim.spec.length > SPEC_MAX_BYTES)
      return Promise.reject(new RuntimeError('launch_failed', 'the launch spec is too large'));
    const launch = Buffer.concat([
      field(shim.shimLogPath),
      field(String(shim.spec.length)),
      shim.spec,
    ]);
    let pooled = this.ready.shift();
    // One that died while pooled (killed; its X not read yet) must never be given a task.
    while (pooled !== undefined && !isSameProcessAlive(pooled.identity))
      pooled = this.ready.shift();
    // Replacements are asked for after this tick, so that they follow this launch (written
    // in this tick) through the spawner instead of delaying it by a fork.
    this.queueTopUp();
    if (pooled !== undefined) return this.bind(pooled, launch, onExit);
    return new Promise<PooledShim>((resolve, reject) =>
      this.waiters.push({ resolve, reject }),
    ).then((forked) => this.bind(forked, launch, onExit));
  }

  private bind(shim: PooledShim, launch: Buffer, onExit: (code: number | null) => void): GatedShim {
    this.exitListeners.set(shim.identity.pid, onExit);
    const id = field(String(shim.id));
    return {
      identity: shim.identity,
      open: () => this.send(Buffer.concat([Buffer.from('L'), id, launch])),
      abort: () => this.send(Buffer.concat([Buffer.from('A'), id])),
    };
  }

  private queueTopUp(): void {
    if (this.topUpQueued) return;
    this.topUpQueued = true;
    queueMicrotask(() => {
      this.topUpQueued = false;
      this.topUp();
    });
  }

  /**
   * Forks until every waiting launch and the pool are covered. With no launch waiting, only
   * once the pool is down to half, and then in one batch: each fork takes a CPU from whatever
   * task is starting at that moment, and a batch disturbs one task where one fork per launch
   * disturbed every one (sequential p50 −2 to −5 % in alternated runs, `sleep` unchanged).
   */
  private topUp(): void {
    if (!this.isAlive) return;
    const low = Math.floor(this.poolSize / 2);
    if (this.waiters.length === 0 && this.ready.length + this.forking > low) return;
    while (this.ready.length + this.forking < this.waiters.length + this.poolSize) {
      this.forking++;
      this.send(Buffer.concat([Buffer.from('F'), field(String(this.nextId++))]));
    }
  }

  /** One watchdog tick: pings a quiet spawner that owes replies; true once it is overdue. */
  private isHung(): boolean {
    const owesReplies = this.forking > 0 || this.exitListeners.size > 0;
    const now = performance.now();
    if (!owesReplies || !this.isAlive) {
      this.pingSentAt = undefined;
      return false;
    }
    if (this.pingSentAt !== undefined) return now - this.pingSentAt >= REPLY_DEADLINE_MS;
    if (now - this.lastHeardAt >= WATCH_INTERVAL_MS) {
      this.pingSentAt = now;
      this.send(Buffer.concat([Buffer.from('Q'), field(String(this.nextId++))]));
    }
    return false;
  }

  /** Closes its stdin: it exits, and shims still at their gates leave no trace. */
  close(): void {
    this.isAlive = false;
    clearInterval(this.watchdog);
    this.child.stdin?.end();
    const error = new RuntimeError('launch_failed', 'the runtime is stopping');
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  private send(message: Buffer): void {
    this.child.stdin?.write(message);
  }

  private onData(chunk: string): void {
    // Any reply shows it is not hung; `Q` needs no handling of its own.
    this.lastHeardAt = performance.now();
    this.pingSentAt = undefined;
    this.buffered += chunk;
    let newline = this.buffered.indexOf('\n');
    while (newline >= 0) {
      this.onReply(this.buffered.slice(0, newline).split(' '));
      this.buffered = this.buffered.slice(newline + 1);
      newline = this.buffered.indexOf('\n');
    }
  }

  private onReply([kind, first = '', second = '', third = '']: string[]): void {
    if (kind === 'X') {
      const pid = Number(first);
      const listener = this.exitListeners.get(pid);
      this.exitListeners.delete(pid);
      // A pooled shim that died before any task took it (someone killed it) is dropped; the
      // next launch forks its replacement.
      const pooled = this.ready.findIndex((shim) => shim.identity.pid === pid);
      if (pooled >= 0) this.ready.splice(pooled, 1);
      const code = Number(second);
      listener?.(Number.isInteger(code) && code >= 0 ? code : null);
      return;
    }
    if (kind !== 'P' && kind !== 'E') return;
    this.forking--;
    if (kind === 'E') {
      // Not retried here: a fork that fails now would fail again in a loop.
      this.waiters
        .shift()
        ?.reject(
          new RuntimeError('launch_failed', `could not start the supervisor (errno ${second})`),
        );
      return;
    }
    const id = Number(first);
    const pid = Number(second);
    const startTicks = Number(third);
    const waiter = this.waiters.shift();
    if (startTicks < 0 || !Number.isSafeInteger(startTicks)) {
      // It exited before its start time could be read (not seen in practice: even a dead
      // shim's stat is there until the spawner reaps it). Not retried, like a failed fork.
      this.send(Buffer.concat([Buffer.from('A'), field(String(id))]));
      waiter?.reject(
        new RuntimeError('launch_failed', 'the supervisor exited before it could be recorded'),
      );
      return;
    }
    const shim = { id, identity: { pid, startTicks, bootId: readBootId() } };
    if (waiter === undefined) this.ready.push(shim);
    else waiter.resolve(shim);
  }
}
