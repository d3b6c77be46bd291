#include "spec.h"
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ~31 years: large enough for any real limit, small enough that deadline arithmetic cannot
 * overflow an int64_t of milliseconds. */
#define MAX_MS 1000000000000ull

static const char *spec_name; /* the path, or what the caller calls a spec from memory */

/* Reports a spec error; returns the exit status for it. */
__attribute__((format(printf, 1, 2))) static int spec_error(const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    msg("%s: %s", spec_name, text);
    return 2;
}

static bool parse_u64(const char *v, uint64_t max, uint64_t *out)
{
    uint64_t n = 0;
    if (*v == '\0')
        return false;
    for (; *v; v++) {
        uint64_t d = (uint64_t)(*v - '0');
        if (*v < '0' || *v > '9' || d > max || n > (max - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

/* Out of memory while reading the spec: nothing sensible is left to do. */
static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        msg("spec: out of memory");
        exit(1);
    }
    return p;
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = xcalloc(a + b + 2, 1);
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static int read_file(const char *path, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return spec_error("%s", strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = spec_error("%s", strerror(errno));
    } else if (!S_ISREG(st.st_mode) || st.st_size > SPEC_MAX_BYTES) {
        rc = spec_error("not a regular file of at most %u bytes", SPEC_MAX_BYTES);
    } else {
        *buf = xcalloc((size_t)st.st_size + 1, 1);
    }
    size_t got = 0;
    while (rc == 0 && got < (size_t)st.st_size) {
        ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) /* error, or the file shrank under us */
            rc = spec_error("%s", n < 0 ? strerror(errno) : "short read");
        else
            got += (size_t)n;
    }
    close(fd);
    *len = got;
    return rc;
}

/* Parses the len bytes at s->buf (ours: entries are split in place). */
static int parse(struct spec *s, size_t len)
{
    s->wall_ms = s->idle_ms = s->grace_ms = SPEC_UNSET;
    s->rlimit_cpu = s->rlimit_as = s->rlimit_fsize = SPEC_UNSET;
    uint64_t no_new_privs = SPEC_UNSET, durable = SPEC_UNSET;
    const char *signal_mode = NULL;

    if (len == 0 || s->buf[len - 1] != '\0')
        return spec_error("empty, or the last entry is not NUL-terminated");

    size_t entries = 0; /* upper bound for every repeatable key */
    for (size_t i = 0; i < len; i++)
        entries += s->buf[i] == '\0';
    s->argv = xcalloc(entries + 1, sizeof *s->argv);
    s->envp = xcalloc(entries + 1, sizeof *s->envp);
    s->cgroups = xcalloc(entries + 1, sizeof *s->cgroups);
    s->cg_procs = xcalloc(entries + 1, sizeof *s->cg_procs);
    s->cg_kill = xcalloc(entries + 1, sizeof *s->cg_kill);

    /* The keys given at most once: a string (str) or a bounded number (num). */
    const struct { const char *key; const char **str; uint64_t *num, max; } once[] = {
        {"task_id", &s->task_id, 0, 0}, {"exe", &s->exe, 0, 0}, {"cwd", &s->cwd, 0, 0},
        {"stdin", &s->stdin_path, 0, 0}, {"stdout", &s->stdout_path, 0, 0},
        {"stderr", &s->stderr_path, 0, 0}, {"start_record", &s->start_record, 0, 0},
        {"exit_record", &s->exit_record, 0, 0}, {"notify_dir", &s->notify_dir, 0, 0},
        {"signal_mode", &signal_mode, 0, 0},
        {"wall_ms", 0, &s->wall_ms, MAX_MS}, {"idle_ms", 0, &s->idle_ms, MAX_MS},
        {"grace_ms", 0, &s->grace_ms, MAX_MS}, {"rlimit_cpu", 0, &s->rlimit_cpu, MAX_MS},
        {"rlimit_as", 0, &s->rlimit_as, SPEC_UNSET - 1},
        {"rlimit_fsize", 0, &s->rlimit_fsize, SPEC_UNSET - 1},
        {"no_new_privs", 0, &no_new_privs, 1}, {"durable", 0, &durable, 1},
    };
    size_t argc = 0, envc = 0;
    for (char *e = s->buf, *next; e < s->buf + len; e = next) {
        next = e + strlen(e) + 1;
        char *eq = strchr(e, '=');
        if (eq == NULL)
            return spec_error("entry without '=': '%s'", e);
        *eq = '\0';
        const char *key = e, *val = eq + 1;
        if (strcmp(key, "arg") == 0) {
            s->argv[argc++] = eq + 1; /* val, writable for execve's char *const[] */
            continue;
        }
        if (strcmp(key, "env") == 0) {
            if (val[0] == '=' || strchr(val, '=') == NULL)
                return spec_error("env entry is not KEY=VALUE: '%s'", val);
            s->envp[envc++] = eq + 1;
            continue;
        }
        if (strcmp(key, "cgroup") == 0) {
            if (val[0] != '/')
                return spec_error("cgroup is not an absolute path: '%s'", val);
            size_t i = s->ncgroups++;
            s->cgroups[i] = eq + 1;
            s->cg_procs[i] = join(val, "cgroup.procs");
            s->cg_kill[i] = join(val, "cgroup.kill");
            continue;
        }
        size_t i = 0;
        while (i < sizeof once / sizeof once[0] && strcmp(key, once[i].key) != 0)
            i++;
        if (i == sizeof once / sizeof once[0]) /* the two sides must not silently drift apart */
            return spec_error("unknown key '%s'", key);
        if (once[i].str ? *once[i].str != NULL : *once[i].num != SPEC_UNSET)
            return spec_error("duplicate key '%s'", key);
        if (once[i].str)
            *once[i].str = val;
        else if (!parse_u64(val, once[i].max, once[i].num))
            return spec_error("%s: not a number in range: '%s'", key, val);
    }

    if (!s->task_id || !s->exe || argc == 0 || !s->start_record || !s->exit_record)
        return spec_error("task_id, exe, arg, start_record and exit_record are required");
    /* task_id becomes a file name in notify_dir */
    if (!*s->task_id || strchr(s->task_id, '/') || !strcmp(s->task_id, ".") ||
        !strcmp(s->task_id, ".."))
        return spec_error("task_id is not a valid file name: '%s'", s->task_id);
    if (!*s->exe || !*s->start_record || !*s->exit_record)
        return spec_error("exe, start_record and exit_record must not be empty");
    if (s->cwd && s->cwd[0] != '/')
        return spec_error("cwd is not an absolute path: '%s'", s->cwd);
    if (signal_mode && strcmp(signal_mode, "group") && strcmp(signal_mode, "cgroup"))
        return spec_error("signal_mode must be 'group' or 'cgroup'");
    s->signal_cgroup = signal_mode && !strcmp(signal_mode, "cgroup");
    if (s->signal_cgroup && s->ncgroups == 0)
        return spec_error("signal_mode=cgroup needs at least one cgroup");

    if (s->wall_ms == SPEC_UNSET)
        s->wall_ms = 0;
    if (s->idle_ms == SPEC_UNSET)
        s->idle_ms = 0;
    if (s->grace_ms == SPEC_UNSET)
        s->grace_ms = 5000;
    s->no_new_privs = no_new_privs == 1;
    s->durable = durable == 1;
    return 0;
}

int spec_load(struct spec *s, const char *path)
{
    memset(s, 0, sizeof *s);
    spec_name = path;
    size_t len = 0;
    int rc = read_file(path, &s->buf, &len);
    return rc != 0 ? rc : parse(s, len);
}

int spec_parse(struct spec *s, const char *name, const char *bytes, size_t len)
{
    memset(s, 0, sizeof *s);
    spec_name = name;
    if (len > SPEC_MAX_BYTES)
        return spec_error("more than %u bytes", SPEC_MAX_BYTES);
    s->buf = xcalloc(len + 1, 1); /* a copy: parse() writes into it, spec_free frees it */
    if (len > 0)
        memcpy(s->buf, bytes, len);
    return parse(s, len);
}

void spec_free(struct spec *s)
{
    for (size_t i = 0; i < s->ncgroups; i++) {
        free(s->cg_procs[i]);
        free(s->cg_kill[i]);
    }
    free(s->cg_procs);
    free(s->cg_kill);
    free(s->cgroups);
    free(s->envp);
    free(s->argv);
    free(s->buf);
    memset(s, 0, sizeof *s);
}
