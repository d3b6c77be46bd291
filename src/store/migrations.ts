/**
 * Numbered, append-only schema migrations. Never edit a shipped entry: add a new one.
 * `user_version` records how many have been applied.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: tasks and their audit trail.
  `
  CREATE TABLE tasks (
    -- AUTOINCREMENT: a sequence number is never reused, even after GC, so FIFO order and
    -- listing cursors stay stable.
    queue_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('accepted','running','success','failed','cancelled')),
    tenant TEXT,
    owner TEXT,
    spec_json TEXT NOT NULL,
    plan_json TEXT NOT NULL,
    reservation_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    reserved_at INTEGER,
    released_at INTEGER,
    shim_pid INTEGER,
    shim_start_ticks INTEGER,
    boot_id TEXT,
    pid INTEGER,
    pgid INTEGER,
    kill_requested_at INTEGER,
    launch_json TEXT,
    result_json TEXT
  );
  CREATE INDEX tasks_by_status ON tasks (status, queue_seq);
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    message TEXT,
    data_json TEXT
  );
  CREATE INDEX events_by_task ON events (task_id, seq);
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
  // 2: idempotent submit and task listing.
  `
  ALTER TABLE tasks ADD COLUMN idempotency_key TEXT;
  ALTER TABLE tasks ADD COLUMN request_hash TEXT;
  CREATE UNIQUE INDEX tasks_by_idempotency_key ON tasks (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
  CREATE INDEX tasks_by_created ON tasks (created_at DESC, queue_seq DESC);
  CREATE INDEX tasks_by_tenant ON tasks (tenant, queue_seq DESC) WHERE tenant IS NOT NULL;
  CREATE INDEX tasks_by_owner ON tasks (owner, queue_seq DESC) WHERE owner IS NOT NULL;
  CREATE INDEX tasks_by_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;
  `,
  // 3: label filtering for task listing. One row per (task, label); triggers keep it in step
  // with every insert and delete of a task (submit, GC), so no write path can forget it.
  `
  CREATE TABLE task_labels (
    label_key TEXT NOT NULL,
    label_value TEXT NOT NULL,
    queue_seq INTEGER NOT NULL,
    task_id TEXT NOT NULL,
    PRIMARY KEY (label_key, label_value, queue_seq)
  ) WITHOUT ROWID;
  CREATE INDEX task_labels_by_task ON task_labels (task_id);
  INSERT INTO task_labels (label_key, label_value, queue_seq, task_id)
    SELECT labels.key, labels.value, tasks.queue_seq, tasks.task_id
    FROM tasks, json_each(tasks.spec_json, '$.control_context.labels') AS labels;
  CREATE TRIGGER task_labels_on_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_labels (label_key, label_value, queue_seq, task_id)
      SELECT key, value, new.queue_seq, new.task_id
      FROM json_each(new.spec_json, '$.control_context.labels');
  END;
  CREATE TRIGGER task_labels_on_delete AFTER DELETE ON tasks BEGIN
    DELETE FROM task_labels WHERE task_id = old.task_id;
  END;
  `,
];
