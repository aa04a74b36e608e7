/* discovery/monitor.c - the lxc-monitor child.
 *
 * lxc-monitor prints one line per state change of every container of the
 * lxcpath whose name matches a regex (it connects to lxc-monitord, which it
 * starts when needed). It runs as root, so the LXC helper (discovery/
 * helper.c) starts it and hands us the read end of its stdout; asking the
 * helper blocks, so that is a job on the worker thread. Lines arrive on a
 * bufferevent like any socket. Its death (or the helper's) shows as end of
 * file: we close our end, which tells the helper to kill and reap it if it
 * still runs, and ask for another with backoff. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "discovery/helper-client.h"
#include "discovery/monitor.h"
#include "discovery/worker.h"
#include "lb/log.h"

#define DMON_BACKOFF_MIN_MS 100
#define DMON_BACKOFF_MAX_MS 10000
/* A child that ran this long died of something new: restart it quickly. */
#define DMON_STABLE_MS 30000
/* Longest line we accept: a container name is at most a path component. */
#define DMON_MAX_LINE 1024

static int64_t dmon_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dmon_parse_line(const char *line, char *name, size_t namelen,
                    char *state, size_t statelen)
{
    static const char changed[] = "' changed state to [";
    static const char exited[] = "' exited with status [";
    const char *end, *st;
    size_t n;

    if (line[0] != '\'')
        return -1;
    /* The last marker: a name may hold anything but a slash. */
    if ((end = strstr(line + 1, changed))) {
        st = end + sizeof(changed) - 1;
        const char *close = strchr(st, ']');
        if (!close || close == st || (size_t)(close - st) >= statelen)
            return -1;
        memcpy(state, st, (size_t)(close - st));
        state[close - st] = '\0';
    } else if ((end = strstr(line + 1, exited))) {
        snprintf(state, statelen, "EXITED");
    } else {
        return -1;
    }
    n = (size_t)(end - (line + 1));
    if (n == 0 || n >= namelen)
        return -1;
    memcpy(name, line + 1, n);
    name[n] = '\0';
    return 0;
}

static void dmon_read_cb(struct bufferevent *bev, void *arg);
static void dmon_event_cb(struct bufferevent *bev, short what, void *arg);
static void dmon_schedule(struct dmon *m);

/* Worker thread: the blocking part. */
static void dmon_spawn_run(struct dw_job *j)
{
    struct dmon_spawn *sp = (struct dmon_spawn *)j;

    if (dhc_monitor(sp->m->lxcpath, &sp->fd, &sp->pid, sp->err, sizeof(sp->err)) < 0)
        sp->fd = -1;
}

static void dmon_spawn_drop(struct dw_job *j)
{
    struct dmon_spawn *sp = (struct dmon_spawn *)j;

    if (sp->fd >= 0)
        close(sp->fd);
    free(sp);
}

static int dmon_attach(struct dmon *m, int fd, pid_t pid)
{
    evutil_make_socket_nonblocking(fd);
    m->bev = bufferevent_socket_new(m->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!m->bev) {
        close(fd); /* the helper ends the monitor */
        return -1;
    }
    m->pid = pid;
    m->started_ms = dmon_now_ms();
    bufferevent_setcb(m->bev, dmon_read_cb, NULL, dmon_event_cb, m);
    bufferevent_enable(m->bev, EV_READ);
    return 0;
}

/* Loop thread: the monitor runs, or try again later. */
static void dmon_spawn_done(struct dw_job *j)
{
    struct dmon_spawn *sp = (struct dmon_spawn *)j;
    struct dmon *m = sp->m;
    bool first = !m->ran;

    m->spawning = false;
    if (sp->fd < 0 || dmon_attach(m, sp->fd, sp->pid) < 0) {
        log_event(LOG_LVL_ERR, "lxc-monitor for %s cannot start: %s; trying again in %ums",
                  m->lxcpath, sp->fd < 0 ? sp->err : "out of memory", m->backoff_ms);
        sp->fd = -1;
        dmon_spawn_drop(j);
        dmon_schedule(m);
        return;
    }
    sp->fd = -1;
    dmon_spawn_drop(j);
    m->ran = true;
    log_event(LOG_LVL_INFO, "lxc-monitor started for %s (pid %d)", m->lxcpath, (int)m->pid);
    if (!first) {
        m->restarts++;
        log_event(LOG_LVL_INFO, "lxc-monitor for %s restarted (%u restarts): resyncing",
                  m->lxcpath, m->restarts);
    }
    m->on_restart(m->arg, first);
}

static int dmon_spawn(struct dmon *m)
{
    struct dmon_spawn *sp = calloc(1, sizeof(*sp));

    if (!sp)
        return -1;
    sp->job.run = dmon_spawn_run;
    sp->job.done = dmon_spawn_done;
    sp->job.drop = dmon_spawn_drop;
    sp->m = m;
    sp->fd = -1;
    m->spawning = true;
    dw_submit(m->worker, &sp->job);
    return 0;
}

/* Our end closed: the helper kills and reaps the child if it still runs. */
static void dmon_close(struct dmon *m)
{
    if (m->bev) {
        bufferevent_free(m->bev);
        m->bev = NULL;
    }
    m->pid = 0;
}

static void dmon_schedule(struct dmon *m)
{
    struct timeval tv = { m->backoff_ms / 1000, (m->backoff_ms % 1000) * 1000 };

    evtimer_add(m->restart, &tv);
}

static void dmon_died(struct dmon *m, const char *why)
{
    int64_t ran = dmon_now_ms() - m->started_ms;
    pid_t pid = m->pid;

    dmon_close(m);
    if (ran >= DMON_STABLE_MS)
        m->backoff_ms = DMON_BACKOFF_MIN_MS;
    log_event(LOG_LVL_WARN, "lxc-monitor for %s (pid %d) died (%s) after %lldms; restarting "
              "in %ums", m->lxcpath, (int)pid, why, (long long)ran, m->backoff_ms);
    dmon_schedule(m);
}

static void dmon_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dmon *m = arg;

    (void)fd; (void)what;
    if (m->backoff_ms < DMON_BACKOFF_MAX_MS)
        m->backoff_ms = m->backoff_ms * 2 > DMON_BACKOFF_MAX_MS ? DMON_BACKOFF_MAX_MS
                                                                : m->backoff_ms * 2;
    if (!m->spawning && dmon_spawn(m) < 0)
        dmon_schedule(m);
}

static void dmon_read_cb(struct bufferevent *bev, void *arg)
{
    struct dmon *m = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char name[DMON_MAX_LINE], state[32];
    char *line;
    size_t n;

    while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF))) {
        if (dmon_parse_line(line, name, sizeof(name), state, sizeof(state)) == 0)
            m->on_line(m->arg, name, state);
        else if (n > 0)
            log_event(LOG_LVL_DEBUG, "lxc-monitor: ignored line: %.200s", line);
        free(line);
    }
    /* A line this long is no state line: drop it rather than grow forever. */
    if (evbuffer_get_length(in) > DMON_MAX_LINE)
        evbuffer_drain(in, evbuffer_get_length(in));
}

static void dmon_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    dmon_died(arg, (what & BEV_EVENT_EOF) ? "end of output" : "read error");
}

int dmon_start(struct dmon *m, struct event_base *base, struct dworker *worker,
               const char *lxcpath, dmon_line_cb on_line, dmon_restart_cb on_restart,
               void *arg, char *err, size_t errlen)
{
    m->base = base;
    m->worker = worker;
    m->on_line = on_line;
    m->on_restart = on_restart;
    m->arg = arg;
    m->backoff_ms = DMON_BACKOFF_MIN_MS;
    m->lxcpath = strdup(lxcpath);
    m->restart = evtimer_new(base, dmon_timer_cb, m);
    if (!m->lxcpath || !m->restart || dmon_spawn(m) < 0) {
        snprintf(err, errlen, "discovery.lxc: out of memory");
        return -1;
    }
    return 0;
}

void dmon_stop(struct dmon *m)
{
    dmon_close(m);
    if (m->restart)
        event_free(m->restart);
    m->restart = NULL;
    free(m->lxcpath);
    m->lxcpath = NULL;
}
