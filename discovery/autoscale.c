/* discovery/autoscale.c - the autoscaler of one backend, beside its
 * discovery.lxc watcher (discovery/lxc-server.c).
 *
 * Every 250 ms it samples the backend (requests in flight per usable
 * server); every second it gives the state machine the mean of those
 * samples, the servers, its clones and the containers' mean CPU
 * (discovery/autoscale-fsm.c), and carries out what it decides, one phase
 * at a time, each phase owned by this object and checked on the tick:
 *
 *   up:   LISTING (our clones, from the helper) -> CLONING (clone the
 *         template, or reuse a stopped clone of ours, and lxc-start it, one
 *         job on the worker) -> JOINING (until discovery and health make its
 *         server usable; too long: it is removed again) -> IDLE;
 *   down: LISTING -> DRAINING (the newest running clone's server retires:
 *         no new request, sticky clients go elsewhere; until its requests
 *         in flight are done, at most drain_timeout) -> REMOVING (lxc-stop,
 *         lxc-destroy, one job) -> IDLE.
 *
 * Container work goes through the LXC helper on the discovery worker, never
 * on the loop; servers change only through discovery and the server API.
 * A failure is logged, counted, and retried after the cooldown. It knows
 * its clones by what the helper lists (prefix and the helper's mark), so
 * after a restart it goes on managing the clones it made. A reload starts
 * it afresh: an action under way is left to the next decisions (a clone
 * being made joins; one being drained comes back). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "discovery/autoscale-fsm.h"
#include "discovery/autoscale.h"
#include "discovery/helper-client.h"
#include "discovery/helper-proto.h"
#include "discovery/lxc-int.h"
#include "discovery/lxc.h"
#include "discovery/worker.h"
#include "lb/backend.h"
#include "lb/log.h"
#include "lb/proxy-t.h"
#include "lb/server.h"

#define DAS_TICK_MS 250           /* load samples */
#define DAS_SAMPLES 4             /* samples per decision (one a second) */
#define DAS_RELIST_MS 10000       /* idle: ask for our clones this often */
#define DAS_JOIN_SLACK_MS 20000   /* joining: ip_timeout plus this, then give up */

static const struct conf_autoscale *das_cf(const struct das *as)
{
    return &as->w->be->conf->autoscale;
}

static int64_t das_wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

const char *das_phase_name(enum das_phase p)
{
    static const char *const names[] = { "idle", "listing", "cloning", "joining", "draining",
                                         "removing" };
    return names[p];
}

/* Logged, and kept for /stats and the dashboard's time line. */
static void das_event(struct das *as, const char *kind, int lvl, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void das_event(struct das *as, const char *kind, int lvl, const char *fmt, ...)
{
    size_t i = (as->ev_head + as->nevents) % DAS_EVENTS;
    struct das_event *e = &as->events[i];
    va_list ap;

    if (as->nevents == DAS_EVENTS)
        as->ev_head = (as->ev_head + 1) % DAS_EVENTS;
    else
        as->nevents++;
    e->at_ms = das_wall_ms();
    snprintf(e->kind, sizeof(e->kind), "%s", kind);
    snprintf(e->name, sizeof(e->name), "%.63s", as->name);
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof(e->text), fmt, ap);
    va_end(ap);
    log_event(lvl, "autoscale %s: %s", as->w->label, e->text);
}

static void das_phase(struct das *as, enum das_phase p)
{
    as->phase = p;
    as->phase_ms = dlxc_now_ms();
}

/* The action ended: the state machine hears it, the list is refreshed. */
static void das_finish(struct das *as, bool ok)
{
    if (as->srv) {
        srv_unref(as->srv);
        as->srv = NULL;
    }
    as->name[0] = '\0';
    as->undo = false;
    das_phase(as, DAS_IDLE);
    asf_done(&as->fsm, dlxc_now_ms(), ok);
    as->listed_ms = 0; /* relist at the next tick */
}

/* ================================================== worker: the helper === */

static void das_job_run(struct dw_job *j)
{
    struct das_job *dj = (struct das_job *)j;
    char *e = dj->err;
    size_t el = sizeof(dj->err);

    switch (dj->kind) {
    case DAS_JOB_LIST:
        dj->failed = dhc_clones(&dj->sc, &dj->clones, &dj->nclones, e, el) < 0;
        break;
    case DAS_JOB_ADD:
        dj->failed = (!dj->reuse && dhc_clone(&dj->sc, dj->name, dj->group,
                                               dj->address[0] ? dj->address : NULL,
                                               &dj->snapshot, &dj->clone_ms, e, el) < 0) ||
                     dhc_clone_start(&dj->sc, dj->name, &dj->start_ms, e, el) < 0;
        break;
    case DAS_JOB_REMOVE:
        dj->failed = dhc_clone_stop(&dj->sc, dj->name, NULL, e, el) < 0 ||
                     dhc_clone_destroy(&dj->sc, dj->name, NULL, e, el) < 0;
        break;
    }
}

static void das_job_drop(struct dw_job *j)
{
    struct das_job *dj = (struct das_job *)j;

    free(dj->clones);
    free(dj);
}

static void das_job_done(struct dw_job *j);

static struct das_job *das_job_new(struct das *as, enum das_job_kind kind, const char *name)
{
    struct das_job *dj = calloc(1, sizeof(*dj));

    if (!dj) {
        log_event(LOG_LVL_ERR, "autoscale %s: out of memory", as->w->label);
        return NULL;
    }
    dj->job.run = das_job_run;
    dj->job.done = das_job_done;
    dj->job.drop = das_job_drop;
    dj->as = as;
    dj->kind = kind;
    dj->sc = (struct dlxc_scale){ as->tgt.lxcpath, as->tgt.tmpl, as->tgt.prefix };
    if (name)
        snprintf(dj->name, sizeof(dj->name), "%s", name);
    return dj;
}

/* ======================================================== loop: choices === */

/* Is ip (host order) taken: a server of any backend, or one of our clones? */
static bool das_addr_taken(const struct das *as, uint32_t ip)
{
    const struct proxy *px = as->w->be->px;
    struct in_addr a = { htonl(ip) };
    char text[INET_ADDRSTRLEN + 1];
    size_t tl;

    for (size_t b = 0; px && b < px->nbackends; b++) {
        const struct backend *be = px->backends[b];
        for (size_t i = 0; be && i < be->nservers; i++) {
            const struct conf_addr *sa = &be->servers[i]->addr;
            if (sa->family == AF_INET &&
                ((const struct sockaddr_in *)&sa->ss)->sin_addr.s_addr == a.s_addr)
                return true;
        }
    }
    inet_ntop(AF_INET, &a, text, sizeof(text) - 1);
    tl = strlen(text);
    text[tl++] = '/';
    text[tl] = '\0';
    for (size_t i = 0; i < as->nclones; i++)
        if (!strncmp(as->clones[i].address, text, tl))
            return true;
    return false;
}

/* The next free address of the range, "A.B.C.D/LEN"; -1: none. */
static int das_pick_addr(const struct das *as, char *out, size_t size)
{
    const struct conf_autoscale *cf = das_cf(as);

    for (uint64_t ip = cf->addr_first; ip <= cf->addr_last; ip++) {
        struct in_addr a = { htonl((uint32_t)ip) };
        char text[INET_ADDRSTRLEN];
        if (das_addr_taken(as, (uint32_t)ip))
            continue;
        inet_ntop(AF_INET, &a, text, sizeof(text));
        snprintf(out, size, "%s/%u", text, cf->addr_len);
        return 0;
    }
    return -1;
}

/* A stopped clone of ours to start again (the lowest number), else the
 * next number after every clone and server named like one. */
static bool das_pick_name(struct das *as, char *name, size_t size)
{
    const struct backend *be = as->w->be;
    unsigned num, next = as->num_floor > 0 ? as->num_floor : 1, reuse = 0;

    for (size_t i = 0; i < as->nclones; i++) {
        if (!dhp_clone_name(as->tgt.prefix, as->clones[i].name, &num))
            continue;
        if (!strcmp(as->clones[i].state, "STOPPED") && (!reuse || num < reuse))
            reuse = num;
        if (num >= next)
            next = num + 1;
    }
    for (size_t i = 0; i < be->nservers; i++)
        if (dhp_clone_name(as->tgt.prefix, be->servers[i]->name, &num) && num >= next)
            next = num + 1;
    snprintf(name, size, "%s%u", as->tgt.prefix, reuse ? reuse : next);
    return reuse != 0;
}

/* The newest running clone: the highest number. */
static const char *das_newest(const struct das *as)
{
    const char *best = NULL;
    unsigned num, top = 0;

    for (size_t i = 0; i < as->nclones; i++)
        if (!strcmp(as->clones[i].state, "RUNNING") &&
            dhp_clone_name(as->tgt.prefix, as->clones[i].name, &num) && num >= top) {
            top = num;
            best = as->clones[i].name;
        }
    return best;
}

/* ======================================================== loop: actions === */

static void das_add(struct das *as)
{
    struct das_job *dj = das_job_new(as, DAS_JOB_ADD, NULL);

    if (!dj) {
        das_finish(as, false);
        return;
    }
    dj->reuse = das_pick_name(as, dj->name, sizeof(dj->name));
    if (!dj->reuse && das_cf(as)->has_addresses &&
        das_pick_addr(as, dj->address, sizeof(dj->address)) < 0) {
        das_event(as, "failed", LOG_LVL_ERR, "scale up: no free address left in "
                  "autoscale.addresses");
        das_job_drop(&dj->job);
        das_finish(as, false);
        return;
    }
    dj->group = as->tgt.group;
    dj->snapshot = as->tgt.snapshot;
    snprintf(as->name, sizeof(as->name), "%s", dj->name);
    if (dj->reuse)
        das_event(as, "up", LOG_LVL_INFO, "scale up (%s): starting %s again (a stopped "
                  "clone)", as->fsm.why, dj->name);
    else
        das_event(as, "up", LOG_LVL_INFO, "scale up (%s): cloning %s into %s%s%s", as->fsm.why,
                  as->tgt.tmpl, dj->name, dj->address[0] ? " at " : "", dj->address);
    das_phase(as, DAS_CLONING);
    dw_submit(as->w->worker, &dj->job);
}

static void das_remove(struct das *as)
{
    struct das_job *dj = das_job_new(as, DAS_JOB_REMOVE, as->name);

    if (!dj) {
        das_finish(as, false);
        return;
    }
    das_phase(as, DAS_REMOVING);
    dw_submit(as->w->worker, &dj->job);
}

static void das_down(struct das *as)
{
    const char *name = das_newest(as);
    char why[256];

    if (!name) {
        das_event(as, "failed", LOG_LVL_WARN, "scale down (%s): no running clone left",
                  as->fsm.why);
        das_finish(as, false);
        return;
    }
    snprintf(as->name, sizeof(as->name), "%s", name);
    snprintf(why, sizeof(why), "autoscale removes it (%s)", as->fsm.why);
    as->srv = dlxc_server_leave(as->w, name, why);
    if (as->srv)
        srv_ref(as->srv);
    das_event(as, "down", LOG_LVL_INFO, "scale down (%s): draining %s (%u requests in flight)",
              as->fsm.why, name, as->srv ? srv_active(as->srv) : 0);
    if (!as->srv) {
        das_remove(as);
        return;
    }
    das_phase(as, DAS_DRAINING);
}

static void das_list(struct das *as, enum asf_action pending)
{
    struct das_job *dj;

    if (as->list_busy || !(dj = das_job_new(as, DAS_JOB_LIST, NULL)))
        return;
    as->list_busy = true;
    as->pending = pending;
    if (pending != ASF_NONE)
        das_phase(as, DAS_LISTING);
    dw_submit(as->w->worker, &dj->job);
}

static void das_listed(struct das *as, struct das_job *dj)
{
    as->list_busy = false;
    if (dj->failed) {
        log_event(LOG_LVL_WARN, "autoscale %s: cannot list the clones: %s", as->w->label,
                  dj->err);
    } else {
        free(as->clones);
        as->clones = dj->clones;
        as->nclones = dj->nclones;
        dj->clones = NULL;
        as->listed_ms = dlxc_now_ms();
    }
    if (as->phase != DAS_LISTING)
        return;
    if (dj->failed) {
        das_event(as, "failed", LOG_LVL_ERR, "scale %s: cannot list the clones: %s",
                  asf_action_name(as->pending), dj->err);
        das_finish(as, false);
    } else if (as->pending == ASF_UP) {
        das_add(as);
    } else {
        das_down(as);
    }
}

static void das_added(struct das *as, struct das_job *dj)
{
    if (dj->failed) {
        unsigned num;
        das_event(as, "failed", LOG_LVL_ERR, "scale up: %s: %s (retried after the cooldown)",
                  dj->name, dj->err);
        /* A container of that name that is not ours: the next number. */
        if (strstr(dj->err, "exists already") && dhp_clone_name(as->tgt.prefix, dj->name, &num))
            as->num_floor = num + 1;
        das_finish(as, false);
        return;
    }
    if (!dj->reuse) {
        as->clone_ms = dj->clone_ms;
        as->clone_snapshot = dj->snapshot;
    }
    log_event(LOG_LVL_INFO, "autoscale %s: %s %s in %ums, started in %ums", as->w->label,
              dj->name, dj->reuse ? "reused" : dj->snapshot ? "cloned (snapshot)"
                                                           : "cloned (copy)",
              dj->clone_ms, dj->start_ms);
    das_phase(as, DAS_JOINING);
}

static void das_removed(struct das *as, struct das_job *dj)
{
    if (dj->failed) {
        das_event(as, "failed", LOG_LVL_ERR, "scale down: %s: %s (retried after the cooldown)",
                  dj->name, dj->err);
        das_finish(as, false);
        return;
    }
    if (as->undo) {
        das_event(as, "failed", LOG_LVL_ERR, "scale up: %s never served: stopped and "
                  "destroyed (retried after the cooldown)", dj->name);
        das_finish(as, false);
        return;
    }
    das_event(as, "left", LOG_LVL_INFO, "%s stopped and destroyed, %.1fs after the decision",
              dj->name, (dlxc_now_ms() - as->acted_ms) / 1000.0);
    das_finish(as, true);
}

static void das_job_done(struct dw_job *j)
{
    struct das_job *dj = (struct das_job *)j;
    struct das *as = dj->as;

    if (dj->kind == DAS_JOB_LIST)
        das_listed(as, dj);
    else if (dj->kind == DAS_JOB_ADD && as->phase == DAS_CLONING)
        das_added(as, dj);
    else if (dj->kind == DAS_JOB_REMOVE && as->phase == DAS_REMOVING)
        das_removed(as, dj);
    das_job_drop(j);
}

/* ========================================================= loop: ticks === */

/* JOINING: is its server usable yet? Given up after the discovery timeout. */
static void das_check_joined(struct das *as, int64_t now)
{
    struct server *s = be_find_server(as->w->be, as->name);
    uint32_t limit = as->w->conf.ip_timeout_ms + DAS_JOIN_SLACK_MS;

    if (s && srv_usable(s)) {
        as->join_ms = now - as->acted_ms;
        das_event(as, "joined", LOG_LVL_INFO, "%s serving, %.1fs after the decision",
                  as->name, as->join_ms / 1000.0);
        das_finish(as, true);
    } else if (now - as->phase_ms > limit) {
        log_event(LOG_LVL_ERR, "autoscale %s: %s not serving %us after its start: removing "
                  "it", as->w->label, as->name, limit / 1000);
        as->undo = true;
        as->srv = dlxc_server_leave(as->w, as->name, "autoscale: it never served");
        if (as->srv)
            srv_ref(as->srv);
        das_remove(as);
    }
}

/* DRAINING: requests in flight done, or drain_timeout passed. */
static void das_check_drained(struct das *as, int64_t now)
{
    unsigned left = as->srv ? srv_active(as->srv) : 0;

    if (left && now - as->phase_ms < das_cf(as)->drain_timeout_ms)
        return;
    if (left)
        log_event(LOG_LVL_WARN, "autoscale %s: %s still has %u requests in flight after "
                  "%ums: stopping it", as->w->label, as->name, left,
                  das_cf(as)->drain_timeout_ms);
    das_remove(as);
}

/* One sample: requests in flight per usable server. */
static void das_sample(struct das *as)
{
    const struct backend *be = as->w->be;
    unsigned usable = 0, active = 0;

    for (size_t i = 0; i < be->nservers; i++)
        if (srv_usable(be->servers[i])) {
            usable++;
            active += srv_active(be->servers[i]);
        }
    as->active_sum += usable ? (double)active / usable : 0;
    as->nsample++;
}

static void das_figures(struct das *as, struct asf_figures *g)
{
    const struct backend *be = as->w->be;
    double cpu = 0;
    unsigned ncpu = 0;
    struct dlxc_figures fg;

    memset(g, 0, sizeof(*g));
    for (size_t i = 0; i < be->nservers; i++) {
        const struct server *s = be->servers[i];
        g->servers += !s->retiring;
        if (!srv_usable(s))
            continue;
        g->usable++;
        if (dlxc_figures(as->w, s, &fg) && fg.cpu_percent >= 0) {
            cpu += fg.cpu_percent;
            ncpu++;
        }
    }
    for (size_t i = 0; i < as->nclones; i++)
        g->clones += !strcmp(as->clones[i].state, "RUNNING");
    g->active = as->nsample ? as->active_sum / as->nsample : 0;
    g->cpu = ncpu ? cpu / ncpu : -1;
    as->active_sum = 0;
    as->nsample = 0;
}

static void das_decide(struct das *as, int64_t now)
{
    struct asf_figures g;
    enum asf_action a;

    das_figures(as, &g);
    if (as->phase != DAS_IDLE || !as->listed_ms || as->list_busy)
        return; /* an action under way, or our clones not known (yet) */
    a = asf_tick(&as->fsm, now, &g);
    if (a == ASF_NONE)
        return;
    as->acted_ms = now;
    das_list(as, a);
    if (as->phase != DAS_LISTING) { /* out of memory: counted as failed */
        das_event(as, "failed", LOG_LVL_ERR, "scale %s: out of memory", asf_action_name(a));
        das_finish(as, false);
    }
}

static void das_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct das *as = arg;
    int64_t now = dlxc_now_ms();

    (void)fd; (void)what;
    das_sample(as);
    if (as->phase == DAS_JOINING)
        das_check_joined(as, now);
    else if (as->phase == DAS_DRAINING)
        das_check_drained(as, now);
    if (as->nsample < DAS_SAMPLES)
        return;
    if (as->phase == DAS_IDLE && (!as->listed_ms || now - as->listed_ms >= DAS_RELIST_MS))
        das_list(as, ASF_NONE);
    das_decide(as, now);
}

/* ============================================================ lifetime === */

void das_enable(struct das *as, bool on)
{
    if (!as || as->fsm.paused == !on)
        return;
    asf_pause(&as->fsm, !on);
    das_event(as, "pause", LOG_LVL_INFO, "%s by the admin API", on ? "resumed" : "paused");
}

static int das_copy_target(struct das *as)
{
    const struct conf_autoscale *cf = das_cf(as);
    const struct conf_lxc *lx = &as->w->be->conf->lxc;

    as->tgt.lxcpath = strdup(lx->lxcpath);
    as->tgt.tmpl = strdup(cf->tmpl);
    as->tgt.prefix = strdup(cf->prefix);
    as->tgt.group = lx->group ? strdup(lx->group) : NULL;
    as->tgt.snapshot = cf->snapshot;
    return as->tgt.lxcpath && as->tgt.tmpl && as->tgt.prefix && (!lx->group || as->tgt.group)
               ? 0 : -1;
}

/* The helper must know what we may do; it is idle now (a new worker). */
static void das_allow(struct das *as)
{
    struct dlxc_scale sc = { as->tgt.lxcpath, as->tgt.tmpl, as->tgt.prefix };

    if (dhc_scale_allow(&sc, as->refused_why, sizeof(as->refused_why)) == 0)
        return;
    as->refused = true;
    snprintf(as->fsm.status, sizeof(as->fsm.status), "off: %.150s", as->refused_why);
    log_event(LOG_LVL_ERR, "autoscale %s: off: the LXC helper refuses: %s", as->w->label,
              as->refused_why);
}

struct das *das_start(struct dlxc *w, char *err, size_t errlen)
{
    struct das *as = calloc(1, sizeof(*as));
    struct timeval tv = { 0, DAS_TICK_MS * 1000 };
    const struct conf_autoscale *cf = &w->be->conf->autoscale;

    if (!as)
        goto oom;
    as->w = w;
    asf_init(&as->fsm, cf, dlxc_now_ms());
    if (das_copy_target(as) < 0)
        goto oom;
    das_allow(as);
    if (as->refused)
        return as;
    as->tick = event_new(w->base, -1, EV_PERSIST, das_tick_cb, as);
    if (!as->tick || event_add(as->tick, &tv) < 0)
        goto oom;
    log_event(LOG_LVL_INFO, "autoscale %s: clones of %s named %s<n>, %u to %u servers%s",
              w->label, cf->tmpl, cf->prefix, cf->min, cf->max,
              cf->paused ? " (paused)" : "");
    return as;
oom:
    snprintf(err, errlen, "autoscale: out of memory");
    das_stop(as);
    return NULL;
}

void das_stop(struct das *as)
{
    if (!as)
        return;
    if (as->tick)
        event_free(as->tick);
    if (as->srv)
        srv_unref(as->srv);
    free(as->clones);
    free(as->tgt.lxcpath);
    free(as->tgt.tmpl);
    free(as->tgt.prefix);
    free(as->tgt.group);
    free(as);
}
