/* The supervisor of one task (shim.c), shared by execgo-shim and execgo-spawner. */
#ifndef EXECGO_SHIM_H
#define EXECGO_SHIM_H

#include <stddef.h>

/* Supervises one task; stdin must be its gate. Returns the shim's exit status (the caller
 * exits with it; some failures exit directly). The spec is read from the file spec_path, or,
 * when spec_bytes is not NULL, parsed from those spec_len bytes (spec_path then only names
 * it in messages). Diagnostics go where msg() sends them (record.h). */
int shim_main(const char *spec_path, const char *spec_bytes, size_t spec_len);

#endif
