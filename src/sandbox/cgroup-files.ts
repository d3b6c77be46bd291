import fs from 'node:fs';
import path from 'node:path';

/** Reads a cgroup control file; undefined when absent or unreadable. */
export function readCgroupFile(dir: string, name: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dir, name), 'utf8');
  } catch {
    return undefined;
  }
}

/** Writes a cgroup control file (one write(2), as the kernel expects). Throws on failure. */
export function writeCgroupFile(dir: string, name: string, value: string): void {
  fs.writeFileSync(path.join(dir, name), value);
}

/** Whether a control file exists in a cgroup directory. */
export function hasCgroupFile(dir: string, name: string): boolean {
  return fs.existsSync(path.join(dir, name));
}

/** Parses `key value` lines (memory.events, cpu.stat, cpuacct.stat, memory.oom_control). */
export function parseFlatKeyed(text: string | undefined): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key === undefined || value === undefined) continue;
    const number = Number(value);
    if (Number.isFinite(number)) values.set(key, number);
  }
  return values;
}

/** A single integer file (`memory.peak`, `memory.max_usage_in_bytes`); undefined if `max`. */
export function parseSingleNumber(text: string | undefined): number | undefined {
  const number = Number((text ?? '').trim());
  return text !== undefined && Number.isSafeInteger(number) ? number : undefined;
}

function pauseMs(ms: number): void {
  // Removal runs on the finishing path, which is synchronous; a few ms of blocking while the
  // kernel finishes tearing down the last exited task is cheaper than an async state machine.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** One rmdir of a cgroup directory: true once it is gone, false if it is busy or failed. */
export function tryRemoveCgroupDir(dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * Removes an (empty) cgroup directory. rmdir is the only way (files inside cannot be
 * unlinked); EBUSY right after the last process exited is retried briefly; absence is fine.
 */
export function removeCgroupDir(dir: string, attempts = 20): boolean {
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      fs.rmdirSync(dir);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY' && code !== 'ENOTEMPTY') return false;
      pauseMs(Math.min(5 * (attempt + 1), 50));
    }
  }
  return false;
}

/** Pids currently in a cgroup. */
export function listCgroupPids(dir: string): number[] {
  return (readCgroupFile(dir, 'cgroup.procs') ?? '')
    .split('\n')
    .filter((line) => line !== '')
    .map(Number)
    .filter((pid) => Number.isSafeInteger(pid) && pid > 0);
}

/** Kills everything in a cgroup: cgroup.kill when the kernel has it, else SIGKILL each pid. */
export function killCgroup(dir: string): void {
  if (hasCgroupFile(dir, 'cgroup.kill')) {
    try {
      writeCgroupFile(dir, 'cgroup.kill', '1');
      return;
    } catch {
      // Fall through to the loop.
    }
  }
  for (let round = 0; round < 20; round++) {
    const pids = listCgroupPids(dir);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    pauseMs(5);
  }
}
