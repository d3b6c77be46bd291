/* Records, notify files and the few helpers everything else shares. */
#ifndef EXECGO_RECORD_H
#define EXECGO_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A record being built: key=value lines in a fixed buffer (no stdio buffering involved). */
struct rec {
    char buf[1024];
    size_t len;
    bool overflow;
};

/* Appends one line (fmt gives "key=value", the newline is added). */
void rec_line(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes <path>.tmp, then renames it over path (fsync of file and directory when durable).
 * Returns 0, or -1 with a message on stderr. */
int rec_write(const char *path, const struct rec *r, bool durable);

/* Creates <path>.tmp now and reserves room for a record in it (fallocate), so that a record
 * written later with rec_write_prepared still fits when the disk has filled up meanwhile.
 * Returns the fd (close-on-exec), or -1 with errno if the file or the reservation could not be
 * made (EOPNOTSUPP: the file system cannot reserve; rec_write then does the whole job at the
 * end). */
int rec_prepare(const char *path);

/* rec_write into the file rec_prepare made (fd), or a plain rec_write if fd < 0. */
int rec_write_prepared(int fd, const char *path, const struct rec *r, bool durable);

/* Creates the empty file <dir>/<task_id>.<suffix>; a NULL dir means no notification. */
int notify(const char *dir, const char *task_id, const char *suffix);

/* Writes all of buf, retrying partial writes and EINTR. */
int write_all(int fd, const void *buf, size_t len);

/* Milliseconds on the given clock (CLOCK_REALTIME for records, CLOCK_MONOTONIC for deadlines). */
int64_t now_ms(clockid_t clock);

/* "execgo-shim: <message>\n" on stderr, or in the file msg_to_file named. */
void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sends later messages to path instead of stderr, opening it (O_APPEND|O_CREAT, 0640) only
 * when the first message comes: a task with nothing to report leaves no file behind. The
 * string must stay valid; the fd is close-on-exec and at least 3 once 0-2 are taken. */
void msg_to_file(const char *path);

#endif
