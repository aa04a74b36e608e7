/* discovery/lxc.c - containers of an lxcpath become servers of a backend.
 *
 * lxc-monitor lines (discovery/monitor.c) say what changed; what a container
 * is (its group, its address) is asked of liblxc, in the privileged LXC
 * helper process (discovery/helper.c), from the worker thread (discovery/
 * worker.c), and the answer is applied here, on the loop, through the
 * backend/server API only.
 *
 * Ordering: every monitor event stamps the container with a new sequence
 * number; a probe answer carrying an older stamp is stale (the container
 * moved on while the worker looked) and is dropped. A resync answer is
 * applied only to containers with no event since it was asked. The worker
 * runs jobs in order, so an answer never overtakes an earlier one.
 *
 * Leaving is immediate and needs no worker: STOPPING/FREEZING/FROZEN retire
 * the server (the balancer skips it, sticky clients included) and requests
 * waiting on it are retried elsewhere at once; STOPPED removes it.
 *
 * Sink mode (lxlb agent): the same watching with no backend; where a server
 * would be added, moved, retired or removed, the sink hears "up" or "down". */
#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "discovery/helper-client.h"
#include "discovery/lxc.h"
#include "discovery/monitor.h"
#include "discovery/worker.h"
#include "lb/backend.h"
#include "lb/log.h"
#include "lb/proxy-t.h"
#include "lb/server.h"

#define DLXC_POLL_MIN_MS 50       /* first address poll delay */
#define DLXC_POLL_MAX_MS 1000     /* address poll delay cap */
#define DLXC_KICK_MIN_MS 50       /* first port probe delay */
#define DLXC_KICK_MAX_MS 500      /* port probe delay cap */
#define DLXC_KICK_TIMEOUT_MS 1000 /* one port probe's connect timeout */
#define DLXC_DRAIN_POLL_MS 100    /* how often a retiring server's requests are counted */
#define DLXC_RESYNC_MS 30000      /* periodic full resync */
#define DLXC_SETTLE_MS 2000       /* resync again this long after a monitor start:
                                   * it may miss events until it has connected */

static int64_t dlxc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dlxc_arm(struct event *ev, uint32_t ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(ev, &tv);
}

static const char *be_name(const struct dlxc *w) { return w->be ? w->be->name : "agent"; }

/* ------------------------------------------------------------ sink mode -- */

static void ct_sink_up(struct dlxc_ct *ct, const char *ip)
{
    if (!strcmp(ct->pub_ip, ip))
        return;
    snprintf(ct->pub_ip, sizeof(ct->pub_ip), "%s", ip);
    ct->w->sink.up(ct->w->sink.arg, ct->name, ip);
}

static void ct_sink_down(struct dlxc_ct *ct, const char *why)
{
    if (!ct->pub_ip[0])
        return;
    ct->pub_ip[0] = '\0';
    ct->w->sink.down(ct->w->sink.arg, ct->name, why);
}

/* ===================================== worker thread: ask the helper ==== */

static void dlxc_probe_run(struct dw_job *j)
{
    struct dlxc_probe *p = (struct dlxc_probe *)j;

    p->failed = dhc_probe(&p->w->conf, &p->info, p->err, sizeof(p->err)) < 0;
}

static void dlxc_resync_run(struct dw_job *j)
{
    struct dlxc_resync *r = (struct dlxc_resync *)j;

    r->failed = dhc_list(&r->w->conf, &r->infos, &r->ninfos, r->err, sizeof(r->err)) < 0;
}

/* ========================================================= loop thread ==== */

static struct dlxc_ct *ct_find(struct dlxc *w, const char *name)
{
    for (struct dlxc_ct *ct = w->cts; ct; ct = ct->next)
        if (!strcmp(ct->name, name))
            return ct;
    return NULL;
}

static void ct_retry_cb(evutil_socket_t fd, short what, void *arg);
static void ct_kick_wait_cb(evutil_socket_t fd, short what, void *arg);
static void ct_drain_cb(evutil_socket_t fd, short what, void *arg);

static struct dlxc_ct *ct_get(struct dlxc *w, const char *name)
{
    struct dlxc_ct *ct = ct_find(w, name);
    struct event_base *base = w->base;

    if (ct)
        return ct;
    ct = calloc(1, sizeof(*ct));
    if (!ct)
        goto oom;
    ct->w = w;
    ct->name = strdup(name);
    ct->retry = evtimer_new(base, ct_retry_cb, ct);
    ct->kick_wait = evtimer_new(base, ct_kick_wait_cb, ct);
    ct->drain = evtimer_new(base, ct_drain_cb, ct);
    if (!ct->name || !ct->retry || !ct->kick_wait || !ct->drain)
        goto oom;
    ct->next = w->cts;
    w->cts = ct;
    return ct;
oom:
    log_event(LOG_LVL_ERR, "lxc %s: out of memory tracking container %s", be_name(w), name);
    if (ct) {
        if (ct->retry)
            event_free(ct->retry);
        if (ct->kick_wait)
            event_free(ct->kick_wait);
        if (ct->drain)
            event_free(ct->drain);
        free(ct->name);
        free(ct);
    }
    return NULL;
}

/* A server this backend's discovery added before a reload restarted it:
 * same name, source lxc. Kept as is (health, counters, pooled connections). */
static struct server *dlxc_orphan(const struct dlxc *w, const char *name)
{
    struct server *s = w->be ? be_find_server(w->be, name) : NULL;

    if (!s || s->source != SRV_SRC_LXC)
        return NULL;
    for (const struct dlxc_ct *ct = w->cts; ct; ct = ct->next)
        if (ct->srv == s)
            return NULL;
    return s;
}

/* The container, tracked already or through the server it left behind. */
static struct dlxc_ct *ct_find_or_adopt(struct dlxc *w, const char *name)
{
    struct dlxc_ct *ct = ct_find(w, name);
    struct server *s;

    if (ct || !(s = dlxc_orphan(w, name)))
        return ct;
    if (!(ct = ct_get(w, name)))
        return NULL;
    srv_ref(s);
    ct->srv = s;
    log_event(LOG_LVL_DEBUG, "lxc %s: server %s adopted (%s)", be_name(w), name,
              srv_state_name(s));
    return ct;
}

static void ct_kick_stop(struct dlxc_ct *ct)
{
    if (ct->kick) {
        evutil_socket_t fd = event_get_fd(ct->kick);
        event_free(ct->kick);
        close(fd);
        ct->kick = NULL;
    }
    evtimer_del(ct->kick_wait);
}

static void ct_stop_waiting(struct dlxc_ct *ct)
{
    ct->waiting = false;
    evtimer_del(ct->retry);
}

/* The watcher forgets it (its server, if any, was dealt with). */
static void ct_free(struct dlxc_ct *ct)
{
    struct dlxc_ct **pp;

    for (pp = &ct->w->cts; *pp; pp = &(*pp)->next) {
        if (*pp == ct) {
            *pp = ct->next;
            break;
        }
    }
    ct_kick_stop(ct);
    event_free(ct->retry);
    event_free(ct->kick_wait);
    event_free(ct->drain);
    if (ct->srv)
        srv_unref(ct->srv);
    free(ct->name);
    free(ct);
}

/* ------------------------------------------------------ server changes -- */

static void ct_kick_start(struct dlxc_ct *ct);

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
    log_event(LOG_LVL_INFO, "server %s/%s drained: no request in flight", be_name(ct->w),
              ct->srv->name);
}

static void ct_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    ct_drain_check(arg);
}

static void ct_retire(struct dlxc_ct *ct)
{
    struct server *s = ct->srv;

    ct_stop_waiting(ct);
    ct_kick_stop(ct);
    if (!ct->w->be) {
        ct_sink_down(ct, ct->state);
        return;
    }
    if (!s || s->retiring)
        return;
    log_event(LOG_LVL_INFO, "server %s/%s retiring: container %s (%u requests in flight finish)",
              be_name(ct->w), s->name, ct->state, srv_active(s));
    srv_set_retiring(s, true);
    ct_drain_check(ct);
}

static void ct_unretire(struct dlxc_ct *ct, const char *why)
{
    struct server *s = ct->srv;

    srv_set_retiring(s, false);
    evtimer_del(ct->drain);
    log_event(LOG_LVL_INFO, "server %s/%s back from retirement: %s", be_name(ct->w), s->name, why);
    ct_recheck(ct, why);
}

static void ct_drop_server(struct dlxc_ct *ct, const char *why)
{
    struct server *s = ct->srv;

    if (!ct->w->be)
        ct_sink_down(ct, why);
    if (!s)
        return;
    ct_kick_stop(ct);
    evtimer_del(ct->drain);
    log_event(LOG_LVL_INFO, "server %s/%s removed: %s (%u requests in flight finish)",
              be_name(ct->w), s->name, why, srv_active(s));
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
        log_event(LOG_LVL_ERR, "lxc %s: out of memory adding %s", be_name(w), ct->name);
        return;
    }
    if (be_add_server(w->be, s) < 0) {
        log_event(LOG_LVL_ERR, "lxc %s: container %s not added: backend already has a "
                  "server of that name", be_name(w), ct->name);
        srv_unref(s);
        ct->ignored = true;
        return;
    }
    ct->srv = s; /* srv_new's reference is ours; the backend took its own (checks started) */
    if (ct->running_ms)
        log_event(LOG_LVL_INFO, "server %s/%s joined at %s as %s, %lldms after RUNNING",
                  be_name(w), s->name, addr->text, srv_health_name(s->health),
                  (long long)(dlxc_now_ms() - ct->running_ms));
    else
        log_event(LOG_LVL_INFO, "server %s/%s joined at %s as %s (found running)",
                  be_name(w), s->name, addr->text, srv_health_name(s->health));
    if (s->health == SRV_HEALTH_CHECKING)
        ct_kick_start(ct);
}

/* It runs at ip: make its server say so. */
static void ct_set_addr(struct dlxc_ct *ct, const char *ip)
{
    struct conf_addr addr;
    char why[160];

    if (!ct->w->be) {
        ct_sink_up(ct, ip);
        return;
    }
    if (dlxc_make_addr(ct->w, ip, &addr) < 0) {
        log_event(LOG_LVL_WARN, "lxc %s: container %s: bad address '%s'", be_name(ct->w),
                  ct->name, ip);
        return;
    }
    if (ct->srv && conf_addr_same(&ct->srv->addr, &addr)) {
        if (ct->srv->retiring)
            ct_unretire(ct, "container running");
        return;
    }
    if (ct->srv) {
        /* Same name and cookie, new place: sticky clients follow it. */
        snprintf(why, sizeof(why), "container %s moved to %s", ct->name, addr.text);
        ct_drop_server(ct, why);
    }
    ct_add_server(ct, &addr);
}

/* ------------------------------------------------------------- probing -- */

static void dlxc_info_free(struct dlxc_info *info) { free(info->name); }

static void dlxc_probe_drop(struct dw_job *j)
{
    struct dlxc_probe *p = (struct dlxc_probe *)j;
    dlxc_info_free(&p->info);
    free(p);
}

static void ct_schedule_poll(struct dlxc_ct *ct)
{
    dlxc_arm(ct->retry, ct->backoff_ms);
    ct->backoff_ms = ct->backoff_ms * 2 > DLXC_POLL_MAX_MS ? DLXC_POLL_MAX_MS
                                                           : ct->backoff_ms * 2;
}

static void ct_probe_result(struct dlxc_ct *ct, const struct dlxc_info *info)
{
    struct dlxc *w = ct->w;
    char text[DLXC_IP_LEN + 8];

    if (!info->defined || strcmp(info->state, "RUNNING")) {
        ct_stop_waiting(ct); /* an event about what it is now will follow */
        return;
    }
    if (!info->selected) {
        ct_stop_waiting(ct);
        if (!ct->ignored)
            log_event(LOG_LVL_INFO, "lxc %s: container %s is not in group %s: ignored",
                      be_name(w), ct->name, w->conf.group);
        ct->ignored = true;
        return;
    }
    if (!info->ip[0]) {
        if (dlxc_now_ms() < ct->deadline_ms) {
            ct_schedule_poll(ct);
            return;
        }
        ct_stop_waiting(ct);
        log_event(LOG_LVL_WARN, "lxc %s: container %s has no IPv4 address on %s after %ums: "
                  "not added", be_name(w), ct->name, w->conf.interface, w->conf.ip_timeout_ms);
        return;
    }
    ct_stop_waiting(ct);
    snprintf(text, sizeof(text), "%s:%u", info->ip, w->conf.port);
    if (w->be ? !ct->srv || strcmp(ct->srv->addr.text, text) : strcmp(ct->pub_ip, info->ip))
        log_event(LOG_LVL_INFO, "lxc %s: container %s has address %s (%lldms after RUNNING)",
                  be_name(w), ct->name, info->ip, (long long)(dlxc_now_ms() - ct->running_ms));
    ct_set_addr(ct, info->ip);
}

/* No answer (the helper refused, or was lost): ask again until the deadline. */
static void ct_probe_failed(struct dlxc_ct *ct, const char *why)
{
    struct dlxc *w = ct->w;

    if (dlxc_now_ms() < ct->deadline_ms) {
        log_event(LOG_LVL_WARN, "lxc %s: cannot look at container %s: %s; asking again",
                  be_name(w), ct->name, why);
        ct_schedule_poll(ct);
        return;
    }
    ct_stop_waiting(ct);
    log_event(LOG_LVL_ERR, "lxc %s: cannot look at container %s: %s; not added (the next "
              "resync tries again)", be_name(w), ct->name, why);
}

static void dlxc_probe_done(struct dw_job *j)
{
    struct dlxc_probe *p = (struct dlxc_probe *)j;
    struct dlxc_ct *ct = ct_find(p->w, p->info.name);

    /* Stale: the container had another event since; its own probe follows. */
    if (ct && ct->seq == p->seq && ct->waiting) {
        if (p->failed)
            ct_probe_failed(ct, p->err);
        else
            ct_probe_result(ct, &p->info);
    }
    dlxc_probe_drop(j);
}

static void ct_probe(struct dlxc_ct *ct)
{
    struct dlxc_probe *p = calloc(1, sizeof(*p));

    if (!p || !(p->info.name = strdup(ct->name))) {
        free(p);
        log_event(LOG_LVL_ERR, "lxc %s: out of memory probing %s", be_name(ct->w), ct->name);
        return;
    }
    p->job.run = dlxc_probe_run;
    p->job.done = dlxc_probe_done;
    p->job.drop = dlxc_probe_drop;
    p->w = ct->w;
    p->seq = ct->seq;
    dw_submit(ct->w->worker, &p->job);
}

static void ct_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dlxc_ct *ct = arg;

    (void)fd; (void)what;
    if (ct->waiting)
        ct_probe(ct);
}

/* RUNNING: find out whether it is ours and where it listens. */
static void ct_running(struct dlxc_ct *ct)
{
    int64_t now = dlxc_now_ms();

    evtimer_del(ct->retry);
    ct->ignored = false; /* its group may have changed while it was stopped */
    ct->waiting = true;
    ct->running_ms = now;
    ct->deadline_ms = now + ct->w->conf.ip_timeout_ms;
    ct->backoff_ms = DLXC_POLL_MIN_MS;
    ct_probe(ct);
}

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
    log_event(LOG_LVL_DEBUG, "server %s/%s: port open, checking now", be_name(ct->w),
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
    ct->kick = event_new(ct->w->be->px->base, fd, EV_WRITE, ct_kick_cb, ct);
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
    if (!ct->w->be || !ct->w->be->conf->health.enabled)
        return;
    ct_kick_stop(ct);
    ct->kick_backoff_ms = DLXC_KICK_MIN_MS;
    ct->kick_deadline_ms = dlxc_now_ms() + ct->w->conf.ip_timeout_ms;
    ct_kick_schedule(ct);
}

/* -------------------------------------------------------------- events -- */

static bool is_state(const char *st, const char *a) { return !strcmp(st, a); }

static bool state_leaving(const char *st)
{
    return is_state(st, "STOPPING") || is_state(st, "FREEZING") || is_state(st, "FROZEN") ||
           is_state(st, "ABORTING");
}

static void ct_stopped(struct dlxc_ct *ct, const char *why)
{
    ct_stop_waiting(ct);
    ct_drop_server(ct, why);
    ct_free(ct);
}

static void ct_thawed(struct dlxc_ct *ct)
{
    if (!ct->w->be && !ct->pub_ip[0] && !ct->waiting && !ct->ignored)
        ct_running(ct); /* reported down when frozen: find its address again */
    else if (ct->srv && ct->srv->retiring)
        ct_unretire(ct, "container thawed");
}

static void dlxc_on_line(void *arg, const char *name, const char *state)
{
    struct dlxc *w = arg;
    struct dlxc_ct *ct;

    if (fnmatch(w->conf.match, name, 0))
        return;
    ct = ct_find_or_adopt(w, name);
    /* An unknown container that stops or exits concerns nobody. */
    if (!ct && (is_state(state, "STOPPED") || is_state(state, "EXITED")))
        return;
    if (!ct && !(ct = ct_get(w, name)))
        return;
    ct->seq = ++w->evseq;
    if (!is_state(state, "EXITED"))
        snprintf(ct->state, sizeof(ct->state), "%s", state);
    log_event(LOG_LVL_INFO, "lxc %s: container %s %s", be_name(w), name, state);
    if (is_state(state, "RUNNING"))
        ct_running(ct);
    else if (is_state(state, "THAWED"))
        ct_thawed(ct);
    else if (state_leaving(state))
        ct_retire(ct);
    else if (is_state(state, "STOPPED"))
        ct_stopped(ct, "container stopped");
}

/* -------------------------------------------------------------- resync -- */

static void dlxc_resync_request(struct dlxc *w);

static void dlxc_resync_drop(struct dw_job *j)
{
    struct dlxc_resync *r = (struct dlxc_resync *)j;

    for (size_t i = 0; i < r->ninfos; i++)
        dlxc_info_free(&r->infos[i]);
    free(r->infos);
    free(r);
}

/* One listed container with no event since the resync was asked. */
static void dlxc_resync_one(struct dlxc *w, const struct dlxc_info *info)
{
    struct dlxc_ct *ct = ct_find_or_adopt(w, info->name);

    if (ct)
        ct->seen = true;
    if (!strcmp(info->state, "RUNNING") && info->selected) {
        if (!ct && !(ct = ct_get(w, info->name)))
            return;
        ct->seen = true;
        if (ct->ignored && !ct->srv)
            return; /* name clash: said once, not every 30 s */
        snprintf(ct->state, sizeof(ct->state), "%s", info->state);
        if (info->ip[0]) {
            if (!ct->srv || ct->srv->retiring || !ct->waiting) {
                ct_stop_waiting(ct);
                ct_set_addr(ct, info->ip);
            }
        } else if (!ct->srv && !ct->waiting) {
            ct_running(ct);
        }
        return;
    }
    if (!ct)
        return;
    snprintf(ct->state, sizeof(ct->state), "%s", info->state);
    if (!strcmp(info->state, "RUNNING")) /* not (any more) in the group */
        ct_drop_server(ct, "container not in the group any more");
    else if (state_leaving(info->state))
        ct_retire(ct);
    else if (!strcmp(info->state, "STOPPED"))
        ct_stopped(ct, "container found stopped by resync");
}

/* Servers left by an earlier run of discovery (before a reload) whose
 * container the resync did not find running: nobody else would remove them. */
static void dlxc_sweep_orphans(struct dlxc *w)
{
    if (!w->be)
        return;
    for (size_t i = w->be->nservers; i-- > 0;) {
        struct server *s = w->be->servers[i];
        if (!dlxc_orphan(w, s->name))
            continue;
        log_event(LOG_LVL_INFO, "server %s/%s removed: container not running (resync)",
                  be_name(w), s->name);
        be_remove_gone(w->be, s);
    }
}

static void dlxc_resync_done(struct dw_job *j)
{
    struct dlxc_resync *r = (struct dlxc_resync *)j;
    struct dlxc *w = r->w;
    struct dlxc_ct *ct, *next;

    w->resync_busy = false;
    if (r->failed) {
        log_event(LOG_LVL_WARN, "lxc %s: cannot list the containers of %s: %s", be_name(w),
                  w->conf.lxcpath, r->err);
    } else {
        for (ct = w->cts; ct; ct = ct->next)
            ct->seen = false;
        for (size_t i = 0; i < r->ninfos; i++) {
            ct = ct_find(w, r->infos[i].name);
            if (ct && ct->seq > r->evseq) {
                ct->seen = true; /* its events are newer than this picture */
                continue;
            }
            dlxc_resync_one(w, &r->infos[i]);
        }
        for (ct = w->cts; ct; ct = next) {
            next = ct->next;
            if (!ct->seen && ct->seq <= r->evseq)
                ct_stopped(ct, "container gone (resync)");
        }
        dlxc_sweep_orphans(w);
    }
    dlxc_resync_drop(j);
    if (w->resync_again) {
        w->resync_again = false;
        dlxc_resync_request(w);
    }
}

static void dlxc_resync_request(struct dlxc *w)
{
    struct dlxc_resync *r;

    if (w->resync_busy) {
        w->resync_again = true;
        return;
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        log_event(LOG_LVL_ERR, "lxc %s: out of memory for a resync", be_name(w));
        return;
    }
    r->job.run = dlxc_resync_run;
    r->job.done = dlxc_resync_done;
    r->job.drop = dlxc_resync_drop;
    r->w = w;
    r->evseq = w->evseq;
    w->resync_busy = true;
    dw_submit(w->worker, &r->job);
}

static void dlxc_resync_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    dlxc_resync_request(arg);
}

static void dlxc_on_restart(void *arg, bool first)
{
    struct dlxc *w = arg;

    (void)first;
    dlxc_resync_request(w);
    dlxc_arm(w->settle, DLXC_SETTLE_MS);
}

/* ------------------------------------------------------------ lifetime -- */

static int dlxc_copy_conf(struct dlxc_conf *dst, const struct conf_lxc *src)
{
    dst->lxcpath = strdup(src->lxcpath);
    dst->group = src->group ? strdup(src->group) : NULL;
    dst->match = strdup(src->match ? src->match : "*");
    dst->interface = strdup(src->interface);
    dst->port = src->port;
    dst->ip_timeout_ms = src->ip_timeout_ms;
    if (!dst->lxcpath || (src->group && !dst->group) || !dst->match || !dst->interface)
        return -1;
    return 0;
}

/* Common to both modes: w->be or w->sink is set already. */
static struct dlxc *dlxc_init(struct dlxc *w, const struct conf_lxc *cf, struct event_base *base,
                              struct dworker *worker, char *err, size_t errlen)
{
    struct timeval every = { DLXC_RESYNC_MS / 1000, 0 };

    w->base = base;
    w->worker = worker;
    /* Before privs_drop at start: only then can a root helper be started. */
    if (dhc_start(err, errlen) < 0)
        goto err;
    if (dlxc_copy_conf(&w->conf, cf) < 0)
        goto oom;
    w->resync = event_new(base, -1, EV_PERSIST, dlxc_resync_cb, w);
    w->settle = evtimer_new(base, dlxc_resync_cb, w);
    if (!w->resync || !w->settle || event_add(w->resync, &every) < 0)
        goto oom;
    log_event(LOG_LVL_INFO, "lxc %s: discovering containers in %s (group %s, match %s, "
              "%s:%u)", be_name(w), w->conf.lxcpath, w->conf.group ? w->conf.group : "any",
              w->conf.match, w->conf.interface, w->conf.port);
    /* Last: once lxc-monitor runs, dlxc_on_restart() queues the first resync. */
    if (dmon_start(&w->mon, base, worker, w->conf.lxcpath, dlxc_on_line, dlxc_on_restart, w,
                   err, errlen) < 0)
        goto err;
    return w;
oom:
    snprintf(err, errlen, "discovery.lxc: out of memory");
err:
    dlxc_stop(w);
    return NULL;
}

struct dlxc *dlxc_start(struct backend *be, struct event_base *base, struct dworker *worker,
                        char *err, size_t errlen)
{
    struct dlxc *w = calloc(1, sizeof(*w));

    if (!w) {
        snprintf(err, errlen, "discovery.lxc: out of memory");
        return NULL;
    }
    w->be = be;
    return dlxc_init(w, &be->conf->lxc, base, worker, err, errlen);
}

struct dlxc *dlxc_start_sink(const struct conf_lxc *cf, struct event_base *base,
                             struct dworker *worker, const struct dlxc_sink *sink,
                             char *err, size_t errlen)
{
    struct dlxc *w = calloc(1, sizeof(*w));

    if (!w) {
        snprintf(err, errlen, "lxc: out of memory");
        return NULL;
    }
    w->sink = *sink;
    return dlxc_init(w, cf, base, worker, err, errlen);
}

void dlxc_stop(struct dlxc *w)
{
    if (!w)
        return;
    dmon_stop(&w->mon);
    while (w->cts)
        ct_free(w->cts);
    if (w->resync)
        event_free(w->resync);
    if (w->settle)
        event_free(w->settle);
    free(w->conf.lxcpath);
    free(w->conf.group);
    free(w->conf.match);
    free(w->conf.interface);
    free(w);
}
