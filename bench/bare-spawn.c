/*
 * Bare process creation, the floor under every runtime: posix_spawn(/bin/true) + waitpid,
 * sequentially (p50, p99 in ms) and with 8 in flight (tasks per second). No HTTP, no files, no
 * database, no Node. Compiled by bench/run-bench.ts. Prints one JSON line.
 * Usage: bare-spawn <sequential-count> <parallel-count>
 */
#define _GNU_SOURCE
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static pid_t start(void) {
  static char *const argv[] = {"/bin/true", NULL};
  static char *const envp[] = {NULL};
  pid_t pid;
  if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, envp) != 0) {
    perror("posix_spawn");
    exit(1);
  }
  return pid;
}

static void run_once(void) {
  int status;
  if (waitpid(start(), &status, 0) < 0) {
    perror("waitpid");
    exit(1);
  }
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The same nearest-rank percentile as bench/stats.ts. */
static double percentile(const double *sorted, int n, double p) {
  int rank = (int)ceil(p / 100.0 * n) - 1;
  if (rank < 0) rank = 0;
  if (rank >= n) rank = n - 1;
  return sorted[rank];
}

int main(int argc, char **argv) {
  int sequential = argc > 1 ? atoi(argv[1]) : 300;
  int parallel = argc > 2 ? atoi(argv[2]) : 1000;
  if (sequential < 1 || parallel < 8) return 2;
  double *samples = malloc(sizeof(double) * (size_t)sequential);
  if (samples == NULL) return 1;
  for (int i = 0; i < 20; i++) run_once();
  for (int i = 0; i < sequential; i++) {
    double begin = now_ms();
    run_once();
    samples[i] = now_ms() - begin;
  }
  qsort(samples, (size_t)sequential, sizeof(double), by_value);

  double begin = now_ms();
  int started = 0, finished = 0;
  for (; started < 8; started++) start();
  while (finished < parallel) {
    int status;
    if (waitpid(-1, &status, 0) < 0) {
      perror("waitpid");
      return 1;
    }
    finished++;
    if (started < parallel) {
      start();
      started++;
    }
  }
  double per_second = parallel / (now_ms() - begin) * 1e3;
  printf("{\"p50\":%.4f,\"p99\":%.4f,\"perSecond\":%.1f}\n", percentile(samples, sequential, 50),
         percentile(samples, sequential, 99), per_second);
  free(samples);
  return 0;
}
