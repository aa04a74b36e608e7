/* lb/log.c - event lines and the batched access log. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>

#include "lb/log.h"

#define LOG_BUF_SIZE 65536 /* bytes of access lines kept before a forced write */

static struct {
    bool debug;              /* print LOG_LVL_DEBUG lines */
    int fd;                  /* access-log target, -1: off */
    bool own_fd;             /* fd is a file we opened (not stderr) */
    char *path;              /* file path for reopen, NULL for stderr/off */
    char buf[LOG_BUF_SIZE];  /* pending access lines */
    size_t len;              /* bytes used in buf */
    struct event *flush_ev;  /* fires once after the current loop turn */
} lg = { .fd = 2 };

static const char *level_names[] = { "debug", "info", "warning", "error" };

void log_set_debug(bool on) { lg.debug = on; }

static void timestamp(char *out, size_t n)
{
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

void log_event(enum log_level lvl, const char *fmt, ...)
{
    char ts[40], msg[2048];
    va_list ap;

    if (lvl == LOG_LVL_DEBUG && !lg.debug)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    timestamp(ts, sizeof(ts));
    /* One fprintf per line: stderr is unbuffered, a line is never torn. */
    fprintf(stderr, "%s lxlb[%d]: %s: %s\n", ts, (int)getpid(), level_names[lvl], msg);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* a full disk must not stop the proxy: drop the lines */
        }
        p += w;
        n -= (size_t)w;
    }
}

void log_access_flush(void)
{
    if (lg.len && lg.fd >= 0)
        write_all(lg.fd, lg.buf, lg.len);
    lg.len = 0;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    log_access_flush();
}

void log_attach(struct event_base *base)
{
    lg.flush_ev = evtimer_new(base, flush_cb, NULL);
}

void log_shutdown(void)
{
    log_access_flush();
    if (lg.flush_ev)
        event_free(lg.flush_ev);
    lg.flush_ev = NULL;
    if (lg.own_fd)
        close(lg.fd);
    lg.fd = 2;
    lg.own_fd = false;
    free(lg.path);
    lg.path = NULL;
}

static int open_target(const char *target, int *fd, bool *own)
{
    if (!strcmp(target, "stderr")) {
        *fd = 2, *own = false;
    } else if (!strcmp(target, "off")) {
        *fd = -1, *own = false;
    } else {
        *fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (*fd < 0)
            return -1;
        *own = true;
    }
    return 0;
}

int log_access_open(const char *target)
{
    int fd;
    bool own;

    if (open_target(target, &fd, &own) < 0)
        return -1;
    log_access_flush();
    if (lg.own_fd)
        close(lg.fd);
    lg.fd = fd;
    lg.own_fd = own;
    free(lg.path);
    lg.path = own ? strdup(target) : NULL;
    return 0;
}

int log_access_reopen(void)
{
    if (!lg.path)
        return 0;
    char *path = strdup(lg.path);
    int rc = path ? log_access_open(path) : -1;
    free(path);
    return rc;
}

bool log_access_enabled(void) { return lg.fd >= 0; }

void log_access(const char *fmt, ...)
{
    va_list ap;

    if (lg.fd < 0)
        return;
    for (int tries = 0; tries < 2; tries++) {
        size_t room = sizeof(lg.buf) - lg.len;
        va_start(ap, fmt);
        int n = vsnprintf(lg.buf + lg.len, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n + 1 < room) {
            lg.len += (size_t)n;
            lg.buf[lg.len++] = '\n';
            break;
        }
        log_access_flush(); /* no room: write what we have, then retry once */
    }
    if (lg.flush_ev && !evtimer_pending(lg.flush_ev, NULL)) {
        struct timeval zero = { 0, 0 };
        evtimer_add(lg.flush_ev, &zero);
    }
}

void log_access_date(char *out, size_t n)
{
    static time_t cached_sec = -1;
    static char cached[32];
    struct timeval tv;

    gettimeofday(&tv, NULL);
    if (tv.tv_sec != cached_sec) {
        struct tm tm;
        localtime_r(&tv.tv_sec, &tm);
        strftime(cached, sizeof(cached), "%d/%b/%Y:%H:%M:%S", &tm);
        cached_sec = tv.tv_sec;
    }
    snprintf(out, n, "%s.%03ld", cached, (long)(tv.tv_usec / 1000));
}
