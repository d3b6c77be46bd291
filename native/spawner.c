/* execgo-spawner: a small long-lived process that starts execgo-shim processes for the server,
 * so the (large) Node process never forks. See docs/performance.md, "The spawner".
 *
 *   execgo-spawner <shim-path>
 *
 * stdin carries requests from the server, stdout replies; stderr is for diagnostics. Each
 * request is one op byte followed by NUL-terminated fields:
 *   'S' id spec-path log-path   start a shim at its gate (stdin = a pipe we keep, stderr = log)
 *   'G' id                      open that gate (write 'G', close)
 *   'A' id                      abort it (close without 'G': the shim leaves no trace)
 * Replies are lines: "P id pid start-ticks" (started; the start time from /proc/<pid>/stat, read
 * before we can reap it, so it names this very process), "E id errno" (could not start),
 * "X pid code signal" (a shim we started exited; code or signal is -1).
 *
 * The gates are ours alone: when the server dies (EOF on stdin, or PR_SET_PDEATHSIG) we exit
 * and every gate that was not opened reads EOF, exactly as if the server had held the pipe.
 * Shims are not bound to us: they lead their own sessions and keep running when we exit. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

struct gate {
    unsigned long long id;
    pid_t pid;
    int fd;
};

static struct gate *gates;
static size_t ngates, capgates;
static char inbuf[65536];
static size_t inlen;
static const char *shim_path;
static sigset_t chld_set;

static void msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("execgo-spawner: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Writes one reply line; the server is gone if this fails, so we exit. */
static void reply(const char *fmt, ...)
{
    char line[128];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (int off = 0; off < len;) {
        ssize_t n = write(1, line + off, (size_t)(len - off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            exit(0);
        off += (int)n;
    }
}

static struct gate *find_gate(unsigned long long id)
{
    for (size_t i = 0; i < ngates; i++)
        if (gates[i].id == id)
            return &gates[i];
    return NULL;
}

static void drop_gate(struct gate *g)
{
    close(g->fd);
    *g = gates[--ngates];
}

static int add_gate(unsigned long long id, pid_t pid, int fd)
{
    if (ngates == capgates) {
        size_t cap = capgates ? capgates * 2 : 64;
        struct gate *grown = realloc(gates, cap * sizeof *grown);
        if (grown == NULL)
            return ENOMEM;
        gates = grown;
        capgates = cap;
    }
    gates[ngates++] = (struct gate){.id = id, .pid = pid, .fd = fd};
    return 0;
}

/* posix_spawn (vfork-like in glibc: no copy of our memory) with the gate pipe as stdin.
 * The cancel signals start blocked: the server may signal the shim as soon as it has recorded
 * the pid, before the shim reached main() and took them over with its signalfd, and the
 * default action would kill it without a record. Blocked, they wait for its signalfd. */
static int spawn_shim(const char *spec, const char *log, int gate_read, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t cancel, ignored;
    sigemptyset(&cancel);
    sigaddset(&cancel, SIGTERM);
    sigaddset(&cancel, SIGINT);
    sigaddset(&cancel, SIGUSR1);
    sigemptyset(&ignored); /* the only disposition we changed (one syscall, not 64) */
    sigaddset(&ignored, SIGPIPE);
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc != 0)
        return rc;
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    if ((rc = posix_spawn_file_actions_adddup2(&fa, gate_read, 0)) == 0 &&
        (rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)) == 0 &&
        (rc = posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_APPEND | O_CREAT,
                                               0640)) == 0 &&
        (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) ==
            0 &&
        (rc = posix_spawnattr_setsigmask(&attr, &cancel)) == 0 &&
        (rc = posix_spawnattr_setsigdefault(&attr, &ignored)) == 0) {
        char *argv[] = {(char *)shim_path, (char *)spec, NULL};
        char *envp[] = {NULL};
        rc = posix_spawn(pid, shim_path, &fa, &attr, argv, envp);
    }
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

/* Field 22 (starttime) of /proc/<pid>/stat, counted from the last ')'; -1 if unreadable. */
static long long read_start_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    for (int field = 2; p != NULL && field < 22; field++)
        p = strchr(p + 1, ' ');
    return p == NULL ? -1 : strtoll(p + 1, NULL, 10);
}

static void handle_start(unsigned long long id, const char *spec, const char *log)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        reply("E %llu %d\n", id, errno);
        return;
    }
    pid_t pid = 0;
    int rc = spawn_shim(spec, log, p[0], &pid);
    close(p[0]);
    if (rc == 0)
        rc = add_gate(id, pid, p[1]);
    if (rc != 0) {
        close(p[1]); /* a shim that did start reads EOF and leaves no trace */
        reply("E %llu %d\n", id, rc);
        return;
    }
    reply("P %llu %d %lld\n", id, (int)pid, read_start_ticks(pid));
}

static void handle_gate(unsigned long long id, bool open)
{
    struct gate *g = find_gate(id);
    if (g == NULL)
        return; /* the shim already exited (spec error): nothing to open */
    if (open && write(g->fd, "G", 1) != 1)
        msg("gate %llu: %s", id, strerror(errno)); /* EPIPE: it exited meanwhile */
    drop_gate(g);
}

/* Length of the NUL-terminated field at `at`, or -1 if it is not complete yet. */
static long field_end(size_t at)
{
    char *nul = at < inlen ? memchr(inbuf + at, '\0', inlen - at) : NULL;
    return nul == NULL ? -1 : (long)(nul - inbuf);
}

/* Handles the request at the start of inbuf; returns its length, 0 if incomplete. */
static size_t handle_request(void)
{
    const char op = inbuf[0];
    const int nfields = op == 'S' ? 3 : 1;
    const char *field[3] = {0};
    size_t at = 1;
    for (int i = 0; i < nfields; i++) {
        long end = field_end(at);
        if (end < 0)
            return 0;
        field[i] = inbuf + at;
        at = (size_t)end + 1;
    }
    char *rest;
    errno = 0;
    unsigned long long id = strtoull(field[0], &rest, 10);
    if (errno != 0 || *rest != '\0' || (op != 'S' && op != 'G' && op != 'A')) {
        msg("malformed request (op %d)", op);
        exit(2);
    }
    if (op == 'S')
        handle_start(id, field[1], field[2]);
    else
        handle_gate(id, op == 'G');
    return at;
}

/* Returns false on EOF: the server is gone. */
static bool read_requests(void)
{
    ssize_t n = read(0, inbuf + inlen, sizeof inbuf - inlen);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0)
        return false;
    inlen += (size_t)n;
    for (;;) {
        size_t used = inlen > 0 ? handle_request() : 0;
        if (used == 0)
            break;
        memmove(inbuf, inbuf + used, inlen - used);
        inlen -= used;
    }
    if (inlen == sizeof inbuf) {
        msg("request too long");
        exit(2);
    }
    return true;
}

static void reap_shims(int sigfd)
{
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof si) == sizeof si)
        ;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < ngates; i++)
            if (gates[i].pid == pid) {
                drop_gate(&gates[i]);
                break;
            }
        reply("X %d %d %d\n", (int)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
              WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        msg("usage: execgo-spawner <shim-path>");
        return 2;
    }
    shim_path = argv[1];
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent)
        return 0; /* the server is already gone */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return 1;
    sigemptyset(&chld_set);
    sigaddset(&chld_set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &chld_set, NULL) != 0)
        return 1;
    int sigfd = signalfd(-1, &chld_set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0)
        return 1;
    for (;;) {
        struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            msg("poll: %s", strerror(errno));
            return 1;
        }
        if (p[1].revents != 0)
            reap_shims(sigfd);
        if (p[0].revents != 0 && !read_requests())
            break;
    }
    /* Server gone: every unopened gate closes with us, so those shims leave no trace. */
    for (size_t i = 0; i < ngates; i++)
        close(gates[i].fd);
    free(gates);
    close(sigfd);
    return 0;
}
