import { spawn, type ChildProcess } from 'node:child_process';
import { RuntimeError } from '../core/runtime-error.js';
import { readBootId } from './process-identity.js';
import type { GatedShim, ShimStart } from './shim-launcher.js';

interface PendingStart {
  resolve(shim: GatedShim): void;
  reject(error: Error): void;
  onExit: () => void;
}

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
 * Node's own pipe. Requests are an op byte plus NUL-terminated fields, the start request
 * followed by the spec's bytes (no launch.spec file); replies are lines (see the C file).
 */
export class SpawnerClient {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, PendingStart>();
  private readonly exitListeners = new Map<number, () => void>();
  private nextId = 1;
  private buffered = '';
  private isAlive = true;

  /** Starts the spawner; `onDeath` runs once if it exits while the runtime still needs it. */
  constructor(spawnerPath: string, onDeath: (reason: string) => void) {
    this.child = spawn(spawnerPath, [], { stdio: ['pipe', 'pipe', 'inherit'], env: {} });
    const die = (reason: string): void => {
      if (!this.isAlive) return;
      this.isAlive = false;
      const error = new RuntimeError('launch_failed', `the spawner is gone: ${reason}`);
      for (const start of this.pending.values()) start.reject(error);
      this.pending.clear();
      onDeath(reason);
    };
    this.child.on('error', (error) => die(error.message));
    this.child.on('exit', (code, signal) => die(`exited (${signal ?? code ?? '?'})`));
    this.child.stdin?.on('error', () => undefined);
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => this.onData(chunk));
    // The spawner must not keep a stopping server alive; it exits on EOF of its stdin.
    this.child.unref();
    for (const stream of [this.child.stdin, this.child.stdout])
      (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }

  get alive(): boolean {
    return this.isAlive;
  }

  /**
   * Starts a shim waiting at its gate; `onExit` runs when the shim exits. The spec goes over
   * the pipe, length-prefixed (it is NUL-separated itself); the shim creates its log only if
   * it has something to say.
   */
  start(shim: ShimStart, onExit: () => void): Promise<GatedShim> {
    if (!this.isAlive)
      return Promise.reject(new RuntimeError('launch_failed', 'the spawner is not running'));
    if (shim.spec.length > SPEC_MAX_BYTES)
      return Promise.reject(new RuntimeError('launch_failed', 'the launch spec is too large'));
    const id = this.nextId++;
    this.send(
      Buffer.concat([
        Buffer.from('S'),
        field(String(id)),
        field(shim.shimLogPath),
        field(String(shim.spec.length)),
        shim.spec,
      ]),
    );
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, onExit }));
  }

  /** Closes its stdin: it exits, and shims still at their gates leave no trace. */
  close(): void {
    this.isAlive = false;
    this.child.stdin?.end();
  }

  private send(message: Buffer): void {
    this.child.stdin?.write(message);
  }

  private onData(chunk: string): void {
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
      const listener = this.exitListeners.get(Number(first));
      this.exitListeners.delete(Number(first));
      listener?.();
      return;
    }
    const id = Number(first);
    const start = this.pending.get(id);
    if (start === undefined) return;
    this.pending.delete(id);
    if (kind === 'E') {
      start.reject(
        new RuntimeError('launch_failed', `could not start the supervisor (errno ${second})`),
      );
      return;
    }
    const pid = Number(second);
    const startTicks = Number(third);
    if (startTicks < 0 || !Number.isSafeInteger(startTicks)) {
      this.send(Buffer.concat([Buffer.from('A'), field(String(id))]));
      start.reject(
        new RuntimeError('launch_failed', 'the supervisor exited before it could be recorded'),
      );
      return;
    }
    this.exitListeners.set(pid, start.onExit);
    start.resolve({
      identity: { pid, startTicks, bootId: readBootId() },
      open: () => this.send(Buffer.concat([Buffer.from('G'), field(String(id))])),
      abort: () => this.send(Buffer.concat([Buffer.from('A'), field(String(id))])),
    });
  }
}
