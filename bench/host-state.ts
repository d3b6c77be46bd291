import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/** How loaded the shared host is while the bench runs: what its figures can be read against. */
export interface HostState {
  /** `some avg60` of /proc/pressure/cpu, % (undefined without PSI). */
  cpuPressurePct: number | undefined;
  /** Mean cost of creating one empty file in the temp dir, µs. */
  fileCreateUs: number;
}

/**
 * Above this, file creation measures the file system rather than the runtimes: ext4 without
 * a journal after mass deletions (docs/performance.md, "Machine") costs 300–600 µs per
 * inode where a settled one costs ~20.
 */
const SLOW_FILE_CREATE_US = 100;

function readCpuPressure(): number | undefined {
  try {
    const text = fs.readFileSync('/proc/pressure/cpu', 'utf8');
    const match = /^some avg10=[\d.]+ avg60=([\d.]+)/m.exec(text);
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/**
 * Times 200 file creations in a fresh directory under `dir` (as every system creates task
 * files there) and reads the CPU pressure from other tenants.
 */
export function measureHostState(dir: string): HostState {
  const probeDir = fs.mkdtempSync(path.join(dir, 'execgo-bench-probe-'));
  const count = 200;
  const begin = performance.now();
  for (let i = 0; i < count; i++) fs.writeFileSync(path.join(probeDir, `f${i}`), '');
  const fileCreateUs = ((performance.now() - begin) / count) * 1000;
  fs.rmSync(probeDir, { recursive: true, force: true });
  return { cpuPressurePct: readCpuPressure(), fileCreateUs };
}

/** One line for the bench's log, with a warning when the host skews the figures. */
export function describeHostState(when: string, state: HostState): string {
  const pressure =
    state.cpuPressurePct === undefined ? 'n/a' : `${state.cpuPressurePct.toFixed(1)} %`;
  const line = `host ${when}: CPU pressure (avg60) ${pressure}, file creation ${state.fileCreateUs.toFixed(0)} µs`;
  return state.fileCreateUs > SLOW_FILE_CREATE_US
    ? `${line} (slow: file creation on this file system is skewing every system's figures, docs/performance.md "Machine")`
    : line;
}
