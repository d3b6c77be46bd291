#!/bin/sh
# PID 1 of the cgroup v2 VM's initramfs (busybox): loads virtio, 9p and overlay, mounts the
# host's root (read-only 9p) under a tmpfs overlay, mounts the job directory (read-write 9p),
# and hands over to /job/guest-run.sh on that root.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in /mods/*.ko; do insmod "$module" || echo "insmod $module failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose hostroot /lower || poweroff -f
mount -t tmpfs -o size=3g upper /upper
mkdir -p /upper/data /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work root /newroot || poweroff -f
mkdir -p /newroot/job
mount -t 9p -o trans=virtio,version=9p2000.L job /newroot/job || poweroff -f
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /bin/sh /job/guest-run.sh
