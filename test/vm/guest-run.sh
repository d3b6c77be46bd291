#!/bin/sh
# PID 1 of the cgroup v2 VM (after the initramfs switched to the host's root, read-only with a
# tmpfs overlay): mounts a pure cgroup v2 hierarchy, runs the test files, records the result
# in /job and powers off. Output goes to /job/guest.log. A test that hangs fails after
# EXECGO_VM_TEST_TIMEOUT_MS (--test-timeout) instead of holding the VM until the runner's timeout.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
exec > /job/guest.log 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
# /tmp stays the overlay's (writable, in guest memory): the checkout may live under it.
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
ip link set lo up
echo "guest: $(uname -r), cgroup v2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
cd "$(cat /job/repo)"
# shellcheck disable=SC2046 # one file name per line
node --test --test-timeout="$(cat /job/test-timeout-ms)" --test-concurrency="$(cat /job/concurrency)" $(cat /job/tests)
echo $? > /job/rc
sync
echo o > /proc/sysrq-trigger
sleep 10
