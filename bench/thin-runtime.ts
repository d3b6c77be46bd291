// The thin-runtime baseline: the least a Node runtime can do and still be durable — one row
// per task in SQLite (WAL), a request file, child_process.spawn with logs in files, the exit
// recorded in the row and a result file, a long-poll answered from memory. No supervisor, no
// gate, no validation, no sandbox. With `--forkserver <binary>` (bench/thin-forkserver.c) it
// creates processes through that small C process instead of child_process.spawn: the issue's
// proposed design at its thinnest.
// Usage: thin-runtime.js <data-dir> <port> <slots> [--durable] [--forkserver <binary>]
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';

const [dataDir = 'thin-data', portText = '0', slotsText = '8'] = process.argv.slice(2);
const durable = process.argv.includes('--durable');
const forkserverFlag = process.argv.indexOf('--forkserver');
const forkserverPath = forkserverFlag > 0 ? process.argv[forkserverFlag + 1] : undefined;
const slots = Number(slotsText);
fs.mkdirSync(path.join(dataDir, 'tasks'), { recursive: true });
const db = new Database(path.join(dataDir, 'thin.db'));
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${durable ? 'FULL' : 'NORMAL'}`);
db.exec(`CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, status TEXT NOT NULL,
  request TEXT NOT NULL, pid INTEGER, exit_code INTEGER, result TEXT,
  created_at INTEGER NOT NULL, finished_at INTEGER)`);
const insertTask = db.prepare(
  'INSERT INTO tasks (id, status, request, created_at) VALUES (?, ?, ?, ?)',
);
const markRunning = db.prepare("UPDATE tasks SET status = 'running', pid = ? WHERE id = ?");
const markDone = db.prepare(
  'UPDATE tasks SET status = ?, exit_code = ?, result = ?, finished_at = ? WHERE id = ?',
);
const getTask = db.prepare<
  [string],
  { id: string; status: string; pid: number | null; result: string | null }
>('SELECT id, status, pid, result FROM tasks WHERE id = ?');

interface Command {
  program: string;
  args: string[];
}
const queue: { id: string; command: Command }[] = [];
const waiters = new Map<string, ((body: string) => void)[]>();
let running = 0;
let nextId = 0;

function fsyncPath(file: string, flags: string): void {
  const fd = fs.openSync(file, flags);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes a file; in durable mode fsyncs it and its directory (as the runtime does). */
function writeFileDurable(file: string, data: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeFileSync(fd, data);
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  if (durable) fsyncPath(path.dirname(file), 'r');
}

function statusBody(id: string): string | undefined {
  const row = getTask.get(id);
  if (row === undefined) return undefined;
  return row.result ?? JSON.stringify({ task_id: row.id, status: row.status, pid: row.pid });
}

function finish(id: string, code: number | null, signal: string | null): void {
  const status = code === 0 ? 'success' : 'failed';
  const result = JSON.stringify({ task_id: id, status, exit_code: code, exit_signal: signal });
  writeFileDurable(path.join(dataDir, 'tasks', id, 'result.json'), result);
  markDone.run(status, code, result, Date.now(), id);
  running--;
  for (const resolve of waiters.get(id) ?? []) resolve(result);
  waiters.delete(id);
  dispatch();
}

function launch(id: string, command: Command): void {
  running++;
  const dir = path.join(dataDir, 'tasks', id);
  if (forkserver !== undefined) {
    const fields = [id, path.join(dir, 'workspace'), path.join(dir, 'stdout.log')];
    fields.push(path.join(dir, 'stderr.log'), String(command.args.length + 1), command.program);
    forkserver.stdin.write(`${[...fields, ...command.args].join('\0')}\0`);
    return;
  }
  const out = fs.openSync(path.join(dir, 'stdout.log'), 'a');
  const err = fs.openSync(path.join(dir, 'stderr.log'), 'a');
  const child = spawn(command.program, command.args, {
    stdio: ['ignore', out, err],
    env: {},
    cwd: path.join(dir, 'workspace'),
  });
  fs.closeSync(out);
  fs.closeSync(err);
  child.on('error', () => undefined);
  child.on('exit', (code, signal) => finish(id, code, signal));
  if (child.pid !== undefined) markRunning.run(child.pid, id);
}

/** The forkserver's replies: `P id pid` once spawned (0: failed), `X id code signal`. */
function startForkserver(binary: string): ChildProcessWithoutNullStreams {
  const child = spawn(binary, [], { stdio: 'pipe' });
  child.stderr.pipe(process.stderr);
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const [kind, id = '', first = '0', second = '0'] = line.split(' ');
      if (kind === 'P' && first !== '0') markRunning.run(Number(first), id);
      else if (kind === 'P') finish(id, 127, null);
      else if (kind === 'X')
        finish(id, Number(first) >= 0 ? Number(first) : null, second === '0' ? null : second);
    }
  });
  child.on('exit', () => process.exit(1));
  return child;
}
const forkserver = forkserverPath === undefined ? undefined : startForkserver(forkserverPath);

function dispatch(): void {
  while (running < slots) {
    const next = queue.shift();
    if (next === undefined) return;
    launch(next.id, next.command);
  }
}

function submit(body: string): string {
  const request = JSON.parse(body) as { execution: { program: string; args?: string[] } };
  const id = `t${process.pid}-${nextId++}`;
  const dir = path.join(dataDir, 'tasks', id);
  fs.mkdirSync(dir);
  // The same task layout as the runtime's: request.json, the logs, result.json, workspace/.
  fs.mkdirSync(path.join(dir, 'workspace'));
  writeFileDurable(path.join(dir, 'request.json'), body);
  insertTask.run(id, 'accepted', body, Date.now());
  queue.push({
    id,
    command: { program: request.execution.program, args: request.execution.args ?? [] },
  });
  dispatch();
  return JSON.stringify({ task_id: id, status: 'accepted' });
}

function reply(res: http.ServerResponse, code: number, body: string): void {
  res.writeHead(code, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const parts = url.pathname.split('/').filter((part) => part !== '');
  if (req.method === 'POST' && url.pathname === '/api/v1/tasks') {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => reply(res, 200, submit(Buffer.concat(chunks).toString('utf8'))));
    return;
  }
  const id = parts[3];
  const body = id === undefined ? undefined : statusBody(id);
  if (id === undefined || body === undefined) {
    reply(res, 404, '{"error":"not_found"}');
    return;
  }
  if (parts[4] !== 'wait') {
    reply(res, 200, body);
    return;
  }
  const status = (JSON.parse(body) as { status: string }).status;
  if (status !== 'accepted' && status !== 'running') {
    reply(res, 200, body);
    return;
  }
  const timeout = Number(url.searchParams.get('timeout_ms') ?? '30000');
  const answer = (text: string): void => {
    clearTimeout(timer);
    reply(res, 200, text);
  };
  const timer = setTimeout(() => {
    const list = waiters.get(id) ?? [];
    waiters.set(
      id,
      list.filter((resolve) => resolve !== answer),
    );
    reply(res, 200, statusBody(id) ?? body);
  }, timeout);
  waiters.set(id, [...(waiters.get(id) ?? []), answer]);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(portText), '127.0.0.1', () => {
  const address = server.address();
  if (typeof address === 'object' && address !== null)
    process.stdout.write(`listening ${address.port}\n`);
});
process.on('SIGTERM', () => {
  forkserver?.removeAllListeners('exit');
  forkserver?.stdin.end();
  server.close();
  server.closeAllConnections();
  db.close();
  process.exit(0);
});
