/* discovery/lxc-server.c - discovery.lxc's backend mode: what the watcher
 * (discovery/lxc.c) learns of a container becomes a server of the backend,
 * through the backend/server API only, on the loop.
 *
 * A container that runs joins as "checking" (at once usable when the
 * backend has no health checks); one that leaves retires its server (the
 * balancer skips it, sticky clients included, and requests waiting on it
 * are retried elsewhere at once); one that is gone removes it. While a new
 * server is "checking", its port is probed so that it is checked again the
 * moment Apache listens (the kick-start).
 *
 * Beside the servers: every few seconds the containers' cgroup figures
 * (CPU, memory, tasks) are read through the helper, on the worker, for
 * /stats, /metrics and the autoscaler; and the backend's autoscaler
 * (discovery/autoscale.c), when it has one, runs alongside. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "discovery/autoscale.h"
#include "discovery/helper-client.h"
#include "discovery/helper-t.h"
#include "discovery/lxc-int.h"
#include "discovery/worker.h"
#include "lb/backend.h"
#include "lb/log.h"
#include "lb/server.h"

#define DLXC_KICK_MIN_MS 50       /* first port probe delay */
#define DLXC_KICK_MAX_MS 500      /* port probe delay cap */
#define DLXC_KICK_TIMEOUT_MS 1000 /* one port probe's connect timeout */
#define DLXC_DRAIN_POLL_MS 100    /* how often a retiring server's requests are counted */
#define DLXC_RES_MS 2000          /* how often the containers' cgroup figures are read */

static void ct_kick_wait_cb(evutil_socket_t fd, short what, void *arg);
static void ct_drain_cb(evutil_socket_t fd, short what, void *arg);

static int srvm_ct_init(struct dlxc_ct *ct)
{
    ct->cpu_pct = -1;
    ct->kick_wait = evtimer_new(ct->w->base, ct_kick_wait_cb, ct);
    ct->drain = evtimer_new(ct->w->base, ct_drain_cb, ct);
    return ct->kick_wait && ct->drain ? 0 : -1;
}

static void ct_kick_stop(struct dlxc_ct *ct)
{
    if (ct->kick) {
        evutil_socket_t fd = event_get_fd(ct->kick);
        event_free(ct->kick);
        close(fd);
        ct->kick = NULL;
    }
    if (ct->kick_wait)
        evtimer_del(ct->kick_wait);
}

/* Also for a half-made one (out of memory in srvm_ct_init). */
static void srvm_ct_free(struct dlxc_ct *ct)
{
    ct_kick_stop(ct);
    if (ct->kick_wait)
        event_free(ct->kick_wait);
    if (ct->drain)
        event_free(ct->drain);
    if (ct->srv)
        srv_unref(ct->srv);
}

/* A server this backend's discovery added before a reload restarted it:
 * same name, source lxc. Kept as is (health, counters, pooled connections). */
static struct server *dlxc_orphan(const struct dlxc *w, const char *name)
{
    struct server *s = be_find_server(w->be, name);

    if (!s || s->source != SRV_SRC_LXC)
        return NULL;
    for (const struct dlxc_ct *ct = w->cts; ct; ct = ct->next)
        if (ct->srv == s)
            return NULL;
    return s;
}

static struct dlxc_ct *srvm_adopt(struct dlxc *w, const char *name)
{
    struct server *s = dlxc_orphan(w, name);
    struct dlxc_ct *ct;

    if (!s || !(ct = dlxc_ct_get(w, name)))
        return NULL;
    srv_ref(s);
    ct->srv = s;
    log_event(LOG_LVL_DEBUG, "lxc %s: server %s adopted (%s)", w->label, name,
              srv_state_name(s));
    return ct;
}

/* Servers left by an earlier run of discovery (before a reload) whose
 * container the resync did not find running: nobody else would remove them. */
static void srvm_sweep(struct dlxc *w)
{
    for (size_t i = w->be->nservers; i-- > 0;) {
        struct server *s = w->be->servers[i];
        if (!dlxc_orphan(w, s->name))
            continue;
        log_event(LOG_LVL_INFO, "server %s/%s removed: container not running (resync)",
                  w->label, s->name);
        be_remove_gone(w->be, s);
    }
}

static bool srvm_holds(const struct dlxc_ct *ct) { return ct->srv != NULL; }

static bool srvm_live(const struct dlxc_ct *ct) { return ct->srv && !ct->srv->retiring; }

/* ----------------------------------------------------- port kick-start -- */

static void ct_kick_schedule(struct dlxc_ct *ct)
{
    if (dlxc_now_ms() >= ct->kick_deadline_ms)
        return; /* the regular checks take it from here */
    dlxc_arm(ct->kick_wait, ct->kick_backoff_ms);
    ct->kick_backoff_ms = ct->kick_backoff_ms * 2 > DLXC_KICK_MAX_MS ? DLXC_KICK_MAX_MS
                                                                     : ct->kick_backoff_ms * 2;
}

static bool ct_kick_wanted(const struct dlxc_ct *ct)
{
    return ct->srv && !ct->srv->retiring && ct->srv->health == SRV_HEALTH_CHECKING;
}

static void ct_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dlxc_ct *ct = arg;
    int err = ETIMEDOUT;
    socklen_t len = sizeof(err);

    if (!(what & EV_TIMEOUT) && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0) {
        /* Reset rather than close: no TIME_WAIT, and Apache logs nothing. */
        struct linger lg = { 1, 0 };
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    ct_kick_stop(ct);
    if (!ct_kick_wanted(ct))
        return;
    if (err) {
        ct_kick_schedule(ct);
        return;
    }
    log_event(LOG_LVL_DEBUG, "server %s/%s: port open, checking now", ct->w->label,
              ct->srv->name);
    srv_health_event(ct->srv, SRV_HEV_CHECK_NOW, "port open");
}

static void ct_kick_try(struct dlxc_ct *ct)
{
    const struct conf_addr *a = &ct->srv->addr;
    struct timeval tv = { DLXC_KICK_TIMEOUT_MS / 1000, (DLXC_KICK_TIMEOUT_MS % 1000) * 1000 };
    int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return;
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno != EINPROGRESS) {
        close(fd);
        ct_kick_schedule(ct);
        return;
    }
    ct->kick = event_new(ct->w->base, fd, EV_WRITE, ct_kick_cb, ct);
    if (!ct->kick || event_add(ct->kick, &tv) < 0) {
        if (ct->kick)
            event_free(ct->kick);
        ct->kick = NULL;
        close(fd);
    }
}

static void ct_kick_wait_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dlxc_ct *ct = arg;

    (void)fd; (void)what;
    if (ct_kick_wanted(ct) && !ct->kick)
        ct_kick_try(ct);
}

/* Only with active checks: without, the server is up already. */
static void ct_kick_start(struct dlxc_ct *ct)
{
    if (!ct->w->be->conf->health.enabled)
        return;
    ct_kick_stop(ct);
    ct->kick_backoff_ms = DLXC_KICK_MIN_MS;
    ct->kick_deadline_ms = dlxc_now_ms() + ct->w->conf.ip_timeout_ms;
    ct_kick_schedule(ct);
}

/* ------------------------------------------------------ server changes -- */

/* Back through "checking", checked at once (a fresh check starts with no
 * failures counted and runs immediately while the server is "checking"). */
static void ct_recheck(struct dlxc_ct *ct, const char *why)
{
    struct server *s = ct->srv;

    srv_health_event(s, SRV_HEV_RESTARTED, why);
    if (s->health == SRV_HEALTH_CHECKING)
        ct_kick_start(ct);
}

/* Say when the last request to a retiring server has finished. */
static void ct_drain_check(struct dlxc_ct *ct)
{
    if (!ct->srv || !ct->srv->retiring)
        return;
    if (srv_active(ct->srv) > 0) {
        dlxc_arm(ct->drain, DLXC_DRAIN_POLL_MS);
        return;
    }
    log_event(LOG_LVL_INFO, "server %s/%s drained: no request in flight", ct->w->label,
              ct->srv->name);
}

static void ct_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    ct_drain_check(arg);
}

static void srvm_leaving(struct dlxc_ct *ct)
{
    struct server *s = ct->srv;

    ct_kick_stop(ct);
    if (!s || s->retiring)
        return;
    log_event(LOG_LVL_INFO, "server %s/%s retiring: container %s (%u requests in flight finish)",
              ct->w->label, s->name, ct->state, srv_active(s));
    srv_set_retiring(s, true);
    ct_drain_check(ct);
}

static void ct_unretire(struct dlxc_ct *ct, const char *why)
{
    struct server *s = ct->srv;

    srv_set_retiring(s, false);
    evtimer_del(ct->drain);
    log_event(LOG_LVL_INFO, "server %s/%s back from retirement: %s", ct->w->label, s->name, why);
    ct_recheck(ct, why);
}

static void srvm_thawed(struct dlxc_ct *ct)
{
    if (ct->srv && ct->srv->retiring && !ct->leaving)
        ct_unretire(ct, "container thawed");
}

static void srvm_gone(struct dlxc_ct *ct, const char *why)
{
    struct server *s = ct->srv;

    if (!s)
        return;
    ct_kick_stop(ct);
    evtimer_del(ct->drain);
    log_event(LOG_LVL_INFO, "server %s/%s removed: %s (%u requests in flight finish)",
              ct->w->label, s->name, why, srv_active(s));
    be_remove_gone(ct->w->be, s);
    ct->srv = NULL;
    srv_unref(s);
}

static int dlxc_make_addr(const struct dlxc *w, const char *ip, struct conf_addr *a)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

    memset(a, 0, sizeof(*a));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(w->conf.port);
    if (inet_pton(AF_INET, ip, &sin->sin_addr) != 1)
        return -1;
    a->len = sizeof(*sin);
    a->family = AF_INET;
    snprintf(a->text, sizeof(a->text), "%s:%u", ip, w->conf.port);
    return 0;
}

static void ct_add_server(struct dlxc_ct *ct, const struct conf_addr *addr)
{
    struct dlxc *w = ct->w;
    struct server *s = srv_new(ct->name, NULL, addr, 1, SRV_SRC_LXC);

    if (!s) {
        log_event(LOG_LVL_ERR, "lxc %s: out of memory adding %s", w->label, ct->name);
        return;
    }
    if (be_add_server(w->be, s) < 0) {
        log_event(LOG_LVL_ERR, "lxc %s: container %s not added: backend already has a "
                  "server of that name", w->label, ct->name);
        srv_unref(s);
        ct->ignored = true;
        return;
    }
    ct->srv = s; /* srv_new's reference is ours; the backend took its own (checks started) */
    if (ct->running_ms)
        log_event(LOG_LVL_INFO, "server %s/%s joined at %s as %s, %lldms after RUNNING",
                  w->label, s->name, addr->text, srv_health_name(s->health),
                  (long long)(dlxc_now_ms() - ct->running_ms));
    else
        log_event(LOG_LVL_INFO, "server %s/%s joined at %s as %s (found running)",
                  w->label, s->name, addr->text, srv_health_name(s->health));
    if (s->health == SRV_HEALTH_CHECKING)
        ct_kick_start(ct);
}

/* It runs at ip: make its server say so. */
static void srvm_at(struct dlxc_ct *ct, const char *ip)
{
    struct conf_addr addr;
    char why[160];

    if (dlxc_make_addr(ct->w, ip, &addr) < 0) {
        log_event(LOG_LVL_WARN, "lxc %s: container %s: bad address '%s'", ct->w->label,
                  ct->name, ip);
        return;
    }
    if (ct->srv && conf_addr_same(&ct->srv->addr, &addr)) {
        if (ct->srv->retiring && !ct->leaving) /* leaving: the autoscaler's */
            ct_unretire(ct, "container running");
        return;
    }
    if (ct->srv) {
        /* Same name and cookie, new place: sticky clients follow it. */
        snprintf(why, sizeof(why), "container %s moved to %s", ct->name, addr.text);
        srvm_gone(ct, why);
    }
    ct_add_server(ct, &addr);
}

static bool srvm_new_addr(const struct dlxc_ct *ct, const char *ip)
{
    char text[DLXC_IP_LEN + 8];

    snprintf(text, sizeof(text), "%s:%u", ip, ct->w->conf.port);
    return !ct->srv || strcmp(ct->srv->addr.text, text);
}

/* ----------------------------------------------------- the autoscaler -- */

struct server *dlxc_server_leave(struct dlxc *w, const char *name, const char *why)
{
    struct dlxc_ct *ct = dlxc_ct_find(w, name);
    struct server *s = ct ? ct->srv : NULL;

    if (!s)
        return NULL;
    ct->leaving = true;
    ct_kick_stop(ct);
    if (!s->retiring) {
        log_event(LOG_LVL_INFO, "server %s/%s retiring: %s (%u requests in flight finish)",
                  w->label, s->name, why, srv_active(s));
        srv_set_retiring(s, true);
    }
    ct_drain_check(ct);
    return s;
}

/* ----------------------------------------------------- container figures -- */

static void res_run(struct dw_job *j)
{
    struct dlxc_stats *st = (struct dlxc_stats *)j;

    st->failed = dhc_stats(st->w->conf.lxcpath, st->names, st->n, st->res, st->err,
                           sizeof(st->err)) < 0;
    st->at_ms = dlxc_now_ms();
}

static void res_drop(struct dw_job *j)
{
    struct dlxc_stats *st = (struct dlxc_stats *)j;

    for (size_t i = 0; i < st->n; i++)
        free(st->names[i]);
    free(st->names);
    free(st->res);
    free(st);
}

/* CPU % between the last reading and r (of one CPU: 200 is two busy). */
static void ct_res_apply(struct dlxc_ct *ct, const struct dlxc_res *r, int64_t at_ms)
{
    if (!r->running) {
        ct->res_ms = 0;
        ct->cpu_pct = -1;
        return;
    }
    if (ct->res_ms && at_ms > ct->res_ms && r->cpu_ns != DLXC_RES_NONE &&
        ct->res.cpu_ns != DLXC_RES_NONE && r->cpu_ns >= ct->res.cpu_ns)
        ct->cpu_pct = (double)(r->cpu_ns - ct->res.cpu_ns) / 1e4 / (double)(at_ms - ct->res_ms);
    else
        ct->cpu_pct = -1;
    ct->res = *r;
    ct->res_ms = at_ms;
}

static void res_done(struct dw_job *j)
{
    struct dlxc_stats *st = (struct dlxc_stats *)j;
    struct dlxc *w = st->w;

    w->res_busy = false;
    if (st->failed)
        log_event(LOG_LVL_DEBUG, "lxc %s: no container figures: %s", w->label, st->err);
    for (size_t i = 0; !st->failed && i < st->n; i++) {
        struct dlxc_ct *ct = dlxc_ct_find(w, st->names[i]);
        if (ct && ct->srv)
            ct_res_apply(ct, &st->res[i], st->at_ms);
    }
    res_drop(j);
}

/* The containers that are servers: their names, strdup'ed. */
static size_t res_names(const struct dlxc *w, char ***out)
{
    size_t n = 0, i = 0;

    for (const struct dlxc_ct *ct = w->cts; ct; ct = ct->next)
        n += ct->srv != NULL;
    if (n > DHP_MAX_NAMES)
        n = DHP_MAX_NAMES;
    if (!n || !(*out = calloc(n, sizeof(**out))))
        return 0;
    for (const struct dlxc_ct *ct = w->cts; ct && i < n; ct = ct->next)
        if (ct->srv && !((*out)[i++] = strdup(ct->name)))
            return i - 1;
    return i;
}

static void res_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dlxc *w = arg;
    struct dlxc_stats *st;

    (void)fd; (void)what;
    if (w->res_busy || !(st = calloc(1, sizeof(*st))))
        return;
    st->w = w;
    st->n = res_names(w, &st->names);
    if (!st->n || !(st->res = calloc(st->n, sizeof(*st->res)))) {
        res_drop(&st->job);
        return;
    }
    st->job.run = res_run;
    st->job.done = res_done;
    st->job.drop = res_drop;
    w->res_busy = true;
    dw_submit(w->worker, &st->job);
}

bool dlxc_figures(const struct dlxc *w, const struct server *s, struct dlxc_figures *out)
{
    const struct dlxc_ct *ct = dlxc_ct_find(w, s->name);

    if (!ct || ct->srv != s || !ct->res_ms)
        return false;
    out->cpu_seconds = ct->res.cpu_ns == DLXC_RES_NONE ? -1 : ct->res.cpu_ns / 1e9;
    out->cpu_percent = ct->cpu_pct;
    out->mem_bytes = ct->res.mem_bytes;
    out->mem_limit = ct->res.mem_limit;
    out->pids = ct->res.pids;
    out->age_ms = dlxc_now_ms() - ct->res_ms;
    return true;
}

/* ------------------------------------------------------------ lifetime -- */

static int srvm_start(struct dlxc *w, char *err, size_t errlen)
{
    struct timeval every = { DLXC_RES_MS / 1000, (DLXC_RES_MS % 1000) * 1000 };

    w->res_poll = event_new(w->base, -1, EV_PERSIST, res_poll_cb, w);
    if (!w->res_poll || event_add(w->res_poll, &every) < 0) {
        snprintf(err, errlen, "discovery.lxc: out of memory");
        return -1;
    }
    if (w->be->conf->autoscale.enabled && !(w->as = das_start(w, err, errlen)))
        return -1;
    return 0;
}

static void srvm_stop(struct dlxc *w)
{
    das_stop(w->as);
    w->as = NULL;
    if (w->res_poll)
        event_free(w->res_poll);
    w->res_poll = NULL;
}

const struct dlxc_ops dlxc_server_ops = {
    .ct_init = srvm_ct_init,
    .ct_free = srvm_ct_free,
    .at = srvm_at,
    .leaving = srvm_leaving,
    .thawed = srvm_thawed,
    .gone = srvm_gone,
    .holds = srvm_holds,
    .live = srvm_live,
    .new_addr = srvm_new_addr,
    .adopt = srvm_adopt,
    .sweep = srvm_sweep,
    .start = srvm_start,
    .stop = srvm_stop,
};
