import type { SubmitTaskRequest } from '../../src/contract/task-request.js';
import { normalizeSubmitRequest } from '../../src/core/normalize-request.js';
import type { TaskRecord } from '../../src/core/task-record.js';
import type { TaskStatus } from '../../src/core/task-status.js';
import { resolveExecutionPlan, type PlanCapabilities } from '../../src/plan/resolve-plan.js';
import { NO_ISOLATION } from './host-fixtures.js';

/**
 * A task as the service would persist it: the request normalized, its plan resolved on the
 * given host (by default one without isolation), in the given status.
 */
export function makeTaskRecord(
  request: Partial<SubmitTaskRequest> & { task_id: string },
  options: { host?: PlanCapabilities; status?: TaskStatus; now?: number } = {},
): TaskRecord {
  const spec = normalizeSubmitRequest({
    execution: { kind: 'command', program: '/bin/true' },
    ...request,
  });
  const plan = resolveExecutionPlan(spec, options.host ?? NO_ISOLATION, 'adaptive');
  const now = options.now ?? 1;
  return {
    taskId: request.task_id,
    queueSeq: 0,
    status: options.status ?? 'accepted',
    spec,
    plan,
    reservation: { task_slots: 1 },
    createdAt: now,
    updatedAt: now,
  };
}

/** A freshly accepted `/bin/true` task as the service would persist it (no sandbox, no cgroups). */
export function makeAcceptedRecord(taskId: string, now = 1): TaskRecord {
  return makeTaskRecord({ task_id: taskId }, { now });
}
