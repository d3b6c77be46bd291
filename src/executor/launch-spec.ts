/** One `key=value` entry of docs/shim-protocol.md. */
export type LaunchEntry = readonly [key: string, value: string];

/** What the shim must do for one task, in the terms of the shim protocol. */
export interface LaunchSpec {
  taskId: string;
  exe: string;
  argv: readonly string[];
  env: Readonly<Record<string, string>>;
  cwd: string;
  stdinPath?: string;
  stdoutPath: string;
  stderrPath: string;
  startRecordPath: string;
  exitRecordPath: string;
  /** Absent: no notify files (the spawner reports shim exits over its pipe). */
  notifyDir?: string;
  wallMs: number;
  idleMs?: number;
  graceMs: number;
  rlimitCpuSec?: number;
  rlimitAsBytes?: number;
  rlimitFsizeBytes?: number;
  noNewPrivs: boolean;
  cgroupDirs: readonly string[];
  signalMode: 'group' | 'cgroup';
  durable: boolean;
}

/** Lays a spec out as protocol entries, in a stable order. Pure. */
export function toLaunchEntries(spec: LaunchSpec): LaunchEntry[] {
  const entries: LaunchEntry[] = [
    ['task_id', spec.taskId],
    ['exe', spec.exe],
    ...spec.argv.map((arg): LaunchEntry => ['arg', arg]),
    ...Object.entries(spec.env).map(([key, value]): LaunchEntry => ['env', `${key}=${value}`]),
    ['cwd', spec.cwd],
    ['stdout', spec.stdoutPath],
    ['stderr', spec.stderrPath],
    ['start_record', spec.startRecordPath],
    ['exit_record', spec.exitRecordPath],
    ...(spec.notifyDir === undefined ? [] : [['notify_dir', spec.notifyDir] as LaunchEntry]),
    ['wall_ms', String(spec.wallMs)],
    ['grace_ms', String(spec.graceMs)],
    ['no_new_privs', spec.noNewPrivs ? '1' : '0'],
    ['signal_mode', spec.signalMode],
    ['durable', spec.durable ? '1' : '0'],
  ];
  if (spec.stdinPath !== undefined) entries.push(['stdin', spec.stdinPath]);
  if (spec.idleMs !== undefined) entries.push(['idle_ms', String(spec.idleMs)]);
  if (spec.rlimitCpuSec !== undefined) entries.push(['rlimit_cpu', String(spec.rlimitCpuSec)]);
  if (spec.rlimitAsBytes !== undefined) entries.push(['rlimit_as', String(spec.rlimitAsBytes)]);
  if (spec.rlimitFsizeBytes !== undefined)
    entries.push(['rlimit_fsize', String(spec.rlimitFsizeBytes)]);
  for (const dir of spec.cgroupDirs) entries.push(['cgroup', dir]);
  return entries;
}

/** Serializes entries as NUL-terminated `key=value` records. */
export function encodeLaunchSpec(spec: LaunchSpec): Buffer {
  const parts = toLaunchEntries(spec).map(([key, value]) => {
    if (value.includes('\0')) throw new Error(`launch spec value for ${key} contains NUL`);
    return `${key}=${value}\0`;
  });
  return Buffer.from(parts.join(''), 'utf8');
}
