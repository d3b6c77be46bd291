import { isWorthRetrying, pauseBeforeReconnect, RECONNECT_ATTEMPTS } from './reconnect-policy.js';
import type { RuntimeClient } from './runtime-client.js';
import { SseParser, type SseEvent } from './sse-parser.js';

/** A piece of output as the stream sends it. */
interface OutputData {
  offset: number;
  encoding: 'utf8' | 'base64';
  data: string;
}

/** What a follower does with each kind of message. */
export interface FollowHandlers {
  onOutput(stream: 'stdout' | 'stderr', bytes: Buffer): Promise<void>;
  onLifecycle?(record: unknown): void;
}

/** Decodes one output message to the exact bytes of the log. */
export function decodeOutput(data: string): Buffer {
  const piece = JSON.parse(data) as OutputData;
  return Buffer.from(piece.data, piece.encoding === 'base64' ? 'base64' : 'utf8');
}

/** Reads one connection; returns the end status, or undefined if the connection dropped. */
async function readConnection(
  response: Response,
  handlers: FollowHandlers,
  onId: (id: string) => void,
): Promise<string | undefined> {
  if (response.body === null) return undefined;
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const handle = async (event: SseEvent): Promise<string | undefined> => {
    if (event.event === 'stdout' || event.event === 'stderr')
      await handlers.onOutput(event.event, decodeOutput(event.data));
    else if (event.event === 'lifecycle') handlers.onLifecycle?.(JSON.parse(event.data) as unknown);
    if (event.id !== undefined) onId(event.id);
    if (event.event === 'end') return (JSON.parse(event.data) as { status: string }).status;
    return undefined;
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return undefined;
      for (const event of parser.push(decoder.decode(value, { stream: true }))) {
        const status = await handle(event);
        if (status !== undefined) return status;
      }
    }
  } finally {
    try {
      await reader.cancel();
    } catch {
      // The connection already failed; there is nothing left to release.
    }
  }
}

/** Bytes of each log already printed: the stream starts after them. */
export interface OutputStart {
  stdoutOffset: number;
  stderrOffset: number;
}

/**
 * Follows a task's stream to its end, its output from `start` on (all of it by default). A
 * dropped connection (server restart, network) is resumed from the last SSE id received
 * (which the server prefers to the query), so output is neither lost nor repeated.
 */
export async function followTask(
  client: RuntimeClient,
  taskId: string,
  handlers: FollowHandlers,
  start?: OutputStart,
): Promise<string> {
  let lastId: string | undefined;
  let failures = 0;
  const query =
    start === undefined
      ? ''
      : `?stdout_offset=${start.stdoutOffset}&stderr_offset=${start.stderrOffset}`;
  const path = `/api/v1/tasks/${encodeURIComponent(taskId)}/stream${query}`;
  for (;;) {
    try {
      const response = await client.stream(
        path,
        lastId === undefined ? {} : { 'last-event-id': lastId },
      );
      const status = await readConnection(response, handlers, (id) => {
        lastId = id;
        failures = 0;
      });
      if (status !== undefined) return status;
    } catch (error) {
      if (!isWorthRetrying(error)) throw error;
    }
    failures++;
    if (failures > RECONNECT_ATTEMPTS)
      throw new Error(`lost the stream of task ${taskId} and could not reconnect`);
    await pauseBeforeReconnect();
  }
}
