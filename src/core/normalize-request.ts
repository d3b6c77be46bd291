import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { SubmitTaskRequest } from '../contract/task-request.js';
import {
  DEFAULT_LOG_MAX_BYTES,
  DEFAULT_OUTPUT_MAX_BYTES,
  DEFAULT_WALL_TIME_MS,
  MAX_STDIN_BYTES,
  MAX_TASK_ID_LENGTH,
} from './limits-defaults.js';
import { invalidInput } from './runtime-error.js';
import type { ControlContextSpec, ExecutionSpec, SandboxSpec, TaskSpec } from './task-spec.js';

const TASK_ID_PATTERN = /^[A-Za-z0-9._-]+$/;

function isBlank(value: string | undefined): boolean {
  return value === undefined || value.trim() === '';
}

function rejectNul(field: string, value: string): void {
  if (value.includes('\0')) throw invalidInput(`${field} must not contain NUL bytes`, { field });
}

/** Validates the task id rules; `.` and `..` pass a naive character check but are paths. */
export function normalizeTaskId(raw: string | undefined): string {
  if (raw === undefined) return randomUUID();
  const id = raw.trim();
  if (id === '') throw invalidInput('task_id must not be blank', { field: 'task_id' });
  if (!TASK_ID_PATTERN.test(id))
    throw invalidInput('task_id may only contain [A-Za-z0-9._-]', { field: 'task_id' });
  if (id === '.' || id === '..') throw invalidInput('task_id must not be "." or ".."');
  if (id.length > MAX_TASK_ID_LENGTH)
    throw invalidInput(`task_id must be at most ${MAX_TASK_ID_LENGTH} characters`);
  return id;
}

function normalizeEnv(env: Record<string, string> | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(env ?? {})) {
    if (key.trim() === '') throw invalidInput('execution.env keys must not be blank');
    if (key.includes('=')) throw invalidInput(`execution.env key "${key}" must not contain "="`);
    rejectNul(`execution.env.${key}`, key);
    rejectNul(`execution.env.${key}`, value);
    result[key] = value;
  }
  return result;
}

function normalizeExecution(raw: SubmitTaskRequest['execution']): ExecutionSpec {
  const env = normalizeEnv(raw.env);
  const stdin = raw.stdin;
  if (stdin !== undefined && Buffer.byteLength(stdin) > MAX_STDIN_BYTES)
    throw invalidInput(`execution.stdin must be at most ${MAX_STDIN_BYTES} bytes`);
  const stdinPart = stdin === undefined ? {} : { stdin };
  if (raw.kind === 'command') {
    if (isBlank(raw.program)) throw invalidInput('execution.program is required for kind command');
    if (!isBlank(raw.script))
      throw invalidInput('execution.script must be absent for kind command');
    if (raw.interpreter !== undefined)
      throw invalidInput('execution.interpreter is only valid for kind script');
    const program = raw.program ?? '';
    const args = raw.args ?? [];
    rejectNul('execution.program', program);
    args.forEach((arg, i) => rejectNul(`execution.args[${i}]`, arg));
    return { kind: 'command', program, args, env, ...stdinPart };
  }
  if (isBlank(raw.script)) throw invalidInput('execution.script is required for kind script');
  if (!isBlank(raw.program)) throw invalidInput('execution.program must be absent for kind script');
  if (raw.args !== undefined && raw.args.length > 0)
    throw invalidInput('execution.args is only valid for kind command');
  const script = raw.script ?? '';
  rejectNul('execution.script', script);
  const interpreter = raw.interpreter;
  if (interpreter !== undefined) {
    if (interpreter.length === 0 || isBlank(interpreter[0]))
      throw invalidInput('execution.interpreter must be non-empty with a non-blank first element');
    interpreter.forEach((part, i) => rejectNul(`execution.interpreter[${i}]`, part));
    return { kind: 'script', script, interpreter, env, ...stdinPart };
  }
  return { kind: 'script', script, env, ...stdinPart };
}

/** A relative path that stays inside the workspace lexically (symlinks are checked at launch). */
export function normalizeWorkspaceSubdir(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const trimmed = raw.trim();
  if (trimmed === '') return undefined;
  rejectNul('sandbox.workspace_subdir', trimmed);
  if (path.isAbsolute(trimmed)) throw invalidInput('sandbox.workspace_subdir must be relative');
  if (trimmed.split(/[\\/]/).includes('..'))
    throw invalidInput('sandbox.workspace_subdir must not contain ".."');
  const normalized = path.posix.normalize(trimmed).replace(/\/+$/, '');
  if (normalized === '.' || normalized === '') return undefined;
  return normalized;
}

function normalizeSandbox(raw: SubmitTaskRequest['sandbox']): SandboxSpec {
  const profile = raw?.profile ?? 'process';
  const chroot = raw?.chroot ?? false;
  if (chroot && profile !== 'linux_sandbox')
    throw invalidInput('sandbox.chroot is only valid with profile linux_sandbox');
  const rootfs = isBlank(raw?.rootfs) ? undefined : raw?.rootfs;
  if (chroot && rootfs === undefined) throw invalidInput('sandbox.rootfs is required when chroot');
  if (rootfs !== undefined) {
    rejectNul('sandbox.rootfs', rootfs);
    if (!path.isAbsolute(rootfs)) throw invalidInput('sandbox.rootfs must be an absolute path');
  }
  const ns = raw?.namespaces;
  const workspaceSubdir = normalizeWorkspaceSubdir(raw?.workspace_subdir);
  return {
    profile,
    chroot,
    ...(rootfs === undefined ? {} : { rootfs }),
    ...(workspaceSubdir === undefined ? {} : { workspace_subdir: workspaceSubdir }),
    namespaces: {
      mount: ns?.mount ?? true,
      pid: ns?.pid ?? true,
      uts: ns?.uts ?? true,
      ipc: ns?.ipc ?? true,
      net: ns?.net ?? false,
    },
  };
}

function normalizeLabels(labels: Record<string, string> | undefined): void {
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (key.trim() === '') throw invalidInput('control_context.labels keys must not be blank');
    if (key.includes('=')) throw invalidInput(`control_context.labels key "${key}" contains "="`);
    if (value.trim() === '') throw invalidInput(`control_context.labels.${key} must not be blank`);
  }
}

/** Text an HTTP header value carries unchanged (as UTF-8 bytes). */
function isHeaderSafe(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\x00-\x08\x0a-\x1f\x7f-\x9f]/.test(value) && value.trim() === value && value !== '';
}

function normalizeControlContext(
  raw: SubmitTaskRequest['control_context'],
): ControlContextSpec | undefined {
  if (raw === undefined) return undefined;
  const stringFields = [
    'control_plane_mode',
    'tenant',
    'owner',
    'expected_runtime_profile',
  ] as const;
  for (const field of stringFields) {
    const value = raw[field];
    if (value !== undefined && value.trim() === '')
      throw invalidInput(`control_context.${field} must not be blank`);
  }
  // The owner is proved by the x-execgo-owner header at kill time (UTF-8): an owner no header
  // can carry unchanged (control characters, or spaces at either end, which HTTP strips)
  // would make the task impossible to cancel.
  if (raw.owner !== undefined && !isHeaderSafe(raw.owner))
    throw invalidInput(
      'control_context.owner must have no control characters and no spaces at either end, as the x-execgo-owner header carries it',
    );
  normalizeLabels(raw.labels);
  const result: ControlContextSpec = {};
  for (const field of stringFields) {
    const value = raw[field];
    if (value !== undefined) result[field] = value;
  }
  if (raw.requires_strict_sandbox !== undefined)
    result.requires_strict_sandbox = raw.requires_strict_sandbox;
  if (raw.requires_resource_reservation !== undefined)
    result.requires_resource_reservation = raw.requires_resource_reservation;
  if (raw.labels !== undefined) result.labels = raw.labels;
  return result;
}

/** In `u` mode a surrogate pair is one code point: only a lone surrogate matches. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * The path of the first string in `value` (keys included) that is not well-formed UTF-16: a
 * lone surrogate, which JSON's `\ud800` escape can carry. Stored and sent on as UTF-8, it
 * would become U+FFFD, and an owner that must be carried unchanged would match nothing
 * (robustness round 10). Undefined when every string is well formed.
 */
export function findIllFormedString(value: unknown, at = ''): string | undefined {
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? at || '(body)' : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const where = Array.isArray(value) ? `${at}[${key}]` : at === '' ? key : `${at}.${key}`;
    if (LONE_SURROGATE.test(key)) return where;
    const found = findIllFormedString(item, where);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Applies every cross-field rule and default of the contract. The JSON schema has already
 * checked types; this turns a wire request into the one shape the service accepts.
 */
export function normalizeSubmitRequest(
  raw: SubmitTaskRequest,
  idempotencyHeader?: string,
): TaskSpec {
  const illFormed = findIllFormedString(raw);
  if (illFormed !== undefined)
    throw invalidInput(`${illFormed} is not valid Unicode (a lone surrogate)`, {
      field: illFormed,
    });
  const limits = raw.limits ?? {};
  const controlContext = normalizeControlContext(raw.control_context);
  const idempotencyKey = idempotencyHeader ?? raw.idempotency_key;
  // Counted in characters (code points), not UTF-16 units.
  if (
    idempotencyKey !== undefined &&
    (idempotencyKey.trim() === '' || Array.from(idempotencyKey).length > 256)
  )
    throw invalidInput('idempotency key must be 1 to 256 non-blank characters');
  return {
    task_id: normalizeTaskId(raw.task_id),
    execution: normalizeExecution(raw.execution),
    limits: {
      wall_time_ms: limits.wall_time_ms ?? DEFAULT_WALL_TIME_MS,
      stdout_max_bytes: limits.stdout_max_bytes ?? DEFAULT_OUTPUT_MAX_BYTES,
      stderr_max_bytes: limits.stderr_max_bytes ?? DEFAULT_OUTPUT_MAX_BYTES,
      log_max_bytes: limits.log_max_bytes ?? DEFAULT_LOG_MAX_BYTES,
      ...(limits.cpu_time_sec === undefined ? {} : { cpu_time_sec: limits.cpu_time_sec }),
      ...(limits.memory_bytes === undefined ? {} : { memory_bytes: limits.memory_bytes }),
      ...(limits.pids_max === undefined ? {} : { pids_max: limits.pids_max }),
      ...(limits.idle_timeout_ms === undefined ? {} : { idle_timeout_ms: limits.idle_timeout_ms }),
    },
    sandbox: normalizeSandbox(raw.sandbox),
    ...(raw.policy?.capability_mode === undefined
      ? {}
      : { capability_mode: raw.policy.capability_mode }),
    ...(controlContext === undefined ? {} : { control_context: controlContext }),
    metadata: raw.metadata ?? {},
    ...(idempotencyKey === undefined ? {} : { idempotency_key: idempotencyKey }),
  };
}
