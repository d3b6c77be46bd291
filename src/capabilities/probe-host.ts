import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RuntimeConfig } from '../config/runtime-config.js';
import type { HostCapabilities } from './host-capabilities.js';

function isReadable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** A whole text file, or '' when it cannot be read. */
export function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Container detection from the usual markers; informational only. */
export function detectContainer(env: NodeJS.ProcessEnv): {
  containerized: boolean;
  kubernetes: boolean;
} {
  const kubernetes =
    env.KUBERNETES_SERVICE_HOST !== undefined || isReadable('/var/run/secrets/kubernetes.io');
  const initCgroup = readText('/proc/1/cgroup');
  const containerized =
    kubernetes ||
    isReadable('/.dockerenv') ||
    isReadable('/run/.containerenv') ||
    /docker|kubepods|containerd|libpod|lxc/.test(initCgroup);
  return { containerized, kubernetes };
}

/** Proves the data directory is writable by writing and removing a file. */
export function probeDataDirWritable(dataDir: string): boolean {
  const file = path.join(dataDir, `.probe-${process.pid}`);
  try {
    fs.writeFileSync(file, 'ok');
    fs.rmSync(file);
    return true;
  } catch {
    return false;
  }
}

/** Whether `file` is a regular file this process may execute. */
export function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Finds an executable by absolute path among the standard system directories. */
export function findTool(name: string): string | null {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin']) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return null;
}

/** Whether any swap device is active (then a memory limit must also cap swap). */
export function detectSwap(): boolean {
  return readText('/proc/swaps').trim().split('\n').length > 1;
}

/** Ledger capacity: flags/env override, otherwise what the host has. */
export function detectCapacity(config: RuntimeConfig): HostCapabilities['capacity'] {
  const pidMax = Number(readText('/proc/sys/kernel/pid_max').trim());
  return {
    task_slots: config.maxRunningTasks,
    memory_bytes: config.capacityMemoryBytes ?? os.totalmem(),
    ...(config.capacityPids !== undefined
      ? { pids: config.capacityPids }
      : Number.isSafeInteger(pidMax) && pidMax > 0
        ? { pids: pidMax }
        : {}),
  };
}
