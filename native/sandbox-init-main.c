/*
 * execgo-sandbox-init: the shim's --sandbox-init mode (sandbox-init.c) as a static binary,
 * for chroot tasks. Inside a chroot the rootfs brings its own libc (or none), so the
 * dynamically linked execgo-shim cannot run there; this one needs nothing from the rootfs.
 * Same command line as the shim's mode:
 * execgo-sandbox-init --sandbox-init <status> [--drop-to UID:GID] <program>...
 */
#include "record.h"
#include "sandbox-init.h"

#include <string.h>

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--sandbox-init") == 0)
        sandbox_init_main(argc, argv);
    msg("usage: execgo-sandbox-init --sandbox-init <status-file> [--drop-to UID:GID] <program> [args...]");
    return 2;
}
