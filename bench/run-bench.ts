// `npm run bench`: the runtime against a thin Node runtime, Node's spawn alone and bare C
// spawn, interleaved repetition by repetition on this machine. Flags: --quick (smaller counts, 3 repetitions),
// --reps N. Prints the figures (median, min–max) and writes bench/results/<timestamp>.json.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { closeIdleConnections, runToTerminal, submitCommand, waitTerminal } from './http-client.js';
import { fillRuntimeStore, fillThinStore } from './fill-store.js';
import { describeHostState, measureHostState } from './host-state.js';
import {
  REPO_ROOT,
  compileBenchTool,
  makeDataDir,
  removeDataDirs,
  startServer,
  type SystemName,
} from './server-process.js';
import { summarize, type Spread } from './stats.js';
import {
  measureRssOverTasks,
  measureRunningOverhead,
  measureSequential,
  measureStatusReads,
  measureThroughput,
} from './workloads.js';

const isQuick = process.argv.includes('--quick');
const repsFlag = process.argv.indexOf('--reps');
const plan = {
  reps: repsFlag > 0 ? Number(process.argv[repsFlag + 1]) : isQuick ? 3 : 5,
  sequential: isQuick ? 150 : 300,
  throughput: isQuick ? 400 : 1000,
  sleepTasks: isQuick ? 160 : 320,
  overheadTasks: 64,
  rssTasks: isQuick ? 5000 : 20000,
  rssEvery: isQuick ? 500 : 1000,
  storeRows: 100_000,
  statusReads: isQuick ? 1000 : 3000,
  clients: 16,
  slots: 8,
};
const SYSTEMS: readonly SystemName[] = [
  'runtime',
  'runtime-durable',
  'runtime-nocgroup',
  'thin',
  'thin-durable',
  'thin-forkserver',
];
const SPAWN_BASELINES = ['bare-spawn', 'node-spawn'] as const;

type Figure = 'seqP50' | 'seqP99' | 'tput' | 'sleepTput' | 'rssPerTask' | 'pssPerTask';
type Samples = Record<string, Partial<Record<Figure, number[]>>>;
const samples: Samples = {};

function record(system: string, figure: Figure, value: number): void {
  const bySystem = (samples[system] ??= {});
  (bySystem[figure] ??= []).push(value);
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function measureSystem(name: SystemName): Promise<void> {
  const server = await startServer(name, plan.slots);
  try {
    const seq = await measureSequential(server.base, plan.sequential);
    record(name, 'seqP50', seq.p50);
    record(name, 'seqP99', seq.p99);
    record(
      name,
      'tput',
      await measureThroughput(server.base, plan.throughput, plan.clients, '/bin/true', []),
    );
    record(
      name,
      'sleepTput',
      await measureThroughput(server.base, plan.sleepTasks, plan.clients, 'sleep', ['0.05']),
    );
    log(`  ${name}: p50 ${seq.p50.toFixed(2)} ms, p99 ${seq.p99.toFixed(2)} ms`);
  } finally {
    await server.stop();
    closeIdleConnections();
  }
  if (name !== 'runtime' && name !== 'thin') return;
  const wide = await startServer(name, plan.overheadTasks + 8);
  try {
    const overhead = await measureRunningOverhead(wide.pid, wide.base, plan.overheadTasks);
    record(name, 'rssPerTask', overhead.rssKbPerTask / 1024);
    record(name, 'pssPerTask', overhead.pssKbPerTask / 1024);
  } finally {
    await wide.stop();
    closeIdleConnections();
  }
}

/** Spawn alone, no runtime: bare C posix_spawn, and Node's child_process.spawn. */
function measureSpawnBaselines(): void {
  const runs: [string, string, string[]][] = [
    ['bare-spawn', compileBenchTool('bare-spawn'), []],
    ['node-spawn', process.execPath, [path.join(REPO_ROOT, 'dist', 'bench', 'node-spawn.js')]],
  ];
  for (const [name, file, args] of runs) {
    const out = execFileSync(file, [...args, String(plan.sequential), String(plan.throughput)], {
      encoding: 'utf8',
    });
    const figures = JSON.parse(out) as { p50: number; p99: number; perSecond: number };
    record(name, 'seqP50', figures.p50);
    record(name, 'seqP99', figures.p99);
    record(name, 'tput', figures.perSecond);
  }
}

/** Server RSS while 20,000 tasks run through one runtime. */
async function measureRssFlat(): Promise<{ samplesKb: number[]; growthPct: number }> {
  const server = await startServer('runtime', plan.slots);
  try {
    const samplesKb = await measureRssOverTasks(
      server.pid,
      server.base,
      plan.rssTasks,
      plan.rssEvery,
    );
    // Warm-up: the first quarter of the tasks (V8 sizes its heap lazily).
    const warm = samplesKb[Math.floor((samplesKb.length - 1) / 4)] ?? 0;
    const last = samplesKb[samplesKb.length - 1] ?? 0;
    return { samplesKb, growthPct: ((last - warm) / warm) * 100 };
  } finally {
    await server.stop();
    closeIdleConnections();
  }
}

interface StatusReads {
  p50: Spread;
  p99: Spread;
  coldP50: Spread;
  coldP99: Spread;
}

/**
 * GET status p50/p99 with 100,000 finished tasks in each store, three interleaved rounds.
 * Each round starts a fresh server and measures twice: the first reads after start (`cold`:
 * V8 still compiling the path, heap and SQLite's cache still growing) and then the steady
 * state (the target: a runtime answers pollers for hours, not for its first seconds).
 */
async function measureStatusAtScale(): Promise<Record<string, StatusReads>> {
  const filled: Record<string, { dataDir: string; ids: string[] }> = {};
  for (const name of ['runtime', 'thin'] as const) {
    const dataDir = makeDataDir(`${name}-store`);
    const server = await startServer(name, plan.slots, dataDir);
    const template = await submitCommand(server.base, '/bin/true', []);
    await waitTerminal(server.base, template);
    await server.stop(true);
    const started = Date.now();
    const ids =
      name === 'runtime'
        ? fillRuntimeStore(dataDir, template, plan.storeRows)
        : fillThinStore(dataDir, template, plan.storeRows);
    log(`  filled ${name} store with ${ids.length} tasks in ${Date.now() - started} ms`);
    filled[name] = { dataDir, ids };
  }
  const reads: Record<string, Record<'p50' | 'p99' | 'coldP50' | 'coldP99', number[]>> = {};
  for (let round = 0; round < 3; round++)
    for (const name of ['runtime', 'thin'] as const) {
      const store = filled[name];
      if (store === undefined) continue;
      const server = await startServer(name, plan.slots, store.dataDir);
      try {
        const cold = await measureStatusReads(server.base, store.ids, plan.statusReads);
        const steady = await measureStatusReads(server.base, store.ids, plan.statusReads);
        const entry = (reads[name] ??= { p50: [], p99: [], coldP50: [], coldP99: [] });
        entry.p50.push(steady.p50);
        entry.p99.push(steady.p99);
        entry.coldP50.push(cold.p50);
        entry.coldP99.push(cold.p99);
      } finally {
        // Keep the filled data dir for the next round; the last round removes it.
        await server.stop(round < 2);
        closeIdleConnections();
      }
    }
  return Object.fromEntries(
    Object.entries(reads).map(([name, r]) => [
      name,
      {
        p50: summarize(r.p50),
        p99: summarize(r.p99),
        coldP50: summarize(r.coldP50),
        coldP99: summarize(r.coldP99),
      },
    ]),
  );
}

function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    vcpus: cpus.length,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    tmpdir: os.tmpdir(),
  };
}

function fmt(spread: Spread | undefined, digits = 2): string {
  if (spread === undefined) return '-';
  return `${spread.median.toFixed(digits)} (${spread.min.toFixed(digits)}–${spread.max.toFixed(digits)})`;
}

/** Per-repetition ratios a/b (paired: same repetition), summarized. */
function ratio(a: string, b: string, figure: Figure): Spread | undefined {
  const x = samples[a]?.[figure];
  const y = samples[b]?.[figure];
  if (x === undefined || y === undefined || x.length !== y.length || x.length === 0)
    return undefined;
  return summarize(x.map((value, index) => value / (y[index] ?? Number.NaN)));
}

async function main(): Promise<void> {
  log(`execgo-runtime bench (${isQuick ? 'quick' : 'full'}), ${plan.reps} repetitions`);
  const begin = Date.now();
  const hostBefore = measureHostState(os.tmpdir());
  log(describeHostState('before', hostBefore));
  // One real task first so a broken build fails in seconds, not minutes.
  const probe = await startServer('runtime', plan.slots);
  await runToTerminal(probe.base, '/bin/true', []);
  await probe.stop();
  for (let rep = 0; rep < plan.reps; rep++) {
    log(`repetition ${rep + 1}/${plan.reps}`);
    const order = [
      ...SYSTEMS.slice(rep % SYSTEMS.length),
      ...SYSTEMS.slice(0, rep % SYSTEMS.length),
    ];
    for (const name of order) await measureSystem(name);
    measureSpawnBaselines();
  }
  log('server RSS over many tasks');
  const rss = await measureRssFlat();
  log('GET status with 100,000 tasks in the store');
  const status = await measureStatusAtScale();
  const hostAfter = measureHostState(os.tmpdir());
  log(describeHostState('after', hostAfter));

  const figures = Object.fromEntries(
    Object.entries(samples).map(([system, bySystem]) => [
      system,
      Object.fromEntries(
        Object.entries(bySystem).map(([figure, values]) => [figure, summarize(values)]),
      ),
    ]),
  ) as Record<string, Partial<Record<Figure, Spread>>>;
  const ratios = {
    seqP50VsThin: ratio('runtime', 'thin', 'seqP50'),
    seqP99VsThin: ratio('runtime', 'thin', 'seqP99'),
    tputVsThin: ratio('runtime', 'thin', 'tput'),
    sleepTputVsThin: ratio('runtime', 'thin', 'sleepTput'),
    durableSeqP50VsThinDurable: ratio('runtime-durable', 'thin-durable', 'seqP50'),
    durableTputVsThinDurable: ratio('runtime-durable', 'thin-durable', 'tput'),
    cgroupCostSeqP50: ratio('runtime', 'runtime-nocgroup', 'seqP50'),
    nocgroupSeqP50VsThin: ratio('runtime-nocgroup', 'thin', 'seqP50'),
    nocgroupTputVsThin: ratio('runtime-nocgroup', 'thin', 'tput'),
    durableCostSeqP50: ratio('runtime-durable', 'runtime', 'seqP50'),
    durableCostTput: ratio('runtime-durable', 'runtime', 'tput'),
    seqP50VsBareSpawn: ratio('runtime', 'bare-spawn', 'seqP50'),
    tputVsBareSpawn: ratio('runtime', 'bare-spawn', 'tput'),
    // What spawning alone costs against the thin runtime: a C posix_spawn + wait of the same
    // program, and Node's child_process.spawn from a small process (the thin runtime's own
    // spawn), with no server, no HTTP and no database at all.
    bareSpawnSeqP50VsThin: ratio('bare-spawn', 'thin', 'seqP50'),
    bareSpawnTputVsThin: ratio('bare-spawn', 'thin', 'tput'),
    nodeSpawnSeqP50VsThin: ratio('node-spawn', 'thin', 'seqP50'),
    nodeSpawnTputVsThin: ratio('node-spawn', 'thin', 'tput'),
    // The design at its thinnest: the thin runtime with its spawns done by a small C
    // forkserver instead of Node (bench/thin-forkserver.c).
    thinForkserverSeqP50VsThin: ratio('thin-forkserver', 'thin', 'seqP50'),
    thinForkserverTputVsThin: ratio('thin-forkserver', 'thin', 'tput'),
  };
  const rt = figures.runtime ?? {};
  const targets = [
    ['sequential p50 ≤ 0.6× thin', (ratios.seqP50VsThin?.median ?? Infinity) <= 0.6],
    ['throughput (8 running) ≥ 2× thin', (ratios.tputVsThin?.median ?? 0) >= 2],
    ['≤ 2 MiB RSS per running task', (rt.rssPerTask?.median ?? Infinity) <= 2],
    ['sleep 0.05 at 8 running ≥ 90% of 160/s', (rt.sleepTput?.median ?? 0) >= 144],
    ['server RSS flat (< 10% growth)', rss.growthPct < 10],
    ['GET status p99 ≤ 2 ms at 100k', (status.runtime?.p99.median ?? Infinity) <= 2],
  ] as const;

  const lines: string[] = [];
  lines.push(
    '',
    `figure (median, min–max over ${plan.reps} reps)`.padEnd(40) +
      [...SYSTEMS, ...SPAWN_BASELINES].map((s) => s.padEnd(24)).join(''),
  );
  const row = (label: string, figure: Figure, digits = 2): void => {
    lines.push(
      label.padEnd(40) +
        [...SYSTEMS, ...SPAWN_BASELINES]
          .map((s) => fmt(figures[s]?.[figure], digits).padEnd(24))
          .join(''),
    );
  };
  row('submit→terminal p50 (ms)', 'seqP50');
  row('submit→terminal p99 (ms)', 'seqP99');
  row('tasks/s, 8 running', 'tput', 1);
  row('sleep 0.05 tasks/s (ideal 160)', 'sleepTput', 1);
  row('RSS per running task (MiB)', 'rssPerTask');
  row('PSS per running task (MiB)', 'pssPerTask');
  lines.push('', 'ratios (paired per repetition; median, min–max)');
  for (const [key, value] of Object.entries(ratios))
    lines.push(`  ${key.padEnd(30)} ${fmt(value)}`);
  lines.push(
    '',
    `server RSS over ${plan.rssTasks} tasks: ${rss.samplesKb.map((kb) => (kb / 1024).toFixed(0)).join(' ')} MiB; growth after warm-up ${rss.growthPct.toFixed(1)}%`,
  );
  for (const [name, r] of Object.entries(status))
    lines.push(
      `GET status with ${plan.storeRows} tasks, ${name}: p50 ${fmt(r.p50, 3)} ms, p99 ${fmt(r.p99, 3)} ms` +
        ` (first ${plan.statusReads} reads after start: p50 ${fmt(r.coldP50, 3)}, p99 ${fmt(r.coldP99, 3)})`,
    );
  lines.push('', 'targets');
  for (const [label, ok] of targets) lines.push(`  ${ok ? 'HOLDS' : 'MISSES'}  ${label}`);
  lines.push(
    `  (spawn alone, no runtime at all: C posix_spawn p50 ${fmt(ratios.bareSpawnSeqP50VsThin)}× thin,` +
      ` throughput ${fmt(ratios.bareSpawnTputVsThin)}× thin;` +
      ` Node spawn p50 ${fmt(ratios.nodeSpawnSeqP50VsThin)}× thin,` +
      ` throughput ${fmt(ratios.nodeSpawnTputVsThin)}× thin)`,
    `  (the thin runtime with a C forkserver instead of Node's spawn:` +
      ` p50 ${fmt(ratios.thinForkserverSeqP50VsThin)}× thin,` +
      ` throughput ${fmt(ratios.thinForkserverTputVsThin)}× thin)`,
  );
  lines.push(
    '',
    describeHostState('before', hostBefore),
    describeHostState('after', hostAfter),
    `bench took ${((Date.now() - begin) / 1000).toFixed(0)} s`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);

  const resultsDir = path.join(REPO_ROOT, 'bench', 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(
    file,
    `${JSON.stringify(
      {
        machine: machineInfo(),
        host: { before: hostBefore, after: hostAfter },
        plan,
        quick: isQuick,
        figures,
        ratios,
        rssOverTasks: rss,
        statusAt100k: status,
        targets: Object.fromEntries(targets),
        durationS: (Date.now() - begin) / 1000,
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`results: ${path.relative(REPO_ROOT, file)}\n`);
  removeDataDirs();
}

await main();
