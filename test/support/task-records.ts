import { normalizeSubmitRequest } from '../../src/core/normalize-request.js';
import type { TaskRecord } from '../../src/core/task-record.js';
import { resolveExecutionPlan } from '../../src/plan/resolve-plan.js';

/** A freshly accepted `/bin/true` task as the service would persist it (no sandbox, no cgroups). */
export function makeAcceptedRecord(taskId: string, now = 1): TaskRecord {
  const spec = normalizeSubmitRequest({
    task_id: taskId,
    execution: { kind: 'command', program: '/bin/true' },
  });
  const plan = resolveExecutionPlan(
    spec,
    {
      linuxSandbox: null,
      chroot: false,
      namespaces: { mount: false, pid: false, uts: false, ipc: false, net: false },
      rlimitCpu: true,
      rlimitMemory: true,
      cgroups: null,
    },
    'adaptive',
  );
  return {
    taskId,
    queueSeq: 0,
    status: 'accepted',
    spec,
    plan,
    reservation: { task_slots: 1 },
    createdAt: now,
    updatedAt: now,
  };
}
