/*
 * Sandbox init mode. bubblewrap reports a program killed by signal N as exit 128+N, which a
 * program could also return on purpose, so exit_signal would be lost. This mode runs inside
 * the sandbox between bwrap and the program: it starts the program, waits for it, and writes
 * the real wait status to a status file the server reads next to the shim's exit record
 * ("exit_code=N" or "exit_signal=N"). It exits with the same status bwrap would compute, so
 * the server can check that both agree.
 *
 * With `--drop-to UID:GID` (chroot tasks) it first drops root itself: inside a chroot every
 * binary but this static one comes from the rootfs, so the rootfs's own setpriv must never run
 * with the setuid capabilities bwrap leaves (a rootfs is not trusted code).
 */
#include "sandbox-init.h"
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the supervisor sends for a graceful stop; the program must get them, we must not die
 * of them before reporting (SIGKILL still ends us, and then bwrap's status is all there is). */
static const int ignored[] = {SIGTERM, SIGINT, SIGHUP};

static void set_handlers(void (*handler)(int))
{
    struct sigaction sa = {.sa_handler = handler};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        (void)sigaction(ignored[i], &sa, NULL);
}

static void write_status(const char *path, int status)
{
    char line[64];
    int len = WIFSIGNALED(status) ? snprintf(line, sizeof line, "exit_signal=%d\n", WTERMSIG(status))
                                  : snprintf(line, sizeof line, "exit_code=%d\n", WEXITSTATUS(status));
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || write_all(fd, line, (size_t)len) != 0)
        msg("sandbox-init: %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
}

/* Parses "UID:GID" (decimal, neither 0). */
static int parse_ids(const char *text, uid_t *uid, gid_t *gid)
{
    char *end;
    errno = 0;
    unsigned long u = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != ':' || u == 0 || u >= 0xffffffffUL)
        return -1;
    const char *rest = end + 1;
    unsigned long g = strtoul(rest, &end, 10);
    if (errno != 0 || end == rest || *end != '\0' || g == 0 || g >= 0xffffffffUL)
        return -1;
    *uid = (uid_t)u;
    *gid = (gid_t)g;
    return 0;
}

/*
 * What `setpriv --reuid --regid --clear-groups --inh-caps=-all --bounding-set=-all` does:
 * no supplementary groups, the bounding set emptied (needs CAP_SETPCAP, which bwrap keeps for
 * this), then the ids (which clears the permitted, effective and ambient sets), then the
 * inheritable set. no_new_privs is already set by the shim for every sandboxed task.
 */
static int drop_identity(uid_t uid, gid_t gid)
{
    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0)
        return -1;
    for (int cap = 0;; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EINVAL)
                break; /* past the kernel's last capability */
            return -1;
        }
    if (setresuid(uid, uid, uid) != 0)
        return -1;
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    return (int)syscall(SYS_capset, &header, data);
}

_Noreturn void sandbox_init_main(int argc, char **argv)
{
    int first = 3; /* argv index of the program */
    if (argc >= 6 && strcmp(argv[3], "--drop-to") == 0) {
        uid_t uid;
        gid_t gid;
        if (parse_ids(argv[4], &uid, &gid) != 0) {
            msg("sandbox-init: bad --drop-to %s (want UID:GID, not root)", argv[4]);
            _exit(126);
        }
        if (drop_identity(uid, gid) != 0) {
            msg("sandbox-init: dropping to %s: %s", argv[4], strerror(errno));
            _exit(126);
        }
        first = 5;
    }
    if (argc <= first) {
        msg("usage: execgo-shim --sandbox-init <status-file> [--drop-to UID:GID] <program> [args...]");
        _exit(2);
    }
    /* Not dumpable: the program (same uid) cannot ptrace us to forge the report. */
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    set_handlers(SIG_IGN);
    pid_t pid = fork();
    if (pid < 0) {
        msg("sandbox-init: fork: %s", strerror(errno));
        _exit(126);
    }
    if (pid == 0) {
        set_handlers(SIG_DFL);
        execvp(argv[first], argv + first);
        int err = errno;
        msg("sandbox-init: exec %s: %s", argv[first], strerror(err));
        _exit(err == ENOENT ? 127 : 126);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            msg("sandbox-init: waitpid: %s", strerror(errno));
            _exit(126);
        }
    write_status(argv[2], status);
    _exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
}
