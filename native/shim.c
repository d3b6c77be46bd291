/*
 * The supervisor of exactly one task: shim_main() below, run by the standalone execgo-shim
 * (shim-main.c), and shim_pooled_main(), run by every child of execgo-spawner (spawner.c).
 * The contract with the server is docs/shim-protocol.md; this file follows it section by
 * section.
 */
#include "shim.h"
#include "record.h"
#include "spec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h> /* CGROUP2_SUPER_MAGIC */
#include <linux/sched.h> /* struct clone_args, CLONE_INTO_CGROUP */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Bound on each cleanup phase, so a process stuck in D state cannot hold back the exit record. */
#define CLEANUP_MS 2000

enum reason { R_EXITED, R_TIMEOUT, R_IDLE, R_CANCELLED };
static const char *const reason_names[] = {"exited", "timeout", "idle_timeout", "cancelled"};

/* Launch error stages; the child sends one with its errno over a close-on-exec pipe. */
enum stage {
    ST_SETSID,
    ST_CGROUP,
    ST_RLIMIT,
    ST_STDIO,
    ST_CHDIR,
    ST_PRCTL,
    ST_EXEC,
    ST_SHIM,
    ST_RECORDS /* the shim's own: no room for the start and exit records */
};
static const char *const stage_names[] = {"setsid", "cgroup", "rlimit", "stdio",  "chdir",
                                          "prctl",  "exec",   "shim",   "records"};
struct launch_error {
    int stage, err;
};

static struct spec spec;
static int sigfd = -1;
/* A pooled shim's server: before its launch, only this process's signals cancel (below). */
static pid_t pool_owner;
static int task_fd[3] = {-1, -1, -1}; /* the task's stdin, stdout, stderr */
static const char *search_path;       /* PATH of the task env, for a bare exe */
static char *path_buf;                /* room for the longest PATH candidate */

static struct {
    bool gate_open;      /* records may be written from here on */
    bool exit_written;
    pid_t pid;           /* main child */
    bool started;        /* its exec succeeded */
    int64_t started_ms, start_mono;
    enum reason reason;
    bool term_sent, forced_kill;
    int64_t term_sent_ms, kill_at_mono;
    bool exited;
    int status;
    struct rusage ru;
    int64_t finished_ms;
} t;

static int write_exit_record(const char *reason, int stage, int err);

/* The exit and start records' temp files, made with room reserved when the gate opens
 * (rec_prepare), before the program exists: a disk that fills up while the program runs
 * cannot cost the task its records, and on a disk already full the program never starts. */
static int exit_fd = -1;
static int start_fd = -1;
static void kill_task(void);

/* A start record reserved but never written (the launch failed): its temp file goes. */
static void drop_start_reservation(void)
{
    char tmp[PATH_MAX];
    if (start_fd < 0)
        return;
    close(start_fd);
    start_fd = -1;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", spec.start_record) < (int)sizeof tmp)
        (void)unlink(tmp);
}

/* Internal failure: say why, stop the task, still leave an exit record if we may. */
static _Noreturn void die(const char *what)
{
    int err = errno;
    msg("%s: %s", what, strerror(err));
    if (t.started && !t.exited)
        kill_task();
    drop_start_reservation();
    if (t.gate_open && !t.exit_written)
        (void)write_exit_record("launch_failed", ST_SHIM, err);
    exit(1);
}

static int write_exit_record(const char *reason, int stage, int err)
{
    struct rec r = {0};
    rec_line(&r, "version=1");
    rec_line(&r, "reason=%s", reason);
    if (t.started)
        rec_line(&r, "pid=%d\npgid=%d\nstarted_at_ms=%lld", (int)t.pid, (int)t.pid,
                 (long long)t.started_ms);
    rec_line(&r, "finished_at_ms=%lld",
             (long long)(t.finished_ms ? t.finished_ms : now_ms(CLOCK_REALTIME)));
    if (t.exited && WIFEXITED(t.status))
        rec_line(&r, "exit_code=%d", WEXITSTATUS(t.status));
    if (t.exited && WIFSIGNALED(t.status))
        rec_line(&r, "exit_signal=%d", WTERMSIG(t.status));
    if (t.term_sent)
        rec_line(&r, "term_sent_at_ms=%lld\nforced_kill=%d", (long long)t.term_sent_ms,
                 t.forced_kill);
    if (t.exited)
        rec_line(&r, "user_cpu_us=%lld\nsystem_cpu_us=%lld\nmax_rss_kb=%ld",
                 (long long)t.ru.ru_utime.tv_sec * 1000000 + t.ru.ru_utime.tv_usec,
                 (long long)t.ru.ru_stime.tv_sec * 1000000 + t.ru.ru_stime.tv_usec,
                 t.ru.ru_maxrss);
    if (stage >= 0)
        rec_line(&r, "launch_error_stage=%s\nlaunch_errno=%d\nlaunch_error=%s",
                 stage_names[stage], err, strerror(err));
    t.exit_written = true; /* one attempt only: die() must not retry a failed write */
    int fd = exit_fd;
    exit_fd = -1;
    if (rec_write_prepared(fd, spec.exit_record, &r, spec.durable) != 0)
        return -1;
    return notify(spec.notify_dir, spec.task_id, "exited");
}

/* ---- Signals and reaping ---------------------------------------------------------------- */

/* Reads all pending signals; true if one was a cancel request (SIGTERM, SIGINT, SIGUSR1).
 * SIGCHLD only wakes us up: reap() asks the kernel what actually exited. */
static bool drain_signals(void)
{
    bool cancel = false;
    struct signalfd_siginfo si;
    for (;;) {
        ssize_t n = read(sigfd, &si, sizeof si);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return cancel;
        if (n != (ssize_t)sizeof si)
            die("read signalfd");
        if (si.ssi_signo == SIGCHLD)
            continue;
        if (!t.gate_open && pool_owner > 0 && (pid_t)si.ssi_pid != pool_owner) {
            msg("pooled: ignoring signal %u from pid %u (only the server cancels a task)",
                si.ssi_signo, si.ssi_pid);
            continue;
        }
        cancel = true;
    }
}

/* Sleeps until a signal arrives or timeout_ms (-1 = no timeout) passes. */
static bool wait_signals(int64_t timeout_ms)
{
    struct pollfd p = {.fd = sigfd, .events = POLLIN};
    int timeout = timeout_ms < 0 ? -1 : timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms;
    if (poll(&p, 1, timeout) < 0 && errno != EINTR)
        die("poll");
    return drain_signals();
}

/* Reaps every exited child without blocking, keeping the main child's status and rusage.
 * One wait4(-1) loop for all: a separate wait on the main child could lose the race.
 * Returns false once there are no children left at all. */
static bool reap(void)
{
    for (;;) {
        int status;
        struct rusage ru;
        pid_t p = wait4(-1, &status, WNOHANG, &ru);
        if (p > 0 && p == t.pid && t.started && !t.exited) {
            t.exited = true;
            t.status = status;
            t.ru = ru;
            t.finished_ms = now_ms(CLOCK_REALTIME);
        }
        if (p > 0 || (p < 0 && errno == EINTR))
            continue;
        if (p == 0)
            return true;
        if (errno == ECHILD)
            return false;
        die("wait4");
    }
}

/* ---- Killing ------------------------------------------------------------------------------- */

/* The guards here are the last line of defence against signalling init, ourselves, or our own
 * process group if a pid ever came out wrong. */
static void kill_pid(pid_t pid, int sig)
{
    if (pid > 1 && pid != getpid() && kill(pid, sig) != 0 && errno != ESRCH)
        msg("kill %d: %s", (int)pid, strerror(errno));
}

static void kill_group(int sig)
{
    pid_t pgid = t.pid; /* the child called setsid(): its pgid is its pid */
    if (pgid > 1 && pgid != getpgrp() && kill(-pgid, sig) != 0 && errno != ESRCH)
        msg("kill -%d: %s", (int)pgid, strerror(errno));
}

/* Sends sig to every pid listed in a file (cgroup.procs, /proc/.../children).
 * Returns how many pids were listed, or -1 if the file cannot be read. */
static int signal_listed(const char *path, int sig)
{
    FILE *f = fopen(path, "re"); /* stdio is fine for reading; records never use it */
    if (f == NULL)
        return -1;
    int count = 0, pid;
    for (; fscanf(f, "%d", &pid) == 1; count++)
        kill_pid(pid, sig);
    bool failed = ferror(f);
    fclose(f);
    return failed ? -1 : count;
}

/* Pids already sent the graceful stop, sorted (see term_cgroups). */
static struct {
    pid_t *pids;
    size_t len, cap;
} termed;

/* Adds pid to termed; false if it was there already (or there is no memory for it). */
static bool add_termed(pid_t pid)
{
    size_t lo = 0, hi = termed.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (termed.pids[mid] == pid)
            return false;
        if (termed.pids[mid] < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (termed.len == termed.cap) {
        size_t cap = termed.cap == 0 ? 64 : termed.cap * 2;
        pid_t *grown = realloc(termed.pids, cap * sizeof *grown);
        if (grown == NULL)
            return false; /* it still gets SIGKILL when the grace runs out */
        termed.pids = grown;
        termed.cap = cap;
    }
    memmove(termed.pids + lo + 1, termed.pids + lo, (termed.len - lo) * sizeof(pid_t));
    termed.pids[lo] = pid;
    termed.len++;
    return true;
}

/* SIGTERM, then SIGCONT so that a stopped process can act on it, to each pid listed in a
 * cgroup.procs but skip that has not had them yet. Returns how many were new. */
static size_t term_new_listed(const char *path, pid_t skip)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    size_t added = 0;
    int pid;
    while (fscanf(f, "%d", &pid) == 1)
        if (pid != skip && add_termed(pid)) {
            kill_pid(pid, SIGTERM);
            kill_pid(pid, SIGCONT);
            added++;
        }
    fclose(f);
    return added;
}

/* Bounds the passes below when the tree keeps forking; the grace's SIGKILL ends it anyway. */
#define TERM_PASSES 8

/*
 * The graceful stop of a sandboxed task: every process of its cgroups but the sandbox wrapper
 * (which would not forward it). Unlike kill(-pgid), a listing is not atomic against fork: a
 * child forked after the read would never see it, and a shell waiting for that child runs its
 * trap only when the child ends, past the grace. So, like systemd's cg_kill, read again until
 * a pass finds no one new. A child forked after the last pass still misses it (isolation.md).
 */
static void term_cgroups(void)
{
    for (int pass = 0; pass < TERM_PASSES; pass++) {
        size_t added = 0;
        for (size_t i = 0; i < spec.ncgroups; i++) /* a pid is in every hierarchy: once */
            added += term_new_listed(spec.cg_procs[i], t.pid);
        if (added == 0)
            break;
    }
}

/* Writes a short value to a control file; -1 with errno on failure. */
static int write_file(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, value, strlen(value));
    int err = errno;
    if (close(fd) != 0 && rc == 0)
        return -1;
    errno = err;
    return rc;
}

/* cgroup.kill (cgroup v2, Linux >= 5.14) kills atomically, even processes forking right now;
 * without it, SIGKILL each listed pid. */
static void kill_cgroup(size_t i)
{
    if (write_file(spec.cg_kill[i], "1") != 0)
        (void)signal_listed(spec.cg_procs[i], SIGKILL);
}

/* SIGKILL to everything the task consists of. */
static void kill_task(void)
{
    kill_group(SIGKILL);
    for (size_t i = 0; i < spec.ncgroups; i++)
        kill_cgroup(i);
}

/* Starts termination for the first reason seen; later reasons are ignored. */
static void terminate(enum reason why)
{
    t.reason = why;
    t.term_sent = true;
    t.term_sent_ms = now_ms(CLOCK_REALTIME);
    t.kill_at_mono = now_ms(CLOCK_MONOTONIC) + (int64_t)spec.grace_ms;
    if (spec.signal_cgroup) {
        term_cgroups();
    } else {
        kill_group(SIGTERM);
        kill_group(SIGCONT); /* so that stopped processes can act on the SIGTERM */
    }
}

/* After the main child exited: kill and reap whatever it left behind. */
static void clean_up(void)
{
    kill_group(SIGKILL);
    for (size_t i = 0; i < spec.ncgroups; i++) {
        /* Usually the main child was all there was: an empty cgroup needs no cgroup.kill (a
         * write that takes the kernel's global cgroup mutex). Nothing can enter an empty
         * cgroup except by a fork of a member, so empty now means empty for good. */
        if (signal_listed(spec.cg_procs[i], SIGKILL) == 0)
            continue;
        int64_t end = now_ms(CLOCK_MONOTONIC) + CLEANUP_MS;
        kill_cgroup(i);
        /* Listed until reaped: loop until the cgroup is empty, reaping our own share. */
        while (signal_listed(spec.cg_procs[i], SIGKILL) > 0) {
            (void)reap();
            if (now_ms(CLOCK_MONOTONIC) >= end) {
                msg("%s: processes remain after %d ms", spec.cgroups[i], CLEANUP_MS);
                break;
            }
            (void)wait_signals(10);
        }
    }
    /* As a subreaper we inherit every orphaned descendant, including ones that escaped the
     * process group with setsid(): kill our children until there are none. Their own
     * children are then reparented to us and killed in the next round. */
    char children[64];
    snprintf(children, sizeof children, "/proc/self/task/%d/children", (int)getpid());
    int64_t end = now_ms(CLOCK_MONOTONIC) + CLEANUP_MS;
    while (reap()) {
        if (now_ms(CLOCK_MONOTONIC) >= end) {
            msg("descendants remain after %d ms", CLEANUP_MS);
            return;
        }
        if (signal_listed(children, SIGKILL) < 0) {
            msg("%s: %s (needs CONFIG_PROC_CHILDREN)", children, strerror(errno));
            return;
        }
        (void)wait_signals(50);
    }
}

/* ---- Launch -------------------------------------------------------------------------------- */

static _Noreturn void child_fail(int errfd, enum stage stage)
{
    struct launch_error e = {stage, errno};
    if (write(errfd, &e, sizeof e) != (ssize_t)sizeof e)
        _exit(126); /* the shim then sees a clean EOF and a dead child */
    _exit(127);
}

/* execvp() over the task's PATH, not ours, and without malloc (we are in a forked child). */
static void exec_program(void)
{
    if (strchr(spec.exe, '/') != NULL) {
        execve(spec.exe, spec.argv, spec.envp);
        return;
    }
    size_t exe_len = strlen(spec.exe);
    bool eacces = false;
    for (const char *dir = search_path;; dir++) {
        size_t n = strcspn(dir, ":"), len = n;
        memcpy(path_buf, dir, n);
        if (n > 0) /* an empty element means the current directory */
            path_buf[len++] = '/';
        memcpy(path_buf + len, spec.exe, exe_len + 1);
        execve(path_buf, spec.argv, spec.envp);
        if (errno == EACCES)
            eacces = true; /* keep looking; report it only if nothing better turns up */
        else if (errno != ENOENT && errno != ENOTDIR)
            return;
        dir += n; /* at the ':' or the final NUL */
        if (*dir == '\0')
            break;
    }
    errno = eacces ? EACCES : ENOENT;
}

/* Between fork (or raw clone3, after which not even glibc's fork bookkeeping ran) and exec:
 * raw async-signal-safe syscalls only, everything was prepared before. `joined` is the index
 * of the cgroup the child was born in, or spec.ncgroups if none. */
static _Noreturn void child(int errfd, size_t joined)
{
    /* First: "I ran", so that the shim can tell a child the kernel killed at birth (see
     * start_child) from one that exec'd. */
    if (write(errfd, "R", 1) != 1)
        _exit(126); /* cannot happen (a fresh pipe has room); the shim sees a dead child */
    if (setsid() < 0)
        child_fail(errfd, ST_SETSID);
    for (size_t i = 0; i < spec.ncgroups; i++)
        if (i != joined && write_file(spec.cg_procs[i], "0") != 0)
            child_fail(errfd, ST_CGROUP);
    struct rlimit core = {0, 0}; /* crashing tasks must not fill the disk */
    struct rlimit cpu = {spec.rlimit_cpu, spec.rlimit_cpu + 1}; /* SIGXCPU, then SIGKILL */
    struct rlimit as = {spec.rlimit_as, spec.rlimit_as};
    struct rlimit fsize = {spec.rlimit_fsize, spec.rlimit_fsize};
    if (setrlimit(RLIMIT_CORE, &core) != 0 ||
        (spec.rlimit_cpu != SPEC_UNSET && setrlimit(RLIMIT_CPU, &cpu) != 0) ||
        (spec.rlimit_as != SPEC_UNSET && setrlimit(RLIMIT_AS, &as) != 0) ||
        (spec.rlimit_fsize != SPEC_UNSET && setrlimit(RLIMIT_FSIZE, &fsize) != 0))
        child_fail(errfd, ST_RLIMIT);
    for (int fd = 0; fd < 3; fd++)
        if (dup2(task_fd[fd], fd) < 0) /* the originals are close-on-exec */
            child_fail(errfd, ST_STDIO);
    if (spec.cwd && chdir(spec.cwd) != 0)
        child_fail(errfd, ST_CHDIR);
    /* Our ignored SIGHUP/SIGPIPE and blocked mask would otherwise survive the exec. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        (void)sigaction(sig, &dfl, NULL); /* fails only for SIGKILL/SIGSTOP/libc-internal */
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL); /* cannot fail with valid arguments */
    if (spec.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        child_fail(errfd, ST_PRCTL);
    exec_program();
    child_fail(errfd, ST_EXEC);
}

/* A launch failure is a normal outcome for the shim: exit record, notify, exit 0. */
/* Exit status of a shim that found no room for its records and could not even write its exit
 * record: the program never started. The server reads it from the spawner's X reply. */
#define EXIT_NO_ROOM 3

/* The program never ran: a failed task without pid, said by the exit record or, when even
 * that cannot be written for want of room, by the exit status. */
static _Noreturn void launch_failed(enum stage stage, int err)
{
    drop_start_reservation();
    t.finished_ms = now_ms(CLOCK_REALTIME);
    if (write_exit_record("launch_failed", stage, err) == 0)
        exit(0);
    exit(stage == ST_RECORDS ? EXIT_NO_ROOM : 1);
}

/* The first cgroup dir on cgroup2, opened for clone3(CLONE_INTO_CGROUP), with its index in
 * *index; -1 if there is none or it cannot be opened (the child's cgroup.procs write then
 * fails with the reason, as without clone3). */
static int open_cgroup2(size_t *index)
{
    for (size_t i = 0; i < spec.ncgroups; i++) {
        struct statfs fs;
        if (statfs(spec.cgroups[i], &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC)
            continue;
        *index = i;
        return open(spec.cgroups[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    return -1;
}

/* fork(), but with the child born in the cgroup2 dir cgfd (if >= 0): a migration through
 * cgroup.procs takes the global cgroup_threadgroup_rwsem for writing (an RCU grace period),
 * clone3(CLONE_INTO_CGROUP) does not (docs/performance.md). *joined tells whether it worked.
 * A kernel without it (< 5.7, or a cgroup it will not clone into) gets the plain fork, and
 * the child writes cgroup.procs; any other clone3 error is the launch failure. */
static pid_t fork_into(int cgfd, bool *joined)
{
    *joined = false;
    if (cgfd >= 0) {
        struct clone_args args = {
            .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cgfd};
        long pid = syscall(SYS_clone3, &args, sizeof args); /* no stack: fork semantics */
        if (pid >= 0) {
            *joined = true;
            return (pid_t)pid;
        }
        if (errno != ENOSYS && errno != E2BIG && errno != EINVAL && errno != EOPNOTSUPP)
            launch_failed(ST_CGROUP, errno); /* EBUSY, EACCES, EAGAIN at pids.max, ... */
    }
    return fork();
}

static void wait_child(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* Starts the child and waits until it has exec'd (EOF on the close-on-exec pipe, after its
 * first byte) or failed (*failed, the reason in *e). Returns its pid, or 0 (reaped) if a child
 * born by clone3 was killed before it ran: some kernels (6.18 here) SIGKILL a
 * CLONE_INTO_CGROUP child at birth when cgroup.kill was used on its cgroup and not on ours
 * (or the other way round); the program would never start, reported as killed by SIGKILL.
 * A child forked in place that dies so early was killed by someone: the exit says so. */
static pid_t start_child(int cgfd, size_t cg2, bool *failed, struct launch_error *e)
{
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0)
        die("pipe2");
    bool joined;
    pid_t pid = fork_into(cgfd, &joined);
    if (pid == 0) {
        close(errpipe[0]);
        child(errpipe[1], joined ? cg2 : spec.ncgroups);
    }
    if (pid < 0)
        die("fork");
    close(errpipe[1]);

    char buf[1 + sizeof *e]; /* "R", then a launch_error if it failed */
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t n = read(errpipe[0], buf + got, sizeof buf - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read launch pipe");
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(errpipe[0]);
    *failed = got > 1;
    if (got == 0 && joined) {
        wait_child(pid);
        return 0;
    }
    if (*failed) {
        wait_child(pid);
        memcpy(e, buf + 1, sizeof *e);
        if (got != sizeof buf || e->stage < 0 || e->stage > ST_EXEC) {
            errno = EPROTO;
            die("launch pipe");
        }
    }
    return pid;
}

/* Reserves room for a record; a file system that cannot reserve (no fallocate) is let be. */
static int reserve_record(const char *path)
{
    int fd = rec_prepare(path);
    if (fd < 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
        int err = errno;
        msg("%s: %s", path, strerror(err));
        launch_failed(ST_RECORDS, err);
    }
    return fd;
}

static void launch(void)
{
    exit_fd = reserve_record(spec.exit_record);
    start_fd = reserve_record(spec.start_record);
    /* Opened here, not in the child: the shim needs the log fds for idle detection and
     * fsync, and they are inherited through dup2 in the child. */
    const char *paths[3] = {spec.stdin_path ? spec.stdin_path : "/dev/null",
                            spec.stdout_path ? spec.stdout_path : "/dev/null",
                            spec.stderr_path ? spec.stderr_path : "/dev/null"};
    for (int i = 0; i < 3; i++) {
        int flags = i == 0 ? O_RDONLY : O_WRONLY | O_APPEND | O_CREAT;
        task_fd[i] = open(paths[i], flags | O_CLOEXEC, 0640);
        if (task_fd[i] < 0) {
            int err = errno;
            msg("%s: %s", paths[i], strerror(err));
            launch_failed(ST_STDIO, err);
        }
    }

    search_path = "/usr/local/bin:/usr/bin:/bin";
    for (char **e = spec.envp; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0) { /* the first one is what getenv() would see */
            search_path = *e + 5;
            break;
        }
    path_buf = malloc(strlen(search_path) + strlen(spec.exe) + 2);
    if (path_buf == NULL)
        die("malloc");

    size_t cg2 = spec.ncgroups;
    int cgfd = open_cgroup2(&cg2);
    bool failed;
    struct launch_error e;
    pid_t pid = start_child(cgfd, cg2, &failed, &e);
    if (pid == 0) /* killed at birth in its cgroup2 dir: join it the slow way instead */
        pid = start_child(-1, cg2, &failed, &e);
    if (cgfd >= 0)
        close(cgfd);
    free(path_buf);
    path_buf = NULL;
    if (failed)
        launch_failed((enum stage)e.stage, e.err);
    t.pid = pid;
    t.started = true;
    t.started_ms = now_ms(CLOCK_REALTIME);
    t.start_mono = now_ms(CLOCK_MONOTONIC);
}

/* ---- Supervision --------------------------------------------------------------------------- */

static int64_t log_size(void)
{
    struct stat out, err;
    if (fstat(task_fd[1], &out) != 0 || fstat(task_fd[2], &err) != 0)
        die("fstat log");
    return (int64_t)out.st_size + (int64_t)err.st_size;
}

static int64_t min_deadline(int64_t a, int64_t b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static void supervise(void)
{
    const int64_t wall_at = spec.wall_ms ? t.start_mono + (int64_t)spec.wall_ms : -1;
    const int64_t idle_ms = (int64_t)spec.idle_ms;
    /* Polling log sizes is cheap, but only worth it a few times per idle period. */
    const int64_t tick = idle_ms / 4 < 1 ? 1 : idle_ms / 4 > 250 ? 250 : idle_ms / 4;
    int64_t last_size = idle_ms ? log_size() : 0;
    int64_t last_growth = t.start_mono, next_check = t.start_mono + tick;

    while (!t.exited) {
        int64_t now = now_ms(CLOCK_MONOTONIC);
        if (!t.term_sent && wall_at >= 0 && now >= wall_at)
            terminate(R_TIMEOUT);
        if (!t.term_sent && idle_ms && now >= next_check) {
            int64_t size = log_size();
            if (size != last_size) {
                last_size = size;
                last_growth = now;
            }
            next_check = now + tick;
            if (now - last_growth >= idle_ms)
                terminate(R_IDLE);
        }
        if (t.term_sent && !t.forced_kill && now >= t.kill_at_mono) {
            kill_task();
            t.forced_kill = true; /* the grace period ran out */
        }

        int64_t wake = -1;
        if (!t.term_sent)
            wake = min_deadline(wall_at, idle_ms ? next_check : -1);
        else if (!t.forced_kill)
            wake = t.kill_at_mono;
        bool cancel = wait_signals(wake < 0 ? -1 : wake > now ? wake - now : 0);
        (void)reap(); /* first: an exit that raced with a cancel request wins */
        if (cancel && !t.term_sent && !t.exited)
            terminate(R_CANCELLED);
    }
}

/* ---- Main ---------------------------------------------------------------------------------- */

static void setup_process(void)
{
    /* First, before any message can open a lazy log (msg_to_file) that this would close.
     * A spawner child holds every fd of the spawner here, other shims' gates included. */
    if (close_range(3, ~0U, 0) != 0) /* Linux < 5.9: close what could be open */
        for (long fd = 3, max = sysconf(_SC_OPEN_MAX); fd < max && fd < 1L << 20; fd++)
            (void)close((int)fd);
    /* 0-2 must be taken, or later opens would land there and dup2 in the child would clash. */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
            die("open /dev/null");
    /* Own session: signals to the server's group or session do not reach us. EPERM means
     * we already lead a group (e.g. spawned detached), which is just as good. */
    if (setsid() < 0 && getpgrp() != getpid())
        msg("setsid: %s", strerror(errno));

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    /* An inherited SIG_IGN for SIGCHLD would make the kernel reap the child for us. */
    if (signal(SIGCHLD, SIG_DFL) == SIG_ERR || signal(SIGHUP, SIG_IGN) == SIG_ERR ||
        signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        die("signal");
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        die("sigprocmask");
    sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0)
        die("signalfd");
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        die("prctl(PR_SET_CHILD_SUBREAPER)");
}

/* Waits until stdin (the gate) is readable; a cancel request that arrives meanwhile is
 * remembered. */
static void wait_gate(bool *cancelled)
{
    for (;;) {
        struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll gate");
        }
        if (drain_signals())
            *cancelled = true;
        if (p[0].revents != 0)
            return;
    }
}

/* True only for 'G'. */
static bool read_gate(bool *cancelled)
{
    for (;;) {
        wait_gate(cancelled);
        char c;
        ssize_t n = read(0, &c, 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        return n == 1 && c == 'G'; /* EOF, a read error or another byte: leave no trace */
    }
}

/* A pooled shim's launch message (docs/shim-protocol.md): "log-path NUL length NUL" and
 * `length` bytes of spec. */
#define LAUNCH_HEADER_MAX (PATH_MAX + 32)
#define LAUNCH_MAX (LAUNCH_HEADER_MAX + SPEC_MAX_BYTES)
struct launch_msg {
    char *buf;
    const char *log, *spec;
    size_t spec_len;
};

/* Sets complete once the len bytes in buf hold the whole message; false if they are garbled. */
static bool parse_launch(struct launch_msg *m, size_t len, bool *complete)
{
    *complete = false;
    char *nul1 = memchr(m->buf, '\0', len);
    char *nul2 = nul1 ? memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - m->buf)) : NULL;
    if (nul2 == NULL)
        return len < LAUNCH_HEADER_MAX; /* the header is still on its way, unless too long */
    char *rest;
    errno = 0;
    unsigned long long n = strtoull(nul1 + 1, &rest, 10);
    if (nul1[1] < '0' || nul1[1] > '9' || errno != 0 || rest != nul2 || n > SPEC_MAX_BYTES)
        return false;
    size_t header = (size_t)(nul2 + 1 - m->buf);
    m->log = m->buf;
    m->spec = nul2 + 1;
    m->spec_len = (size_t)n;
    *complete = len - header >= (size_t)n;
    return len - header <= (size_t)n; /* nothing may follow: the spawner closes the gate */
}

/* Reads the launch message; false on EOF or garbage before it was complete: the launch never
 * happened, so the shim leaves no trace. */
static bool read_launch(struct launch_msg *m, bool *cancelled)
{
    size_t len = 0, cap = 4096;
    m->buf = malloc(cap);
    if (m->buf == NULL)
        die("malloc");
    for (;;) {
        wait_gate(cancelled);
        if (len == cap) {
            cap = cap * 2 < LAUNCH_MAX ? cap * 2 : LAUNCH_MAX;
            char *grown = realloc(m->buf, cap);
            if (grown == NULL)
                die("realloc");
            m->buf = grown;
        }
        ssize_t n = read(0, m->buf + len, cap - len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        bool complete = false;
        if (n > 0)
            len += (size_t)n;
        if (n <= 0 || !parse_launch(m, len, &complete)) {
            free(m->buf);
            m->buf = NULL;
            return false;
        }
        if (complete)
            return true;
    }
}

static int run_task(bool cancelled);

int shim_main(const char *spec_path)
{
    setup_process();
    int rc = spec_load(&spec, spec_path);
    if (rc != 0) {
        spec_free(&spec);
        return rc;
    }
    bool cancelled = false;
    if (!read_gate(&cancelled)) {
        spec_free(&spec);
        return 0;
    }
    return run_task(cancelled);
}

int shim_pooled_main(pid_t server)
{
    /* A pooled shim waits long before any task is given to it, so a stray SIGTERM (a pkill
     * of the spawner's name) could reach it there and would cancel whichever task it gets
     * next. The server signals a shim only after committing it to a task, and by then the
     * launch is already in the spawner's pipe: a cancel arriving before the launch is the
     * server's, or is ignored. */
    pool_owner = server;
    setup_process();
    bool cancelled = false;
    struct launch_msg m;
    if (!read_launch(&m, &cancelled))
        return 0;
    /* Our diagnostics go to the task's shim.log from here on, no longer to the spawner's
     * stderr: this process may outlive the server that stderr belongs to. */
    msg_to_file(m.log);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 2) != 2)
        die("stderr to /dev/null");
    close(null);
    int rc = spec_parse(&spec, "launch spec", m.spec, m.spec_len);
    if (rc == 0)
        rc = run_task(cancelled);
    else
        spec_free(&spec);
    free(m.buf); /* after: msg_to_file keeps pointing at the log path in it */
    return rc;
}

/* Runs the task once its gate is open (cancelled: a cancel came first, the program never
 * starts); returns the shim's exit status. */
static int run_task(bool cancelled)
{
    int rc;
    t.gate_open = true;
    if (cancelled) { /* the program never starts */
        rc = write_exit_record("cancelled", -1, 0) == 0 ? 0 : 1;
        spec_free(&spec);
        return rc;
    }

    launch();
    struct rec r = {0};
    rec_line(&r, "version=1\npid=%d\npgid=%d\nstarted_at_ms=%lld", (int)t.pid, (int)t.pid,
             (long long)t.started_ms);
    int fd = start_fd;
    start_fd = -1;
    if (rec_write_prepared(fd, spec.start_record, &r, spec.durable) != 0 ||
        notify(spec.notify_dir, spec.task_id, "started") != 0) {
        errno = EIO;
        die("start record");
    }

    supervise();
    clean_up();
    for (int fd = 1; fd < 3 && spec.durable; fd++)
        if (fsync(task_fd[fd]) != 0 && errno != EINVAL) /* EINVAL: /dev/null and the like */
            msg("fsync log: %s", strerror(errno));
    rc = write_exit_record(reason_names[t.reason], -1, 0) == 0 ? 0 : 1;
    for (int fd = 0; fd < 3; fd++)
        close(task_fd[fd]);
    close(sigfd);
    spec_free(&spec);
    return rc;
}
