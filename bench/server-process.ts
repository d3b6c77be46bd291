import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requestJson } from './http-client.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Repository root (dist/bench → ../..). */
export const REPO_ROOT = path.resolve(here, '..', '..');

/** Which server a measurement drives. */
export type SystemName =
  'runtime' | 'runtime-durable' | 'runtime-nocgroup' | 'thin' | 'thin-durable' | 'thin-forkserver';

/** A server under test, started as a child process on a fresh data dir. */
export interface ServerUnderTest {
  name: SystemName;
  base: URL;
  pid: number;
  dataDir: string;
  /** SIGTERM and wait; removes the data dir unless `keepData`. */
  stop(keepData?: boolean): Promise<void>;
}

async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitReady(base: URL, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`server exited at start: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    try {
      await requestJson(base, 'GET', '/api/v1/tasks/none-such');
    } catch (error) {
      if (error instanceof Error && / 404 /.test(error.message)) return;
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const dataDirsToRemove: string[] = [];

/** Removes the data dirs of every stopped server (at the end of a run). */
export function removeDataDirs(): void {
  for (const dir of dataDirsToRemove.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Creates an empty data directory under the system temp dir. */
export function makeDataDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `execgo-bench-${name}-`));
}

const compiled = new Map<string, string>();

/** Compiles bench/<name>.c once per run into a temp dir; returns the binary's path. */
export function compileBenchTool(name: string): string {
  const known = compiled.get(name);
  if (known !== undefined) return known;
  const binary = path.join(makeDataDir(name), name);
  const source = path.join(REPO_ROOT, 'bench', `${name}.c`);
  const flags = ['-O2', '-Wall', '-Wextra', '-Werror'];
  execFileSync(process.env.CC ?? 'cc', [...flags, '-o', binary, source, '-lm']);
  dataDirsToRemove.push(path.dirname(binary));
  compiled.set(name, binary);
  return binary;
}

/**
 * Starts one server. `slots` is the number of tasks allowed to run at once; the runtime's
 * log (info level, its default) goes to a file so the bench does not pay for reading it.
 */
export async function startServer(
  name: SystemName,
  slots: number,
  dataDir = makeDataDir(name),
  extraArgs: string[] = [],
): Promise<ServerUnderTest> {
  const port = await findFreePort();
  const logFile = path.join(dataDir, '..', `${path.basename(dataDir)}.log`);
  const logFd = fs.openSync(logFile, 'a');
  const isDurable = name.endsWith('-durable');
  const args = name.startsWith('runtime')
    ? [
        path.join(REPO_ROOT, 'bin', 'execgo-runtime'),
        'serve',
        '--listen-addr',
        `127.0.0.1:${port}`,
        '--data-dir',
        dataDir,
        '--max-running-tasks',
        String(slots),
        '--max-queued-tasks',
        '100000',
        ...(isDurable ? ['--durable'] : []),
        ...(name === 'runtime-nocgroup' ? ['--disable-cgroup'] : []),
        ...extraArgs,
      ]
    : [
        path.join(REPO_ROOT, 'dist', 'bench', 'thin-runtime.js'),
        dataDir,
        String(port),
        String(slots),
        ...(isDurable ? ['--durable'] : []),
        ...(name === 'thin-forkserver'
          ? ['--forkserver', compileBenchTool('thin-forkserver')]
          : []),
      ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', logFd, logFd],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir() },
  });
  fs.closeSync(logFd);
  const base = new URL(`http://127.0.0.1:${port}`);
  await waitReady(base, child, logFile);
  return {
    name,
    base,
    pid: child.pid ?? 0,
    dataDir,
    stop: async (keepData = false) => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      // Deleting thousands of files now would slow every file creation of the next system
      // measured (ext4 skips recently freed inodes); data dirs go at the end of the run.
      if (!keepData) dataDirsToRemove.push(dataDir, logFile);
    },
  };
}
