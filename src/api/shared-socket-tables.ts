import { parseSocketTable, type PeerSocketRow, type SocketTableRow } from './local-peer-owner.js';

type TableFile = 'tcp' | 'tcp6';

/** One read of a table, indexed by its two ends (`local remote`, as the kernel writes them). */
type TableIndex = Map<string, SocketTableRow>;

interface Read {
  /** The ticket count when the read started: it shows every socket older than that. */
  startedAfter: number;
  index: Promise<TableIndex>;
}

/**
 * Reads of the kernel's socket tables (/proc/net/tcp, tcp6) shared by every connection the
 * API guard is looking up. The kernel writes every socket of the host into each read, so a
 * task with ~15,000 connections to the API made ~15,000 concurrent reads of a ~5 MB table,
 * and the server ran out of heap (security round 11, 4 of 5). Now at most one read per table
 * runs, and one more waits: a lookup needs a read that started after it took its ticket (when
 * its connection was accepted, or after the row it read before), so it joins the running read
 * only if that one started later, and otherwise the next one, which starts when the running
 * one ends and serves everyone that joined meanwhile. Each read is parsed once into an index;
 * a lookup is then one map access, however large the table.
 */
export class SharedSocketTables {
  private tickets = 0;
  private readonly running = new Map<TableFile, Read>();
  /** The read queued behind the running one: it starts when that one ends. */
  private readonly next = new Map<TableFile, Promise<TableIndex>>();

  constructor(private readonly readTable: (file: TableFile) => Promise<string>) {}

  /** A ticket: tables read from now on show every socket that exists now. */
  ticket(): number {
    return ++this.tickets;
  }

  /** The row of `row`'s two ends in a read that started after `ticket`; undefined if none. */
  async find(row: PeerSocketRow, ticket: number): Promise<SocketTableRow | undefined> {
    const index = await this.readAfter(row.file, ticket);
    return index.get(`${row.local} ${row.remote}`);
  }

  private readAfter(file: TableFile, ticket: number): Promise<TableIndex> {
    const running = this.running.get(file);
    // None running, but one queued to start in a moment (after this ticket): join it.
    if (running === undefined) return this.next.get(file) ?? this.start(file).index;
    if (running.startedAfter >= ticket) return running.index;
    let next = this.next.get(file);
    if (next === undefined) {
      // Starts when the running read ends (either way), for everyone waiting by then.
      next = running.index.then(
        () => this.startQueued(file),
        () => this.startQueued(file),
      );
      this.next.set(file, next);
    }
    return next;
  }

  private startQueued(file: TableFile): Promise<TableIndex> {
    this.next.delete(file);
    return this.start(file).index;
  }

  private start(file: TableFile): Read {
    const read: Read = {
      startedAfter: this.tickets,
      index: this.readTable(file).then(indexTable),
    };
    this.running.set(file, read);
    const done = (): void => {
      if (this.running.get(file) === read) this.running.delete(file);
    };
    read.index.then(done, done);
    return read;
  }
}

function indexTable(table: string): TableIndex {
  const index: TableIndex = new Map();
  for (const row of parseSocketTable(table)) index.set(`${row.local} ${row.remote}`, row);
  return index;
}
