/* lb/reload.c - in-process reload.
 *
 * The new generation is read and validated on a worker thread (file I/O and
 * name resolution must not stall the loop) and handed back through a pipe.
 * Applying it is one step on the loop thread: listeners on the same address
 * keep their socket (no window where a connect is refused), backends and
 * servers are matched by name (a kept server keeps its health, counters and
 * pooled connections), and what is removed lives on, reference counted, until
 * the requests using it have finished. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>

#include "admin/admin.h"
#include "conf/conf.h"
#include "discovery/discovery.h"
#include "health/health.h"
#include "lb/backend.h"
#include "lb/log.h"
#include "lb/notify.h"
#include "lb/proxy.h"
#include "lb/reload.h"
#include "lb/server.h"
#include "lb/tls.h"
#include "lb/worker.h"

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
    if (job->conf && tls_conf_load(job->conf, job->err, sizeof(job->err)) < 0) {
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

static void add_static(struct backend *be, const struct conf_server *cs,
                       struct reload_stats *st)
{
    struct server *s = proxy_static_server(cs);

    if (!s || be_add_server(be, s) < 0)
        log_event(LOG_LVL_ERR, "reload: backend %s: cannot add server %s", be->name, cs->name);
    else
        st->srv_added++;
    if (s)
        srv_unref(s);
}

/* Static servers are matched by name: same name and address is the same
 * server (state, counters and pooled connections kept); a new address is a
 * new server. Discovered servers belong to discovery and are left alone. */
static void reconcile_servers(struct backend *be, const struct conf_backend *cb,
                              struct reload_stats *st)
{
    for (size_t i = be->nservers; i-- > 0;) {
        struct server *s = be->servers[i];
        if (s->source != SRV_SRC_STATIC)
            continue;
        const struct conf_server *cs = find_conf_server(cb, s->name);
        if (cs && conf_addr_same(&cs->addr, &s->addr)) {
            srv_set_params(s, cs->weight, cs->cookie);
            continue;
        }
        if (be->px->wid == 0) /* replicas follow the main loop, which logs */
            log_event(LOG_LVL_INFO, "reload: server %s/%s removed%s", be->name, s->name,
                      cs ? " (new address)" : "");
        be_remove_server(be, s);
        st->srv_removed++;
    }
    for (size_t i = 0; i < cb->nservers; i++)
        if (!be_find_server(be, cb->servers[i].name))
            add_static(be, &cb->servers[i], st);
}

/* Checks restart for every server of a backend whose health section changed;
 * a new server gets its first check. Health state itself is kept. */
static void restart_checks(struct backend *be, bool changed)
{
    for (size_t i = 0; i < be->nservers; i++) {
        struct server *s = be->servers[i];
        if (s->check && !changed)
            continue;
        health_server_removed(s);
        if (be->conf->health.enabled)
            health_server_added(s);
        else if (s->health != SRV_HEALTH_UP)
            srv_set_health(s, SRV_HEALTH_UP, "health checks disabled by reload");
    }
}

/* ------------------------------------------------------------ backends */

static struct backend **build_backends(struct proxy *px, struct conf *nc,
                                       struct reload_stats *st, bool *health_changed)
{
    struct backend **nb = calloc(nc->nbackends, sizeof(*nb));

    if (!nb)
        return NULL;
    for (size_t i = 0; i < nc->nbackends; i++) {
        struct conf_backend *cb = &nc->backends[i];
        struct backend *be = proxy_find_backend(px, cb->name);
        if (be) {
            health_changed[i] = !health_same(&be->conf->health, &cb->health);
            be_ref(be);
            be_update(be, nc, cb);
            reconcile_servers(be, cb, st);
        } else if ((be = be_new(px, nc, cb))) {
            st->be_added++;
            for (size_t k = 0; k < cb->nservers; k++)
                add_static(be, &cb->servers[k], st);
        } else {
            log_event(LOG_LVL_ERR, "reload: backend %s: out of memory", cb->name);
            continue;
        }
        nb[i] = be;
    }
    return nb;
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

/* Bind every address that is new. All or nothing: on a failure the fresh
 * sockets are closed and the running listeners were never touched. */
static int open_fresh(struct proxy *px, const struct conf *nc, struct listener **out,
                      char *err, size_t errlen)
{
    struct listener *fresh = NULL;

    for (size_t i = 0; i < nc->nfrontends; i++) {
        const struct conf_frontend *cf = &nc->frontends[i];
        struct frontend named = { .name = cf->name }; /* for messages only */
        for (size_t k = 0; k < cf->nbinds; k++) {
            bool running = !proxy_listens(px, &cf->binds[k]);
            for (struct listener *l = px->listeners; l; l = l->next)
                running |= conf_addr_same(&l->addr, &cf->binds[k]);
            if (running)
                continue;
            struct listener *l = listener_open(&named, &cf->binds[k], err, errlen);
            if (!l)
                goto err;
            l->fe = NULL;
            l->next = fresh;
            fresh = l;
        }
    }
    *out = fresh;
    return 0;
err:
    while (fresh) {
        struct listener *next = fresh->next;
        listener_close(fresh);
        fresh = next;
    }
    return -1;
}

/* Give every configured address its listener (kept or fresh) and its frontend;
 * close the ones no longer configured. */
static void rewire_listeners(struct proxy *px, const struct conf *nc, struct frontend **nf,
                             struct listener *fresh, struct reload_stats *st)
{
    struct listener *old = px->listeners, *list = NULL;

    for (size_t i = 0; i < nc->nfrontends; i++) {
        const struct conf_frontend *cf = &nc->frontends[i];
        for (size_t k = 0; k < cf->nbinds; k++) {
            struct listener *l = take_listener(&old, &cf->binds[k]);
            bool is_new = !l;
            if (is_new && !(l = take_listener(&fresh, &cf->binds[k])))
                continue;
            l->fe = nf[i];
            l->next = list;
            list = l;
            if (is_new) {
                st->lis_added++;
                if (listener_attach(px, l) < 0)
                    log_event(LOG_LVL_ERR, "reload: cannot accept on %s", l->addr.text);
            }
        }
    }
    while (old) {
        struct listener *next = old->next;
        if (px->wid == 0)
            log_event(LOG_LVL_INFO, "reload: no longer listening on %s", old->addr.text);
        listener_close(old);
        st->lis_removed++;
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
    for (size_t i = 0; i < n; i++)
        if (nb[i] && !strcmp(nb[i]->name, name))
            return nb[i];
    return NULL;
}

static struct frontend **build_frontends(struct proxy *px, struct conf *nc,
                                         struct backend **nb, struct reload_stats *st)
{
    struct frontend **nf = calloc(nc->nfrontends, sizeof(*nf));

    if (!nf)
        return NULL;
    for (size_t i = 0; i < nc->nfrontends; i++) {
        const struct conf_frontend *cf = &nc->frontends[i];
        struct backend *be = backend_in(nb, nc->nbackends, cf->default_backend);
        struct frontend *fe = find_frontend(px, cf->name);
        if (fe) {
            fe_ref(fe);
            fe_update(fe, nc, cf, be);
        } else if ((fe = fe_new(px, nc, cf, be))) {
            st->fe_added++;
        }
        nf[i] = fe;
    }
    return nf;
}

/* ---------------------------------------------------------------- apply */

static void retire_old(struct proxy *px, struct frontend **nf, size_t nnf, struct backend **nb,
                       size_t nnb, struct reload_stats *st)
{
    for (size_t i = 0; i < px->nfrontends; i++) {
        if (!in_list((void **)nf, nnf, px->frontends[i])) {
            if (px->wid == 0)
                log_event(LOG_LVL_INFO, "reload: frontend %s removed", px->frontends[i]->name);
            st->fe_removed++;
        }
        fe_unref(px->frontends[i]); /* the old list's reference */
    }
    for (size_t i = 0; i < px->nbackends; i++) {
        struct backend *be = px->backends[i];
        if (in_list((void **)nb, nnb, be)) {
            be_unref(be); /* the old list's reference; nb holds its own */
            continue;
        }
        if (px->wid == 0)
            log_event(LOG_LVL_INFO, "reload: backend %s removed", be->name);
        st->be_removed++;
        st->srv_removed += (int)be->nservers;
        be_retire(be);
    }
}

/* What only the main loop runs: checks, admin, discovery; then the
 * replicas follow (they get the new generation and every server's state). */
static void main_loop_reloaded(struct proxy *px, const bool *health_changed)
{
    char err[512];

    for (size_t i = 0; i < px->nbackends; i++)
        if (px->backends[i])
            restart_checks(px->backends[i], health_changed[i]);
    /* admin_start keeps its socket when the bind is unchanged. */
    if (admin_start(px, err, sizeof(err)) < 0)
        log_event(LOG_LVL_ERR, "reload: admin endpoint: %s", err);
    if (discovery_start(px, err, sizeof(err)) < 0)
        log_event(LOG_LVL_ERR, "reload: discovery: %s", err);
    workers_reloaded(px);
}

int proxy_reload(struct proxy *px, struct conf *nc, char *err, size_t errlen)
{
    struct reload_stats st = { 0 };
    struct listener *fresh;

    if (open_fresh(px, nc, &fresh, err, errlen) < 0)
        return -1;
    bool *health_changed = calloc(nc->nbackends + 1, sizeof(bool));
    struct backend **nb = health_changed ? build_backends(px, nc, &st, health_changed) : NULL;
    struct frontend **nf = nb ? build_frontends(px, nc, nb, &st) : NULL;
    if (!nf) {
        /* Out of memory half-way: too late to undo cleanly; keep serving. */
        snprintf(err, errlen, "out of memory");
        free(health_changed);
        return -1;
    }
    if (px->wid == 0)
        discovery_stop(px);
    rewire_listeners(px, nc, nf, fresh, &st);
    retire_old(px, nf, nc->nfrontends, nb, nc->nbackends, &st);
    free(px->frontends);
    free(px->backends);
    px->frontends = nf;
    px->nfrontends = nc->nfrontends;
    px->backends = nb;
    px->nbackends = nc->nbackends;
    conf_unref(px->conf);
    px->conf = nc;
    if (px->wid == 0)
        main_loop_reloaded(px, health_changed);
    free(health_changed);
    proxy_check_accept(px);
    if (px->wid != 0)
        return 0; /* the main loop logged it */
    log_event(LOG_LVL_INFO,
              "reload done: frontends +%d -%d, backends +%d -%d, servers +%d -%d, "
              "listeners +%d -%d",
              st.fe_added, st.fe_removed, st.be_added, st.be_removed, st.srv_added,
              st.srv_removed, st.lis_added, st.lis_removed);
    return 0;
}
