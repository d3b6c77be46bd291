import fs from 'node:fs';
import path from 'node:path';
import type { EventRecord, TaskStatusResponse } from '../../src/contract/task-status.js';
import {
  type ApiClient,
  eventually,
  releaseServerPipes,
  removeRuntimeLeftovers,
  startServerProcess,
  type ServerProcess,
} from './runtime-harness.js';

/** Flags every crash test passes to `serve` (fast sweeps keep recovery prompt). */
export const CRASH_SERVER_ARGS = ['--dispatch-poll-interval-ms', '50'];

/** Starts a server on `dataDir`, optionally armed with failpoints. */
export function startCrashServer(
  dataDir: string,
  options: { failpoints?: string[]; args?: string[] } = {},
): Promise<ServerProcess> {
  return startServerProcess([...CRASH_SERVER_ARGS, ...(options.args ?? [])], {
    dataDir,
    // The harness needs the info-level "listening" line to learn the port.
    env: { EXECGO_RUNTIME_FAILPOINTS: (options.failpoints ?? []).join(',') },
  });
}

/** Resolves once the server died of SIGKILL (a failpoint or the test); bounded. */
export async function expectKilled(server: ServerProcess, timeoutMs = 15_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('server was not killed in time')), timeoutMs);
  });
  try {
    const { signal, code } = await Promise.race([server.exited, timeout]);
    if (signal !== 'SIGKILL') throw new Error(`server exited with ${code ?? signal}, not SIGKILL`);
  } finally {
    clearTimeout(timer);
  }
}

/** SIGKILLs the server (if still running) and waits for it to be reaped. */
export async function crashServer(server: ServerProcess): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null)
    server.child.kill('SIGKILL');
  await server.exited;
}

/**
 * End of a crash test file: SIGKILLs every server still running, kills the marked task
 * processes the crashes left to their supervisors, and removes the runtimes' cgroups and notes.
 */
export async function endCrashServers(
  servers: readonly ServerProcess[],
  markers: readonly string[],
): Promise<void> {
  for (const server of servers) await crashServer(server);
  killMarkedProcesses(markers);
  for (const server of servers) {
    releaseServerPipes(server);
    removeRuntimeLeftovers(server.dataDir);
  }
}

/** Graceful stop; escalates to SIGKILL if the server does not exit within the deadline. */
export async function stopServer(server: ServerProcess, timeoutMs = 10_000): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), timeoutMs);
  await server.exited;
  clearTimeout(timer);
}

/** Submits, tolerating the server dying under the request (a failpoint may fire inside it). */
export async function submitIgnoringCrash(api: ApiClient, task: unknown): Promise<number> {
  try {
    const response = await api.request('POST', '/api/v1/tasks', { body: task });
    return response.status;
  } catch {
    return 0;
  }
}

/** A process of ours found in /proc. */
export interface FoundProcess {
  pid: number;
  state: string;
  sid: number;
  cmdline: string;
}

/** Fields of /proc/<pid>/stat after the last `)`: state, ppid, pgrp, session, ... */
export function readStatFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Every process whose argv or environment mentions `marker` (a unique string put into each
 * task's env, and the data dir, which is in every shim's argv). Zombies included.
 */
export function findMarkedProcesses(markers: readonly string[]): FoundProcess[] {
  const found: FoundProcess[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isSafeInteger(pid) || pid === process.pid) continue;
    let text: string;
    let cmdline = '';
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      text = `${cmdline}\n${fs.readFileSync(`/proc/${pid}/environ`, 'utf8')}`;
    } catch {
      // Gone, or a zombie without readable environ: check its cmdline only.
      text = cmdline;
    }
    if (!markers.some((marker) => text.includes(marker))) continue;
    const fields = readStatFields(pid);
    if (fields === undefined) continue;
    found.push({ pid, state: fields[0] ?? '?', sid: Number(fields[3]), cmdline });
  }
  return found;
}

/** Kills whatever a failed test left behind (by pid, only processes carrying our marker). */
export function killMarkedProcesses(markers: readonly string[]): number {
  let killed = 0;
  for (const proc of findMarkedProcesses(markers)) {
    if (proc.state === 'Z') continue;
    try {
      process.kill(proc.pid, 'SIGKILL');
      killed++;
    } catch {
      // Already gone.
    }
  }
  return killed;
}

/** Waits until no live (non-zombie) process carries a marker; returns what is left. */
export async function waitNoMarkedProcesses(
  markers: readonly string[],
  timeoutMs = 10_000,
): Promise<FoundProcess[]> {
  try {
    await eventually(
      () => findMarkedProcesses(markers).length === 0,
      timeoutMs,
      'task processes to disappear',
    );
  } catch {
    // Reported by the caller.
  }
  return findMarkedProcesses(markers);
}

/** The runtime's view of reservations. */
export interface ResourcesView {
  reserved: { task_slots: number };
  active_reservations: { task_id: string }[];
}

export async function getResources(api: ApiClient): Promise<ResourcesView> {
  const response = await api.request<ResourcesView>('GET', '/api/v1/runtime/resources');
  if (response.status !== 200) throw new Error(`resources failed: ${response.status}`);
  return response.body;
}

export async function getEvents(api: ApiClient, taskId: string): Promise<EventRecord[]> {
  const response = await api.request<EventRecord[]>('GET', `/api/v1/tasks/${taskId}/events`);
  if (response.status !== 200) throw new Error(`events failed: ${response.status}`);
  return response.body;
}

/** Reservations taken minus released, from a task's audit trail (must end at 0). */
export function countOpenReservations(events: readonly EventRecord[]): number {
  let open = 0;
  for (const event of events) {
    if (event.event_type === 'resource_reserved') open++;
    if (event.event_type === 'resource_released') open--;
  }
  return open;
}

/** The `recovered` events' `data.action` values, in order. */
export function recoveredActions(events: readonly EventRecord[]): string[] {
  return events
    .filter((event) => event.event_type === 'recovered')
    .map((event) => String((event.data as { action?: unknown } | undefined)?.action));
}

/** result.json of a task, parsed. */
export function readResultFile(dataDir: string, taskId: string): TaskStatusResponse {
  return JSON.parse(
    fs.readFileSync(path.join(dataDir, 'tasks', taskId, 'result.json'), 'utf8'),
  ) as TaskStatusResponse;
}

/** How many times a task ran: lines it appended to `runs.txt` in its workspace. */
export function countRuns(dataDir: string, taskId: string): number {
  try {
    const text = fs.readFileSync(
      path.join(dataDir, 'tasks', taskId, 'workspace', 'runs.txt'),
      'utf8',
    );
    return text.split('\n').filter((line) => line !== '').length;
  } catch {
    return 0;
  }
}

/** A `/bin/sh -c` task that records each run in its workspace, then runs `body`. */
export function countedTask(
  taskId: string,
  marker: string,
  body: string,
  limits: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    task_id: taskId,
    execution: {
      kind: 'command',
      program: '/bin/sh',
      args: ['-c', `echo run >> runs.txt; ${body}`],
      env: { EXECGO_CRASH_MARK: marker },
    },
    limits,
  };
}

/** The exit record the shim left (key=value lines), or undefined. */
export function readExitRecord(dataDir: string, taskId: string): Map<string, string> | undefined {
  try {
    const text = fs.readFileSync(path.join(dataDir, 'tasks', taskId, 'exit.record'), 'utf8');
    return new Map(
      text
        .split('\n')
        .filter((line) => line.includes('='))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
  } catch {
    return undefined;
  }
}
