/* lb/log.c - event lines and the batched access log. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>

#include "lb/log.h"

#define LOG_BUF_SIZE 65536 /* bytes of access lines kept before a forced write */
#define SYSLOG_PRI   134   /* facility local0 (16 << 3) | severity info (6) */
#define SYSLOG_RETRY_MS 1000 /* between reconnects to a syslog that was down */
#define SYSLOG_NOTE  10    /* seconds between two "lines dropped" events */

/* Access lines pending in one thread (each worker loop batches its own). */
struct log_buf {
    char buf[LOG_BUF_SIZE];  /* pending access lines */
    size_t len;              /* bytes used in buf */
    struct event *flush_ev;  /* fires once after the current loop turn */
};

static struct log_buf main_buf;      /* the main loop's (and any unattached thread's) */
static __thread struct log_buf *tb;  /* this thread's, set by log_attach */

static struct log_buf *my_buf(void) { return tb ? tb : &main_buf; }

/* The target is shared by every worker: lock taken once per batch written
 * (and to switch targets), never per request. */
static struct {
    pthread_mutex_t lock;    /* guards everything below but debug */
    bool debug;              /* print LOG_LVL_DEBUG lines */
    int fd;                  /* access-log target, -1: off */
    bool own_fd;             /* fd is a file or socket we opened (not stderr) */
    bool syslog;             /* fd is a datagram socket to syslog */
    bool connected;          /* the syslog socket is connected */
    char *path;              /* file or syslog socket path for reopen, NULL for stderr/off */
    unsigned long long drops;    /* syslog lines dropped (socket full or syslog down) */
    unsigned long long noted;    /* drops already reported in an event line */
    time_t last_note;            /* wall clock (s) of the last "dropped" event line */
    int64_t last_connect_ms;     /* monotonic clock (ms) of the last connect attempt */
} lg = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = 2 };

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

/* ---------------------------------------------------------------- syslog
 *
 * syslog(3) would block the loop when the syslog daemon falls behind (it
 * writes to /dev/log with a blocking send). We keep our own non-blocking
 * datagram socket instead: one RFC 3164 datagram per line, as glibc formats
 * them for the local socket, and a line that does not fit is dropped and
 * counted. A proxy must never wait for its logger. */

/* Whole seconds would allow a retry anywhere from 0 to 1 s after the last. */
static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *syslog_path(void)
{
    const char *p = getenv("LXLB_SYSLOG_SOCKET"); /* tests, or a non-default syslog */

    return p && *p ? p : "/dev/log";
}

static int syslog_connect(int fd, const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    lg.last_connect_ms = mono_ms();
    return connect(fd, (struct sockaddr *)&sa, sizeof(sa));
}

/* A missing or restarting syslog is not fatal: lines are dropped (and
 * counted) until it answers; we try again at most once a second. */
static int syslog_open(const char *path, int *fd)
{
    *fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (*fd < 0)
        return -1;
    lg.connected = syslog_connect(*fd, path) == 0;
    if (!lg.connected)
        log_event(LOG_LVL_WARN, "access log: syslog socket %s: %s (lines dropped until "
                  "it answers)", path, strerror(errno));
    return 0;
}

static void syslog_note_drops(void)
{
    time_t now = time(NULL);

    if (lg.drops == lg.noted || now - lg.last_note < SYSLOG_NOTE)
        return;
    log_event(LOG_LVL_WARN, "access log: %llu syslog lines dropped (%llu in all): "
              "syslog socket full or down", lg.drops - lg.noted, lg.drops);
    lg.noted = lg.drops;
    lg.last_note = now;
}

static void syslog_send(const char *line, size_t n, const char *hdr, size_t hlen)
{
    struct iovec iov[2] = { { (void *)hdr, hlen }, { (void *)line, n } };
    struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

    if (!lg.connected) {
        if (mono_ms() - lg.last_connect_ms < SYSLOG_RETRY_MS ||
            syslog_connect(lg.fd, lg.path) < 0) {
            lg.drops++;
            return;
        }
        lg.connected = true;
    }
    while (sendmsg(lg.fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        if (errno == EINTR)
            continue;
        /* The reader went away (syslog restarted): reconnect later. */
        if (errno == ECONNREFUSED || errno == ENOTCONN || errno == ENOENT)
            lg.connected = false;
        lg.drops++; /* EAGAIN included: the socket is full */
        return;
    }
}

static void syslog_flush(const char *buf, size_t len)
{
    char hdr[64], ts[32];
    time_t now = time(NULL);
    struct tm tm;

    localtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
    int hlen = snprintf(hdr, sizeof(hdr), "<%d>%s lxlb[%d]: ", SYSLOG_PRI, ts, (int)getpid());
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (buf + off)) : len - off;
        syslog_send(buf + off, n, hdr, (size_t)hlen);
        off += n + 1;
    }
    syslog_note_drops();
}

unsigned long long log_access_dropped(void)
{
    pthread_mutex_lock(&lg.lock);
    unsigned long long n = lg.drops;
    pthread_mutex_unlock(&lg.lock);
    return n;
}

/* Caller holds lg.lock. */
static void flush_locked(struct log_buf *b)
{
    if (b->len && lg.fd >= 0) {
        if (lg.syslog)
            syslog_flush(b->buf, b->len);
        else
            write_all(lg.fd, b->buf, b->len);
    }
    b->len = 0;
}

void log_access_flush(void)
{
    struct log_buf *b = my_buf();

    if (!b->len)
        return;
    pthread_mutex_lock(&lg.lock);
    flush_locked(b);
    pthread_mutex_unlock(&lg.lock);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    log_access_flush();
}

int log_attach(struct event_base *base)
{
    static bool main_taken;
    /* The first loop (the main one: attached before workers start) uses the
     * static buffer; worker loops get their own. */
    struct log_buf *b = tb ? tb
                      : __atomic_exchange_n(&main_taken, true, __ATOMIC_ACQ_REL)
                          ? calloc(1, sizeof(*b)) : &main_buf;

    if (!b || !(b->flush_ev = evtimer_new(base, flush_cb, NULL))) {
        if (b != &main_buf)
            free(b);
        return -1;
    }
    tb = b;
    return 0;
}

void log_detach(void)
{
    struct log_buf *b = tb;

    if (!b)
        return;
    log_access_flush();
    if (b->flush_ev)
        event_free(b->flush_ev);
    b->flush_ev = NULL;
    tb = NULL;
    if (b != &main_buf)
        free(b);
}

void log_shutdown(void)
{
    log_detach();
    log_access_flush();
    if (lg.own_fd)
        close(lg.fd);
    lg.fd = 2;
    lg.own_fd = lg.syslog = false;
    free(lg.path);
    lg.path = NULL;
}

static int open_target(const char *target, int *fd, bool *own)
{
    if (!strcmp(target, "stderr")) {
        *fd = 2, *own = false;
    } else if (!strcmp(target, "off")) {
        *fd = -1, *own = false;
    } else if (!strcmp(target, "syslog")) {
        if (syslog_open(syslog_path(), fd) < 0)
            return -1;
        *own = true;
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

    pthread_mutex_lock(&lg.lock);
    if (open_target(target, &fd, &own) < 0) {
        pthread_mutex_unlock(&lg.lock);
        return -1;
    }
    flush_locked(my_buf());
    if (lg.own_fd)
        close(lg.fd);
    lg.fd = fd;
    lg.own_fd = own;
    lg.syslog = !strcmp(target, "syslog");
    free(lg.path);
    lg.path = !own ? NULL : strdup(lg.syslog ? syslog_path() : target);
    pthread_mutex_unlock(&lg.lock);
    return 0;
}

/* A file is opened again by name (logrotate renamed the old one); the
 * syslog socket is connected again (the syslog daemon may have restarted). */
int log_access_reopen(void)
{
    if (!lg.path)
        return 0;
    if (lg.syslog) {
        pthread_mutex_lock(&lg.lock);
        flush_locked(my_buf());
        lg.connected = syslog_connect(lg.fd, lg.path) == 0;
        bool ok = lg.connected;
        pthread_mutex_unlock(&lg.lock);
        return ok ? 0 : -1;
    }
    char *path = strdup(lg.path);
    int rc = path ? log_access_open(path) : -1;
    free(path);
    return rc;
}

bool log_access_enabled(void) { return lg.fd >= 0; }

void log_access(const char *fmt, ...)
{
    va_list ap;

    struct log_buf *b = my_buf();

    if (lg.fd < 0)
        return;
    for (int tries = 0; tries < 2; tries++) {
        size_t room = sizeof(b->buf) - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n + 1 < room) {
            b->len += (size_t)n;
            b->buf[b->len++] = '\n';
            break;
        }
        log_access_flush(); /* no room: write what we have, then retry once */
    }
    if (b->flush_ev && !evtimer_pending(b->flush_ev, NULL)) {
        struct timeval zero = { 0, 0 };
        evtimer_add(b->flush_ev, &zero);
    }
}

void log_access_date(char *out, size_t n)
{
    static __thread time_t cached_sec = -1;
    static __thread char cached[32];
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
