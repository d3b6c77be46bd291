import { Option } from 'commander';

/** Where `serve` listens by default, so where client commands look by default. */
const DEFAULT_SERVER = 'http://127.0.0.1:8080';

/**
 * `--server` of every client command: the flag, else `EXECGO_RUNTIME_URL` (the variable the
 * control plane uses for this service's root URL; set to "" it counts as unset, as the
 * server's own variables do), else the default `serve` address.
 */
export function serverOption(env: NodeJS.ProcessEnv = process.env): Option {
  const fromEnv = env.EXECGO_RUNTIME_URL;
  return new Option('--server <url>', 'runtime base URL (env EXECGO_RUNTIME_URL)').default(
    fromEnv === undefined || fromEnv === '' ? DEFAULT_SERVER : fromEnv,
  );
}
