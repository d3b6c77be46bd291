/** Task lifecycle states exactly as the wire contract names them. */
export const TASK_STATUSES = ['accepted', 'running', 'success', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export type TerminalStatus = Extract<TaskStatus, 'success' | 'failed' | 'cancelled'>;

/**
 * Every allowed transition. `running → accepted` exists only for recovery: a task whose
 * supervisor never got the go-ahead provably never ran its program, so it is queued again.
 */
const TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  accepted: ['running', 'cancelled'],
  running: ['success', 'failed', 'cancelled', 'accepted'],
  success: [],
  failed: [],
  cancelled: [],
};

/** True when a task in `status` can no longer change. */
export function isTerminal(status: TaskStatus): status is TerminalStatus {
  return TRANSITIONS[status].length === 0;
}

/** Whether the state machine allows `from → to`. */
export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}
