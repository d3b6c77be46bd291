import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { TaskStatusResponse } from '../../src/contract/task-status.js';
import {
  countOpenReservations,
  countRuns,
  countedTask,
  crashServer,
  endCrashServers,
  expectKilled,
  findMarkedProcesses,
  getEvents,
  getResources,
  startCrashServer,
  stopServer,
  submitIgnoringCrash,
  waitNoMarkedProcesses,
} from '../support/crash-harness.js';
import { eventually, makeDataDir, type ServerProcess } from '../support/runtime-harness.js';

const MARK = `crash-suite-${process.pid}-${Date.now()}`;
const TASKS = 48;
const PER_INCARNATION = 5;

type Kind = 'quick' | 'sleeper' | 'failing' | 'signalled' | 'cancel';
interface Planned {
  id: string;
  kind: Kind;
  submitted: boolean;
}

const BODY: Record<Kind, (i: number) => string> = {
  quick: (i) => `echo q${i}; exit 0`,
  sleeper: (i) => `sleep 0.${3 + (i % 6)}; echo s${i}; exit 0`,
  failing: (i) => `echo f${i} >&2; exit 3`,
  signalled: () => 'kill -TERM $$; sleep 5',
  // Must outlast the whole suite on any host (a slow one, such as the TCG VM, takes minutes):
  // a cancel task that ended by itself would look like a kill that did not work.
  cancel: () => 'echo ready; exec sleep 3600',
};

/** Tasks that wait to be cancelled must not reach the default wall time (5 min) either. */
const plannedTask = (task: Planned) =>
  countedTask(
    task.id,
    MARK,
    BODY[task.kind](Number(task.id.slice(5))),
    task.kind === 'cancel' ? { wall_time_ms: 7_200_000 } : {},
  );

/** Matches a terminal status against what its kind must end with. */
function isExpectedOutcome(kind: Kind, status: TaskStatusResponse): boolean {
  switch (kind) {
    case 'quick':
    case 'sleeper':
      return status.status === 'success' && status.exit_code === 0;
    case 'failing':
      return status.status === 'failed' && status.exit_code === 3;
    case 'signalled':
      return status.status === 'failed' && status.exit_signal === 15;
    case 'cancel':
      return status.status === 'cancelled';
  }
}

/** The crash injected into each server incarnation, in order; the last one runs clean. */
const INCARNATIONS: readonly string[] = [
  'after-submit-commit',
  'after-reserve-commit',
  'running',
  'after-shim-spawn',
  'after-exit-observed',
  'after-kill-recorded',
  'after-result-written',
  'running',
  'after-terminal-commit',
];

const servers: ServerProcess[] = [];
after(async () => {
  await endCrashServers(servers, [MARK]);
});

async function isTaskKnown(server: ServerProcess, id: string): Promise<boolean> {
  return (await server.api.request('GET', `/api/v1/tasks/${id}`)).status === 200;
}

/** Kills one running `cancel` task (the kill request may be what crashes the server). */
async function cancelOne(server: ServerProcess, plan: readonly Planned[]): Promise<void> {
  for (const task of plan) {
    if (task.kind !== 'cancel' || !task.submitted) continue;
    const response = await server.api.request<TaskStatusResponse>(
      'GET',
      `/api/v1/tasks/${task.id}`,
    );
    if (response.status !== 200 || response.body.status !== 'running') continue;
    if (!response.body.stdout.includes('ready')) continue;
    await server.api.request('POST', `/api/v1/tasks/${task.id}/kill`).catch(() => undefined);
    return;
  }
}

async function runIncarnation(dataDir: string, crash: string, plan: Planned[]): Promise<void> {
  const failpoints = crash === 'running' ? [] : [crash];
  let server: ServerProcess;
  try {
    server = await startCrashServer(dataDir, { failpoints });
  } catch (error) {
    // The failpoint fired inside recovery, before the server listened: a crash during
    // recovery, which the next incarnation must handle too.
    if (String(error).includes('SIGKILL')) return;
    throw error;
  }
  servers.push(server);
  const isAlive = () => server.child.exitCode === null && server.child.signalCode === null;
  try {
    await driveIncarnation(server, crash, plan, isAlive);
  } catch (error) {
    // Any request may meet the failpoint's crash (its exit may be reported a moment after
    // the refused connection); only an error from a server that stays up is a failure.
    await eventually(() => !isAlive(), 3_000).catch(() => undefined);
    if (isAlive()) throw error;
  }
  await crashServer(server);
}

async function driveIncarnation(
  server: ServerProcess,
  crash: string,
  plan: Planned[],
  isAlive: () => boolean,
): Promise<void> {
  // A submit cut by a crash may or may not have been committed: ask the new server.
  for (const task of plan)
    if (!task.submitted && (await isTaskKnown(server, task.id))) task.submitted = true;
  const batch = plan.filter((task) => !task.submitted).slice(0, PER_INCARNATION);
  if (crash === 'after-kill-recorded' && !batch.some((t) => t.kind === 'cancel')) {
    const cancel = plan.find((t) => t.kind === 'cancel' && !t.submitted);
    if (cancel !== undefined) batch.unshift(cancel);
  }
  for (const task of batch) {
    const status = await submitIgnoringCrash(server.api, plannedTask(task));
    if (status === 200) task.submitted = true;
    if (status === 0) break;
  }
  if (crash === 'after-kill-recorded')
    await eventually(
      async () => {
        if (!isAlive()) return true;
        await cancelOne(server, plan);
        return !isAlive();
      },
      10_000,
      'a kill to crash the server',
    ).catch(() => undefined);
  if (crash === 'running' && isAlive())
    // Crash while programs run: once one of this batch has started.
    await eventually(
      async () => {
        for (const task of batch) {
          const response = await server.api.request<TaskStatusResponse>(
            'GET',
            `/api/v1/tasks/${task.id}`,
          );
          if (response.status === 200 && response.body.pid !== undefined) return true;
        }
        return false;
      },
      5_000,
      'a started task',
    ).catch(() => undefined);
  if (crash === 'running' || !isAlive()) {
    await crashServer(server);
    return;
  }
  // Event-driven failpoints (exit observed, result written...) fire as tasks end; if no task
  // reaches that point in time, the test crashes the server itself.
  await expectKilled(server, 8_000).catch(() => crashServer(server));
}

test('crash suite: SIGKILL at many points across many tasks loses nothing', async (t) => {
  const kinds: Kind[] = ['quick', 'sleeper', 'failing', 'signalled', 'quick', 'sleeper'];
  const plan: Planned[] = Array.from({ length: TASKS }, (_, i) => ({
    id: `task-${String(i).padStart(3, '0')}`,
    kind: i % 12 === 5 ? 'cancel' : (kinds[i % kinds.length] ?? 'quick'),
    submitted: false,
  }));
  const dataDir = makeDataDir('execgo-crash-suite-');
  for (const crash of INCARNATIONS) await runIncarnation(dataDir, crash, plan);

  // The last server runs clean: everything left is submitted, cancels are sent, all ends.
  const server = await startCrashServer(dataDir);
  servers.push(server);
  for (const task of plan) {
    if (!task.submitted && (await isTaskKnown(server, task.id))) task.submitted = true;
    if (task.submitted) continue;
    await server.api.submit(plannedTask(task));
    task.submitted = true;
  }
  for (const task of plan.filter((p) => p.kind === 'cancel')) {
    const status = await server.api.waitFor(
      task.id,
      (s) => s.stdout.includes('ready') || ['success', 'failed', 'cancelled'].includes(s.status),
      30_000,
    );
    if (status.status === 'running')
      await server.api.request('POST', `/api/v1/tasks/${task.id}/kill`);
  }

  let lost = 0;
  let wrongExit = 0;
  let startedTwice = 0;
  let leakedReservations = 0;
  const problems: string[] = [];
  for (const task of plan) {
    let status: TaskStatusResponse;
    try {
      status = await server.api.waitTerminal(task.id, 30_000);
    } catch (error) {
      lost++;
      problems.push(`${task.id}: ${String(error)}`);
      continue;
    }
    const runs = countRuns(dataDir, task.id);
    if (runs === 0) {
      lost++;
      problems.push(`${task.id} never ran: ${status.status} ${status.error?.message ?? ''}`);
    }
    if (runs > 1) {
      startedTwice++;
      problems.push(`${task.id} ran ${runs} times`);
    }
    if (!isExpectedOutcome(task.kind, status)) {
      wrongExit++;
      problems.push(`${task.id} (${task.kind}): ${JSON.stringify(status.error ?? status.status)}`);
    }
    const open = countOpenReservations(await getEvents(server.api, task.id));
    if (open !== 0) {
      leakedReservations++;
      problems.push(`${task.id}: ${open} reservation(s) not released`);
    }
  }
  const resources = await getResources(server.api);
  leakedReservations += resources.reserved.task_slots + resources.active_reservations.length;
  await stopServer(server);
  const leftovers = await waitNoMarkedProcesses([MARK, dataDir], 10_000);
  const zombies = leftovers.filter((p) => p.state === 'Z').length;
  const orphans = leftovers.filter((p) => p.state !== 'Z').length;
  if (leftovers.length > 0) problems.push(`leftover processes: ${JSON.stringify(leftovers)}`);

  const figures =
    `crash suite: tasks ${TASKS}, server crashes ${INCARNATIONS.length}, ` +
    `tasks lost ${lost}, started twice ${startedTwice}, wrong exit codes ${wrongExit}, ` +
    `reservations leaked ${leakedReservations}, zombies ${zombies}, ` +
    `orphaned process groups ${orphans}`;
  t.diagnostic(figures);
  assert.deepEqual(problems, []);
  assert.equal(findMarkedProcesses([MARK]).length, 0);
});
