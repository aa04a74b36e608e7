/* discovery/lxc.c - follow the containers of an lxcpath.
 *
 * lxc-monitor lines (discovery/monitor.c) say what changed; what a container
 * is (its group, its address) is asked of liblxc, in the privileged LXC
 * helper process (discovery/helper.c), from the worker thread (discovery/
 * worker.c), and the answer is applied here, on the loop.
 *
 * This file decides when a container runs (at which address), leaves or is
 * gone; what that means is the watcher's ops (struct dlxc_ops): a backend's
 * servers (discovery/lxc-server.c) or, for lxlb agent, a sink that hears
 * "up" and "down" (discovery/lxc-sink.c).
 *
 * Ordering: every monitor event stamps the container with a new sequence
 * number; a probe answer carrying an older stamp is stale (the container
 * moved on while the worker looked) and is dropped. A resync answer is
 * applied only to containers with no event since it was asked. The worker
 * runs jobs in order, so an answer never overtakes an earlier one.
 *
 * Leaving is immediate and needs no worker: STOPPING/FREEZING/FROZEN are
 * told to the ops at once, STOPPED too. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "discovery/helper-client.h"
#include "discovery/lxc-int.h"
#include "discovery/lxc.h"
#include "discovery/monitor.h"
#include "discovery/worker.h"
#include "lb/backend-t.h"
#include "lb/log.h"

#define DLXC_POLL_MIN_MS 50       /* first address poll delay */
#define DLXC_POLL_MAX_MS 1000     /* address poll delay cap */
#define DLXC_RESYNC_MS 30000      /* periodic full resync */
#define DLXC_SETTLE_MS 2000       /* resync again this long after a monitor start:
                                   * it may miss events until it has connected */

int64_t dlxc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dlxc_arm(struct event *ev, uint32_t ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(ev, &tv);
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

struct dlxc_ct *dlxc_ct_find(const struct dlxc *w, const char *name)
{
    for (struct dlxc_ct *ct = w->cts; ct; ct = ct->next)
        if (!strcmp(ct->name, name))
            return ct;
    return NULL;
}

static void ct_retry_cb(evutil_socket_t fd, short what, void *arg);

/* Half-made or done: the mode's part first (it may still look at ours). */
static void ct_release(struct dlxc_ct *ct)
{
    ct->w->ops->ct_free(ct);
    if (ct->retry)
        event_free(ct->retry);
    free(ct->name);
    free(ct);
}

struct dlxc_ct *dlxc_ct_get(struct dlxc *w, const char *name)
{
    struct dlxc_ct *ct = dlxc_ct_find(w, name);

    if (ct)
        return ct;
    ct = calloc(1, sizeof(*ct));
    if (!ct)
        goto oom;
    ct->w = w;
    ct->name = strdup(name);
    ct->retry = evtimer_new(w->base, ct_retry_cb, ct);
    if (!ct->name || !ct->retry || w->ops->ct_init(ct) < 0)
        goto oom;
    ct->next = w->cts;
    w->cts = ct;
    return ct;
oom:
    log_event(LOG_LVL_ERR, "lxc %s: out of memory tracking container %s", w->label, name);
    if (ct)
        ct_release(ct);
    return NULL;
}

/* The container, tracked already or through what an earlier watcher left. */
static struct dlxc_ct *ct_find_or_adopt(struct dlxc *w, const char *name)
{
    struct dlxc_ct *ct = dlxc_ct_find(w, name);

    return ct ? ct : w->ops->adopt(w, name);
}

static void ct_stop_waiting(struct dlxc_ct *ct)
{
    ct->waiting = false;
    evtimer_del(ct->retry);
}

/* The watcher forgets it (the ops were told it is gone, when it was). */
static void ct_free(struct dlxc_ct *ct)
{
    struct dlxc_ct **pp;

    for (pp = &ct->w->cts; *pp; pp = &(*pp)->next) {
        if (*pp == ct) {
            *pp = ct->next;
            break;
        }
    }
    ct_release(ct);
}

static void ct_retire(struct dlxc_ct *ct)
{
    ct_stop_waiting(ct);
    ct->w->ops->leaving(ct);
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

    if (!info->defined || strcmp(info->state, "RUNNING")) {
        ct_stop_waiting(ct); /* an event about what it is now will follow */
        return;
    }
    if (!info->selected) {
        ct_stop_waiting(ct);
        if (!ct->ignored)
            log_event(LOG_LVL_INFO, "lxc %s: container %s is not in group %s: ignored",
                      w->label, ct->name, w->conf.group);
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
                  "not added", w->label, ct->name, w->conf.interface, w->conf.ip_timeout_ms);
        return;
    }
    ct_stop_waiting(ct);
    if (w->ops->new_addr(ct, info->ip))
        log_event(LOG_LVL_INFO, "lxc %s: container %s has address %s (%lldms after RUNNING)",
                  w->label, ct->name, info->ip, (long long)(dlxc_now_ms() - ct->running_ms));
    w->ops->at(ct, info->ip);
}

/* No answer (the helper refused, or was lost): ask again until the deadline. */
static void ct_probe_failed(struct dlxc_ct *ct, const char *why)
{
    struct dlxc *w = ct->w;

    if (dlxc_now_ms() < ct->deadline_ms) {
        log_event(LOG_LVL_WARN, "lxc %s: cannot look at container %s: %s; asking again",
                  w->label, ct->name, why);
        ct_schedule_poll(ct);
        return;
    }
    ct_stop_waiting(ct);
    log_event(LOG_LVL_ERR, "lxc %s: cannot look at container %s: %s; not added (the next "
              "resync tries again)", w->label, ct->name, why);
}

static void dlxc_probe_done(struct dw_job *j)
{
    struct dlxc_probe *p = (struct dlxc_probe *)j;
    struct dlxc_ct *ct = dlxc_ct_find(p->w, p->info.name);

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
        log_event(LOG_LVL_ERR, "lxc %s: out of memory probing %s", ct->w->label, ct->name);
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

void dlxc_ct_running(struct dlxc_ct *ct)
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
    ct->w->ops->gone(ct, why);
    ct_free(ct);
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
    if (!ct && !(ct = dlxc_ct_get(w, name)))
        return;
    ct->seq = ++w->evseq;
    if (!is_state(state, "EXITED"))
        snprintf(ct->state, sizeof(ct->state), "%s", state);
    log_event(LOG_LVL_INFO, "lxc %s: container %s %s", w->label, name, state);
    if (is_state(state, "RUNNING"))
        dlxc_ct_running(ct);
    else if (is_state(state, "THAWED"))
        w->ops->thawed(ct);
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

/* A listed container, RUNNING and in the group. */
static void dlxc_resync_running(struct dlxc *w, struct dlxc_ct *ct, const struct dlxc_info *info)
{
    if (!ct && !(ct = dlxc_ct_get(w, info->name)))
        return;
    ct->seen = true;
    if (ct->ignored && !w->ops->holds(ct))
        return; /* name clash: said once, not every 30 s */
    snprintf(ct->state, sizeof(ct->state), "%s", info->state);
    if (info->ip[0]) {
        if (!w->ops->live(ct) || !ct->waiting) {
            ct_stop_waiting(ct);
            w->ops->at(ct, info->ip);
        }
    } else if (!w->ops->holds(ct) && !ct->waiting) {
        dlxc_ct_running(ct);
    }
}

/* One listed container with no event since the resync was asked. */
static void dlxc_resync_one(struct dlxc *w, const struct dlxc_info *info)
{
    struct dlxc_ct *ct = ct_find_or_adopt(w, info->name);

    if (ct)
        ct->seen = true;
    if (!strcmp(info->state, "RUNNING") && info->selected) {
        dlxc_resync_running(w, ct, info);
        return;
    }
    if (!ct)
        return;
    snprintf(ct->state, sizeof(ct->state), "%s", info->state);
    if (!strcmp(info->state, "RUNNING")) /* not (any more) in the group */
        w->ops->gone(ct, "container not in the group any more");
    else if (state_leaving(info->state))
        ct_retire(ct);
    else if (!strcmp(info->state, "STOPPED"))
        ct_stopped(ct, "container found stopped by resync");
}

static void dlxc_resync_apply(struct dlxc *w, const struct dlxc_resync *r)
{
    struct dlxc_ct *ct, *next;

    for (ct = w->cts; ct; ct = ct->next)
        ct->seen = false;
    for (size_t i = 0; i < r->ninfos; i++) {
        ct = dlxc_ct_find(w, r->infos[i].name);
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
    w->ops->sweep(w);
}

static void dlxc_resync_done(struct dw_job *j)
{
    struct dlxc_resync *r = (struct dlxc_resync *)j;
    struct dlxc *w = r->w;

    w->resync_busy = false;
    if (r->failed)
        log_event(LOG_LVL_WARN, "lxc %s: cannot list the containers of %s: %s", w->label,
                  w->conf.lxcpath, r->err);
    else
        dlxc_resync_apply(w, r);
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
        log_event(LOG_LVL_ERR, "lxc %s: out of memory for a resync", w->label);
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

/* Common to both modes: w->ops and w->be or w->sink are set already. */
static struct dlxc *dlxc_init(struct dlxc *w, const char *label, const struct conf_lxc *cf,
                              struct event_base *base, struct dworker *worker, char *err,
                              size_t errlen)
{
    struct timeval every = { DLXC_RESYNC_MS / 1000, 0 };

    w->base = base;
    w->worker = worker;
    if (!(w->label = strdup(label)))
        goto oom;
    /* Before privs_drop at start: only then can a root helper be started. */
    if (dhc_start(err, errlen) < 0)
        goto err;
    if (dlxc_copy_conf(&w->conf, cf) < 0)
        goto oom;
    w->resync = event_new(base, -1, EV_PERSIST, dlxc_resync_cb, w);
    w->settle = evtimer_new(base, dlxc_resync_cb, w);
    if (!w->resync || !w->settle || event_add(w->resync, &every) < 0)
        goto oom;
    if (w->ops->start(w, err, errlen) < 0)
        goto err;
    log_event(LOG_LVL_INFO, "lxc %s: discovering containers in %s (group %s, match %s, "
              "%s:%u)", w->label, w->conf.lxcpath, w->conf.group ? w->conf.group : "any",
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
    w->ops = &dlxc_server_ops;
    w->be = be;
    return dlxc_init(w, be->name, &be->conf->lxc, base, worker, err, errlen);
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
    w->ops = &dlxc_sink_ops;
    w->sink = *sink;
    return dlxc_init(w, "agent", cf, base, worker, err, errlen);
}

void dlxc_stop(struct dlxc *w)
{
    if (!w)
        return;
    w->ops->stop(w);
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
    free(w->label);
    free(w);
}
