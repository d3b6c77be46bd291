import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseCgroupMounts,
  parseProcCgroup,
  resolveCgroupHierarchies,
  resolveTaskParent,
} from '../../src/capabilities/parse-cgroup-layout.js';

const HYBRID_MOUNTINFO = `22 27 0:21 / /proc rw,relatime - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;

// This host: the server sits in a nested v1 memory cgroup, at the root of the others.
const HYBRID_CGROUP = `9:name=systemd:/
8:pids:/
4:memory:/process_api/4db782da
2:cpuacct:/
1:cpu:/
0::/`;

const V2_MOUNTINFO = `25 20 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;
const V2_CGROUP = `0::/system.slice/execgo.service`;

const V1_MOUNTINFO = `30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids`;
const V1_CGROUP = `5:pids:/user.slice
4:memory:/user.slice
3:cpu,cpuacct:/user.slice`;

// A container: the hierarchy is mounted from the container's own cgroup (root != /).
const NESTED_MOUNTINFO = `500 400 0:30 /docker/abc123 /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw`;
const NESTED_CGROUP = `0::/docker/abc123/worker`;

await test('parseCgroupMounts', async (t) => {
  await t.test('finds v1 controllers and the cgroup2 mount, skipping other filesystems', () => {
    const mounts = parseCgroupMounts(HYBRID_MOUNTINFO);
    assert.equal(mounts.length, 6);
    assert.deepEqual(mounts.find((m) => m.mountPoint === '/sys/fs/cgroup/memory')?.controllers, [
      'memory',
    ]);
    assert.deepEqual(
      mounts.find((m) => m.version === 2),
      {
        mountPoint: '/sys/fs/cgroup/unified',
        root: '/',
        version: 2,
        controllers: [],
      },
    );
    assert.deepEqual(mounts.find((m) => m.mountPoint.endsWith('systemd'))?.controllers, []);
  });

  await t.test('reads co-mounted controllers and escaped mount points', () => {
    const mounts = parseCgroupMounts(
      `${V1_MOUNTINFO}\n40 25 0:29 / /mnt/with\\040space rw - cgroup cgroup rw,freezer`,
    );
    assert.deepEqual(mounts[0]?.controllers, ['cpu', 'cpuacct']);
    assert.equal(mounts[3]?.mountPoint, '/mnt/with space');
  });
});

await test('parseProcCgroup', () => {
  assert.deepEqual(parseProcCgroup(HYBRID_CGROUP)[2], {
    hierarchyId: 4,
    controllers: ['memory'],
    path: '/process_api/4db782da',
  });
  assert.deepEqual(parseProcCgroup(V2_CGROUP), [
    { hierarchyId: 0, controllers: [], path: '/system.slice/execgo.service' },
  ]);
});

await test('resolveCgroupHierarchies', async (t) => {
  await t.test('hybrid: cgroup2 for tracking, v1 controllers at their own (nested) paths', () => {
    const h = resolveCgroupHierarchies(HYBRID_MOUNTINFO, HYBRID_CGROUP);
    assert.equal(h.layout, 'hybrid');
    assert.equal(h.unifiedDir, '/sys/fs/cgroup/unified');
    assert.equal(h.v1Dirs.memory, '/sys/fs/cgroup/memory/process_api/4db782da');
    assert.equal(h.v1Dirs.pids, '/sys/fs/cgroup/pids');
    assert.equal(h.v1Dirs.cpuacct, '/sys/fs/cgroup/cpuacct');
  });

  await t.test('pure v2', () => {
    const h = resolveCgroupHierarchies(V2_MOUNTINFO, V2_CGROUP);
    assert.equal(h.layout, 'v2');
    assert.equal(h.unifiedDir, '/sys/fs/cgroup/system.slice/execgo.service');
    assert.deepEqual(h.v1Dirs, {});
  });

  await t.test('v1 only, with cpu and cpuacct co-mounted', () => {
    const h = resolveCgroupHierarchies(V1_MOUNTINFO, V1_CGROUP);
    assert.equal(h.layout, 'v1');
    assert.equal(h.unifiedDir, undefined);
    assert.equal(h.v1Dirs.cpu, '/sys/fs/cgroup/cpu,cpuacct/user.slice');
    assert.equal(h.v1Dirs.cpuacct, '/sys/fs/cgroup/cpu,cpuacct/user.slice');
    assert.equal(h.v1Dirs.memory, '/sys/fs/cgroup/memory/user.slice');
  });

  await t.test('nested mount root: the mounted sub-tree is stripped from the path', () => {
    const h = resolveCgroupHierarchies(NESTED_MOUNTINFO, NESTED_CGROUP);
    assert.equal(h.unifiedDir, '/sys/fs/cgroup/worker');
  });

  await t.test('no cgroup mounts at all', () => {
    assert.equal(resolveCgroupHierarchies('', '').layout, 'none');
  });
});

await test('resolveTaskParent', async (t) => {
  const mounts = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/memory'];
  await t.test('defaults to execgo-runtime/<instance> under the own cgroup', () => {
    assert.equal(
      resolveTaskParent(
        '/sys/fs/cgroup/memory/a/b',
        '/sys/fs/cgroup/memory',
        mounts,
        undefined,
        'rt-1',
      ),
      '/sys/fs/cgroup/memory/a/b/execgo-runtime/rt-1',
    );
  });
  await t.test('a root inside one mount applies to every hierarchy', () => {
    assert.equal(
      resolveTaskParent(
        '/x',
        '/sys/fs/cgroup/memory',
        mounts,
        '/sys/fs/cgroup/unified/execgo',
        'rt-1',
      ),
      '/sys/fs/cgroup/memory/execgo/rt-1',
    );
  });
  await t.test("a pure-v2 path on a hybrid host is the service's cgroup in each hierarchy", () => {
    // The sample unit's --cgroup-root: /sys/fs/cgroup is a tmpfs here, not a cgroup mount.
    const root = '/sys/fs/cgroup/system.slice/execgo-runtime.service';
    for (const mount of mounts)
      assert.equal(
        resolveTaskParent('/x', mount, mounts, root, 'rt-1'),
        `${mount}/system.slice/execgo-runtime.service/rt-1`,
      );
  });
  await t.test('a bare cgroup path is taken relative to each mount', () => {
    assert.equal(
      resolveTaskParent('/x', '/sys/fs/cgroup/unified', mounts, '/execgo', 'rt-1'),
      '/sys/fs/cgroup/unified/execgo/rt-1',
    );
  });
});
