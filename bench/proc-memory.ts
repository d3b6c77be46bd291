import fs from 'node:fs';

/** Memory of one process: resident and proportional (shared pages split among sharers). */
export interface ProcessMemory {
  pid: number;
  comm: string;
  rssKb: number;
  pssKb: number;
}

function readField(text: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return match?.[1] === undefined ? 0 : Number(match[1]);
}

/** RSS and PSS of a live process (0 when it is gone). */
export function readProcessMemory(pid: number): ProcessMemory {
  try {
    const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    return { pid, comm, rssKb: readField(rollup, 'Rss'), pssKb: readField(rollup, 'Pss') };
  } catch {
    return { pid, comm: '', rssKb: 0, pssKb: 0 };
  }
}

/** Parent pid of every process. */
function readParents(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(name), Number(fields[1]));
    } catch {
      // Exited meanwhile.
    }
  }
  return parents;
}

/** The process and all its descendants. */
export function listProcessTree(root: number): number[] {
  const parents = readParents();
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const tree: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() ?? 0;
    tree.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** Summed memory of a process tree, leaving out processes whose command is `excludeComm`. */
export function measureTree(
  root: number,
  excludeComm: string,
): { rssKb: number; pssKb: number; processes: number; excluded: number } {
  let rssKb = 0;
  let pssKb = 0;
  let processes = 0;
  let excluded = 0;
  for (const pid of listProcessTree(root)) {
    const memory = readProcessMemory(pid);
    if (memory.comm === excludeComm) excluded++;
    if (memory.comm === excludeComm || memory.comm === '') continue;
    rssKb += memory.rssKb;
    pssKb += memory.pssKb;
    processes++;
  }
  return { rssKb, pssKb, processes, excluded };
}
