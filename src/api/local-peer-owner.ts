import net from 'node:net';

/** One end of a TCP connection. */
export interface Endpoint {
  address: string;
  port: number;
}

/** The 16 bytes of an IPv6 address in text form (`::` and a trailing IPv4 part allowed). */
function ipv6Bytes(text: string): number[] {
  let groupsText = text;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (v4 !== undefined) {
    tail.push(...v4.split('.').map(Number));
    groupsText = text.slice(0, -v4.length);
    if (groupsText.endsWith(':') && !groupsText.endsWith('::'))
      groupsText = groupsText.slice(0, -1);
  }
  const [left = '', right] = groupsText.split('::');
  const leftGroups = left === '' ? [] : left.split(':');
  const rightGroups = right === undefined || right === '' ? [] : right.split(':');
  const zeros = 8 - tail.length / 2 - leftGroups.length - rightGroups.length;
  const groups =
    right === undefined
      ? leftGroups
      : [...leftGroups, ...Array<string>(Math.max(zeros, 0)).fill('0'), ...rightGroups];
  return [
    ...groups.flatMap((group) => [parseInt(group, 16) >> 8, parseInt(group, 16) & 0xff]),
    ...tail,
  ];
}

const hexByte = (value: number) => value.toString(16).toUpperCase().padStart(2, '0');

/**
 * An endpoint as /proc/net/tcp{,6} prints it: the address as 32-bit words in host byte order
 * (little-endian here), then the port, all upper-case hex.
 */
export function procNetEndpoint(endpoint: Endpoint): { file: 'tcp' | 'tcp6'; text: string } {
  const bytes = net.isIPv4(endpoint.address)
    ? endpoint.address.split('.').map(Number)
    : ipv6Bytes(endpoint.address);
  let address = '';
  for (let word = 0; word < bytes.length; word += 4)
    address += bytes
      .slice(word, word + 4)
      .reverse()
      .map(hexByte)
      .join('');
  const port = endpoint.port.toString(16).toUpperCase().padStart(4, '0');
  return { file: bytes.length === 4 ? 'tcp' : 'tcp6', text: `${address}:${port}` };
}

/** A row to look for in one socket table: the peer's socket, connected to the server. */
export interface PeerSocketRow {
  file: 'tcp' | 'tcp6';
  local: string;
  remote: string;
}

/**
 * Where the peer's own socket of a connection from this host may appear in the kernel's
 * socket tables. An IPv4 connection is listed under /proc/net/tcp when the client's socket is
 * an IPv4 one, and under tcp6 with IPv4-mapped addresses when it is an IPv6 one (a client may
 * choose either for an IPv4 peer, and a dual-stack server sees both as ::ffff:a.b.c.d), so an
 * IPv4 or IPv4-mapped connection yields both forms.
 */
export function peerSocketRows(peer: Endpoint, server: Endpoint): PeerSocketRow[] {
  const v4 = (endpoint: Endpoint): Endpoint | undefined => {
    if (net.isIPv4(endpoint.address)) return endpoint;
    const tail = endpoint.address.startsWith('::ffff:') ? endpoint.address.slice(7) : '';
    return net.isIPv4(tail) ? { ...endpoint, address: tail } : undefined;
  };
  const row = (from: Endpoint, to: Endpoint): PeerSocketRow => {
    const local = procNetEndpoint(from);
    return { file: local.file, local: local.text, remote: procNetEndpoint(to).text };
  };
  const [peer4, server4] = [v4(peer), v4(server)];
  if (peer4 === undefined || server4 === undefined) return [row(peer, server)];
  const mapped = (endpoint: Endpoint) => ({ ...endpoint, address: `::ffff:${endpoint.address}` });
  return [row(peer4, server4), row(mapped(peer4), mapped(server4))];
}

/** The row of the server's own socket of a connection, as the server's socket sees both ends. */
export function serverSocketRow(server: Endpoint, peer: Endpoint): PeerSocketRow {
  const local = procNetEndpoint(server);
  return { file: local.file, local: local.text, remote: procNetEndpoint(peer).text };
}

/** One socket of a /proc/net/tcp{,6} table: its ends as the table writes them, state and owner. */
export interface SocketTableRow {
  local: string;
  remote: string;
  /** Hex TCP state: `0A` is LISTEN. */
  state: string;
  uid: number;
  /** 0 for a socket no process holds any more (FIN_WAIT2/TIME_WAIT remnants). */
  inode: number;
}

/** The rows of a /proc/net/tcp{,6} table (the header line is skipped). */
export function parseSocketTable(table: string): SocketTableRow[] {
  const rows: SocketTableRow[] = [];
  // "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …"
  for (const line of table.split('\n')) {
    const [, local, remote, state, , , , uid, , inode] = line.trim().split(/\s+/);
    if (local === undefined || remote === undefined || state === undefined) continue;
    if (!/^\d+$/.test(uid ?? '') || !/^\d+$/.test(inode ?? '')) continue;
    rows.push({ local, remote, state, uid: Number(uid), inode: Number(inode) });
  }
  return rows;
}

/**
 * The uid of a table row's socket: the one it was created with, which a process cannot
 * choose. Undefined for no row, and for a socket its process already closed (FIN_WAIT2 and
 * TIME_WAIT remnants are listed with uid 0 and inode 0: that 0 is no owner).
 */
export function ownerOf(row: SocketTableRow | undefined): number | undefined {
  return row === undefined || row.inode === 0 ? undefined : row.uid;
}
