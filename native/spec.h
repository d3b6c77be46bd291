/* The launch spec: what the server wants run, parsed from NUL-terminated key=value entries. */
#ifndef EXECGO_SPEC_H
#define EXECGO_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Numeric keys that were not given keep this value (it is above every accepted maximum). */
#define SPEC_UNSET UINT64_MAX
/* A spec is argv + env + a few paths; anything near this size is a bug on the server side. */
#define SPEC_MAX_BYTES (16u << 20)

struct spec {
    char *buf; /* our copy of the spec's bytes; every string below points into it */
    const char *task_id, *exe, *cwd, *stdin_path, *stdout_path, *stderr_path;
    const char *start_record, *exit_record, *notify_dir;
    char **argv, **envp;         /* NULL-terminated, ready for execve */
    char **cgroups;              /* cgroup directories */
    char **cg_procs, **cg_kill;  /* "<dir>/cgroup.procs", "<dir>/cgroup.kill", built up front */
    size_t ncgroups;
    uint64_t wall_ms, idle_ms, grace_ms;              /* 0 = no limit (grace: immediate) */
    uint64_t rlimit_cpu, rlimit_as, rlimit_fsize;     /* SPEC_UNSET = leave alone */
    bool no_new_privs, durable, signal_cgroup;
};

/* Both return 0, or 2 for a spec error / 1 for an internal error (message already given).
 * Whatever was allocated is reachable from *s and released by spec_free either way. */
/* Reads the spec from a file (the standalone shim). */
int spec_load(struct spec *s, const char *path);
/* Parses len bytes from memory (a spawner-started shim: the spec came over its pipe); name is
 * what messages call the spec. */
int spec_parse(struct spec *s, const char *name, const char *bytes, size_t len);
void spec_free(struct spec *s);

#endif
