import { createHash } from 'node:crypto';
import os from 'node:os';
import { staticSandboxInitPath, type RuntimeConfig } from '../config/runtime-config.js';
import type { CgroupPlacement, HostCapabilities } from './host-capabilities.js';
import { resolveCgroupHierarchies } from './parse-cgroup-layout.js';
import { probeCgroups } from './probe-cgroups.js';
import {
  detectCapacity,
  detectContainer,
  detectSwap,
  findTool,
  isExecutableFile,
  probeDataDirWritable,
  readText,
} from './probe-host.js';
import { probeLinuxSandbox } from './probe-sandbox.js';

function describeSource(flag: string, envName: string, env: NodeJS.ProcessEnv): string {
  const value = env[envName];
  return value !== undefined && value !== '' ? `${envName}=${value}` : flag;
}

function collectOverrides(
  config: RuntimeConfig,
  env: NodeJS.ProcessEnv,
  warnings: string[],
): Record<string, string> {
  const overrides: Record<string, string> = {};
  if (config.disableLinuxSandbox) {
    overrides.linux_sandbox = 'disabled';
    warnings.push(
      `linux_sandbox disabled by ${describeSource('--disable-linux-sandbox', 'EXECGO_RUNTIME_DISABLE_LINUX_SANDBOX', env)}`,
    );
  }
  if (config.disableCgroup) {
    overrides.cgroup = 'disabled';
    warnings.push(
      `cgroups disabled by ${describeSource('--disable-cgroup', 'EXECGO_RUNTIME_DISABLE_CGROUP', env)}`,
    );
  }
  if (config.cgroupRoot !== undefined) overrides.cgroup_root = config.cgroupRoot;
  if (config.capacityMemoryBytes !== undefined)
    overrides.capacity_memory_bytes = String(config.capacityMemoryBytes);
  if (config.capacityPids !== undefined) overrides.capacity_pids = String(config.capacityPids);
  return overrides;
}

/**
 * The per-runtime cgroup level (`rt-…`) of a data dir: two runtimes on one host never touch
 * each other's tasks, and one restarted on the same data dir finds its own.
 */
export function nameRuntimeCgroup(dataDir: string): string {
  return `rt-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`;
}

function probeHostCgroups(
  config: RuntimeConfig,
  warnings: string[],
): { placement: CgroupPlacement | null; isV2Mounted: boolean } {
  const hierarchies = resolveCgroupHierarchies(
    readText('/proc/self/mountinfo'),
    readText('/proc/self/cgroup'),
  );
  const isV2Mounted = hierarchies.unifiedMount !== undefined;
  if (config.disableCgroup) return { placement: null, isV2Mounted };
  const placement = probeCgroups(
    {
      hierarchies,
      cgroupRoot: config.cgroupRoot,
      swapPresent: detectSwap(),
      instance: nameRuntimeCgroup(config.dataDir),
      probeName: `probe-${process.pid}`,
    },
    warnings,
  );
  return { placement, isV2Mounted };
}

/**
 * Probes the host once at start, by trying things rather than guessing: bubblewrap is run
 * as tasks will run it, cgroups are created where tasks will live. Everything reported is
 * what the runtime will really do; anything it cannot do is a warning, and explicit
 * overrides are listed as such.
 */
export function probeCapabilities(config: RuntimeConfig, env: NodeJS.ProcessEnv): HostCapabilities {
  const warnings: string[] = [];
  const overrides = collectOverrides(config, env, warnings);
  const isLinux = process.platform === 'linux';
  const tools: Record<string, string | null> = {};
  for (const tool of ['bwrap', 'setpriv', 'env', 'true', 'unshare', 'prlimit'])
    tools[tool] = findTool(tool);
  const sandbox =
    isLinux && !config.disableLinuxSandbox
      ? probeLinuxSandbox(
          {
            bwrap: tools.bwrap ?? null,
            setpriv: tools.setpriv ?? null,
            env: tools.env ?? null,
            truePath: tools.true ?? null,
            unshare: tools.unshare ?? null,
            hostname: findTool('hostname'),
          },
          process.getuid?.() === 0,
          warnings,
        )
      : undefined;
  const { placement, isV2Mounted } = isLinux
    ? probeHostCgroups(config, warnings)
    : { placement: null, isV2Mounted: false };
  if (!isLinux) warnings.push(`linux_sandbox and cgroups need Linux (this is ${process.platform})`);
  const dataDirWritable = probeDataDirWritable(config.dataDir);
  if (!dataDirWritable) warnings.push(`data dir ${config.dataDir} is not writable`);
  const tool = sandbox?.tool ?? null;
  const chrootInit = staticSandboxInitPath(config.shimPath);
  const hasChrootInit = isExecutableFile(chrootInit);
  const isChrootPossible = tool !== null && sandbox?.namespaces.mount === true;
  // Inside a chroot only this static binary is the runtime's own: it drops root there.
  const chroot = isChrootPossible && hasChrootInit;
  if (isChrootPossible && !hasChrootInit)
    warnings.push(
      `chroot is unavailable: ${chrootInit} was not built (it needs the static C library, ` +
        'libc.a), and no binary of a rootfs may drop root in its place',
    );
  const linuxSandbox =
    tool === null ? null : { ...tool, ...(hasChrootInit ? { chrootInitPath: chrootInit } : {}) };
  // The probe's own words, for refusals and fallback reasons ("disabled by …", "bwrap not found").
  const unavailable =
    linuxSandbox === null
      ? (warnings.find((warning) => warning.startsWith('linux_sandbox')) ??
        'linux_sandbox is not available on this host')
      : undefined;
  return {
    os: process.platform,
    arch: os.arch(),
    ...detectContainer(env),
    dataDirWritable,
    linuxSandbox,
    ...(unavailable === undefined ? {} : { linuxSandboxUnavailable: unavailable }),
    chroot,
    namespaces: sandbox?.namespaces ?? {
      mount: false,
      pid: false,
      uts: false,
      ipc: false,
      net: false,
    },
    rlimitCpu: isLinux,
    rlimitMemory: isLinux,
    cgroups: placement,
    cgroupV2Mounted: isV2Mounted,
    capacity: detectCapacity(config),
    tools,
    warnings,
    overrides,
    collectedAtMs: Date.now(),
  };
}
