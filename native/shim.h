/* The supervisor of one task (shim.c), shared by execgo-shim and execgo-spawner. */
#ifndef EXECGO_SHIM_H
#define EXECGO_SHIM_H

#include <stddef.h>
#include <sys/types.h>

/* Both supervise one task and return the shim's exit status (the caller exits with it; some
 * failures exit directly). Diagnostics go where msg() sends them (record.h). */
/* The standalone shim: the spec from the file spec_path, then the gate byte 'G' on stdin. */
int shim_main(const char *spec_path);
/* A shim the spawner forked ahead of need (its pool): it waits for its launch message on
 * stdin, which is the spec and the opened gate at once (docs/shim-protocol.md). Before the
 * launch only signals from `server` cancel. */
int shim_pooled_main(pid_t server);

#endif
