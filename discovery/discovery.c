/* discovery/discovery.c - start and stop every backend's discovery.
 *
 * One worker thread serves every discovery.lxc backend (liblxc calls are few
 * and must not run in parallel on the loop anyway); each backend has its own
 * lxc-monitor child. The proxy has no slot for us, so the running state is
 * kept here: there is one proxy per process. Each discovery.etcd backend has
 * its own watcher (discovery/etcd.c): a range read and a watch, on the loop.
 *
 * A reload stops and starts discovery around the swap of generations: the
 * servers discovery added stay in their backends meanwhile and the new
 * watcher adopts them by name (discovery/lxc.c; discovery/etcd.c at its
 * first read), so they keep their health, counters and connections. */
#include <stdio.h>

#include "discovery/autoscale.h"
#include "discovery/discovery.h"
#include "discovery/etcd.h"
#include "discovery/lxc.h"
#include "discovery/worker.h"
#include "lb/backend.h"
#include "lb/log.h"
#include "lb/proxy-t.h"
#include "lb/server.h"

static struct {
    struct proxy *px;          /* the proxy discovery runs for, NULL: stopped */
    struct dworker *worker;    /* started with the first discovery.lxc backend */
    struct dlxc *watchers;     /* one per discovery.lxc backend */
    struct detcd *etcds;       /* one per discovery.etcd backend */
} disc;

static int discovery_start_lxc(struct backend *be, char *err, size_t errlen)
{
    struct dlxc *w;

    if (!disc.worker && !(disc.worker = dw_start(disc.px->base, err, errlen)))
        return -1;
    w = dlxc_start(be, disc.px->base, disc.worker, err, errlen);
    if (!w)
        return -1;
    w->next = disc.watchers;
    disc.watchers = w;
    return 0;
}

static int discovery_start_etcd(struct backend *be, char *err, size_t errlen)
{
    struct detcd *w = detcd_start(be, disc.px->base, err, errlen);

    if (!w)
        return -1;
    w->next = disc.etcds;
    disc.etcds = w;
    return 0;
}

/* A reload dropped discovery.lxc from be: its containers' servers go. */
static void discovery_drop_lxc(struct backend *be)
{
    for (size_t i = be->nservers; i-- > 0;) {
        struct server *s = be->servers[i];
        if (s->source != SRV_SRC_LXC)
            continue;
        log_event(LOG_LVL_INFO, "server %s/%s removed: backend has no discovery.lxc any more",
                  be->name, s->name);
        be_remove_gone(be, s);
    }
}

int discovery_start(struct proxy *px, char *err, size_t errlen)
{
    disc.px = px;
    for (size_t i = 0; i < px->nbackends; i++) {
        struct backend *be = px->backends[i];

        if (!be)
            continue;
        if (!be->conf->lxc.enabled)
            discovery_drop_lxc(be);
        else if (discovery_start_lxc(be, err, errlen) < 0)
            goto err;
        if (!be->conf->etcd.enabled)
            detcd_drop(be);
        else if (discovery_start_etcd(be, err, errlen) < 0)
            goto err;
    }
    return 0;
err:
    discovery_stop(px);
    return -1;
}

void discovery_stop(struct proxy *px)
{
    struct dlxc *w, *next;
    struct detcd *e, *enext;

    if (!disc.px || disc.px != px)
        return;
    /* The worker first: once joined, no job can point into a watcher. */
    dw_stop(disc.worker);
    disc.worker = NULL;
    for (w = disc.watchers; w; w = next) {
        next = w->next;
        dlxc_stop(w);
    }
    disc.watchers = NULL;
    for (e = disc.etcds; e; e = enext) {
        enext = e->next;
        detcd_stop(e);
    }
    disc.etcds = NULL;
    disc.px = NULL;
}

static struct dlxc *discovery_watcher(const struct backend *be)
{
    for (struct dlxc *w = disc.watchers; be && w; w = w->next)
        if (w->be == be)
            return w;
    return NULL;
}

bool discovery_container(const struct server *s, struct dlxc_figures *out)
{
    const struct dlxc *w = s->source == SRV_SRC_LXC ? discovery_watcher(s->backend) : NULL;

    return w && dlxc_figures(w, s, out);
}

const struct das *discovery_autoscaler(const struct backend *be)
{
    const struct dlxc *w = discovery_watcher(be);

    return w ? w->as : NULL;
}

int discovery_autoscale_enable(const struct backend *be, bool on)
{
    struct dlxc *w = discovery_watcher(be);

    if (!w || !w->as)
        return -1;
    das_enable(w->as, on);
    return 0;
}
