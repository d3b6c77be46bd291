import type { Logger } from 'pino';
import type { RuntimeConfig } from '../config/runtime-config.js';
import type { HostCapabilities } from '../capabilities/host-capabilities.js';
import type { TaskListQueryParams, TaskListResponse } from '../contract/task-list.js';
import type { SubmitTaskResponse } from '../contract/task-request.js';
import type { EventRecord, TaskStatusResponse } from '../contract/task-status.js';
import type { Clock } from '../core/clock.js';
import type { Failpoints } from '../core/failpoints.js';
import { RuntimeError } from '../core/runtime-error.js';
import type { RuntimeEvents } from '../core/runtime-events.js';
import type { NewEvent, TaskRecord } from '../core/task-record.js';
import type { TaskSpec } from '../core/task-spec.js';
import { isTerminal } from '../core/task-status.js';
import type { TaskExecutor } from '../executor/task-executor.js';
import type { TaskFinisher } from '../executor/task-finisher.js';
import type { ResourceLedger } from '../ledger/resource-ledger.js';
import { resolveExecutionPlan } from '../plan/resolve-plan.js';
import type { Dispatcher } from '../scheduler/dispatcher.js';
import { createTaskFiles, removeTaskDir } from '../store/task-files.js';
import type { TaskPaths } from '../store/task-paths.js';
import type { TaskStore } from '../store/task-store.js';
import { buildListPage, parseListQuery } from './task-listing.js';
import { buildLiveSnapshot } from './task-snapshot.js';
import { waitForTaskChange } from './task-waiter.js';

export interface TaskServiceDeps {
  config: RuntimeConfig;
  capabilities: HostCapabilities;
  store: TaskStore;
  ledger: ResourceLedger;
  dispatcher: Dispatcher;
  executor: TaskExecutor;
  finisher: TaskFinisher;
  events: RuntimeEvents;
  clock: Clock;
  logger: Logger;
  failpoints: Failpoints;
  pathsOf(taskId: string): TaskPaths;
}

/**
 * The use cases behind the HTTP API. Routes call only this; this calls the store, the
 * ledger, the dispatcher and the executor.
 */
export class TaskService {
  private isDraining = false;

  constructor(private readonly deps: TaskServiceDeps) {}

  /** New submissions are refused from now on (graceful shutdown). */
  startDraining(): void {
    this.isDraining = true;
  }

  /** Validate → plan → capacity → queue length → persist → wake the dispatcher. */
  submit(spec: TaskSpec, requestHash?: string): SubmitTaskResponse {
    const { store, config, ledger, clock } = this.deps;
    if (this.isDraining)
      throw new RuntimeError(
        'unavailable',
        'the runtime is shutting down and accepts no new tasks',
      );
    if (spec.idempotency_key !== undefined) {
      const existing = store.findByIdempotencyKey(spec.idempotency_key);
      if (existing !== undefined) return this.replayIdempotent(existing, requestHash);
    }
    if (store.getTask(spec.task_id) !== undefined)
      throw new RuntimeError('conflict', `task ${spec.task_id} already exists`, {
        task_id: spec.task_id,
      });
    const plan = resolveExecutionPlan(spec, this.deps.capabilities, config.defaultCapabilityMode);
    const reservation = {
      task_slots: 1,
      ...(spec.limits.memory_bytes === undefined ? {} : { memory_bytes: spec.limits.memory_bytes }),
      ...(spec.limits.pids_max === undefined ? {} : { pids: spec.limits.pids_max }),
    };
    const tenant = spec.control_context?.tenant;
    const admission = ledger.checkAdmissible(reservation, tenant);
    if (!admission.ok) {
      const scope =
        admission.scope === 'tenant'
          ? `tenant ${admission.tenant ?? ''} quota`
          : 'runtime capacity';
      throw new RuntimeError(
        'insufficient_resources',
        `${admission.resource} ${admission.requested} exceeds the ${scope} of ${admission.limit}`,
        admission,
      );
    }
    if (this.deps.dispatcher.queued >= config.maxQueuedTasks)
      throw new RuntimeError(
        'resource_limit_exceeded',
        `queue full: ${config.maxQueuedTasks} accepted tasks are already waiting`,
        { max_queued_tasks: config.maxQueuedTasks },
      );
    const now = clock.now();
    const record: TaskRecord = {
      taskId: spec.task_id,
      queueSeq: 0,
      status: 'accepted',
      spec,
      plan,
      reservation,
      ...(tenant === undefined ? {} : { tenant }),
      ...(spec.control_context?.owner === undefined ? {} : { owner: spec.control_context.owner }),
      createdAt: now,
      updatedAt: now,
      ...(spec.idempotency_key === undefined ? {} : { idempotencyKey: spec.idempotency_key }),
      ...(requestHash === undefined ? {} : { requestHash }),
    };
    const events: NewEvent[] = [
      { type: 'submitted' },
      { type: 'accepted' },
      {
        type: 'planned',
        data: { effective_profile: plan.effective_sandbox.profile, degraded: plan.degraded },
      },
    ];
    if (plan.degraded)
      events.push({
        type: 'degraded',
        message: (plan.fallback_reasons ?? []).join('; '),
        data: plan.fallback_reasons,
      });
    const queueSeq = this.persistAccepted(record, events);
    this.deps.failpoints.hit('after-submit-commit');
    const waiting = {
      taskId: record.taskId,
      ...(tenant === undefined ? {} : { tenant }),
      reservation,
      queueSeq,
    };
    this.deps.events.emit('task:accepted', record);
    this.deps.events.emit('task:changed', record.taskId, 'accepted');
    this.deps.dispatcher.onTaskAccepted(waiting);
    return { task_id: spec.task_id, handle_id: spec.task_id, status: 'accepted' };
  }

  /** A submission was refused (by the schema, the plan, the ledger or the queue limit). */
  noteRejectedSubmission(code: string): void {
    this.deps.events.emit('task:rejected', code);
  }

  /**
   * The status as JSON text: a terminal task's stored snapshot is returned byte for byte (the
   * hot path of every poller); a live one is assembled and serialized.
   */
  getStatusJson(taskId: string): string {
    return (
      this.deps.store.getTerminalSnapshotJson(taskId) ?? JSON.stringify(this.getStatus(taskId))
    );
  }

  getStatus(taskId: string): TaskStatusResponse {
    return buildLiveSnapshot(this.requireTask(taskId), this.deps.pathsOf(taskId));
  }

  listEvents(taskId: string, afterSeq = 0): EventRecord[] {
    this.requireTask(taskId);
    return this.deps.store.listEvents(taskId, afterSeq);
  }

  /** A page of task summaries, newest first (GET /api/v1/tasks). */
  listTasks(params: TaskListQueryParams): TaskListResponse {
    const query = parseListQuery(params);
    return buildListPage(this.deps.store.listTasks(query), query.limit - 1);
  }

  /**
   * Cancels a task. Owner-gated: a task with an owner needs the same owner in the request.
   * accepted → cancelled now; running → the shim escalates SIGTERM → SIGKILL; terminal →
   * the snapshot, unchanged, no signal.
   */
  kill(taskId: string, requestOwner: string | undefined): TaskStatusResponse {
    const record = this.requireTask(taskId);
    if (record.owner !== undefined && record.owner !== requestOwner) {
      this.deps.logger.warn(
        { audit: 'kill_denied', task_id: taskId, owner_given: requestOwner ?? null },
        'kill denied: owner mismatch',
      );
      throw new RuntimeError(
        'permission_denied',
        requestOwner === undefined
          ? `task ${taskId} has an owner; send the x-execgo-owner header`
          : `owner does not match task ${taskId}`,
        { task_id: taskId },
      );
    }
    if (isTerminal(record.status)) return this.getStatus(taskId);
    const now = this.deps.clock.now();
    const killEvent: NewEvent = {
      type: 'kill_requested',
      data: { previous_status: record.status },
    };
    if (record.status === 'accepted') {
      this.deps.dispatcher.forget(taskId);
      this.deps.finisher.finishUnstarted(
        record,
        {
          status: 'cancelled',
          error: { code: 'cancelled', message: 'task cancelled before it started' },
        },
        [killEvent],
      );
      return this.getStatus(taskId);
    }
    if (this.deps.store.recordKillRequested(taskId, now, killEvent)) {
      this.deps.failpoints.hit('after-kill-recorded');
      this.deps.executor.requestTermination(record);
    }
    return this.getStatus(taskId);
  }

  /**
   * Long-poll: resolves with the status as JSON text (see getStatusJson) once the task is
   * terminal or `timeoutMs` passed.
   */
  async waitForTerminalJson(
    taskId: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<string> {
    if (this.deps.store.getTaskStatus(taskId) === undefined)
      throw new RuntimeError('not_found', `task ${taskId} not found`, { task_id: taskId });
    this.deps.events.emit('client:long-poll', 'wait', 1);
    try {
      await waitForTaskChange(
        this.deps.events,
        taskId,
        timeoutMs,
        () => {
          const status = this.deps.store.getTaskStatus(taskId);
          return status === undefined || isTerminal(status);
        },
        signal,
      );
    } finally {
      this.deps.events.emit('client:long-poll', 'wait', -1);
    }
    return this.getStatusJson(taskId);
  }

  /**
   * Task files, then the row; returns the row's queue_seq. A storage fault (disk full,
   * read-only, SQLite error) becomes a clear `internal` error and leaves nothing half-made
   * behind: no row means no task.
   */
  private persistAccepted(record: TaskRecord, events: readonly NewEvent[]): number {
    const paths = this.deps.pathsOf(record.taskId);
    try {
      createTaskFiles(paths, record.spec, this.deps.config.durable);
      return this.deps.store.insertAccepted(record, events);
    } catch (error) {
      if (error instanceof RuntimeError) throw error;
      try {
        removeTaskDir(paths);
      } catch {
        // Start-up removes directories without a row.
      }
      const code = (error as NodeJS.ErrnoException).code;
      const reason = error instanceof Error ? error.message : String(error);
      this.deps.logger.error({ err: error, task_id: record.taskId }, 'could not persist task');
      throw new RuntimeError(
        'internal',
        `storage is not writable, task ${record.taskId} was not accepted: ${code ?? reason}`,
        { task_id: record.taskId, ...(code === undefined ? {} : { storage_error: code }) },
        { cause: error },
      );
    }
  }

  private replayIdempotent(
    existing: TaskRecord,
    requestHash: string | undefined,
  ): SubmitTaskResponse {
    if (existing.requestHash !== requestHash)
      throw new RuntimeError(
        'conflict',
        'idempotency key was already used with a different request',
        { task_id: existing.taskId },
      );
    return { task_id: existing.taskId, handle_id: existing.taskId, status: existing.status };
  }

  private requireTask(taskId: string): TaskRecord {
    const record = this.deps.store.getTask(taskId);
    if (record === undefined)
      throw new RuntimeError('not_found', `task ${taskId} not found`, { task_id: taskId });
    return record;
  }
}
