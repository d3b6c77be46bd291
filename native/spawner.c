/* execgo-spawner: a small long-lived process that starts the shims for the server, so the
 * (large) Node process never forks. See docs/performance.md, "The spawner".
 *
 *   execgo-spawner
 *
 * A zygote: each shim is a fork of this process that runs the shim code linked in here
 * (shim_pooled_main, shim.c) without an execve, which saves the exec and dynamic loading per
 * task. The server keeps a few shims forked ahead of need (its pool): a launch then costs one
 * message and no round trip, and the fork happens while no task waits for it.
 *
 * stdin carries requests from the server, stdout replies; stderr is for diagnostics (a
 * pooled shim's too, until it knows its task's log). Each request is one op byte followed by
 * NUL-terminated fields:
 *   'F' id                        fork a shim that waits at its gate (stdin = a pipe we keep)
 *   'L' id log-path length spec   launch: pass "log-path NUL length NUL spec" through that
 *                                 shim's gate and close it; spec is `length` (decimal) raw
 *                                 bytes after the NUL of length (it is NUL-separated itself).
 *                                 The shim writes its diagnostics to log-path from then on,
 *                                 created on the first one.
 *   'A' id                        abort it (close the gate: the shim leaves no trace)
 *   'Q' id                        are you there? (answered "Q id" once every earlier request
 *                                 is done: the server's watchdog for a hung spawner)
 * Replies are lines: "P id pid start-ticks" (forked; the start time from /proc/<pid>/stat,
 * read before we can reap it, so it names this very process), "E id errno" (could not fork),
 * "X pid code signal" (a shim we started exited; code or signal is -1), "Q id".
 *
 * The gates are ours alone: when the server dies (EOF on stdin; PR_SET_PDEATHSIG sends SIGHUP
 * as a backstop) we first carry out every request it wrote before it died, then exit, and
 * every gate that was not opened reads EOF, exactly as if the server had held the pipe. The
 * server commits a gate's opening before it writes `L`, so an `L` already in our pipe is one
 * it meant: dying with it unread would fail a task whose program never ran (docs/recovery.md).
 * Shims are not bound to us: they lead their own sessions and keep running when we exit. */
#include "record.h"
#include "shim.h"
#include "spec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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

/* Requests are read into inbuf, grown for a large spec up to MAX_REQUEST (the spec plus room
 * for op, id, log path and length) and shrunk back to INBUF_MIN afterwards, so that every
 * later fork does not copy the page tables of a buffer we no longer need. */
#define INBUF_MIN (64u << 10)
#define MAX_REQUEST (SPEC_MAX_BYTES + (8u << 10))

static struct gate *gates;
static size_t ngates, capgates;
static char *inbuf;
static size_t inlen, incap;
static sigset_t wake_set, cancel_set;
static bool server_gone; /* replies cannot be delivered: no new shims, just drain and go */
static pid_t server_pid;  /* our parent while the server lives */
static int devnull; /* the shims' stdout and stderr, opened once */

static void spawner_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("execgo-spawner: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Writes one reply line. If that fails the server is gone: the requests it wrote before are
 * still carried out (see the top), so this only stops replying. */
static void reply(const char *fmt, ...)
{
    if (server_gone)
        return;
    char line[128];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (int off = 0; off < len;) {
        ssize_t n = write(1, line + off, (size_t)(len - off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            server_gone = true;
            return;
        }
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

/* The forked child: becomes a pooled shim, never returns into our loop. The gate is its
 * stdin, /dev/null its stdout; stderr stays ours until its launch names the task's log. The
 * shim closes every other fd it inherited from us (other gates, our pipes, our signalfd)
 * first thing. What else it inherits is what the shim expects: fork clears PR_SET_PDEATHSIG
 * (a shim must outlive us) and pending signals; SIGCHLD is blocked and SIGPIPE ignored, as
 * the shim sets them anyway; the cancel signals are blocked (see start_shim). */
static _Noreturn void run_shim(int gate)
{
    if (dup2(gate, 0) != 0 || dup2(devnull, 1) != 1)
        _exit(1); /* an internal failure before the gate: gone without a trace */
    /* exit, never back into our loop; our stdio has nothing buffered that could be written
     * twice (stderr is unbuffered, replies are write()s). */
    exit(shim_pooled_main(server_pid));
}

/* Forks a shim with the gate pipe as stdin. The cancel signals are blocked across the fork,
 * so they are blocked from the instant the child exists: the server may signal the shim as
 * soon as it has recorded the pid, before the shim took them over with its signalfd, and the
 * default action would kill it without a record. Blocked, they wait for its signalfd. */
static int start_shim(int gate, pid_t *pid)
{
    sigset_t old;
    if (sigprocmask(SIG_BLOCK, &cancel_set, &old) != 0)
        return errno;
    *pid = fork();
    if (*pid == 0)
        run_shim(gate);
    int err = errno;
    (void)sigprocmask(SIG_SETMASK, &old, NULL); /* cannot fail with valid arguments */
    return *pid < 0 ? err : 0;
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

static void handle_fork(unsigned long long id)
{
    if (server_gone)
        return; /* it could never learn the pid, so it never launches this shim */
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        reply("E %llu %d\n", id, errno);
        return;
    }
    pid_t pid = 0;
    int rc = start_shim(p[0], &pid);
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

/* Passes the launch through the gate, or only closes it (abort). The shim reads as we write,
 * so even a spec larger than the pipe goes through; if it exits meanwhile (EPIPE), its exit
 * reaches the server as X. */
static void handle_gate(unsigned long long id, const char *header, size_t header_len,
                        const char *spec, size_t len)
{
    struct gate *g = find_gate(id);
    if (g == NULL)
        return; /* the shim already exited: its X tells the server */
    if (header != NULL &&
        (write_all(g->fd, header, header_len) != 0 || write_all(g->fd, spec, len) != 0))
        spawner_msg("gate %llu: %s", id, strerror(errno));
    drop_gate(g);
}

/* Parses a decimal number that must take the whole field and be at most max. */
static bool parse_number(const char *field, unsigned long long max, unsigned long long *out)
{
    char *rest;
    errno = 0;
    *out = strtoull(field, &rest, 10);
    return *field >= '0' && *field <= '9' && errno == 0 && *rest == '\0' && *out <= max;
}

static _Noreturn void malformed(char op)
{
    spawner_msg("malformed request (op %d)", op);
    exit(2);
}

/* Handles the request at req (avail bytes read so far); returns its length, 0 if incomplete. */
static size_t handle_request(const char *req, size_t avail)
{
    const char op = req[0];
    const int nfields = op == 'L' ? 3 : 1;
    const char *field[3] = {0};
    size_t at = 1;
    for (int i = 0; i < nfields; i++) {
        const char *nul = at < avail ? memchr(req + at, '\0', avail - at) : NULL;
        if (nul == NULL)
            return 0;
        field[i] = req + at;
        at = (size_t)(nul - req) + 1;
    }
    unsigned long long id, len = 0;
    if ((op != 'F' && op != 'L' && op != 'A' && op != 'Q') || !parse_number(field[0], ~0ULL, &id) ||
        (op == 'L' && !parse_number(field[2], SPEC_MAX_BYTES, &len)))
        malformed(op);
    if (op == 'F')
        handle_fork(id);
    else if (op == 'A')
        handle_gate(id, NULL, 0, NULL, 0);
    else if (op == 'Q')
        reply("Q %llu\n", id);
    else if (avail - at < len)
        return 0; /* the spec is still on its way */
    else {
        /* The shim's launch message is this request's log-path and length fields, as sent. */
        handle_gate(id, field[1], (size_t)(req + at - field[1]), req + at, (size_t)len);
        at += (size_t)len;
    }
    return at;
}

static void resize_inbuf(size_t cap)
{
    char *grown = realloc(inbuf, cap);
    if (grown == NULL) {
        spawner_msg("out of memory for a request of %zu bytes", cap);
        exit(1);
    }
    inbuf = grown;
    incap = cap;
}

/* Returns false on EOF: the server is gone. */
static bool read_requests(void)
{
    if (inlen == incap) {
        if (incap >= MAX_REQUEST) {
            spawner_msg("request too long");
            exit(2);
        }
        resize_inbuf(incap * 2 < MAX_REQUEST ? incap * 2 : MAX_REQUEST);
    }
    ssize_t n = read(0, inbuf + inlen, incap - inlen);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0)
        return false;
    inlen += (size_t)n;
    size_t done = 0, used;
    while (done < inlen && (used = handle_request(inbuf + done, inlen - done)) > 0)
        done += used;
    memmove(inbuf, inbuf + done, inlen - done);
    inlen -= done;
    if (incap > INBUF_MIN && inlen <= INBUF_MIN)
        resize_inbuf(INBUF_MIN);
    return true;
}

static void reap_shims(int sigfd)
{
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof si) == sizeof si)
        if (si.ssi_signo == SIGHUP && getppid() != server_pid)
            server_gone = true; /* PR_SET_PDEATHSIG; a stray SIGHUP (a hangup) changes nothing */
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
    (void)argv;
    if (argc != 1) {
        spawner_msg("usage: execgo-spawner (requests on stdin)");
        return 2;
    }
    server_pid = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGHUP, 0, 0, 0) != 0 || getppid() != server_pid)
        return 0; /* the server is already gone */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return 1;
    sigemptyset(&cancel_set);
    sigaddset(&cancel_set, SIGTERM);
    sigaddset(&cancel_set, SIGINT);
    sigaddset(&cancel_set, SIGUSR1);
    sigemptyset(&wake_set);
    sigaddset(&wake_set, SIGCHLD);
    sigaddset(&wake_set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &wake_set, NULL) != 0)
        return 1;
    int sigfd = signalfd(-1, &wake_set, SFD_NONBLOCK | SFD_CLOEXEC);
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (sigfd < 0 || devnull < 0)
        return 1;
    resize_inbuf(INBUF_MIN);
    for (;;) {
        struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
        /* Once the server is gone, what it wrote is all there is: stop when nothing is left
         * (EOF, or no data at all should someone else still hold our stdin). */
        int ready = poll(p, 2, server_gone ? 0 : -1);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            spawner_msg("poll: %s", strerror(errno));
            return 1;
        }
        if (ready == 0)
            break;
        if (p[1].revents != 0)
            reap_shims(sigfd);
        if (p[0].revents != 0 && !read_requests())
            break;
    }
    /* Server gone: every unopened gate closes with us, so those shims leave no trace. */
    for (size_t i = 0; i < ngates; i++)
        close(gates[i].fd);
    free(gates);
    free(inbuf);
    close(devnull);
    close(sigfd);
    return 0;
}
