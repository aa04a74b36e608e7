/* lb/reload.c - in-process reload.
 *
 * The new generation is read and validated on a worker thread (file I/O and
 * name resolution must not stall the loop) and handed back through a pipe.
 * On the loop it is built whole, then swapped in at once (see "plan" below):
 * listeners on the same address keep their socket (no window where a connect
 * is refused), backends and servers are matched by name (a kept server keeps
 * its health, counters and pooled connections), and what is removed lives on,
 * reference counted, until the requests using it have finished. Each replica
 * (lb/worker.h) does the same on its own loop. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>

#include "acme/acme.h"
#include "conf/conf.h"
#include "lb/backend.h"
#include "lb/cli.h"
#include "lb/log.h"
#include "lb/notify.h"
#include "lb/route.h"
#include "lb/proxy.h"
#include "lb/reload.h"
#include "lb/server.h"
#include "lb/tls.h"

struct reload {
    struct proxy *px;     /* owner */
    int pipe[2];          /* workers write a struct reload_job pointer to [1] */
    struct event *ev;     /* reads [0] on the loop */
    bool running;         /* a worker is reading the file */
    bool again;           /* SIGHUP arrived meanwhile: read once more after */
};

struct reload_job {
    char *path;              /* file to read */
    struct conf *conf;       /* the result, NULL when invalid */
    int fd;                  /* where to post the job when done */
    char err[CONF_ERRLEN];   /* every error when invalid */
};

/* What a reload changed, for the log line. */
struct reload_stats {
    int fe_added, fe_removed, be_added, be_removed;
    int srv_added, srv_removed, lis_added, lis_removed;
};

/* ------------------------------------------------------------- worker */

static void *reload_worker(void *arg)
{
    struct reload_job *job = arg;

    job->conf = conf_load(job->path, job->err, sizeof(job->err));
    /* Certificates are files too: read here, off the loop. A bad one rejects
     * the reload like an invalid file; the running generation keeps serving. */
    if (job->conf && (tls_conf_load(job->conf, job->err, sizeof(job->err)) < 0 ||
                      route_conf_load(job->conf, job->err, sizeof(job->err)) < 0 ||
                      acme_conf_load(job->conf, false, job->err, sizeof(job->err)) < 0)) {
        conf_unref(job->conf);
        job->conf = NULL;
    }
    if (write(job->fd, &job, sizeof(job)) != sizeof(job)) {
        /* the loop is gone (exiting): nobody wants the result */
        conf_unref(job->conf);
        free(job->path);
        free(job);
    }
    return NULL;
}

static void reload_start(struct reload *r)
{
    struct reload_job *job = calloc(1, sizeof(*job));
    pthread_t t;

    if (!job || !(job->path = strdup(r->px->conf->path)))
        goto err;
    job->fd = r->pipe[1];
    if (pthread_create(&t, NULL, reload_worker, job) != 0)
        goto err;
    pthread_detach(t);
    r->running = true;
    return;
err:
    log_event(LOG_LVL_ERR, "reload: cannot start: %s", strerror(errno));
    if (job)
        free(job->path);
    free(job);
}

void reload_request(struct proxy *px)
{
    struct reload *r = px->reload;

    if (!r || px->stopping)
        return;
    if (r->running) {
        r->again = true;
        return;
    }
    log_event(LOG_LVL_INFO, "reload: reading %s", px->conf->path);
    notify_reloading();
    reload_start(r);
    if (!r->running)
        notify_ready(); /* could not even start: systemd must not wait */
}

static void log_errors(const char *err)
{
    const char *p = err;

    while (*p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        if (n > 0)
            log_event(LOG_LVL_ERR, "reload: %.*s", n, p);
        p += n + (nl ? 1 : 0);
    }
}

static void reload_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct reload *r = arg;
    struct reload_job *job;
    char err[512];

    (void)what;
    if (read(fd, &job, sizeof(job)) != sizeof(job))
        return;
    r->running = false;
    if (!job->conf) {
        log_errors(job->err);
        log_event(LOG_LVL_ERR, "reload rejected: the running configuration is unchanged");
    } else if (proxy_reload(r->px, job->conf, err, sizeof(err)) < 0) {
        log_event(LOG_LVL_ERR, "reload rejected: %s; the running configuration is unchanged",
                  err);
        conf_unref(job->conf);
    }
    free(job->path);
    free(job);
    if (r->again && !r->px->stopping) {
        r->again = false;
        reload_start(r);
    }
    if (!r->running)
        notify_ready(); /* the reload is over, applied or rejected */
}

struct reload *reload_new(struct proxy *px)
{
    struct reload *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->px = px;
    if (pipe2(r->pipe, O_CLOEXEC) < 0) {
        free(r);
        return NULL;
    }
    r->ev = event_new(px->base, r->pipe[0], EV_READ | EV_PERSIST, reload_done_cb, r);
    if (!r->ev || event_add(r->ev, NULL) < 0) {
        reload_free(r);
        return NULL;
    }
    return r;
}

void reload_free(struct reload *r)
{
    if (!r)
        return;
    if (r->ev)
        event_free(r->ev);
    close(r->pipe[0]);
    /* A worker still reading keeps its end: its write fails (EPIPE) and it
     * cleans up, rather than writing into a reused descriptor. */
    if (!r->running)
        close(r->pipe[1]);
    free(r);
}

/* ------------------------------------------------------------------ plan
 *
 * A reload is two steps. The first builds everything the new generation
 * needs (listening sockets, frontends, backends, servers, every array) and
 * decides what happens to each live object, without changing any (it only
 * makes room in a kept backend's server array, which no one can see): it may
 * fail (out of memory, an address in use), and then what it built is freed
 * and the running generation never noticed. The second applies the plan:
 * references move, pointers swap, what left is retired. It allocates
 * nothing and cannot fail (the replicas hear of it after, by messages made in
 * the first step); what follows the swap (messages to the replicas, checks
 * restarted, admin, discovery) is the role's (lb/role.c). */

/* What happens to a static server of a backend. */
enum srv_fate {
    SRV_KEEP, /* same name and address: stays, with the new weight and cookie */
    SRV_DROP, /* gone from the file, or at a new address: removed */
    SRV_ADD,  /* new: built now, added by the swap */
};

struct srv_plan {
    enum srv_fate fate;
    struct server *s;  /* KEEP, DROP: the live server; ADD: built (one reference) */
    uint32_t weight;   /* KEEP: its new weight */
    char *cookie;      /* KEEP: its new cookie, copied; NULL: unchanged */
    bool new_address;  /* DROP: a server of the same name replaces it */
};

struct be_plan {
    struct backend *be;            /* live (kept) or built for the new generation */
    const struct conf_backend *cb; /* its section in the new generation */
    bool built;                    /* be is the plan's until the swap */
    struct srv_plan *srv;          /* its static servers' fates, live ones first */
    size_t nsrv;                   /* entries in srv */
};

struct reload_plan {
    struct conf *nc;               /* the new generation (the caller's) */
    struct be_plan *be;            /* one per backend of nc */
    struct backend **backends;     /* the proxy's next list (one per backend of nc) */
    struct frontend **frontends;   /* the proxy's next list: kept, or built but not
                                    * wired until the swap */
    bool *fe_built;                /* per frontend: frontends[i] is the plan's */
    bool *health_changed;          /* per backend of nc, for the role */
    struct listener *fresh;        /* bound, not accepting: new addresses */
    struct role_reload role;       /* what the role prepared */
    struct reload_stats st;        /* for the log line */
};

static int oom(char *err, size_t errlen, const char *what, const char *name)
{
    snprintf(err, errlen, "out of memory (%s %s)", what, name);
    return -1;
}

/* Everything the plan still owns: all it built when the reload is rejected;
 * only its own arrays once the swap took the rest. */
static void plan_free(struct proxy *px, struct reload_plan *p)
{
    for (size_t i = 0; p->be && i < p->nc->nbackends; i++) {
        struct be_plan *bp = &p->be[i];
        for (size_t k = 0; k < bp->nsrv; k++) {
            if (bp->srv[k].fate == SRV_ADD && bp->srv[k].s)
                srv_unref(bp->srv[k].s);
            free(bp->srv[k].cookie);
        }
        free(bp->srv);
        if (bp->built)
            be_retire(bp->be);
    }
    for (size_t i = 0; p->frontends && p->fe_built && i < p->nc->nfrontends; i++)
        if (p->fe_built[i])
            fe_unref(p->frontends[i]);
    while (p->fresh) {
        struct listener *next = p->fresh->next;
        listener_close(p->fresh);
        p->fresh = next;
    }
    px->role->reload_abort(&p->role);
    free(p->be);
    free(p->backends);
    free(p->frontends);
    free(p->fe_built);
    free(p->health_changed);
}

/* -------------------------------------------------------------- servers */

static bool health_same(const struct conf_health *a, const struct conf_health *b)
{
    if (a->enabled != b->enabled)
        return false;
    if (!a->enabled)
        return true;
    return !strcmp(a->path, b->path) && a->interval_ms == b->interval_ms &&
           a->timeout_ms == b->timeout_ms && a->rise == b->rise && a->fall == b->fall &&
           a->nexpect == b->nexpect &&
           !memcmp(a->expect, b->expect, a->nexpect * sizeof(a->expect[0]));
}

static const struct conf_server *find_conf_server(const struct conf_backend *cb,
                                                  const char *name)
{
    for (size_t i = 0; i < cb->nservers; i++)
        if (!strcmp(cb->servers[i].name, name))
            return &cb->servers[i];
    return NULL;
}

static bool dropped(const struct be_plan *bp, const struct server *s)
{
    for (size_t k = 0; k < bp->nsrv; k++)
        if (bp->srv[k].s == s)
            return bp->srv[k].fate == SRV_DROP;
    return false;
}

/* A live static server: kept when the file has it at the same address (its
 * state, counters and pooled connections go on), dropped otherwise. */
static int plan_live_server(struct be_plan *bp, struct server *s, char *err, size_t errlen)
{
    const struct conf_server *cs = find_conf_server(bp->cb, s->name);
    struct srv_plan *sp = &bp->srv[bp->nsrv++];

    sp->s = s;
    if (!cs || !conf_addr_same(&cs->addr, &s->addr)) {
        sp->fate = SRV_DROP;
        sp->new_address = cs != NULL;
        return 0;
    }
    const char *cookie = cs->cookie ? cs->cookie : cs->name;
    sp->fate = SRV_KEEP;
    sp->weight = cs->weight;
    if (strcmp(s->cookie, cookie) && !(sp->cookie = strdup(cookie)))
        return oom(err, errlen, "server", s->name);
    return 0;
}

/* Static servers are matched by name and address; discovered ones belong to
 * discovery and are left alone (a file server named like one is not added,
 * as before). Room is made in the backend for what the swap adds, so that
 * be_add_server cannot fail then. */
static int plan_servers(struct be_plan *bp, char *err, size_t errlen)
{
    struct backend *be = bp->be;
    const struct conf_backend *cb = bp->cb;
    size_t ndrop = 0, nadd = 0;

    if (!(bp->srv = calloc(be->nservers + cb->nservers + 1, sizeof(*bp->srv))))
        return oom(err, errlen, "backend", cb->name);
    /* From the end: removals are logged in the order they always were. */
    for (size_t i = be->nservers; i-- > 0;) {
        if (be->servers[i]->source != SRV_SRC_STATIC)
            continue;
        if (plan_live_server(bp, be->servers[i], err, errlen) < 0)
            return -1;
        ndrop += bp->srv[bp->nsrv - 1].fate == SRV_DROP;
    }
    for (size_t k = 0; k < cb->nservers; k++) {
        const struct conf_server *cs = &cb->servers[k];
        struct server *s = be_find_server(be, cs->name);
        if (s && !dropped(bp, s))
            continue;
        struct srv_plan *sp = &bp->srv[bp->nsrv++];
        sp->fate = SRV_ADD;
        if (!(sp->s = proxy_static_server(cb->name, cs)))
            return oom(err, errlen, "server", cs->name);
        nadd++;
    }
    if (be_reserve(be, be->nservers - ndrop + nadd) < 0)
        return oom(err, errlen, "backend", cb->name);
    return 0;
}

/* ------------------------------------------------------------ backends */

static int plan_backends(struct proxy *px, struct reload_plan *p, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->nc->nbackends; i++) {
        struct be_plan *bp = &p->be[i];
        bp->cb = &p->nc->backends[i];
        if ((bp->be = proxy_find_backend(px, bp->cb->name))) {
            p->health_changed[i] = !health_same(&bp->be->conf->health, &bp->cb->health);
        } else {
            if (!(bp->be = be_new(px, p->nc, bp->cb)))
                return oom(err, errlen, "backend", bp->cb->name);
            bp->built = true;
        }
        p->backends[i] = bp->be;
        if (plan_servers(bp, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* The swap for one backend: its new section, then its servers. */
static void apply_backend(struct proxy *px, struct reload_plan *p, struct be_plan *bp)
{
    if (bp->built) {
        bp->built = false; /* the proxy's list holds it now */
        p->st.be_added++;
    } else {
        be_ref(bp->be); /* the new list's; retire_old drops the old list's */
        be_update(bp->be, p->nc, bp->cb);
    }
    for (size_t k = 0; k < bp->nsrv; k++) {
        struct srv_plan *sp = &bp->srv[k];
        switch (sp->fate) {
        case SRV_KEEP:
            srv_adopt_params(sp->s, sp->weight, sp->cookie);
            sp->cookie = NULL;
            break;
        case SRV_DROP:
            px->role->log(LOG_LVL_INFO, "reload: server %s/%s removed%s", bp->be->name,
                          sp->s->name, sp->new_address ? " (new address)" : "");
            be_remove_server(bp->be, sp->s);
            p->st.srv_removed++;
            break;
        case SRV_ADD:
            /* Cannot fail: unique name, counters made, room reserved. */
            if (be_add_server(bp->be, sp->s) == 0)
                p->st.srv_added++;
            srv_unref(sp->s);
            sp->s = NULL;
            break;
        }
    }
}

static bool in_list(void **list, size_t n, const void *p)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == p)
            return true;
    return false;
}

/* ----------------------------------------------------------- listeners */

static struct listener *take_listener(struct listener **list, const struct conf_addr *a)
{
    for (struct listener **pp = list; *pp; pp = &(*pp)->next) {
        if (conf_addr_same(&(*pp)->addr, a)) {
            struct listener *l = *pp;
            *pp = l->next;
            l->next = NULL;
            return l;
        }
    }
    return NULL;
}

static bool listening(const struct proxy *px, const struct conf_addr *a)
{
    for (struct listener *l = px->listeners; l; l = l->next)
        if (conf_addr_same(&l->addr, a))
            return true;
    return false;
}

/* Bind every address that is new, with its place on the loop, not
 * accepting yet (the swap enables it). */
static int plan_listeners(struct proxy *px, struct reload_plan *p, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->nc->nfrontends; i++) {
        const struct conf_frontend *cf = &p->nc->frontends[i];
        for (size_t k = 0; k < cf->nbinds; k++) {
            if (!proxy_listens(px, &cf->binds[k]) || listening(px, &cf->binds[k]))
                continue;
            struct listener *l = listener_open(cf->name, &cf->binds[k], err, errlen);
            if (!l)
                return -1;
            l->next = p->fresh;
            p->fresh = l;
            if (px->base && listener_attach(px, l) < 0) {
                snprintf(err, errlen, "frontend %s: cannot accept on %s: out of memory",
                         cf->name, l->addr.text);
                return -1;
            }
        }
    }
    return 0;
}

/* Give every configured address its listener (kept or fresh) and its
 * frontend; close the ones no longer configured. */
static void apply_listeners(struct proxy *px, struct reload_plan *p)
{
    struct listener *old = px->listeners, *list = NULL;

    for (size_t i = 0; i < p->nc->nfrontends; i++) {
        const struct conf_frontend *cf = &p->nc->frontends[i];
        for (size_t k = 0; k < cf->nbinds; k++) {
            struct listener *l = take_listener(&old, &cf->binds[k]);
            bool is_new = !l;
            if (is_new && !(l = take_listener(&p->fresh, &cf->binds[k])))
                continue; /* not ours to listen on (a replica, a UNIX socket) */
            l->fe = p->frontends[i];
            l->next = list;
            list = l;
            if (is_new) {
                p->st.lis_added++;
                if (l->evl)
                    listener_enable(px, l);
            }
        }
    }
    while (old) {
        struct listener *next = old->next;
        px->role->log(LOG_LVL_INFO, "reload: no longer listening on %s", old->addr.text);
        listener_close(old);
        p->st.lis_removed++;
        old = next;
    }
    px->listeners = list;
}

/* ----------------------------------------------------------- frontends */

static struct frontend *find_frontend(struct proxy *px, const char *name)
{
    for (size_t i = 0; i < px->nfrontends; i++)
        if (!strcmp(px->frontends[i]->name, name))
            return px->frontends[i];
    return NULL;
}

static struct backend *backend_in(struct backend **nb, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++) /* no default_backend: routes only */
        if (!strcmp(nb[i]->name, name))
            return nb[i];
    return NULL;
}

/* Kept by name, or built (wired to the generation by the swap). */
static int plan_frontends(struct proxy *px, struct reload_plan *p, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->nc->nfrontends; i++) {
        const char *name = p->nc->frontends[i].name;
        if ((p->frontends[i] = find_frontend(px, name)))
            continue;
        if (!(p->frontends[i] = fe_new(px, name)))
            return oom(err, errlen, "frontend", name);
        p->fe_built[i] = true;
    }
    return 0;
}

static void apply_frontends(struct reload_plan *p)
{
    struct conf *nc = p->nc;

    for (size_t i = 0; i < nc->nfrontends; i++) {
        const struct conf_frontend *cf = &nc->frontends[i];
        if (p->fe_built[i]) {
            p->fe_built[i] = false; /* its reference is the new list's */
            p->st.fe_added++;
        } else {
            fe_ref(p->frontends[i]); /* the new list's; retire_old drops the old list's */
        }
        fe_update(p->frontends[i], nc, cf,
                  backend_in(p->backends, nc->nbackends, cf->default_backend));
    }
}

/* ---------------------------------------------------------------- apply */

static void retire_old(struct proxy *px, struct reload_plan *p)
{
    size_t nfe = p->nc->nfrontends, nbe = p->nc->nbackends;

    for (size_t i = 0; i < px->nfrontends; i++) {
        if (!in_list((void **)p->frontends, nfe, px->frontends[i])) {
            px->role->log(LOG_LVL_INFO, "reload: frontend %s removed", px->frontends[i]->name);
            p->st.fe_removed++;
        }
        fe_unref(px->frontends[i]); /* the old list's reference */
    }
    for (size_t i = 0; i < px->nbackends; i++) {
        struct backend *be = px->backends[i];
        if (in_list((void **)p->backends, nbe, be)) {
            be_unref(be); /* the old list's reference; the new list holds its own */
            continue;
        }
        px->role->log(LOG_LVL_INFO, "reload: backend %s removed", be->name);
        p->st.be_removed++;
        p->st.srv_removed += (int)be->nservers;
        be_retire(be);
    }
}

/* The first step: everything the new generation needs, nothing live touched. */
static int plan_build(struct proxy *px, struct reload_plan *p, char *err, size_t errlen)
{
    struct conf *nc = p->nc;

    if (!(p->be = calloc(nc->nbackends, sizeof(*p->be))) ||
        !(p->backends = calloc(nc->nbackends, sizeof(*p->backends))) ||
        !(p->health_changed = calloc(nc->nbackends, sizeof(*p->health_changed))) ||
        !(p->frontends = calloc(nc->nfrontends, sizeof(*p->frontends))) ||
        !(p->fe_built = calloc(nc->nfrontends, sizeof(*p->fe_built))))
        return oom(err, errlen, "for", "the new generation");
    if (plan_listeners(px, p, err, errlen) < 0 || plan_backends(px, p, err, errlen) < 0 ||
        plan_frontends(px, p, err, errlen) < 0)
        return -1;
    if (px->role->reload_prepare(px, nc, &p->role) < 0)
        return oom(err, errlen, "for", "the messages to the workers");
    return 0;
}

/* The second step: cannot fail. */
static void plan_apply(struct proxy *px, struct reload_plan *p)
{
    struct conf *nc = p->nc;

    px->role->reload_begin(px);
    for (size_t i = 0; i < nc->nbackends; i++)
        apply_backend(px, p, &p->be[i]);
    apply_frontends(p);
    apply_listeners(px, p);
    retire_old(px, p);
    free(px->frontends);
    free(px->backends);
    px->frontends = p->frontends;
    px->nfrontends = nc->nfrontends;
    px->backends = p->backends;
    px->nbackends = nc->nbackends;
    p->frontends = NULL;
    p->backends = NULL;
    conf_unref(px->conf);
    px->conf = nc;
    proxy_check_accept(px);
    cli_reloaded(px); /* HTTP/2 connections GOAWAY, to come back to the new settings */
    p->role.health_changed = p->health_changed;
    px->role->reload_end(px, &p->role);
}

int proxy_reload(struct proxy *px, struct conf *nc, char *err, size_t errlen)
{
    struct reload_plan p = { .nc = nc };

    if (px->stopping) {
        snprintf(err, errlen, "stopping");
        return -1;
    }
    if (plan_build(px, &p, err, errlen) < 0) {
        plan_free(px, &p);
        return -1;
    }
    plan_apply(px, &p);
    plan_free(px, &p);
    px->role->log(LOG_LVL_INFO,
                  "reload done: frontends +%d -%d, backends +%d -%d, servers +%d -%d, "
                  "listeners +%d -%d",
                  p.st.fe_added, p.st.fe_removed, p.st.be_added, p.st.be_removed,
                  p.st.srv_added, p.st.srv_removed, p.st.lis_added, p.st.lis_removed);
    return 0;
}
