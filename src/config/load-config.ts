import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { invalidInput } from '../core/runtime-error.js';
import { parseTenantQuotas } from '../ledger/tenant-quota-spec.js';
import { defaultSandboxUidBase, SANDBOX_IDENTITY_COUNT } from '../sandbox/sandbox-identities.js';
import type { RuntimeConfig } from './runtime-config.js';

/** Raw options as the CLI (or a test) provides them; strings where a flag was parsed. */
export interface ConfigInput {
  listenAddr?: string;
  dataDir?: string;
  maxRunningTasks?: number | string;
  maxQueuedTasks?: number | string;
  terminationGraceMs?: number | string;
  resultRetentionSecs?: number | string;
  gcIntervalMs?: number | string;
  dispatchPollIntervalMs?: number | string;
  cgroupRoot?: string;
  runtimeId?: string;
  defaultCapabilityMode?: string;
  disableLinuxSandbox?: boolean;
  disableCgroup?: boolean;
  capacityMemoryBytes?: number | string;
  capacityPids?: number | string;
  tenantQuota?: string[];
  durable?: boolean;
  maxBodyBytes?: number | string;
  logLevel?: string;
  shimPath?: string;
  sandboxUidBase?: number | string;
}

const CHILD_ENV_KEYS = ['PATH', 'HOME', 'LANG', 'TMPDIR', 'USER'] as const;
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The package version, read once from package.json. */
export function readPackageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function parseInteger(
  name: string,
  raw: number | string | undefined,
  min: number,
  fallback?: number,
): number {
  if (raw === undefined || raw === '') {
    if (fallback === undefined) throw invalidInput(`${name} is required`);
    return fallback;
  }
  const value = typeof raw === 'number' ? raw : Number(raw.trim());
  if (!Number.isSafeInteger(value) || value < min)
    throw invalidInput(`${name} must be an integer >= ${min}, got "${String(raw)}"`);
  return value;
}

/** uids above 2^31 - 1 read as negative to some tools; the whole range must stay below. */
const MAX_SANDBOX_UID_BASE = 2 ** 31 - 1 - SANDBOX_IDENTITY_COUNT;

function parseSandboxUidBase(raw: number | string | undefined, dataDir: string): number {
  const base = parseInteger('sandbox-uid-base', raw, 65_536, defaultSandboxUidBase(dataDir));
  if (base > MAX_SANDBOX_UID_BASE)
    throw invalidInput(`sandbox-uid-base must be at most ${MAX_SANDBOX_UID_BASE}, got ${base}`);
  return base;
}

function parseOptionalInteger(name: string, raw: number | string | undefined): number | undefined {
  return raw === undefined || raw === '' ? undefined : parseInteger(name, raw, 1);
}

function parseBoolean(name: string, raw: string | undefined): boolean {
  if (raw === undefined || raw === '') return false;
  const value = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw invalidInput(`${name} must be a boolean (1/0/true/false), got "${raw}"`);
}

/** pino's levels; anything else would fail deep inside the logger at start. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function parseLogLevel(raw: string): string {
  if (!LOG_LEVELS.includes(raw))
    throw invalidInput(`log level must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  return raw;
}

/** Splits `host:port`, `[v6]:port` or `:port`. */
export function parseListenAddr(addr: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr.trim());
  if (match === null) throw invalidInput(`listen address must be host:port, got "${addr}"`);
  const host = match[1] ?? (match[2] === '' || match[2] === undefined ? '0.0.0.0' : match[2]);
  const port = Number(match[3]);
  if (port > 65535) throw invalidInput(`listen port out of range in "${addr}"`);
  return { host, port };
}

/** The first descriptor a service manager passes (sd_listen_fds(3)'s SD_LISTEN_FDS_START). */
const SD_LISTEN_FDS_START = 3;

/**
 * The socket systemd passed, if any: LISTEN_FDS sockets from descriptor 3 on, meant for the
 * process whose pid LISTEN_PID names (a child that inherited the variables is not meant).
 */
function activatedSocket(env: NodeJS.ProcessEnv): number | undefined {
  const isForUs = env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) === process.pid;
  return isForUs && Number(env.LISTEN_FDS) >= 1 ? SD_LISTEN_FDS_START : undefined;
}

/**
 * The runtime's own variables (`EXECGO_RUNTIME_*`). One set to the empty string counts as
 * unset, as `VAR= command` in a shell or an empty `Environment=` line in a unit means: each
 * then takes its default, instead of some failing and some taking "" as a value.
 */
function runtimeSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(
      ([key, value]) => key.startsWith('EXECGO_RUNTIME_') && value !== undefined && value !== '',
    ),
  );
}

/**
 * Builds the runtime configuration from flags with environment fallbacks (the only place the
 * server reads process.env), validates it once and freezes it.
 */
export function loadConfig(
  input: ConfigInput,
  processEnv: NodeJS.ProcessEnv = process.env,
): RuntimeConfig {
  const env = runtimeSettings(processEnv);
  const listen = parseListenAddr(input.listenAddr ?? '127.0.0.1:8080');
  const mode =
    input.defaultCapabilityMode ?? env.EXECGO_RUNTIME_DEFAULT_CAPABILITY_MODE ?? 'adaptive';
  if (mode !== 'adaptive' && mode !== 'strict')
    throw invalidInput(`default capability mode must be adaptive or strict, got "${mode}"`);
  const childBaseEnv: Record<string, string> = {};
  for (const key of CHILD_ENV_KEYS) {
    const value = processEnv[key];
    if (value !== undefined) childBaseEnv[key] = value;
  }
  const capacityMemory = input.capacityMemoryBytes ?? env.EXECGO_RUNTIME_CAPACITY_MEMORY_BYTES;
  const capacityPids = input.capacityPids ?? env.EXECGO_RUNTIME_CAPACITY_PIDS;
  const dataDir = path.resolve(input.dataDir ?? 'data');
  const config: RuntimeConfig = {
    runtimeId: input.runtimeId ?? env.EXECGO_RUNTIME_ID ?? `${os.hostname()}-${listen.port}`,
    version: readPackageVersion(),
    listenHost: listen.host,
    listenPort: listen.port,
    dataDir,
    maxRunningTasks: parseInteger('max-running-tasks', input.maxRunningTasks, 1, 4),
    maxQueuedTasks: parseInteger('max-queued-tasks', input.maxQueuedTasks, 0, 128),
    terminationGraceMs: parseInteger('termination-grace-ms', input.terminationGraceMs, 0, 5000),
    resultRetentionSecs: parseInteger(
      'result-retention-secs',
      input.resultRetentionSecs,
      0,
      604800,
    ),
    gcIntervalMs: parseInteger('gc-interval-ms', input.gcIntervalMs, 10, 1000),
    dispatchPollIntervalMs: parseInteger(
      'dispatch-poll-interval-ms',
      input.dispatchPollIntervalMs,
      10,
      250,
    ),
    defaultCapabilityMode: mode,
    disableLinuxSandbox:
      input.disableLinuxSandbox === true ||
      parseBoolean(
        'EXECGO_RUNTIME_DISABLE_LINUX_SANDBOX',
        env.EXECGO_RUNTIME_DISABLE_LINUX_SANDBOX,
      ),
    disableCgroup:
      input.disableCgroup === true ||
      parseBoolean('EXECGO_RUNTIME_DISABLE_CGROUP', env.EXECGO_RUNTIME_DISABLE_CGROUP),
    tenantQuotas: parseTenantQuotas(input.tenantQuota ?? []),
    durable:
      input.durable === true || parseBoolean('EXECGO_RUNTIME_DURABLE', env.EXECGO_RUNTIME_DURABLE),
    bodyLimitBytes: parseInteger('max-body-bytes', input.maxBodyBytes, 1024, 8 * 1024 * 1024),
    logLevel: parseLogLevel(input.logLevel ?? env.EXECGO_RUNTIME_LOG_LEVEL ?? 'info'),
    childBaseEnv,
    sandboxUidBase: parseSandboxUidBase(
      input.sandboxUidBase ?? env.EXECGO_RUNTIME_SANDBOX_UID_BASE,
      dataDir,
    ),
    shimPath:
      input.shimPath ??
      env.EXECGO_RUNTIME_SHIM_PATH ??
      path.join(PACKAGE_ROOT, 'native/build/execgo-shim'),
  };
  const listenFd = activatedSocket(processEnv);
  if (listenFd !== undefined) config.listenFd = listenFd;
  const memory = parseOptionalInteger('capacity-memory-bytes', capacityMemory);
  if (memory !== undefined) config.capacityMemoryBytes = memory;
  const pids = parseOptionalInteger('capacity-pids', capacityPids);
  if (pids !== undefined) config.capacityPids = pids;
  const cgroupRoot = input.cgroupRoot ?? env.EXECGO_RUNTIME_CGROUP_ROOT;
  if (cgroupRoot !== undefined && cgroupRoot !== '') config.cgroupRoot = path.resolve(cgroupRoot);
  return Object.freeze(config);
}
