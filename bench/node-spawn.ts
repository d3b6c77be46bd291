// Process creation from a small Node process: child_process.spawn('/bin/true') and wait for
// 'exit', sequentially (p50 ms) and with 8 in flight (per second). No files, no database: what
// the thin runtime pays for its spawns alone. Prints one JSON line.
// Usage: node-spawn.js <sequential-count> <parallel-count>
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { percentile } from './stats.js';

function runOnce(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/true', [], { stdio: 'ignore', env: {} });
    child.on('error', reject);
    child.on('exit', () => resolve());
  });
}

const sequential = Number(process.argv[2] ?? '300');
const parallel = Number(process.argv[3] ?? '1000');
for (let i = 0; i < 20; i++) await runOnce();
const samples: number[] = [];
for (let i = 0; i < sequential; i++) {
  const start = performance.now();
  await runOnce();
  samples.push(performance.now() - start);
}
let started = 0;
const begin = performance.now();
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (started < parallel) {
      started++;
      await runOnce();
    }
  }),
);
const perSecond = (parallel / (performance.now() - begin)) * 1000;
process.stdout.write(
  `${JSON.stringify({ p50: percentile(samples, 50), p99: percentile(samples, 99), perSecond })}\n`,
);
