import { decodeOutput } from '../../src/cli/follow-task.js';
import { SseParser, type SseEvent } from '../../src/cli/sse-parser.js';

/** Everything one connection delivered before it ended or was cut. */
export interface StreamRead {
  events: SseEvent[];
  lastId: string | undefined;
  ended: boolean;
}

/**
 * Reads a task stream until `stopAfter` returns true for a received event (then drops the
 * connection, like a client that goes away) or the server sends `end`.
 */
export async function readTaskStream(
  baseUrl: string,
  taskId: string,
  options: {
    lastEventId?: string;
    query?: string;
    stopAfter?: (event: SseEvent) => boolean;
    timeoutMs?: number;
  } = {},
): Promise<StreamRead> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 30_000);
  const result: StreamRead = { events: [], lastId: options.lastEventId, ended: false };
  try {
    const response = await fetch(`${baseUrl}/api/v1/tasks/${taskId}/stream${options.query ?? ''}`, {
      headers: options.lastEventId === undefined ? {} : { 'last-event-id': options.lastEventId },
      signal: controller.signal,
    });
    if (response.status !== 200)
      throw new Error(`stream answered ${response.status}: ${await response.text()}`);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const parser = new SseParser();
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return result;
      for (const event of parser.push(decoder.decode(value, { stream: true }))) {
        result.events.push(event);
        if (event.id !== undefined) result.lastId = event.id;
        if (event.event === 'end') {
          result.ended = true;
          await reader.cancel();
          return result;
        }
        if (options.stopAfter?.(event) === true) {
          controller.abort();
          return result;
        }
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Accumulates one log's bytes across connections, failing on any gap or duplicate. */
export class ByteCollector {
  private readonly parts: Buffer[] = [];
  length = 0;

  add(event: SseEvent): void {
    const piece = JSON.parse(event.data) as { offset: number };
    if (piece.offset !== this.length)
      throw new Error(
        `chunk at offset ${piece.offset}, expected ${this.length} (gap or duplicate)`,
      );
    const bytes = decodeOutput(event.data);
    this.parts.push(bytes);
    this.length += bytes.length;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}
