import path from 'node:path';
import type { CapabilityMode } from '../contract/task-request.js';
import type { TenantQuota } from '../ledger/resource-amounts.js';

/** The validated, frozen configuration of one runtime instance. */
export interface RuntimeConfig {
  runtimeId: string;
  version: string;
  listenHost: string;
  listenPort: number;
  /**
   * A listening socket passed by a service manager (systemd socket activation: LISTEN_FDS for
   * this pid), used instead of binding `listenHost:listenPort`; always descriptor 3.
   */
  listenFd?: number;
  /** Absolute. */
  dataDir: string;
  maxRunningTasks: number;
  maxQueuedTasks: number;
  terminationGraceMs: number;
  resultRetentionSecs: number;
  gcIntervalMs: number;
  /** Safety-net sweep interval; dispatch itself is event-driven. */
  dispatchPollIntervalMs: number;
  cgroupRoot?: string;
  defaultCapabilityMode: CapabilityMode;
  disableLinuxSandbox: boolean;
  disableCgroup: boolean;
  capacityMemoryBytes?: number;
  capacityPids?: number;
  tenantQuotas: readonly TenantQuota[];
  /** synchronous=FULL and fsync of task files. */
  durable: boolean;
  bodyLimitBytes: number;
  logLevel: string;
  /** PATH, HOME, LANG, TMPDIR, USER of the runtime's own environment, when set. */
  childBaseEnv: Readonly<Record<string, string>>;
  shimPath: string;
  /** First host uid/gid of the range linux_sandbox tasks get one each from. */
  sandboxUidBase: number;
}

/** The contract's listen_addr form. */
export function formatListenAddr(config: Pick<RuntimeConfig, 'listenHost' | 'listenPort'>): string {
  return config.listenHost.includes(':')
    ? `[${config.listenHost}]:${config.listenPort}`
    : `${config.listenHost}:${config.listenPort}`;
}

/**
 * The sandbox init for chroot tasks, next to the shim: linked statically, because a rootfs
 * brings its own libc or none (native/sandbox-init-main.c). Not built without a static C
 * library; chroot tasks then report a signal death as exit 128+N.
 */
export function staticSandboxInitPath(shimPath: string): string {
  return path.join(path.dirname(shimPath), 'execgo-sandbox-init');
}
