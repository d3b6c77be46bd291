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

/** A tiny JSON client for the runtime API (Node's fetch). */
export class RuntimeClient {
  private readonly base: string;

  constructor(server: string) {
    this.base = server.replace(/\/+$/, '');
  }

  async request<T>(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<T> {
    const response = await fetch(`${this.base}${path}`, {
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
    const response = await fetch(`${this.base}${path}`, { headers });
    if (!response.ok) throw new HttpError(response.status, await response.text());
    return response;
  }
}
