/*
 * execgo-shim: the standalone supervisor binary. The server's Node fallback starts it with
 * a spec file, bwrap runs its --sandbox-init mode, and the native tests drive it; the
 * spawner runs the same supervisor (shim_pooled_main) in forked children instead
 * (docs/shim-protocol.md).
 */
#include "record.h"
#include "sandbox-init.h"
#include "shim.h"

#include <string.h>

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--sandbox-init") == 0)
        sandbox_init_main(argc, argv); /* inside a linux_sandbox; see sandbox-init.c */
    if (argc != 2) {
        msg("usage: execgo-shim <spec-path>");
        return 2;
    }
    return shim_main(argv[1]); /* diagnostics on stderr: Node gives it shim.log */
}
