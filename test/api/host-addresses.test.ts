import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  isAddressOfThisHost,
  parseIpv6Addresses,
  parseLocalIpv4,
} from '../../src/api/host-addresses.js';
import { REPO_ROOT } from '../support/runtime-harness.js';

await test('parseLocalIpv4 keeps the /32 host LOCAL leaves of fib_trie', () => {
  const fibTrie = [
    'Local:',
    '  +-- 0.0.0.0/0 3 0 5',
    '     |-- 0.0.0.0',
    '        /0 universe UNICAST',
    '     |-- 127.0.0.1',
    '        /32 host LOCAL',
    '     |-- 192.0.2.0',
    '        /24 link UNICAST',
    '     |-- 192.0.2.2',
    '        /32 host LOCAL',
  ].join('\n');
  assert.deepEqual([...parseLocalIpv4(fibTrie)], ['127.0.0.1', '192.0.2.2']);
});

await test('parseIpv6Addresses reads if_inet6', () => {
  const text = 'fd000000000000000000000000000002 04 40 00 82     eth0\nbad\n';
  assert.deepEqual([...parseIpv6Addresses(text)], ['FD000000000000000000000000000002']);
});

await test("isAddressOfThisHost: this host's addresses, in every form a peer shows them", () => {
  for (const entries of Object.values(os.networkInterfaces()))
    for (const entry of entries ?? []) {
      assert.ok(isAddressOfThisHost(entry.address), entry.address);
      if (entry.family === 'IPv4') assert.ok(isAddressOfThisHost(`::ffff:${entry.address}`));
    }
  assert.ok(isAddressOfThisHost('127.0.0.53'));
  assert.equal(isAddressOfThisHost('203.0.113.9'), false, 'TEST-NET-3');
  assert.equal(isAddressOfThisHost('2001:db8::9'), false, 'documentation prefix');
});

await test('isAddressOfThisHost: an address on an interface without carrier is local', (t) => {
  // A veth whose peer is down is UP but has no carrier, like a docker0 with no containers:
  // os.networkInterfaces() leaves it out, yet a local process can connect from its address.
  const module = path.join(REPO_ROOT, 'dist/src/api/host-addresses.js');
  const probe =
    `import('${module}').then((m) => console.log(m.isAddressOfThisHost('10.99.0.1'), ` +
    `JSON.stringify(require('os').networkInterfaces()).includes('10.99.0.1')))`;
  const result = spawnSync(
    'unshare',
    [
      '--net',
      'sh',
      '-c',
      'ip link add v0 type veth peer name v1 && ip addr add 10.99.0.1/24 dev v0 && ' +
        `ip link set v0 up && exec "${process.execPath}" -e "$0"`,
      probe,
    ],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) {
    t.skip(`needs root, util-linux unshare and iproute2 (${result.stderr.trim() || result.error})`);
    return;
  }
  assert.equal(result.stdout.trim(), 'true false');
});
