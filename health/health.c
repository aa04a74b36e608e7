/* health/health.c - active HTTP checks on the event loop.
 *
 * One check per server: a timer fires, a fresh non-blocking connection (never
 * one from lb/pool.c) sends "GET path", and the check ends at the first
 * complete status line: the body is never awaited. One timer serves both the
 * wait between checks and the timeout of the running check. The result goes
 * through check_step() (health/check.c) and any change of state through
 * srv_set_health(), which logs it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "conf/conf.h"
#include "health/check.h"
#include "health/health.h"
#include "lb/backend-t.h"
#include "lb/http.h"
#include "lb/pp.h"
#include "lb/log.h"
#include "lb/proxy-t.h"
#include "lb/server.h"
#include "lb/worker.h"

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Jitter only has to keep checks apart, not be unpredictable: xorshift. */
static uint32_t jitter_rand(uint32_t bound)
{
    static uint32_t x;

    if (bound == 0)
        return 0;
    if (x == 0)
        x = (uint32_t)mono_us() ^ ((uint32_t)getpid() << 16) ^ 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x % bound;
}

static const struct conf_health *hconf(const struct server *s)
{
    return &s->backend->conf->health;
}

static void check_arm(struct check *c, uint32_t ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(c->timer, &tv);
}

/* A connected check socket is reset rather than closed: a check every few
 * seconds per server would otherwise fill the table with TIME_WAIT entries. */
static void check_close(struct check *c)
{
    if (!c->bev)
        return;
    if (c->connected) {
        struct linger lg = { 1, 0 };
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    bufferevent_free(c->bev);
    c->bev = NULL;
    c->connected = false;
}

static void check_free(struct check *c)
{
    if (!c)
        return;
    check_close(c);
    if (c->timer)
        event_free(c->timer);
    c->srv->check = NULL;
    free(c);
}

/* s->last_check as HAProxy shows it: "L7OK 200 in 3ms", "L7TOUT timeout
 * after 2000ms", "L4CON connection refused in 0ms". */
static void check_format(struct check *c, enum check_code code, int status, const char *detail)
{
    char *out = c->srv->last_check;
    size_t n = sizeof(c->srv->last_check);
    const char *name = check_code_name(code);

    if (code == CHK_L7OK || code == CHK_L7STS)
        snprintf(out, n, "%s %d in %ums", name, status, c->duration_ms);
    else if (code == CHK_L7TOUT || code == CHK_L4TOUT)
        snprintf(out, n, "%s %s after %ums", name, detail, c->duration_ms);
    else
        snprintf(out, n, "%s %s in %ums", name, detail, c->duration_ms);
}

/* The next check starts one interval after this one started (so "every
 * interval" holds for slow answers too), but never right on the heels of a
 * check that took longer than the interval. */
static uint32_t next_delay(uint32_t interval_ms, uint32_t elapsed_ms)
{
    uint32_t floor_ms = interval_ms / 4;
    uint32_t wait = elapsed_ms >= interval_ms ? 0 : interval_ms - elapsed_ms;
    return wait < floor_ms ? floor_ms : wait;
}

/* The running check ended: record it, step the state machine, schedule the
 * next one. */
static void check_report(struct check *c, enum check_code code, int status, const char *detail)
{
    struct server *s = c->srv;
    const struct conf_health *h = hconf(s);
    bool pass = code == CHK_L7OK;
    enum srv_health old = s->health, next;

    c->duration_ms = (uint32_t)((mono_us() - c->start_us) / 1000);
    /* libevent measures timers from its cached loop time, which can be a
     * little older than start_us: a timeout lasted the timeout, not less. */
    if ((code == CHK_L7TOUT || code == CHK_L4TOUT) && c->duration_ms < h->timeout_ms)
        c->duration_ms = h->timeout_ms;
    s->last_check_ms = c->duration_ms;
    check_close(c);
    check_format(c, code, status, detail);

    next = check_step(&c->counts, old, pass, h->rise, h->fall);
    if (next != old) {
        char reason[160];
        uint32_t n = pass ? c->counts.passes : c->counts.fails;
        snprintf(reason, sizeof(reason), "health check %s, %u %s in a row", s->last_check, n,
                 pass ? (n == 1 ? "pass" : "passes") : (n == 1 ? "failure" : "failures"));
        srv_set_health(s, next, reason);
        c->counts.seen = s->health;
    } else if (!pass) {
        log_event(LOG_LVL_DEBUG, "server %s/%s health check failed (%u/%u): %s",
                  s->backend->name, s->name, c->counts.fails, h->fall, s->last_check);
    }
    evtimer_del(c->timer);
    check_arm(c, next_delay(h->interval_ms, c->duration_ms));
}

/* "Connection refused" -> "connection refused": reads better after "L4CON". */
static void socket_error_text(char *out, size_t n, int err)
{
    snprintf(out, n, "%s", evutil_socket_error_to_string(err));
    if (out[0] >= 'A' && out[0] <= 'Z' && !(out[1] >= 'A' && out[1] <= 'Z'))
        out[0] = (char)(out[0] - 'A' + 'a');
}

static void check_read_cb(struct bufferevent *bev, void *arg)
{
    struct check *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    int status = 0, r;

    if (len == 0)
        return;
    if (len > CHECK_MAX_STATUS_LINE)
        len = CHECK_MAX_STATUS_LINE;
    r = check_parse_status((const char *)evbuffer_pullup(in, (ssize_t)len), len, &status);
    if (r == 0)
        return; /* the rest of the line is on its way */
    if (r < 0)
        check_report(c, CHK_L7RSP, 0, "bad status line");
    else if (conf_status_expected(hconf(c->srv), status))
        check_report(c, CHK_L7OK, status, NULL);
    else
        check_report(c, CHK_L7STS, status, NULL);
}

/* A server that wants a PROXY header on every connection (send_proxy)
 * refuses a check without one, as HAProxy's checks know. v2 says there is no
 * client (LOCAL); v1 has no such word that servers take (Apache refuses
 * "UNKNOWN"), so it carries the check connection's own addresses, known once
 * it is connected: the header goes in front of the queued request then,
 * before libevent writes anything. */
static void check_proxy_header(struct check *c)
{
    static const uint8_t v2_local[16] = { '\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U',
                                          'I', 'T', '\n', 0x20, 0x00, 0x00, 0x00 };
    struct evbuffer *out = bufferevent_get_output(c->bev);
    struct sockaddr_storage src, dst;
    socklen_t slen = sizeof(src), dlen = sizeof(dst);
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    char h[PP_BUILD_MAX];
    size_t n;

    switch (srv_send_proxy(c->srv)) {
    case CONF_SEND_PROXY_V1:
        if (getsockname(fd, (struct sockaddr *)&src, &slen) < 0 ||
            getpeername(fd, (struct sockaddr *)&dst, &dlen) < 0)
            break;
        n = pp_build_v1((struct sockaddr *)&src, (struct sockaddr *)&dst, h, sizeof(h));
        evbuffer_prepend(out, h, n);
        break;
    case CONF_SEND_PROXY_V2:
        evbuffer_prepend(out, v2_local, sizeof(v2_local));
        break;
    case CONF_SEND_PROXY_NONE:
        break;
    }
}

static void check_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct check *c = arg;
    int err = EVUTIL_SOCKET_ERROR();
    char why[96];

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        c->connected = true;
        check_proxy_header(c);
        return;
    }
    if (!c->connected) {
        /* libevent reports a connect refused at once without setting errno. */
        socket_error_text(why, sizeof(why), err && err != EINPROGRESS ? err : ECONNREFUSED);
        check_report(c, CHK_L4CON, 0, why);
    } else if (what & BEV_EVENT_EOF) {
        check_report(c, CHK_L7RSP, 0, "closed before a status line");
    } else {
        socket_error_text(why, sizeof(why), err);
        check_report(c, CHK_L7RSP, 0, why);
    }
}

/* A Host header the server will accept: its address as configured. */
static const char *check_host(const struct server *s)
{
    if (s->addr.family == AF_UNIX || s->addr.text[0] == ':' || !s->addr.text[0])
        return "localhost";
    return s->addr.text;
}

static void check_launch(struct check *c)
{
    struct server *s = c->srv;
    const struct conf_health *h = hconf(s);
    char why[96];

    c->start_us = mono_us();
    c->connected = false;
    c->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        check_report(c, CHK_L4CON, 0, "out of memory");
        return;
    }
    bufferevent_setcb(c->bev, check_read_cb, NULL, check_event_cb, c);
    /* Queued now, written by libevent as soon as the connect completes. */
    evbuffer_add_printf(bufferevent_get_output(c->bev),
                        "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: lxlb-health/%s\r\n"
                        "Accept: */*\r\nConnection: close\r\n\r\n",
                        h->path, check_host(s), LXLB_VERSION);
    bufferevent_enable(c->bev, EV_READ);
    check_arm(c, h->timeout_ms);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&s->addr.ss,
                                   (int)s->addr.len) < 0) {
        socket_error_text(why, sizeof(why), EVUTIL_SOCKET_ERROR());
        check_report(c, CHK_L4CON, 0, why);
    }
}

/* One timer for both jobs: between checks it starts the next one; during a
 * check it is the timeout. */
static void check_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct check *c = arg;

    (void)fd; (void)what;
    if (c->bev)
        check_report(c, c->connected ? CHK_L7TOUT : CHK_L4TOUT, 0,
                     c->connected ? "timeout" : "connect timeout");
    else
        check_launch(c);
}

static int check_new(struct server *s, struct event_base *base, uint32_t first_ms)
{
    struct check *c = calloc(1, sizeof(*c));

    if (!c)
        return -1;
    c->srv = s;
    c->base = base;
    c->counts.seen = s->health;
    c->timer = evtimer_new(base, check_timer_cb, c);
    if (!c->timer) {
        free(c);
        return -1;
    }
    s->check = c;
    check_arm(c, first_ms);
    return 0;
}

/* When a server's first check runs: at once while it waits in "checking"
 * (it takes no traffic until then); otherwise at slot i of n over the first
 * interval, plus jitter within the slot, so n servers are not probed at once. */
static uint32_t first_delay(const struct server *s, size_t i, size_t n, uint32_t interval_ms)
{
    uint32_t slot = n ? (uint32_t)(interval_ms / n) : interval_ms;

    if (s->health == SRV_HEALTH_CHECKING)
        return 0;
    return (uint32_t)(slot * i) + jitter_rand(slot ? slot : 1);
}

/* A server joined a backend after start (discovery, reload): check it, at
 * once when it is waiting in "checking". When its backend has no health, a
 * "checking" server is set up at once (nothing would ever check it). */
static void server_added(struct server *s)
{
    struct backend *be = s->backend;

    if (!be || s->check)
        return;
    if (!be->conf->health.enabled) {
        if (s->health == SRV_HEALTH_CHECKING)
            srv_set_health(s, SRV_HEALTH_UP, "no health check configured");
        return;
    }
    if (!be->px || !be->px->base)
        return; /* not running yet: health_start() will pick it up */
    if (check_new(s, be->px->base, first_delay(s, 0, 1, be->conf->health.interval_ms)) < 0)
        log_event(LOG_LVL_ERR, "server %s/%s: cannot start health checks: out of memory",
                  be->name, s->name);
}

/* Its check starts over, and runs at once while it is "checking". */
static void check_anew(struct server *s)
{
    check_free(s->check);
    server_added(s);
}

/* Passive health: fall failures in a row from real traffic (over every
 * loop: replicas report theirs here) mark it down at once, when checks can
 * bring it back; without checks nothing would, so they only count. */
static void traffic_failed(struct server *s, const char *why)
{
    const struct conf_health *hc = s->backend ? &s->backend->conf->health : NULL;

    if (s->consec_fails++ == 0)
        workers_server_suspect(s); /* any loop's next answer must come back here */
    if (hc && hc->enabled && s->health == SRV_HEALTH_UP && s->consec_fails >= hc->fall) {
        char reason[160];
        snprintf(reason, sizeof(reason), "%u failures in a row from real traffic (%s)",
                 s->consec_fails, why);
        srv_set_health(s, SRV_HEALTH_DOWN, reason);
    }
}

/* A reload changed its backend's health section (or the server is new to
 * it): checks start over; health disabled brings it up. State is kept. */
static void conf_changed(struct server *s, const char *why)
{
    check_free(s->check);
    if (s->backend && s->backend->conf->health.enabled)
        server_added(s);
    else if (s->health != SRV_HEALTH_UP)
        srv_set_health(s, SRV_HEALTH_UP, why);
}

static void health_event(struct server *s, enum srv_hev ev, const char *why)
{
    switch (ev) {
    case SRV_HEV_ADDED:
        server_added(s);
        break;
    case SRV_HEV_REMOVED:
        check_free(s->check);
        break;
    case SRV_HEV_TRAFFIC_FAIL:
        traffic_failed(s, why);
        break;
    case SRV_HEV_TRAFFIC_OK:
        s->consec_fails = 0;
        break;
    case SRV_HEV_RESTARTED:
        srv_set_health(s, SRV_HEALTH_CHECKING, why);
        check_anew(s);
        break;
    case SRV_HEV_CHECK_NOW:
        check_anew(s);
        break;
    case SRV_HEV_CONF:
        conf_changed(s, why);
        break;
    }
}

static const struct srv_health_sink health_sink = { .event = health_event };

int health_start(struct proxy *px)
{
    srv_health_attach(&health_sink);
    for (size_t b = 0; b < px->nbackends; b++) {
        struct backend *be = px->backends[b];
        const struct conf_health *h = &be->conf->health;

        for (size_t i = 0; i < be->nservers; i++) {
            struct server *s = be->servers[i];
            if (!h->enabled) {
                check_free(s->check);
                continue;
            }
            if (s->check)
                continue;
            if (check_new(s, px->base, first_delay(s, i, be->nservers, h->interval_ms)) < 0)
                return -1;
        }
        if (h->enabled)
            log_event(LOG_LVL_DEBUG, "backend %s: checking %zu servers every %ums (GET %s)",
                      be->name, be->nservers, h->interval_ms, h->path);
    }
    return 0;
}

void health_stop(struct proxy *px)
{
    srv_health_attach(NULL);
    for (size_t b = 0; b < px->nbackends; b++) {
        struct backend *be = px->backends[b];
        for (size_t i = 0; i < be->nservers; i++)
            check_free(be->servers[i]->check);
    }
}
