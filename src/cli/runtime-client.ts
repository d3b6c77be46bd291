import { RuntimeError } from '../core/runtime-error.js';

/** An HTTP error from the runtime, carrying the server's error body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}: ${body}`);
    this.name = 'HttpError';
  }
}

/** fetch, with a connection failure said in words: which server, and the system's reason. */
async function fetchFrom(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
    const reason = [cause?.code, cause?.message, (error as Error).message].find(
      (text): text is string => typeof text === 'string',
    );
    throw new Error(`cannot reach the runtime at ${new URL(url).origin}: ${reason ?? 'unknown'}`);
  }
}

/** A tiny JSON client for the runtime API (Node's fetch). */
export class RuntimeClient {
  private readonly base: string;

  constructor(server: string) {
    let url: URL | undefined;
    try {
      url = new URL(server);
    } catch {
      url = undefined;
    }
    // A usage error (exit 2), said before any request, not a failed connection (exit 1).
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      throw new RuntimeError(
        'invalid_input',
        `--server (or EXECGO_RUNTIME_URL) must be an http:// or https:// URL, got "${server}"`,
      );
    this.base = server.replace(/\/+$/, '');
  }

  async request<T>(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<T> {
    const response = await fetchFrom(`${this.base}${path}`, {
      method,
      headers: {
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new HttpError(response.status, text);
    return JSON.parse(text) as T;
  }

  /** Streams a response body as text chunks (for SSE). */
  async stream(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const response = await fetchFrom(`${this.base}${path}`, { headers });
    if (!response.ok) throw new HttpError(response.status, await response.text());
    return response;
  }
}
