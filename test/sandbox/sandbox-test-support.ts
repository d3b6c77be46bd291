import type { TestContext } from 'node:test';
import type { CapabilityManifest } from '../../src/contract/runtime.js';
import type { TaskStatusResponse } from '../../src/contract/task-status.js';
import {
  startServerProcess,
  type ServerProcess,
  type TestRuntime,
} from '../support/runtime-harness.js';

/** Exit code a task uses to say "the forbidden action worked": a breach. */
export const BREACH = 77;

/** The contract's default namespaces plus net. */
export const ALL_NAMESPACES = { mount: true, pid: true, uts: true, ipc: true, net: true };

/** A linux_sandbox `/bin/sh -c` task (strict: a silent fallback would make the test lie). */
export function sandboxed(
  script: string,
  extra: { limits?: Record<string, number>; namespaces?: Record<string, boolean> } = {},
): Record<string, unknown> {
  return {
    execution: { kind: 'command', program: '/bin/sh', args: ['-c', script] },
    sandbox: { profile: 'linux_sandbox', namespaces: extra.namespaces ?? ALL_NAMESPACES },
    policy: { capability_mode: 'strict' },
    ...(extra.limits === undefined ? {} : { limits: extra.limits }),
  };
}

/** Reads the manifest the runtime serves. */
export async function fetchManifest(rt: TestRuntime): Promise<CapabilityManifest> {
  return (await rt.api.request<CapabilityManifest>('GET', '/api/v1/runtime/capabilities')).body;
}

/**
 * Skips (with the manifest's own explanation printed) unless `isAvailable`. Returns true when
 * the test must stop.
 */
export function skipUnavailable(
  t: TestContext,
  manifest: CapabilityManifest,
  what: string,
  isAvailable: boolean,
): boolean {
  if (isAvailable) return false;
  const why =
    manifest.warnings.length > 0 ? manifest.warnings.join('; ') : 'not reported available';
  t.skip(`${what} unavailable on this host per the capability manifest: ${why}`);
  return true;
}

/** Describes a status for assertion messages. */
export function describeStatus(status: TaskStatusResponse): string {
  return JSON.stringify({
    status: status.status,
    error: status.error,
    exit_code: status.exit_code,
    exit_signal: status.exit_signal,
    stdout: status.stdout,
    stderr: status.stderr,
  });
}

/**
 * A server process (added to `servers` for the test's cleanup); undefined, with the test
 * skipped and the reason given, when the capability manifest says it cannot sandbox.
 */
export async function startSandboxingServer(
  t: TestContext,
  args: string[],
  servers: ServerProcess[],
): Promise<ServerProcess | undefined> {
  const server = await startServerProcess(args);
  servers.push(server);
  const manifest = (
    await server.api.request<CapabilityManifest>('GET', '/api/v1/runtime/capabilities')
  ).body;
  if (manifest.sandbox.linux_sandbox) return server;
  t.skip(`linux_sandbox unavailable per the capability manifest: ${manifest.warnings.join('; ')}`);
  return undefined;
}
