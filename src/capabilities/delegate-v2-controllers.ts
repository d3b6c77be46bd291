import fs from 'node:fs';
import path from 'node:path';
import { listCgroupPids, readCgroupFile, writeCgroupFile } from '../sandbox/cgroup-files.js';

const WANTED_V2 = ['memory', 'pids', 'cpu'] as const;

/** Where the controllers went, and whether the server had to move to get them there. */
export interface V2Delegation {
  /** The leaf the server moved itself into, when its own cgroup had to become an inner node. */
  serverLeaf?: string;
}

/** Inputs: the hierarchy, the chain's end, and where this process is. */
export interface V2DelegationInput {
  mountPoint: string;
  /** The per-runtime parent of task cgroups; controllers are enabled down to it. */
  taskParent: string;
  /** This process's own cgroup on the unified hierarchy. */
  ownDir: string;
  /** Names this runtime (nameRuntimeCgroup); the server's leaf is named after it. */
  instance: string;
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/**
 * Moves this process into `<ownDir>/execgo-runtime/<instance>.server` when it is the only
 * process of its own cgroup. Other processes are not ours to move (a shell, a process manager),
 * so then nothing moves and the caller reports why the controllers stay off.
 */
function moveSelfToLeaf(ownDir: string, instance: string): string | undefined {
  const pids = listCgroupPids(ownDir);
  if (pids.length !== 1 || pids[0] !== process.pid) return undefined;
  const leaf = path.join(ownDir, 'execgo-runtime', `${instance}.server`);
  try {
    fs.mkdirSync(leaf, { recursive: true });
    writeCgroupFile(leaf, 'cgroup.procs', String(process.pid));
    return leaf;
  } catch {
    return undefined;
  }
}

/**
 * Turns on memory/pids/cpu for the children of every cgroup from the mount down to the task
 * parent. Best effort: a level that cannot (read-only above a container's cgroup, a controller
 * the host withholds) leaves the task cgroups without that controller, which the probe then
 * finds and reports.
 *
 * cgroup v2 lets a cgroup hand controllers to its children only while it holds no processes
 * itself (the "no internal processes" rule; the root is exempt). A server started in a cgroup
 * of its own that is not the root — a systemd service with `Delegate=yes`, a container with
 * its own cgroup namespace — is exactly such a process. It does what systemd's delegation
 * guide asks of a delegated manager: it moves itself into a leaf below its cgroup (the
 * spawner and every shim, forked later, start there too), and the task cgroups are siblings
 * of that leaf.
 */
export function delegateV2Controllers(input: V2DelegationInput, warnings: string[]): V2Delegation {
  const { mountPoint, taskParent, ownDir, instance } = input;
  const result: V2Delegation = {};
  const rel = path.relative(mountPoint, taskParent);
  const chain = [mountPoint];
  for (const part of rel === '' ? [] : rel.split(path.sep))
    chain.push(path.join(chain[chain.length - 1] ?? mountPoint, part));
  for (const dir of chain) {
    const available = (readCgroupFile(dir, 'cgroup.controllers') ?? '').split(/\s+/);
    const enabled = (readCgroupFile(dir, 'cgroup.subtree_control') ?? '').split(/\s+/);
    for (const controller of WANTED_V2) {
      if (!available.includes(controller) || enabled.includes(controller)) continue;
      try {
        writeCgroupFile(dir, 'cgroup.subtree_control', `+${controller}`);
      } catch (error) {
        if (errorCode(error) !== 'EBUSY' || dir !== ownDir || result.serverLeaf !== undefined)
          continue;
        result.serverLeaf = moveSelfToLeaf(ownDir, instance);
        if (result.serverLeaf === undefined) {
          warnings.push(
            `cgroup v2: ${ownDir} holds other processes besides this server, so it cannot pass ` +
              'controllers to task cgroups (the no-internal-processes rule); run the server in a ' +
              'cgroup of its own (a systemd service with Delegate=yes, or `systemd-run --scope ' +
              '-p Delegate=yes`) or pass --cgroup-root a delegated cgroup without processes',
          );
          return result;
        }
        try {
          writeCgroupFile(dir, 'cgroup.subtree_control', `+${controller}`);
        } catch {
          // The probe finds the controller missing on the task cgroups and reports it.
        }
      }
    }
  }
  return result;
}
