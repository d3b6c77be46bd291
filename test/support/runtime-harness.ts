import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { resolveCgroupHierarchies } from '../../src/capabilities/parse-cgroup-layout.js';
import { nameRuntimeCgroup } from '../../src/capabilities/probe-capabilities.js';
import { loadConfig, type ConfigInput } from '../../src/config/load-config.js';
import type { TaskStatusResponse } from '../../src/contract/task-status.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { killCgroup, removeCgroupDir } from '../../src/sandbox/cgroup-files.js';
import { removeParentIfEmpty } from '../../src/sandbox/hierarchy-task-cgroups.js';
import { DEFAULT_EXPOSURE_DIR } from '../../src/sandbox/sandbox-exposure.js';
import { makeTempDir } from './temp-dirs.js';

/** Repository root (tests run from dist/test/..., sources and bin stay at the root). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.join(REPO_ROOT, 'bin/execgo-runtime');
export const FIXTURES = path.join(REPO_ROOT, 'test/fixtures');

/** A fresh temporary data directory (removed when the test process exits, see temp-dirs.ts). */
export function makeDataDir(prefix = 'execgo-test-'): string {
  return makeTempDir(prefix);
}

/** A JSON response. */
export interface JsonResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** HTTP helpers bound to one server. */
export class ApiClient {
  constructor(readonly baseUrl: string) {}

  async request<T = unknown>(
    method: string,
    urlPath: string,
    options: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  ): Promise<JsonResponse<T>> {
    const body =
      options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    const response = await fetch(`${this.baseUrl}${urlPath}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Non-JSON (metrics); keep the text.
    }
    return { status: response.status, body: parsed as T, headers: response.headers };
  }

  /** One sample of /metrics (`name{labels}` exactly as printed); 0 when absent. */
  async metric(sample: string): Promise<number> {
    const text = (await this.request<string>('GET', '/metrics')).body;
    const line = text.split('\n').find((entry) => entry.startsWith(`${sample} `));
    return line === undefined ? 0 : Number(line.slice(sample.length + 1));
  }

  /** Submits and returns the task id; throws on a non-200. */
  async submit(task: unknown, headers: Record<string, string> = {}): Promise<string> {
    const response = await this.request<{ task_id: string }>('POST', '/api/v1/tasks', {
      body: task,
      headers,
    });
    if (response.status !== 200)
      throw new Error(`submit failed: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.task_id;
  }

  async status(taskId: string): Promise<TaskStatusResponse> {
    const response = await this.request<TaskStatusResponse>('GET', `/api/v1/tasks/${taskId}`);
    if (response.status !== 200) throw new Error(`status failed: ${response.status}`);
    return response.body;
  }

  /** Long-polls until terminal; fails the test after `timeoutMs`. */
  async waitTerminal(taskId: string, timeoutMs = 30_000): Promise<TaskStatusResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`task ${taskId} not terminal within ${timeoutMs} ms`);
      const response = await this.request<TaskStatusResponse>(
        'GET',
        `/api/v1/tasks/${taskId}/wait?timeout_ms=${Math.min(left, 10_000)}`,
      );
      if (response.status !== 200)
        throw new Error(`wait failed: ${response.status} ${JSON.stringify(response.body)}`);
      if (['success', 'failed', 'cancelled'].includes(response.body.status)) return response.body;
    }
  }

  /** Submits and waits for the terminal status. */
  async run(task: unknown, timeoutMs?: number): Promise<TaskStatusResponse> {
    return this.waitTerminal(await this.submit(task), timeoutMs);
  }

  /** Polls (with a deadline) until `predicate` holds for the task status. */
  async waitFor(
    taskId: string,
    predicate: (s: TaskStatusResponse) => boolean,
    timeoutMs = 15_000,
  ): Promise<TaskStatusResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.status(taskId);
      if (predicate(status)) return status;
      if (Date.now() > deadline)
        throw new Error(`condition not met for ${taskId}: ${JSON.stringify(status)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** An in-process runtime listening on a random loopback port. */
export interface TestRuntime {
  runtime: Runtime;
  api: ApiClient;
  dataDir: string;
  stop(): Promise<void>;
}

/** Starts a real runtime (real HTTP, SQLite, shims) in this process on a fresh data dir. */
export async function startTestRuntime(
  input: ConfigInput = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<TestRuntime> {
  const dataDir = input.dataDir ?? makeDataDir();
  const config = loadConfig(
    { listenAddr: '127.0.0.1:0', terminationGraceMs: 500, ...input, dataDir },
    env,
  );
  const runtime = createRuntime(config, {
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    env,
  });
  const { port } = await runtime.start();
  return {
    runtime,
    api: new ApiClient(`http://127.0.0.1:${port}`),
    dataDir,
    stop: async () => {
      await runtime.stop();
      removeRuntimeLeftovers(config.dataDir);
    },
  };
}

/**
 * After a runtime stopped: kills what is left in its task cgroups (tasks still running when a
 * test ended; a stopping runtime leaves them to their supervisors by design) and removes the
 * cgroups, so no test leaves processes or cgroups behind on the host (default cgroup root
 * only); then removes its note that sandboxed tasks share the network (a runtime stopped while
 * they ran leaves it, the safe side), as those tasks are gone now.
 */
export function removeRuntimeLeftovers(dataDir: string): void {
  const instance = nameRuntimeCgroup(path.resolve(dataDir));
  const hierarchies = resolveCgroupHierarchies(
    fs.readFileSync('/proc/self/mountinfo', 'utf8'),
    fs.readFileSync('/proc/self/cgroup', 'utf8'),
  );
  const ownDirs = [hierarchies.unifiedDir, ...Object.values(hierarchies.v1Dirs)];
  for (const own of new Set(ownDirs)) {
    if (own === undefined) continue;
    const parent = path.join(own, 'execgo-runtime', instance);
    let names: string[];
    try {
      names = fs.readdirSync(parent);
    } catch {
      continue; // none on this hierarchy
    }
    for (const name of names) {
      const dir = path.join(parent, name);
      if (!fs.statSync(dir).isDirectory()) continue;
      killCgroup(dir);
      removeCgroupDir(dir);
    }
    removeParentIfEmpty(parent);
  }
  fs.rmSync(path.join(DEFAULT_EXPOSURE_DIR, instance), { force: true });
}

/** A runtime started as a separate `execgo-runtime serve` process (for CLI and crash tests). */
export interface ServerProcess {
  child: ChildProcess;
  api: ApiClient;
  port: number;
  dataDir: string;
  /** Resolves with the exit code/signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  logLines: string[];
}

/** Starts `bin/execgo-runtime serve` and resolves once it logs that it is listening. */
export async function startServerProcess(
  args: string[],
  options: {
    dataDir?: string;
    env?: NodeJS.ProcessEnv;
    /** How long to wait for the server to listen before failing (a deadline, not a timing). */
    timeoutMs?: number;
    /**
     * A program (and its arguments) that sets something up and then execs the server, which
     * follows as further arguments (node, the CLI, `serve`, …): same pid, prepared as a service
     * manager would prepare it. See `inCgroup`.
     */
    launcher?: readonly string[];
  } = {},
): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? makeDataDir();
  const [program, ...programArgs] = [
    ...(options.launcher ?? []),
    process.execPath,
    BIN,
    'serve',
    '--listen-addr',
    '127.0.0.1:0',
    '--data-dir',
    dataDir,
    '--termination-grace-ms',
    '500',
    ...args,
  ] as [string, ...string[]];
  const child = spawn(program, programArgs, {
    env: { ...process.env, EXECGO_RUNTIME_LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const logLines: string[] = [];
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const lines = readline.createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start: ${stderr.join('')}`)),
      options.timeoutMs ?? 60_000,
    );
    lines.on('line', (line) => {
      logLines.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === 'execgo-runtime listening' && entry.port !== undefined) {
          clearTimeout(timer);
          resolve(entry.port);
        }
      } catch {
        // Not JSON.
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (${code ?? signal}): ${stderr.join('')}`));
    });
  });
  return { child, api: new ApiClient(`http://127.0.0.1:${port}`), port, dataDir, exited, logLines };
}

/** A launcher (startServerProcess) that runs the server in a cgroup v2 directory from its start. */
export function inCgroup(dir: string): string[] {
  return ['/bin/sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir];
}

/**
 * SIGTERMs every server process of a test that is still running, waits for each, and removes
 * what its tasks left in cgroups.
 */
export async function stopServerProcesses(servers: readonly ServerProcess[]): Promise<void> {
  for (const server of servers) {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    releaseServerPipes(server);
    removeRuntimeLeftovers(server.dataDir);
  }
}

/**
 * Closes our end of an exited server's stdout and stderr. Its spawner and shims inherit
 * them: one a failed test left stopped (SIGSTOP) would hold them open for ever, and the open
 * pipes would keep the test file's process from exiting, hanging the whole run. For the end
 * of a file only: output still in the pipes is dropped.
 */
export function releaseServerPipes(server: ServerProcess): void {
  server.child.stdout?.destroy();
  server.child.stderr?.destroy();
}

/** Runs the CLI to completion and captures its output. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** True if a process with this pid exists (and is not a zombie). */
export function isProcessAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Waits (bounded) until `check` is true. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A command task body. */
export function command(
  program: string,
  args: string[] = [],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { execution: { kind: 'command', program, args }, ...extra };
}

/** A `/bin/sh -c` task body. */
export function shell(
  script: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return command('/bin/sh', ['-c', script], extra);
}
