/* lb/proxy.c - frontends, listeners, accepting, and graceful stop. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "conf/conf.h"
#include "lb/backend.h"
#include "lb/ctr.h"
#include "lb/forward.h"
#include "lb/h2c.h"
#include "lb/log.h"
#include "lb/proxy.h"
#include "lb/role.h"
#include "lb/sconn.h"
#include "lb/server.h"
#include "lb/cli.h"
#include "lb/stream.h"
#include "lb/tls.h"

#define ACCEPT_RETRY_MS 100 /* pause after EMFILE before accepting again */
#define LISTEN_BACKLOG 4096 /* connections the kernel queues for us */

/* ------------------------------------------------------------- listeners */

static int listen_fd(const struct conf_addr *a, int backlog, char *err, size_t errlen)
{
    int one = 1;
    int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        goto err;
    if (a->family == AF_UNIX) {
        struct stat st;
        const char *path = ((const struct sockaddr_un *)&a->ss)->sun_path;
        /* A socket left by a previous run would make bind fail: remove it,
         * but never a regular file someone put there. */
        if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path);
    } else {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        /* One socket per worker on the same address: the kernel spreads new
         * connections over them, and no loop wakes for another's. */
        if (ctr_nworkers() > 1 &&
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
            goto err;
        if (a->family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, backlog) < 0)
        goto err;
    return fd;
err:
    snprintf(err, errlen, "cannot listen on %s: %s", a->text, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Each worker takes its share of global.maxconn (as nginx's
 * worker_connections): no counter shared on the accept path. */
static uint32_t px_maxconn(const struct proxy *px)
{
    unsigned n = ctr_nworkers();

    return (px->conf->global.maxconn + n - 1) / n;
}

static void pause_accepting(struct proxy *px)
{
    if (px->accept_paused)
        return;
    px->accept_paused = true;
    for (struct listener *l = px->listeners; l; l = l->next)
        if (l->evl)
            evconnlistener_disable(l->evl);
}

static void resume_accepting(struct proxy *px)
{
    if (!px->accept_paused || px->stopping)
        return;
    px->accept_paused = false;
    for (struct listener *l = px->listeners; l; l = l->next)
        if (l->evl)
            evconnlistener_enable(l->evl);
}

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct listener *l = arg;
    struct proxy *px = l->fe->px;

    (void)evl;
    px->nconn++;
    ctr_inc(px->ctr, CTR_CONNS);
    cli_accept(l->fe, fd, sa, salen);
    /* At maxconn, leave new connections in the kernel's backlog. */
    if (px->nconn >= px_maxconn(px))
        pause_accepting(px);
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proxy *px = arg;

    (void)fd; (void)what;
    if (px->nconn < px_maxconn(px))
        resume_accepting(px);
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
    struct listener *l = arg;
    struct proxy *px = l->fe->px;
    int e = EVUTIL_SOCKET_ERROR();
    struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };

    (void)evl;
    /* Out of descriptors: stop accepting for a moment rather than spin. */
    log_event(LOG_LVL_WARN, "accept on %s: %s; pausing %d ms", l->addr.text, strerror(e),
              ACCEPT_RETRY_MS);
    pause_accepting(px);
    evtimer_add(px->accept_retry, &tv);
}

/* ------------------------------------------------------------ listeners */

struct listener *listener_open(const char *fe_name, const struct conf_addr *addr, char *err,
                               size_t errlen)
{
    struct listener *l = calloc(1, sizeof(*l));
    char why[256];

    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->addr = *addr;
    /* A deep backlog: at maxconn, new clients wait there (the kernel caps it
     * at net.core.somaxconn) instead of having their SYNs dropped. */
    if ((l->fd = listen_fd(&l->addr, LISTEN_BACKLOG, why, sizeof(why))) < 0) {
        snprintf(err, errlen, "frontend %s: %s", fe_name, why);
        free(l);
        return NULL;
    }
    return l;
}

int listener_attach(struct proxy *px, struct listener *l)
{
    l->evl = evconnlistener_new(px->base, accept_cb, l,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_DISABLED, 0, l->fd);
    if (!l->evl)
        return -1;
    evconnlistener_set_error_cb(l->evl, accept_error_cb);
    return 0;
}

void listener_enable(struct proxy *px, struct listener *l)
{
    if (!px->accept_paused && evconnlistener_enable(l->evl) < 0) {
        log_event(LOG_LVL_ERR, "frontend %s: cannot accept on %s", l->fe->name, l->addr.text);
        return;
    }
    px->role->log(LOG_LVL_INFO, "frontend %s listening on %s", l->fe->name, l->addr.text);
}

void listener_close(struct listener *l)
{
    if (l->evl)
        evconnlistener_free(l->evl); /* closes the fd */
    else if (l->fd >= 0)
        close(l->fd);
    if (l->addr.family == AF_UNIX)
        unlink(((struct sockaddr_un *)&l->addr.ss)->sun_path);
    free(l);
}

/* ------------------------------------------------------------- frontends */

struct frontend *fe_new(struct proxy *px, const char *name)
{
    struct frontend *fe = calloc(1, sizeof(*fe));

    if (!fe || !(fe->name = strdup(name)) || !(fe->ctr = ctr_get('f', name, NULL))) {
        if (fe)
            free(fe->name);
        free(fe);
        return NULL;
    }
    fe->px = px;
    fe->refcnt = 1;
    return fe;
}

void fe_update(struct frontend *fe, struct conf *gen, const struct conf_frontend *cf,
               struct backend *be)
{
    /* Loaded with gen (off the loop); open TLS connections keep the old one. */
    struct tls_ctx *tls = tls_ref(cf->tls.loaded);

    if (fe->px->role->keeps_tickets)
        tls_keep_tickets(tls, fe->tls); /* tickets issued before a reload still resume */
    tls_unref(fe->tls);
    fe->tls = tls;
    conf_ref(gen);
    conf_unref(fe->gen);
    fe->gen = gen;
    fe->conf = cf;
    if (be) /* NULL: no default_backend, routes only */
        be_ref(be);
    be_unref(fe->backend);
    fe->backend = be;
}

void fe_ref(struct frontend *fe) { fe->refcnt++; }

void fe_unref(struct frontend *fe)
{
    if (--fe->refcnt > 0)
        return;
    be_unref(fe->backend);
    tls_unref(fe->tls);
    conf_unref(fe->gen);
    ctr_put(fe->ctr);
    free(fe->name);
    free(fe);
}

/* ---------------------------------------------------------------- build */

struct server *proxy_static_server(const char *be_name, const struct conf_server *cs)
{
    struct server *s = srv_new(cs->name, cs->cookie, &cs->addr, cs->weight, SRV_SRC_STATIC);

    /* Its counters now: be_add_server would look them up, and could fail. */
    if (s && !(s->ctr = ctr_get('s', be_name, cs->name))) {
        srv_unref(s);
        return NULL;
    }
    return s;
}

static int build_backend(struct proxy *px, struct conf_backend *cb, char *err, size_t errlen)
{
    struct backend *be = be_new(px, px->conf, cb);

    if (!be)
        goto oom;
    px->backends[px->nbackends++] = be;
    for (size_t i = 0; i < cb->nservers; i++) {
        struct server *s = proxy_static_server(cb->name, &cb->servers[i]);
        if (!s)
            goto oom;
        int rc = be_add_server(be, s);
        srv_unref(s); /* the backend's reference is the one that stays */
        if (rc < 0) { /* s is gone: name it from the file */
            snprintf(err, errlen, "backend %s: cannot add server %s", cb->name,
                     cb->servers[i].name);
            return -1;
        }
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

struct backend *proxy_find_backend(struct proxy *px, const char *name)
{
    for (size_t i = 0; name && i < px->nbackends; i++) /* NULL: routes only */
        if (!strcmp(px->backends[i]->name, name))
            return px->backends[i];
    return NULL;
}

static int build_frontend(struct proxy *px, const struct conf_frontend *cf, char *err,
                          size_t errlen)
{
    struct frontend *fe = fe_new(px, cf->name);

    if (!fe) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fe_update(fe, px->conf, cf, proxy_find_backend(px, cf->default_backend));
    px->frontends[px->nfrontends++] = fe;
    for (size_t i = 0; i < cf->nbinds; i++) {
        if (!proxy_listens(px, &cf->binds[i]))
            continue;
        struct listener *l = listener_open(cf->name, &cf->binds[i], err, errlen);
        if (!l)
            return -1;
        l->fe = fe;
        l->next = px->listeners;
        px->listeners = l;
    }
    return 0;
}

bool proxy_listens(const struct proxy *px, const struct conf_addr *a)
{
    return px->role->listens_unix || a->family != AF_UNIX;
}

static struct proxy *proxy_build(struct conf *conf, const struct proxy_role *role, unsigned wid,
                                 char *err, size_t errlen)
{
    struct proxy *px = calloc(1, sizeof(*px));

    if (!px) {
        conf_unref(conf);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    px->role = role;
    px->wid = wid;
    px->conf = conf;
    px->ctr = ctr_get('p', "", NULL);
    px->backends = calloc(conf->nbackends, sizeof(*px->backends));
    px->frontends = calloc(conf->nfrontends, sizeof(*px->frontends));
    if (!px->ctr || !px->backends || !px->frontends) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    for (size_t i = 0; i < conf->nbackends; i++)
        if (build_backend(px, &conf->backends[i], err, errlen) < 0)
            goto err;
    for (size_t i = 0; i < conf->nfrontends; i++)
        if (build_frontend(px, &conf->frontends[i], err, errlen) < 0)
            goto err;
    return px;
err:
    proxy_free(px);
    return NULL;
}

struct proxy *proxy_new(struct conf *conf, char *err, size_t errlen)
{
    return proxy_build(conf, &role_main, 0, err, errlen);
}

struct proxy *proxy_new_replica(struct conf *conf, unsigned wid, char *err, size_t errlen)
{
    return proxy_build(conf, &role_replica, wid, err, errlen);
}

int proxy_attach(struct proxy *px, struct event_base *base, char *err, size_t errlen)
{
    px->base = base;
    px->accept_retry = evtimer_new(base, accept_retry_cb, px);
    if (!px->accept_retry || stream_lost_setup(px) < 0)
        goto oom;
    for (struct listener *l = px->listeners; l; l = l->next)
        if (listener_attach(px, l) < 0)
            goto oom;
    for (struct listener *l = px->listeners; l; l = l->next)
        listener_enable(px, l);
    return px->role->start(px, err, errlen);
oom:
    snprintf(err, errlen, "cannot set up the event loop: out of memory");
    return -1;
}

static void close_listeners(struct proxy *px)
{
    struct listener *l, *next;

    for (l = px->listeners; l; l = next) {
        next = l->next;
        listener_close(l);
    }
    px->listeners = NULL;
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proxy *px = arg;

    (void)fd; (void)what;
    /* The count is over every loop: the main loop says it for all. */
    px->role->log(LOG_LVL_WARN, "grace period over with %u connections open; exiting",
                  (unsigned)ctr_sum(px->ctr, CTR_CONNS));
    event_base_loopexit(px->base, NULL);
}

void proxy_stop(struct proxy *px)
{
    uint32_t ms = px->conf->global.grace_ms;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    if (px->stopping)
        return;
    px->stopping = true;
    close_listeners(px);
    cli_stop_all(px);
    px->role->stopping(px);
    if (px->nconn == 0 && px->role->may_end()) {
        event_base_loopexit(px->base, NULL);
        return;
    }
    px->grace_timer = evtimer_new(px->base, grace_cb, px);
    if (px->grace_timer)
        evtimer_add(px->grace_timer, &tv);
}

void proxy_check_accept(struct proxy *px)
{
    if (px->accept_paused && px->nconn < px_maxconn(px) &&
        !evtimer_pending(px->accept_retry, NULL))
        resume_accepting(px);
}

void proxy_conn_closed(struct proxy *px)
{
    px->nconn--;
    ctr_dec(px->ctr, CTR_CONNS);
    if (px->accept_paused && px->nconn < px_maxconn(px) &&
        !evtimer_pending(px->accept_retry, NULL))
        resume_accepting(px);
    proxy_maybe_exit(px);
}

void proxy_maybe_exit(struct proxy *px)
{
    if (px->stopping && px->nconn == 0 && px->base && px->role->may_end())
        event_base_loopexit(px->base, NULL);
}

void proxy_free(struct proxy *px)
{
    if (!px)
        return;
    /* Connections first: their streams hold references to servers. */
    cli_close_all(px);
    px->role->stop(px);
    close_listeners(px);
    for (size_t i = 0; i < px->nfrontends; i++)
        fe_unref(px->frontends[i]);
    for (size_t i = 0; i < px->nbackends; i++)
        be_retire(px->backends[i]);
    free(px->frontends);
    free(px->backends);
    stream_cache_free(px);
    stream_lost_cleanup(px);
    if (px->wid == lb_worker_id) { /* this thread's head buffer is this loop's */
        fwd_cleanup();
        h2c_cleanup();
        stream_thread_cleanup();
        sconn_thread_cleanup();
    }
    if (px->accept_retry)
        event_free(px->accept_retry);
    if (px->grace_timer)
        event_free(px->grace_timer);
    conf_unref(px->conf);
    ctr_put(px->ctr);
    free(px);
}
