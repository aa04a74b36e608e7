/* lb/role.c - the main loop and the replica roles (lb/role.h). */
#include <stdio.h>

#include "acme/acme.h"
#include "admin/admin.h"
#include "discovery/discovery.h"
#include "health/health.h"
#include "lb/backend.h"
#include "lb/ctr.h"
#include "lb/log.h"
#include "lb/proxy-t.h"
#include "lb/reload.h"
#include "lb/role.h"
#include "lb/server.h"
#include "lb/worker.h"

/* ------------------------------------------------------------ main loop */

static int main_start(struct proxy *px, char *err, size_t errlen)
{
    if (!(px->reload = reload_new(px))) {
        snprintf(err, errlen, "cannot set up the event loop: out of memory");
        return -1;
    }
    if (admin_start(px, err, errlen) < 0)
        return -1;
    if (health_start(px) < 0) {
        snprintf(err, errlen, "cannot start health checks");
        return -1;
    }
    if (discovery_start(px, err, errlen) < 0)
        return -1;
    return acme_start(px, err, errlen);
}

static void main_stop(struct proxy *px)
{
    acme_stop();
    discovery_stop(px);
    admin_stop(px);
    health_stop(px);
    reload_free(px->reload);
    px->reload = NULL;
}

static void main_stopping(struct proxy *px)
{
    workers_stop(true);
    log_event(LOG_LVL_INFO, "stopping: %u connections to finish (grace %ums)",
              (unsigned)ctr_sum(px->ctr, CTR_CONNS), px->conf->global.grace_ms);
}

static bool main_may_end(void) { return workers_running() == 0; }

static int main_reload_prepare(struct proxy *px, struct conf *nc, struct role_reload *rr)
{
    (void)px;
    return workers_reload_prepare(nc, &rr->to_replicas);
}

static void main_reload_abort(struct role_reload *rr)
{
    workers_reload_abort(rr->to_replicas);
    rr->to_replicas = NULL;
}

/* Discovery's watchers point into the old generation's backends, some of
 * which the swap retires: it restarts after and adopts its servers by name.
 * The replicas hear of the swap's server changes all at once, after it. */
static void main_reload_begin(struct proxy *px)
{
    discovery_stop(px);
    workers_reload_hold();
}

/* Checks restart for every server of a backend whose health section changed;
 * a new server gets its first check. Health state itself is kept. */
static void restart_checks(struct backend *be, bool changed)
{
    for (size_t i = 0; i < be->nservers; i++) {
        struct server *s = be->servers[i];
        if (s->check && !changed)
            continue;
        srv_health_event(s, SRV_HEV_CONF, "health checks disabled by reload");
    }
}

static void main_reload_end(struct proxy *px, struct role_reload *rr)
{
    char err[512];

    /* First: what follows (checks, discovery) is published as it happens. */
    workers_reload_commit(px, rr->to_replicas);
    rr->to_replicas = NULL;
    for (size_t i = 0; i < px->nbackends; i++)
        restart_checks(px->backends[i], rr->health_changed[i]);
    /* admin_start keeps its socket when the bind is unchanged. */
    if (admin_start(px, err, sizeof(err)) < 0)
        log_event(LOG_LVL_ERR, "reload: admin endpoint: %s", err);
    if (discovery_start(px, err, sizeof(err)) < 0)
        log_event(LOG_LVL_ERR, "reload: discovery: %s", err);
    acme_reloaded(px); /* its certificates into the new generation's TLS frontends */
}

const struct proxy_role role_main = {
    .owns_servers = true,
    .listens_unix = true,
    .keeps_tickets = true,
    .log = log_event,
    .start = main_start,
    .stop = main_stop,
    .stopping = main_stopping,
    .may_end = main_may_end,
    .reload_prepare = main_reload_prepare,
    .reload_abort = main_reload_abort,
    .reload_begin = main_reload_begin,
    .reload_end = main_reload_end,
};

/* -------------------------------------------------------------- replica */

static void replica_quiet(enum log_level lvl, const char *fmt, ...)
{
    (void)lvl;
    (void)fmt;
}

static int replica_start(struct proxy *px, char *err, size_t errlen)
{
    (void)px; (void)err; (void)errlen;
    return 0;
}

static void replica_nothing(struct proxy *px) { (void)px; }

static bool replica_may_end(void) { return true; }

static int replica_reload_prepare(struct proxy *px, struct conf *nc, struct role_reload *rr)
{
    (void)px; (void)nc; (void)rr;
    return 0;
}

static void replica_reload_abort(struct role_reload *rr) { (void)rr; }

static void replica_reload_end(struct proxy *px, struct role_reload *rr)
{
    (void)px; (void)rr;
}

/* Serves traffic only: no service of its own, nothing to say that the main
 * loop did not say already. */
const struct proxy_role role_replica = {
    .owns_servers = false,
    .listens_unix = false,
    .keeps_tickets = false,
    .log = replica_quiet,
    .start = replica_start,
    .stop = replica_nothing,
    .stopping = replica_nothing,
    .may_end = replica_may_end,
    .reload_prepare = replica_reload_prepare,
    .reload_abort = replica_reload_abort,
    .reload_begin = replica_nothing,
    .reload_end = replica_reload_end,
};
