import { HttpError } from './runtime-client.js';

/**
 * How the CLI's long-lived commands (`wait`, `run`, `logs -f`) ride out a server restart: a
 * lost connection or a 5xx (503 while the server drains) is retried every second, up to 30
 * times in a row; a 4xx (unknown task, bad input) will not fix itself and is final.
 */
export const RECONNECT_ATTEMPTS = 30;
export const RECONNECT_DELAY_MS = 1000;

export function isWorthRetrying(error: unknown): boolean {
  return !(error instanceof HttpError && error.status < 500);
}

export function pauseBeforeReconnect(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
}
