/* `execgo-shim --sandbox-init`: the first process inside a linux_sandbox (see sandbox-init.c). */
#ifndef EXECGO_SANDBOX_INIT_H
#define EXECGO_SANDBOX_INIT_H

/* argv: execgo-shim --sandbox-init <status-file> [--drop-to UID:GID] <program> [args...].
 * Never returns. */
_Noreturn void sandbox_init_main(int argc, char **argv);

#endif
