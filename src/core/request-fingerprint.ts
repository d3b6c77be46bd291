import { createHash } from 'node:crypto';
import type { TaskSpec } from './task-spec.js';

/** Canonical JSON (sorted keys) so a retried request hashes the same whatever its key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map(
        (key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`,
      )
      .join(',')}}`;
  return JSON.stringify(value);
}

/**
 * What "the same request" means for an idempotent submit: the normalized request, so two
 * bodies that mean the same thing match — key order, unknown fields (ignored, as the contract
 * says), defaults written out or left out (`"args": []` or none), surrounding spaces of
 * task_id. The key itself is not part of it, nor a task_id the server generated (a retry
 * without task_id must find the first task).
 */
export function fingerprintRequest(spec: TaskSpec, isTaskIdGenerated: boolean): string {
  const { idempotency_key: _key, task_id: taskId, ...rest } = spec;
  const request = isTaskIdGenerated ? rest : { ...rest, task_id: taskId };
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}
