/*
 * Sandbox init mode. bubblewrap reports a program killed by signal N as exit 128+N, which a
 * program could also return on purpose, so exit_signal would be lost. This mode runs inside
 * the sandbox between bwrap and the program: it starts the program, waits for it, and writes
 * the real wait status to a status file the server reads next to the shim's exit record
 * ("exit_code=N" or "exit_signal=N"). It exits with the same status bwrap would compute, so
 * the server can check that both agree.
 */
#include "sandbox-init.h"
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
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

_Noreturn void sandbox_init_main(int argc, char **argv)
{
    if (argc < 4) {
        msg("usage: execgo-shim --sandbox-init <status-file> <program> [args...]");
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
        execvp(argv[3], argv + 3);
        int err = errno;
        msg("sandbox-init: exec %s: %s", argv[3], strerror(err));
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
