import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  eventually,
  makeDataDir,
  REPO_ROOT,
  runCli,
  shell,
  startServerProcess,
  stopServerProcesses,
  type ServerProcess,
} from '../support/runtime-harness.js';

/** A port nothing listens on (right now). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

describe('CLI against a real serve process', () => {
  let server: ServerProcess;
  let url: string;
  before(async () => {
    server = await startServerProcess(['--max-running-tasks', '2']);
    url = `http://127.0.0.1:${server.port}/`; // trailing slash must be tolerated
  });
  after(async () => {
    await stopServerProcesses([server]);
  });

  it('run submits, waits and prints the final status as JSON', async () => {
    const result = await runCli([
      'run',
      '--server',
      url,
      '--json',
      JSON.stringify({ execution: { kind: 'command', program: '/bin/echo', args: ['hi'] } }),
    ]);
    assert.equal(result.code, 0, result.stderr);
    const status = JSON.parse(result.stdout) as { status: string; stdout: string };
    assert.equal(status.status, 'success');
    assert.equal(status.stdout, 'hi\n');
  });

  it('run -- <command> runs that command; EXECGO_RUNTIME_URL names the server', async () => {
    const result = await runCli(['run', '--', '/bin/sh', '-c', 'echo "$0 $1"', 'a b', '-c'], {
      EXECGO_RUNTIME_URL: url,
    });
    assert.equal(result.code, 0, result.stderr);
    const status = JSON.parse(result.stdout) as { status: string; stdout: string };
    assert.equal(status.status, 'success');
    // Arguments arrive as given: no shell in between, a leading dash is not an option.
    assert.equal(status.stdout, 'a b -c\n');
    // Set but empty, it counts as unset: the default server, not a usage error.
    const empty = await runCli(['status', 'none-such'], { EXECGO_RUNTIME_URL: '' });
    assert.equal(empty.code, 1, empty.stderr);
    assert.match(empty.stderr, /127\.0\.0\.1:8080|not_found/);
    const submitted = await runCli(['submit', '--server', url, '--', '/bin/true']);
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.equal((JSON.parse(submitted.stdout) as { status: string }).status, 'accepted');
  });

  it('submit (--file), status, wait and events', async () => {
    const file = path.join(server.dataDir, 'task.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        task_id: 'cli-1',
        execution: { kind: 'command', program: '/bin/sh', args: ['-c', 'exit 4'] },
      }),
    );
    const submitted = await runCli(['submit', '--server', url, '--file', file]);
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.deepEqual(JSON.parse(submitted.stdout), {
      task_id: 'cli-1',
      handle_id: 'cli-1',
      status: 'accepted',
    });
    const waited = await runCli(['wait', 'cli-1', '--server', url, '--timeout-ms', '20000']);
    assert.equal(waited.code, 0, waited.stderr);
    assert.equal((JSON.parse(waited.stdout) as { exit_code: number }).exit_code, 4);
    const status = await runCli(['status', 'cli-1', '--server', url]);
    assert.equal((JSON.parse(status.stdout) as { status: string }).status, 'failed');
    const events = await runCli(['events', 'cli-1', '--server', url]);
    assert.ok((JSON.parse(events.stdout) as unknown[]).length >= 5);
  });

  it('wait exits non-zero when its timeout passes', async () => {
    await runCli([
      'submit',
      '--server',
      url,
      '--json',
      JSON.stringify({
        task_id: 'cli-slow',
        execution: { kind: 'command', program: '/bin/sleep', args: ['30'] },
      }),
    ]);
    const waited = await runCli(['wait', 'cli-slow', '--server', url, '--timeout-ms', '200']);
    assert.equal(waited.code, 3);
    assert.match(waited.stderr, /timed out/);
    const killed = await runCli(['kill', 'cli-slow', '--server', url]);
    assert.equal(killed.code, 0, killed.stderr);
  });

  it('kill honours --owner and EXECGO_RUNTIME_OWNER (UTF-8 owners too)', async () => {
    const body = {
      task_id: 'cli-owned',
      execution: { kind: 'command', program: '/bin/sleep', args: ['30'] },
      control_context: { owner: 'alice-ü' },
    };
    await runCli(['submit', '--server', url, '--json', JSON.stringify(body)]);
    const denied = await runCli(['kill', 'cli-owned', '--server', url, '--owner', 'alice-u']);
    assert.equal(denied.code, 1);
    assert.equal(
      (JSON.parse(denied.stderr) as { error: { code: string } }).error.code,
      'permission_denied',
    );
    const allowed = await runCli(['kill', 'cli-owned', '--server', url], {
      EXECGO_RUNTIME_OWNER: 'alice-ü', // non-ASCII: sent as its UTF-8 bytes
    });
    assert.equal(allowed.code, 0, allowed.stderr);
  });

  it('server errors go to stderr with a non-zero exit', async () => {
    const missing = await runCli(['status', 'no-such-task', '--server', url]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    assert.equal(
      (JSON.parse(missing.stderr) as { error: { code: string } }).error.code,
      'not_found',
    );
    const invalid = await runCli(['submit', '--server', url, '--json', '{"execution":{}}']);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /invalid_input/);
  });

  it('a server that cannot be reached is named, with the reason', async () => {
    const closedPort = await freePort();
    const result = await runCli(['status', 'any', '--server', `http://127.0.0.1:${closedPort}`]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /cannot reach the runtime at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/,
    );
  });

  it('usage errors exit 2 and say what is wrong', async () => {
    const cases: [string[], RegExp][] = [
      [['submit', '--server', url], /a task is required: --json, --file, or a command after --/],
      [
        ['submit', '--server', url, '--json', '{}', '--file', '-'],
        /: --json and --file are mutually exclusive\n/,
      ],
      [
        ['run', '--server', url, '--file', '/nonexistent/task.json', '--json', '{}'],
        /: --json and --file are mutually exclusive\n/,
      ],
      [['run', '--server', url], /a task is required/],
      [
        ['run', '--server', url, '--json', '{}', '--', 'ls'],
        /--json and a command are mutually exclusive/,
      ],
      [['run', '--server', url, '--json', '{not json'], /task input is not valid JSON/],
      [['submit', '--server', url, '--file', '/nonexistent/task.json'], /cannot read --file/],
      [['status', '--server', url], /missing required argument/],
      [
        ['status', 'w1', '--server', 'not a url'],
        /--server \(or EXECGO_RUNTIME_URL\) must be an http:\/\/ or https:\/\/ URL/,
      ],
      [['status', 'w1', '--server', 'ftp://127.0.0.1'], /must be an http/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, message, args.join(' '));
    }
  });
});

describe('serve flags', () => {
  it('serve --help shows the flags, defaults and variables of cli.md', async () => {
    const result = await runCli(['serve', '--help']);
    assert.equal(result.code, 0, result.stderr);
    // Help wraps at spaces; one option's text runs up to the next option.
    const help = result.stdout.replace(/\s+/g, ' ');
    const helpOf = new Map(
      [...help.matchAll(/ (--[a-z-]+)( <[a-z]+>)? (.*?)(?= --[a-z-]+ | -h, --help )/g)].map(
        (match) => [match[1] ?? '', match[3] ?? ''],
      ),
    );
    const table = fs
      .readFileSync(path.join(REPO_ROOT, 'docs/cli.md'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('| `--'))
      .map((line) => line.split('|').map((cell) => cell.trim().replaceAll('`', '')));
    assert.deepEqual(table.map((row) => row[1]).sort(), [...helpOf.keys()].sort());
    for (const [, flag = '', shown = '', meaning = ''] of table) {
      const text = helpOf.get(flag) ?? '';
      // Commander shows no default for a boolean flag: it is off unless given.
      if (shown !== 'off') {
        const defaultShown = /\(default: (.*)\)$/.exec(text)?.[1]?.replaceAll('"', '');
        assert.equal(defaultShown, shown, `${flag}: ${text}`);
      }
      const variable = /\[(EXECGO_RUNTIME_[A-Z_]+)/.exec(meaning)?.[1];
      if (variable === undefined) assert.doesNotMatch(text, /env EXECGO_/, flag);
      else assert.ok(text.includes(`env ${variable}`), `${flag} lacks ${variable}: ${text}`);
    }
  });

  it('accepts --tenant-quota more than once', async () => {
    const server = await startServerProcess([
      '--tenant-quota',
      'a=slots:1',
      '--tenant-quota',
      'b=slots:2',
    ]);
    try {
      const resources = await server.api.request<{ tenants: Array<{ tenant: string }> }>(
        'GET',
        '/api/v1/runtime/resources',
      );
      assert.deepEqual(resources.body.tenants.map((t) => t.tenant).sort(), ['a', 'b']);
    } finally {
      await stopServerProcesses([server]);
    }
  });

  const badServeFlags: [string, string[], RegExp][] = [
    [
      '--tenant-quota',
      ['--tenant-quota', 'demo=slots:zero'],
      /invalid tenant quota "demo=slots:zero"/,
    ],
    ['--log-level', ['--log-level', 'bogus'], /log level must be one of .*got "bogus"/],
    [
      '--sandbox-uid-base',
      ['--sandbox-uid-base', '0'],
      /sandbox-uid-base must be an integer >= 65536/,
    ],
    [
      '--sandbox-uid-base',
      ['--sandbox-uid-base', '2147480000'],
      /sandbox-uid-base must be at most 2147418111/,
    ],
  ];
  for (const [flag, args, message] of badServeFlags)
    it(`a bad ${flag} (${args.join(' ')}) fails startup with a clear message (exit 2)`, async () => {
      const serve = ['serve', '--listen-addr', '127.0.0.1:0', '--data-dir', '/tmp/execgo-never'];
      const result = await runCli([...serve, ...args]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, message);
    });

  const badDataDirs: [string, RegExp][] = [
    ['/etc/passwd', /data dir \/etc\/passwd: \/etc\/passwd exists and is not a directory/],
    // Node's recursive mkdir loops for ever on this one (robustness round 10).
    ['/proc/1/nope', /data dir \/proc\/1\/nope: .* cannot be created \(ENOENT\)/],
  ];
  for (const [dataDir, message] of badDataDirs)
    it(`a data dir that cannot be one (${dataDir}) fails startup with a clear message (exit 2)`, async () => {
      const result = await runCli(['serve', '--listen-addr', '127.0.0.1:0', '--data-dir', dataDir]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    });

  it('SIGTERM drains and exits 0 without killing running tasks', async () => {
    const server = await startServerProcess([]);
    const id = await server.api.submit({
      execution: {
        kind: 'command',
        program: '/bin/sh',
        args: ['-c', 'echo ready; sleep 1; echo done'],
      },
    });
    await server.api.waitFor(id, (s) => s.stdout.includes('ready'));
    // 'close' comes after the server's stdout has ended: every log line has been read.
    const closed = once(server.child, 'close');
    server.child.kill('SIGTERM');
    assert.deepEqual(await server.exited, { code: 0, signal: null });
    await closed;
    // Its log ends with "draining", then "stopped" with how long the drain took.
    const entries = server.logLines.map(
      (line) => JSON.parse(line) as { msg: string; signal?: string; drain_ms?: number },
    );
    const draining = entries.findIndex((entry) => entry.msg.startsWith('draining'));
    assert.ok(draining >= 0, server.logLines.join('\n'));
    const last = entries.at(-1);
    assert.equal(last?.msg, 'stopped', server.logLines.join('\n'));
    assert.equal(last.signal, 'SIGTERM');
    assert.ok(Number.isInteger(last.drain_ms) && (last.drain_ms ?? -1) >= 0, String(last.drain_ms));
    assert.ok(entries.length - 1 > draining);
    // The task keeps running under its supervisor and finishes on its own.
    const log = path.join(server.dataDir, 'tasks', id, 'stdout.log');
    const deadline = Date.now() + 10_000;
    while (!fs.readFileSync(log, 'utf8').includes('done')) {
      if (Date.now() > deadline) assert.fail('task did not finish after the server stopped');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await stopServerProcesses([server]); // its task's cgroup, left by design, goes now
  });
});

describe('wait across a server restart', () => {
  it('rides out the restart and prints the final status', async () => {
    const listen = ['--listen-addr', `127.0.0.1:${await freePort()}`];
    const dataDir = makeDataDir();
    const go = path.join(dataDir, 'go');
    const first = await startServerProcess(listen, { dataDir });
    const id = await first.api.submit(
      shell(`while [ ! -e ${go} ]; do sleep 0.05; done; echo done`),
    );
    const waiting = runCli(['wait', id, '--server', first.api.baseUrl]);
    // A deadline, not a timing: a CLI start takes ~8 s in the emulated cgroup v2 VM (test/vm).
    await eventually(
      async () => (await first.api.metric('execgo_runtime_open_long_polls{kind="wait"}')) === 1,
      60_000,
      'the CLI to open its long poll',
    );
    first.child.kill('SIGTERM'); // the task keeps running under its supervisor
    await first.exited;
    const second = await startServerProcess(listen, { dataDir });
    try {
      fs.writeFileSync(go, '');
      const result = await waiting;
      assert.equal(result.code, 0, result.stderr);
      const final = JSON.parse(result.stdout) as { status: string; stdout: string };
      assert.equal(final.status, 'success');
      assert.equal(final.stdout, 'done\n');
    } finally {
      await stopServerProcesses([second]);
    }
  });
});
