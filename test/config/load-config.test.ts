import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, it } from 'node:test';
import { loadConfig, parseListenAddr } from '../../src/config/load-config.js';
import { RuntimeError } from '../../src/core/runtime-error.js';

const NO_ENV: NodeJS.ProcessEnv = {};

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof RuntimeError);
    assert.equal(error.code, 'invalid_input');
    return error.message;
  }
  assert.fail('expected an invalid_input error');
}

describe('loadConfig', () => {
  it('has the documented defaults, and is frozen', () => {
    const config = loadConfig({}, NO_ENV);
    assert.equal(config.listenHost, '127.0.0.1');
    assert.equal(config.listenPort, 8080);
    assert.equal(config.maxRunningTasks, 4);
    assert.equal(config.maxQueuedTasks, 128);
    assert.equal(config.terminationGraceMs, 5000);
    assert.equal(config.defaultCapabilityMode, 'adaptive');
    assert.equal(config.logLevel, 'info');
    assert.equal(config.durable, false);
    assert.equal(config.runtimeId, `${os.hostname()}-8080`);
    assert.ok(Object.isFrozen(config));
  });

  it('takes the environment when a flag is absent, and the flag over it', () => {
    const env = {
      EXECGO_RUNTIME_ID: 'node-7',
      EXECGO_RUNTIME_LOG_LEVEL: 'debug',
      EXECGO_RUNTIME_DURABLE: 'yes',
      EXECGO_RUNTIME_DEFAULT_CAPABILITY_MODE: 'strict',
    };
    const fromEnv = loadConfig({}, env);
    assert.equal(fromEnv.runtimeId, 'node-7');
    assert.equal(fromEnv.logLevel, 'debug');
    assert.equal(fromEnv.durable, true);
    assert.equal(fromEnv.defaultCapabilityMode, 'strict');
    const fromFlags = loadConfig({ runtimeId: 'flag', logLevel: 'warn' }, env);
    assert.equal(fromFlags.runtimeId, 'flag');
    assert.equal(fromFlags.logLevel, 'warn');
  });

  it('counts a variable set to "" as unset, whichever it is', () => {
    const empty = {
      EXECGO_RUNTIME_ID: '',
      EXECGO_RUNTIME_LOG_LEVEL: '',
      EXECGO_RUNTIME_DEFAULT_CAPABILITY_MODE: '',
      EXECGO_RUNTIME_SANDBOX_UID_BASE: '',
      EXECGO_RUNTIME_CGROUP_ROOT: '',
      EXECGO_RUNTIME_SHIM_PATH: '',
      EXECGO_RUNTIME_DURABLE: '',
    };
    const config = loadConfig({ dataDir: '/tmp/data-x' }, empty);
    const defaults = loadConfig({ dataDir: '/tmp/data-x' }, NO_ENV);
    assert.deepEqual(config, defaults);
  });

  it('passes only the base variables on to tasks, never its own or others', () => {
    const config = loadConfig(
      {},
      { PATH: '/bin', HOME: '/root', SECRET: 's', EXECGO_RUNTIME_ID: 'x', LANG: '' },
    );
    assert.deepEqual(config.childBaseEnv, { PATH: '/bin', HOME: '/root', LANG: '' });
  });

  it('refuses bad values with invalid_input, naming the setting', () => {
    assert.match(
      refusal(() => loadConfig({ maxRunningTasks: '0' }, NO_ENV)),
      /max-running-tasks must be an integer >= 1, got "0"/,
    );
    assert.match(
      refusal(() => loadConfig({ gcIntervalMs: 5 }, NO_ENV)),
      /gc-interval-ms must be an integer >= 10/,
    );
    assert.match(
      refusal(() => loadConfig({}, { EXECGO_RUNTIME_LOG_LEVEL: 'loud' })),
      /log level must be one of/,
    );
    assert.match(
      refusal(() => loadConfig({}, { EXECGO_RUNTIME_DURABLE: 'maybe' })),
      /EXECGO_RUNTIME_DURABLE must be a boolean/,
    );
    assert.match(
      refusal(() => loadConfig({ defaultCapabilityMode: 'lax' }, NO_ENV)),
      /adaptive or strict/,
    );
    assert.match(
      refusal(() => loadConfig({ listenAddr: 'localhost' }, NO_ENV)),
      /must be host:port/,
    );
  });
});

describe('parseListenAddr', () => {
  it('reads host:port, [v6]:port and :port (all addresses)', () => {
    assert.deepEqual(parseListenAddr('127.0.0.1:9000'), { host: '127.0.0.1', port: 9000 });
    assert.deepEqual(parseListenAddr('[::1]:9000'), { host: '::1', port: 9000 });
    assert.deepEqual(parseListenAddr(':9000'), { host: '0.0.0.0', port: 9000 });
    assert.match(
      refusal(() => parseListenAddr('h:70000')),
      /out of range/,
    );
  });
});
