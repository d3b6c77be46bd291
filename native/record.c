#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *msg_path; /* msg_to_file: opened on the first message */
static int msg_fd = 2;

void msg_to_file(const char *path)
{
    msg_path = path;
    msg_fd = -1;
}

void msg(const char *fmt, ...)
{
    char buf[1024] = "execgo-shim: ";
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap); /* truncates; leaves room for '\n' */
    va_end(ap);
    n = strlen(buf);
    buf[n++] = '\n';
    if (msg_fd < 0) /* fails again next time if it fails now: nowhere to say why */
        msg_fd = open(msg_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (msg_fd >= 0)
        (void)write_all(msg_fd, buf, n); /* nowhere left to report a failure to */
}

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int64_t now_ms(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) { /* only fails for an invalid clock id */
        msg("clock_gettime: %s", strerror(errno));
        abort();
    }
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rec_line(struct rec *r, const char *fmt, ...)
{
    size_t room = sizeof r->buf - r->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->buf + r->len, room, fmt, ap);
    va_end(ap);
    /* A truncated record must never be written: the reader would trust a cut value. */
    if (n < 0 || (size_t)n + 1 >= room) {
        r->overflow = true;
        return;
    }
    r->len += (size_t)n;
    r->buf[r->len++] = '\n';
}

/* Formats a path; ENAMETOOLONG if it does not fit (no path that long could be opened). */
__attribute__((format(printf, 2, 3))) static bool make_path(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, PATH_MAX, fmt, ap);
    va_end(ap);
    if (n >= 0 && n < PATH_MAX)
        return true;
    errno = ENAMETOOLONG;
    return false;
}

/* The rename is only durable once the directory entry itself is on disk. */
static int fsync_parent(const char *path)
{
    char dir[PATH_MAX] = ".";
    const char *slash = strrchr(path, '/');
    if (slash != NULL)
        (void)make_path(dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd < 0 ? -1 : fsync(fd);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Opens <path>.tmp, created empty; -1 with errno on failure. */
static int open_tmp(const char *path)
{
    char tmp[PATH_MAX];
    if (!make_path(tmp, "%s.tmp", path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
}

/* Writes the record into fd (the open <path>.tmp; blocks reserved beyond the record are given
 * back), closes it and renames it over path, with fsyncs when durable. */
static int finish_record(int fd, const char *path, const struct rec *r, bool durable,
                         bool reserved)
{
    char tmp[PATH_MAX];
    bool named = make_path(tmp, "%s.tmp", path); /* open_tmp made the same name */
    errno = EOVERFLOW; /* what is reported if the record itself was too long */
    bool ok = named && !r->overflow;
    /* pwrite into reserved blocks needs no allocation (a full disk cannot fail it). */
    for (size_t off = 0; ok && off < r->len;) {
        ssize_t n = pwrite(fd, r->buf + off, r->len - off, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        off += ok ? (size_t)n : 0;
    }
    ok = ok && (!reserved || ftruncate(fd, (off_t)r->len) == 0) && (!durable || fsync(fd) == 0);
    ok = close(fd) == 0 && ok; /* always close; errno is kept on success */
    ok = ok && rename(tmp, path) == 0 && (!durable || fsync_parent(path) == 0);
    if (!ok) {
        msg("%s: %s", path, strerror(errno));
        if (named)
            (void)unlink(tmp); /* fails harmlessly if the rename happened */
    }
    return ok ? 0 : -1;
}

int rec_write(const char *path, const struct rec *r, bool durable)
{
    errno = EOVERFLOW;
    int fd = r->overflow ? -1 : open_tmp(path);
    if (fd < 0) {
        msg("%s: %s", path, strerror(errno));
        return -1;
    }
    return finish_record(fd, path, r, durable, false);
}

int rec_prepare(const char *path)
{
    int fd = open_tmp(path);
    if (fd < 0)
        return -1;
    int rc;
    while ((rc = posix_fallocate(fd, 0, sizeof ((struct rec *)0)->buf)) == EINTR)
        ;
    if (rc != 0) { /* EOPNOTSUPP on some file systems, ENOSPC already: no reservation */
        char tmp[PATH_MAX];
        close(fd);
        if (make_path(tmp, "%s.tmp", path))
            (void)unlink(tmp);
        errno = rc;
        return -1;
    }
    return fd;
}

int rec_write_prepared(int fd, const char *path, const struct rec *r, bool durable)
{
    return fd < 0 ? rec_write(path, r, durable) : finish_record(fd, path, r, durable, true);
}

int notify(const char *dir, const char *task_id, const char *suffix)
{
    char path[PATH_MAX];
    int fd = -1;
    if (dir == NULL)
        return 0;
    if (!make_path(path, "%s/%s.%s", dir, task_id, suffix) ||
        (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0 || close(fd) != 0) {
        msg("%s/%s.%s: %s", dir, task_id, suffix, strerror(errno));
        return -1;
    }
    return 0;
}
