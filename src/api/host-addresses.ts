import net from 'node:net';
import os from 'node:os';
import { readText } from '../capabilities/probe-host.js';
import { procNetEndpoint } from './local-peer-owner.js';

/** IPv4 addresses the kernel delivers locally: the `/32 host LOCAL` leaves of fib_trie. */
export function parseLocalIpv4(fibTrie: string): Set<string> {
  const local = new Set<string>();
  let last: string | undefined;
  for (const line of fibTrie.split('\n')) {
    const leaf = /\|-- (\d+\.\d+\.\d+\.\d+)$/.exec(line)?.[1];
    if (leaf !== undefined) last = leaf;
    else if (last !== undefined && /^\s*\/32 host LOCAL/.test(line)) local.add(last);
  }
  return local;
}

/** IPv6 addresses configured on any interface, as /proc/net/if_inet6 lists them (32 hex). */
export function parseIpv6Addresses(ifInet6: string): Set<string> {
  return new Set(
    ifInet6
      .split('\n')
      .map((line) => line.trim().split(/\s+/)[0] ?? '')
      .filter((hex) => /^[0-9a-f]{32}$/i.test(hex))
      .map((hex) => hex.toUpperCase()),
  );
}

/** 32 upper-case hex digits of an IPv6 address in network order (as if_inet6 prints it). */
function ipv6Hex(address: string): string {
  // procNetEndpoint writes 32-bit words in host order (little-endian): undo that per word.
  const text = procNetEndpoint({ address, port: 0 }).text.split(':')[0] ?? '';
  let hex = '';
  for (let word = 0; word < text.length; word += 8)
    hex += (text.slice(word, word + 8).match(/../g) ?? []).reverse().join('');
  return hex;
}

/**
 * Whether `address` is one of this host's own (loopback included), as a peer would show it.
 * Asked of the kernel (its local routing table, its IPv6 address list), not of
 * `os.networkInterfaces()`: that leaves out interfaces without carrier (a `docker0` with no
 * containers), whose addresses a local process can still connect from.
 */
export function isAddressOfThisHost(address: string): boolean {
  const plain = (address.startsWith('::ffff:') ? address.slice(7) : address).split('%')[0] ?? '';
  if (plain.startsWith('127.') || plain === '::1') return true;
  if (net.isIPv4(plain)) {
    if (parseLocalIpv4(readText('/proc/net/fib_trie')).has(plain)) return true;
  } else if (net.isIPv6(plain)) {
    if (parseIpv6Addresses(readText('/proc/net/if_inet6')).has(ipv6Hex(plain))) return true;
  }
  // Where /proc says nothing (another OS, a restricted /proc): what the interfaces list says.
  return Object.values(os.networkInterfaces()).some((entries) =>
    (entries ?? []).some((entry) => entry.address.split('%')[0] === plain),
  );
}
