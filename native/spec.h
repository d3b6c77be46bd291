/* The launch spec: what the server wants run, parsed from NUL-terminated key=value entries. */
#ifndef EXECGO_SPEC_H
#define EXECGO_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Numeric keys that were not given keep this value (it is above every accepted maximum). */
#define SPEC_UNSET UINT64_MAX

struct spec {
    char *buf; /* the file's bytes; every string below points into it */
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

/* Returns 0, or 2 for a spec error / 1 for an internal error (message already on stderr).
 * Whatever was allocated is reachable from *s and released by spec_free either way. */
int spec_load(struct spec *s, const char *path);
void spec_free(struct spec *s);

#endif
