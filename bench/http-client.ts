import http from 'node:http';

/** A task as the bench sees it: the same wire shape on the runtime and the thin baseline. */
export interface TaskReply {
  task_id: string;
  status: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** One JSON request over a keep-alive connection; rejects on a non-2xx status. */
export function requestJson<T>(
  base: URL,
  method: 'GET' | 'POST',
  pathname: string,
  body?: unknown,
): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method,
        path: pathname,
        headers:
          payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 500) >= 300) {
            reject(new Error(`${method} ${pathname}: ${res.statusCode ?? '?'} ${text}`));
            return;
          }
          try {
            resolve(JSON.parse(text) as T);
          } catch (error) {
            reject(new Error(`${method} ${pathname}: bad JSON`, { cause: error }));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Submits a command task and returns its id. */
export async function submitCommand(base: URL, program: string, args: string[]): Promise<string> {
  const reply = await requestJson<TaskReply>(base, 'POST', '/api/v1/tasks', {
    execution: { kind: 'command', program, args },
  });
  return reply.task_id;
}

/** Long-polls until the task is terminal. */
export async function waitTerminal(base: URL, taskId: string): Promise<TaskReply> {
  for (;;) {
    const reply = await requestJson<TaskReply>(
      base,
      'GET',
      `/api/v1/tasks/${encodeURIComponent(taskId)}/wait?timeout_ms=30000`,
    );
    if (reply.status !== 'accepted' && reply.status !== 'running') return reply;
  }
}

/** Submit → terminal as a client sees it; throws unless the task succeeded. */
export async function runToTerminal(base: URL, program: string, args: string[]): Promise<void> {
  const id = await submitCommand(base, program, args);
  const reply = await waitTerminal(base, id);
  if (reply.status !== 'success')
    throw new Error(`task ${id} ended ${reply.status}: ${JSON.stringify(reply)}`);
}

/** Closes idle keep-alive sockets (between servers). */
export function closeIdleConnections(): void {
  agent.destroy();
}
