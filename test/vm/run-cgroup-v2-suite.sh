#!/bin/sh
# Runs test files of this repo inside a small VM whose kernel mounts only cgroup v2 with every
# controller: the layout most deployments have and this project's CI host (hybrid v1 + v2)
# cannot offer. The guest's root file system is the host's own, read-only through 9p with a
# tmpfs overlay, so the guest runs the host's node, bwrap and this checkout (already built).
#
#   test/vm/run-cgroup-v2-suite.sh [test files under dist/test...]   (default: cgroup tests)
#
# EXECGO_VM_TEST_CONCURRENCY (default 1) is node --test's concurrency in the guest,
# EXECGO_VM_TEST_TIMEOUT_MS (default 300000) its --test-timeout (under TCG a test file runs
# 10-30x slower than on the host: the whole suite takes ~20 min at concurrency 2);
# EXECGO_VM_TIMEOUT_S (default 2400) bounds the VM's run; EXECGO_VM_KERNEL picks the kernel.
#
# Needs qemu-system-x86_64, a Debian kernel in /boot with its modules, and busybox (static):
# apt-get install qemu-system-x86 linux-image-amd64 busybox-static. Exit status: 0 when the
# guest suite passed, 1 when it failed, 77 when the VM cannot run here (reason on stderr).
# Uses KVM when the host offers it; otherwise TCG (software emulation: slower, still works).
set -eu
REPO=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "cgroup v2 VM suite skipped: $*" >&2; exit 77; }
[ "$(uname -m)" = x86_64 ] || skip "needs an x86_64 host (this one is $(uname -m))"
[ "$(id -u)" = 0 ] || skip "needs root (9p passthrough of the host's files)"
QEMU=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
BUSYBOX=$(command -v busybox) || skip "busybox not installed (apt-get install busybox-static)"
! ldd "$BUSYBOX" >/dev/null 2>&1 || skip "$BUSYBOX is not statically linked (apt-get install busybox-static)"
command -v cpio >/dev/null || skip "cpio not installed"
KERNEL=${EXECGO_VM_KERNEL:-$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)}
[ -n "$KERNEL" ] && [ -r "$KERNEL" ] || skip "no kernel image in /boot (apt-get install linux-image-amd64)"
KVER=${KERNEL#/boot/vmlinuz-}
[ -d "/lib/modules/$KVER" ] || skip "no modules for kernel $KVER in /lib/modules"

WORK=$(mktemp -d /tmp/execgo-vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
JOB=$WORK/job
mkdir -p "$JOB" "$WORK/initramfs"

# initramfs: static busybox, the modules for virtio + 9p + overlay (in dependency order), init.
R=$WORK/initramfs
mkdir -p "$R/bin" "$R/mods" "$R/proc" "$R/sys" "$R/dev" "$R/newroot" "$R/lower" "$R/upper"
cp "$BUSYBOX" "$R/bin/busybox"
for applet in sh mount umount insmod mkdir switch_root poweroff; do ln -s busybox "$R/bin/$applet"; done
i=0
for module in virtio_pci 9pnet_virtio 9p overlay; do
  modprobe -S "$KVER" --show-depends "$module" || skip "kernel $KVER has no module $module"
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' > "$WORK/modules"
while read -r file; do
  i=$((i + 1))
  cp "$file" "$R/mods/$(printf %02d "$i")-$(basename "$file")"
done < "$WORK/modules"
cp "$REPO/test/vm/guest-initramfs-init.sh" "$R/init"
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet) | gzip -1 > "$WORK/initrd.gz"

if [ $# -eq 0 ]; then
  set -- dist/test/capabilities/cgroup-v2-delegation.test.js dist/test/sandbox/cgroup-enforcement.test.js \
    dist/test/capabilities/capability-manifest.test.js dist/test/e2e/kill.test.js
fi
cp "$REPO/test/vm/guest-run.sh" "$JOB/guest-run.sh"
printf '%s\n' "$REPO" > "$JOB/repo"
printf '%s\n' "$@" > "$JOB/tests"
printf '%s\n' "${EXECGO_VM_TEST_CONCURRENCY:-1}" > "$JOB/concurrency"
printf '%s\n' "${EXECGO_VM_TEST_TIMEOUT_MS:-300000}" > "$JOB/test-timeout-ms"

ACCEL=tcg
if [ -w /dev/kvm ] && grep -qE 'vmx|svm' /proc/cpuinfo; then ACCEL=kvm; fi
echo "cgroup v2 VM: kernel $KVER, accel $ACCEL, $# test file(s)" >&2
timeout "${EXECGO_VM_TIMEOUT_S:-2400}" "$QEMU" -accel "$ACCEL" -machine q35 -cpu max -smp 2 -m 4096 \
  -nographic -no-reboot -kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
  -append "console=ttyS0 rdinit=/init quiet panic=-1" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
  -virtfs local,path="$JOB",mount_tag=job,security_model=passthrough > "$WORK/console.log" 2>&1 || true
if [ ! -f "$JOB/rc" ]; then
  echo "cgroup v2 VM: the guest did not finish; console:" >&2
  tail -40 "$WORK/console.log" >&2
  exit 1
fi
cat "$JOB/guest.log"
exit "$(cat "$JOB/rc")"
