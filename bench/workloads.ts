import { performance } from 'node:perf_hooks';
import { requestJson, runToTerminal, submitCommand, waitTerminal } from './http-client.js';
import { measureTree, readProcessMemory } from './proc-memory.js';
import { percentile } from './stats.js';

/** Sequential submit → terminal latencies (ms) of one command, after a warm-up. */
export async function measureSequential(
  base: URL,
  count: number,
  program = '/bin/true',
): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 20; i++) await runToTerminal(base, program, []);
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await runToTerminal(base, program, []);
    samples.push(performance.now() - start);
  }
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

/**
 * Tasks per second with `clients` concurrent clients each looping submit → terminal; the
 * server's slot limit decides how many run at once.
 */
export async function measureThroughput(
  base: URL,
  total: number,
  clients: number,
  program: string,
  args: string[],
  onProgress?: (done: number) => void,
): Promise<number> {
  let started = 0;
  let done = 0;
  const begin = performance.now();
  const client = async (): Promise<void> => {
    while (started < total) {
      started++;
      await runToTerminal(base, program, args);
      done++;
      onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  return (total / (performance.now() - begin)) * 1000;
}

/**
 * Memory the server adds per running task: the server's process tree (server, supervisors,
 * anything else it started) with `count` `sleep` tasks running, minus the tree before, per
 * task; the `sleep` processes themselves are left out.
 */
export async function measureRunningOverhead(
  serverPid: number,
  base: URL,
  count: number,
): Promise<{ rssKbPerTask: number; pssKbPerTask: number }> {
  for (let i = 0; i < 10; i++) await runToTerminal(base, '/bin/true', []);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const before = measureTree(serverPid, 'sleep');
  const ids = await Promise.all(
    Array.from({ length: count }, () => submitCommand(base, 'sleep', ['4'])),
  );
  const deadline = Date.now() + 3500;
  let during = measureTree(serverPid, 'sleep');
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const running = await Promise.all(
      ids.map((id) =>
        requestJson<{ status: string; pid?: number }>(base, 'GET', `/api/v1/tasks/${id}`),
      ),
    );
    if (running.every((task) => task.status === 'running' && task.pid !== undefined)) {
      during = measureTree(serverPid, 'sleep');
      break;
    }
  }
  if (during.excluded < count)
    throw new Error(`only ${during.excluded} of ${count} tasks were running`);
  await Promise.all(ids.map((id) => waitTerminal(base, id)));
  return {
    rssKbPerTask: (during.rssKb - before.rssKb) / count,
    pssKbPerTask: (during.pssKb - before.pssKb) / count,
  };
}

/** Server RSS (KiB) sampled every `every` tasks while `total` tasks run through it. */
export async function measureRssOverTasks(
  serverPid: number,
  base: URL,
  total: number,
  every: number,
): Promise<number[]> {
  const samples: number[] = [readProcessMemory(serverPid).rssKb];
  await measureThroughput(base, total, 16, '/bin/true', [], (done) => {
    if (done % every === 0) samples.push(readProcessMemory(serverPid).rssKb);
  });
  return samples;
}

/** GET status latencies (ms) over random ids. */
export async function measureStatusReads(
  base: URL,
  ids: readonly string[],
  count: number,
): Promise<{ p50: number; p99: number }> {
  const pick = (): string => ids[Math.floor(Math.random() * ids.length)] ?? '';
  for (let i = 0; i < 200; i++) await requestJson(base, 'GET', `/api/v1/tasks/${pick()}`);
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = pick();
    const start = performance.now();
    await requestJson(base, 'GET', `/api/v1/tasks/${id}`);
    samples.push(performance.now() - start);
  }
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}
