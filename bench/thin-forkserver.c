/*
 * The thin runtime's process creation taken out of Node (`thin-runtime.js --forkserver`): the
 * issue's proposed design at its thinnest, to measure how far it alone gets. A small C process
 * that posix_spawns each program and reports its exit; no supervisor, no records, no gate.
 *
 * Requests on stdin, NUL-terminated fields: id, cwd, stdout path, stderr path, argc, argv...
 * Replies on stdout, lines: "P id pid" once spawned (pid 0: the spawn failed), "X id code sig"
 * once reaped. Compiled by bench/run-bench.ts. Exits on EOF.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CHILDREN 4096
#define MAX_ARGS 256
#define BUFFER_SIZE (1 << 20)

static struct {
  pid_t pid;
  char id[64];
} children[MAX_CHILDREN];

static char buffer[BUFFER_SIZE];
static size_t used;

/* Spawns one request; returns the bytes it used, 0 if it is not complete yet. */
static size_t handle_request(const char *start, size_t length) {
  const char *fields[4 + 1 + MAX_ARGS];
  size_t count = 0, offset = 0, wanted = 5;
  while (count < wanted) {
    const char *end = memchr(start + offset, '\0', length - offset);
    if (end == NULL) return 0;
    fields[count++] = start + offset;
    offset = (size_t)(end - start) + 1;
    if (count == 5) {
      int argc = atoi(fields[4]);
      if (argc < 1 || argc > MAX_ARGS) exit(2);
      wanted = 5 + (size_t)argc;
    }
  }
  char *argv[MAX_ARGS + 1];
  for (size_t i = 5; i < wanted; i++) argv[i - 5] = (char *)fields[i];
  argv[wanted - 5] = NULL;
  char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, fields[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, fields[3], O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addchdir_np(&actions, fields[1]);
  /* The program must not inherit this process's blocked SIGCHLD. */
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  if (posix_spawnp(&pid, argv[0], &actions, &attributes, argv, envp) != 0) pid = 0;
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  for (size_t slot = 0; pid > 0 && slot < MAX_CHILDREN; slot++)
    if (children[slot].pid == 0) {
      children[slot].pid = pid;
      snprintf(children[slot].id, sizeof children[slot].id, "%s", fields[0]);
      break;
    }
  printf("P %s %d\n", fields[0], (int)pid);
  return offset;
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
    for (size_t slot = 0; slot < MAX_CHILDREN; slot++)
      if (children[slot].pid == pid) {
        children[slot].pid = 0;
        printf("X %s %d %d\n", children[slot].id, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
               WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        break;
      }
}

int main(void) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sigfd < 0) return 1;
  struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      if (read(sigfd, &info, sizeof info) < 0 && errno != EAGAIN) return 1;
      reap();
    }
    if (fds[0].revents & (POLLIN | POLLHUP)) {
      ssize_t got = read(0, buffer + used, BUFFER_SIZE - used);
      if (got <= 0) return 0;
      used += (size_t)got;
      size_t done = 0, step;
      while ((step = handle_request(buffer + done, used - done)) > 0) done += step;
      memmove(buffer, buffer + done, used - done);
      used -= done;
    }
    fflush(stdout);
  }
}
