/* lb/worker.c - replicas of the proxy on their own threads, and the
 * messages that keep their view of the servers equal to the main loop's. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <event2/event.h>

#include "conf/conf.h"
#include "lb/backend.h"
#include "lb/ctr.h"
#include "lb/forward.h"
#include "lb/h2c.h"
#include "lb/log.h"
#include "lb/proxy.h"
#include "lb/reload.h"
#include "lb/sconn.h"
#include "lb/server.h"
#include "lb/stream.h"
#include "lb/worker-t.h"
#include "lb/worker.h"

static struct wk_group *grp; /* NULL with workers: 1 */

/* -------------------------------------------------------------- messages */

static void msg_free(struct wk_msg *m)
{
    free(m->be);
    free(m->srv);
    free(m->cookie);
    free(m->why);
    conf_unref(m->conf);
    free(m);
}

/* A message about s, named so the other loop finds its own copy. */
static struct wk_msg *msg_about(enum wk_msg_type type, const struct server *s)
{
    struct wk_msg *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->type = type;
    m->be = strdup(s->backend ? s->backend->name : "");
    m->srv = strdup(s->name);
    m->addr = s->addr;
    if (!m->be || !m->srv) {
        msg_free(m);
        return NULL;
    }
    return m;
}

static struct wk_msg *msg_server(const struct server *s)
{
    struct wk_msg *m = msg_about(WK_SERVER, s);

    if (m && !(m->cookie = strdup(s->cookie))) {
        msg_free(m);
        return NULL;
    }
    if (m) {
        m->weight = s->weight;
        m->source = s->source;
        m->health = s->health;
        m->admin = s->admin;
        m->retiring = s->retiring;
    }
    return m;
}

/* ----------------------------------------------------------------- inbox */

static int inbox_init(struct wk_inbox *in, struct event_base *base, event_callback_fn cb,
                      void *arg)
{
    pthread_mutex_init(&in->lock, NULL);
    in->tail = &in->head;
    in->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (in->efd < 0)
        return -1;
    in->ev = event_new(base, in->efd, EV_READ | EV_PERSIST, cb, arg);
    return in->ev && event_add(in->ev, NULL) == 0 ? 0 : -1;
}

static void inbox_post(struct wk_inbox *in, struct wk_msg *m)
{
    uint64_t one = 1;

    if (!m) {
        log_event(LOG_LVL_ERR, "workers: out of memory: a message between loops was lost");
        return;
    }
    pthread_mutex_lock(&in->lock);
    *in->tail = m;
    in->tail = &m->next;
    pthread_mutex_unlock(&in->lock);
    /* Cannot fail short of a counter near 2^64: the loop reads it to zero. */
    if (write(in->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_event(LOG_LVL_ERR, "workers: cannot wake a loop: %s", strerror(errno));
}

/* Everything posted so far, oldest first. */
static struct wk_msg *inbox_take(struct wk_inbox *in)
{
    uint64_t n;
    struct wk_msg *list;

    if (read(in->efd, &n, sizeof(n)) < 0) {
        /* EAGAIN: a batch taken in the previous turn covered this wake-up */
    }
    pthread_mutex_lock(&in->lock);
    list = in->head;
    in->head = NULL;
    in->tail = &in->head;
    pthread_mutex_unlock(&in->lock);
    return list;
}

static void inbox_free(struct wk_inbox *in)
{
    if (!in->tail)
        return; /* never initialised */
    if (in->ev)
        event_free(in->ev);
    if (in->efd >= 0)
        close(in->efd);
    for (struct wk_msg *m = in->head, *next; m; m = next) {
        next = m->next;
        msg_free(m);
    }
    pthread_mutex_destroy(&in->lock);
}

/* ----------------------------------------------------- applied in a loop */

static struct server *find_server(struct proxy *px, const struct wk_msg *m, struct backend **be)
{
    struct server *s;

    *be = proxy_find_backend(px, m->be);
    s = *be ? be_find_server(*be, m->srv) : NULL;
    return s && conf_addr_same(&s->addr, &m->addr) ? s : NULL;
}

/* Replica: make its copy of the server what the main loop says. */
static void apply_server(struct proxy *px, const struct wk_msg *m)
{
    struct backend *be = proxy_find_backend(px, m->be);
    struct server *s;

    if (!be)
        return; /* a backend this replica's generation does not have yet */
    s = be_find_server(be, m->srv);
    if (s && !conf_addr_same(&s->addr, &m->addr)) {
        be_remove_server(be, s); /* a new address is a new server */
        s = NULL;
    }
    if (!s) {
        s = srv_new(m->srv, m->cookie, &m->addr, m->weight, m->source);
        if (!s || be_add_server(be, s) < 0) {
            log_event(LOG_LVL_ERR, "worker %u: cannot add server %s/%s", px->wid, m->be,
                      m->srv);
            if (s)
                srv_unref(s);
            return;
        }
        srv_unref(s); /* the backend's reference stays */
    }
    srv_set_params(s, m->weight, m->cookie);
    /* The same calls as on the main loop: pools flushed, waiting requests
     * redispatched, each replica for its own sessions. */
    srv_set_admin(s, m->admin, "main loop");
    srv_set_retiring(s, m->retiring);
    srv_set_health(s, m->health, "main loop");
}

static void apply_removed(struct proxy *px, const struct wk_msg *m)
{
    struct backend *be;
    struct server *s = find_server(px, m, &be);

    if (!s)
        return;
    if (m->flag)
        be_remove_gone(be, s);
    else
        be_remove_server(be, s);
}

/* All or nothing, as on the main loop: a replica that cannot apply the new
 * generation serves the whole previous one, untouched. Server changes the
 * main loop publishes still reach it, by backend and server name. */
static void apply_reload(struct proxy *px, struct wk_msg *m)
{
    char err[512];

    if (proxy_reload(px, m->conf, err, sizeof(err)) < 0) {
        log_event(LOG_LVL_ERR, "worker %u: reload rejected: %s; this worker keeps the "
                  "previous configuration", px->wid, err);
        return;
    }
    m->conf = NULL; /* the replica owns it now */
}

static void replica_inbox_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct wk_msg *m = inbox_take(&w->in), *next;

    (void)fd; (void)what;
    for (; m; m = next) {
        next = m->next;
        switch (m->type) {
        case WK_SERVER:
            apply_server(w->px, m);
            break;
        case WK_REMOVED:
            apply_removed(w->px, m);
            break;
        case WK_SUSPECT: {
            struct backend *be;
            struct server *s = find_server(w->px, m, &be);
            if (s && !s->consec_fails)
                s->consec_fails = 1; /* its next answer resets the main loop's count */
            break;
        }
        case WK_RELOAD:
            apply_reload(w->px, m);
            break;
        case WK_STOP:
            if (m->flag)
                proxy_stop(w->px);
            else
                event_base_loopexit(w->base, NULL);
            break;
        default:
            break;
        }
        msg_free(m);
    }
}

static void main_inbox_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct wk_msg *m = inbox_take(&w->in), *next;
    struct backend *be;
    struct server *s;

    (void)fd; (void)what;
    for (; m; m = next) {
        next = m->next;
        switch (m->type) {
        case WK_TRAFFIC_FAIL:
            if ((s = find_server(w->px, m, &be)))
                srv_health_event(s, SRV_HEV_TRAFFIC_FAIL, m->why);
            break;
        case WK_TRAFFIC_OK:
            if ((s = find_server(w->px, m, &be)))
                srv_health_event(s, SRV_HEV_TRAFFIC_OK, NULL);
            break;
        case WK_EXITED:
            grp->running--;
            proxy_maybe_exit(w->px);
            break;
        default:
            break;
        }
        msg_free(m);
    }
}

/* -------------------------------------------------------------- publish */

static bool publishing(const struct server *s)
{
    return grp && grp->started && s->backend && s->backend->px &&
           s->backend->px->role->owns_servers && !grp->held; /* held: main loop's */
}

static void post_all(struct wk_msg *(*make)(const struct server *), const struct server *s)
{
    for (unsigned i = 1; i < grp->n; i++)
        inbox_post(&grp->w[i].in, make(s));
}

void workers_server_changed(struct server *s)
{
    if (publishing(s) && !s->removed)
        post_all(msg_server, s);
}

static struct wk_msg *msg_removed(const struct server *s) { return msg_about(WK_REMOVED, s); }

static struct wk_msg *msg_gone(const struct server *s)
{
    struct wk_msg *m = msg_about(WK_REMOVED, s);

    if (m)
        m->flag = true;
    return m;
}

static struct wk_msg *msg_suspect(const struct server *s) { return msg_about(WK_SUSPECT, s); }

void workers_server_suspect(struct server *s)
{
    if (publishing(s))
        post_all(msg_suspect, s);
}

void workers_server_removed(struct server *s)
{
    if (publishing(s))
        post_all(s->retiring ? msg_gone : msg_removed, s);
}

/* Every server of px, as it is now, to worker i. */
static void sync_servers(struct proxy *px, unsigned i)
{
    for (size_t b = 0; b < px->nbackends; b++) {
        struct backend *be = px->backends[b];
        for (size_t k = 0; be && k < be->nservers; k++)
            inbox_post(&grp->w[i].in, msg_server(be->servers[k]));
    }
}

static void free_list(struct wk_msg *m)
{
    for (struct wk_msg *next; m; m = next) {
        next = m->next;
        msg_free(m);
    }
}

int workers_reload_prepare(struct conf *nc, struct wk_msg **out)
{
    struct wk_msg *list = NULL;

    *out = NULL;
    if (!grp || !grp->started)
        return 0;
    for (unsigned i = 1; i < grp->n; i++) {
        struct wk_msg *m = calloc(1, sizeof(*m));
        if (!m) {
            free_list(list);
            return -1;
        }
        m->type = WK_RELOAD;
        m->conf = conf_ref(nc);
        m->next = list;
        list = m;
    }
    *out = list;
    return 0;
}

void workers_reload_abort(struct wk_msg *msgs) { free_list(msgs); }

void workers_reload_hold(void)
{
    if (grp)
        grp->held = true;
}

void workers_reload_commit(struct proxy *px, struct wk_msg *msgs)
{
    if (grp)
        grp->held = false;
    if (!msgs)
        return;
    if (px->conf->global.workers != grp->n)
        log_event(LOG_LVL_WARN, "reload: global.workers %u needs a restart; still %u",
                  px->conf->global.workers, grp->n);
    for (unsigned i = 1; i < grp->n && msgs; i++) {
        struct wk_msg *m = msgs;
        msgs = m->next;
        m->next = NULL;
        inbox_post(&grp->w[i].in, m);
        sync_servers(px, i);
    }
    free_list(msgs); /* none left: one was made per replica */
}

void workers_traffic(struct server *s, bool failed, const char *why)
{
    struct wk_msg *m;

    if (!grp || !s->backend)
        return;
    m = msg_about(failed ? WK_TRAFFIC_FAIL : WK_TRAFFIC_OK, s);
    if (m && why && !(m->why = strdup(why))) {
        msg_free(m);
        m = NULL;
    }
    inbox_post(&grp->w[0].in, m);
}

/* ------------------------------------------------------------ lifecycle */

int workers_new(struct proxy *px, char *err, size_t errlen)
{
    unsigned n = px->conf->global.workers;

    if (n <= 1)
        return 0;
    grp = calloc(1, sizeof(*grp));
    if (!grp || !(grp->w = calloc(n, sizeof(*grp->w))))
        goto oom;
    grp->n = n;
    grp->w[0].px = px;
    for (unsigned i = 1; i < n; i++) {
        grp->w[i].id = i;
        grp->w[i].px = proxy_new_replica(conf_ref(px->conf), i, err, errlen);
        if (!grp->w[i].px) {
            workers_free();
            return -1;
        }
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    workers_free();
    return -1;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct wk_msg *m = calloc(1, sizeof(*m));

    lb_worker_id = w->id;
    if (log_attach(w->base) < 0)
        log_event(LOG_LVL_ERR, "worker %u: access lines will not be batched", w->id);
    event_base_dispatch(w->base);
    log_detach();
    fwd_cleanup();
    h2c_cleanup();
    stream_thread_cleanup();
    sconn_thread_cleanup();
    if (m)
        m->type = WK_EXITED;
    inbox_post(&grp->w[0].in, m);
    return NULL;
}

static int start_one(struct worker *w, char *err, size_t errlen)
{
    sigset_t all, old;
    int rc;

    if (!(w->base = event_base_new()) || proxy_attach(w->px, w->base, err, errlen) < 0 ||
        inbox_init(&w->in, w->base, replica_inbox_cb, w) < 0) {
        if (w->base && !*err)
            snprintf(err, errlen, "worker %u: cannot set up its loop", w->id);
        return -1;
    }
    sync_servers(grp->w[0].px, w->id);
    /* Signals belong to the main loop (libevent's signal handling). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "worker %u: cannot start its thread: %s", w->id, strerror(rc));
        return -1;
    }
    w->started = true;
    grp->running++;
    return 0;
}

int workers_start(char *err, size_t errlen)
{
    struct worker *main_w;

    if (!grp)
        return 0;
    main_w = &grp->w[0];
    main_w->base = main_w->px->base;
    if (inbox_init(&main_w->in, main_w->base, main_inbox_cb, main_w) < 0) {
        snprintf(err, errlen, "workers: cannot set up the main loop's inbox");
        return -1;
    }
    err[0] = '\0';
    for (unsigned i = 1; i < grp->n; i++)
        if (start_one(&grp->w[i], err, errlen) < 0)
            return -1;
    grp->started = true;
    log_event(LOG_LVL_INFO, "%u workers serving (one event loop per thread)", grp->n);
    return 0;
}

void workers_stop(bool graceful)
{
    if (!grp)
        return;
    for (unsigned i = 1; i < grp->n; i++) {
        struct wk_msg *m;
        if (!grp->w[i].started || !(m = calloc(1, sizeof(*m))))
            continue;
        m->type = WK_STOP;
        m->flag = graceful;
        inbox_post(&grp->w[i].in, m);
    }
}

unsigned workers_running(void) { return grp ? grp->running : 0; }

void workers_free(void)
{
    if (!grp)
        return;
    workers_stop(false);
    for (unsigned i = 1; i < grp->n; i++)
        if (grp->w[i].started)
            pthread_join(grp->w[i].thread, NULL);
    grp->started = false;
    for (unsigned i = grp->n; i-- > 1;) {
        struct worker *w = &grp->w[i];
        /* Freed here, counted in its own slots. */
        lb_worker_id = i;
        inbox_free(&w->in);
        proxy_free(w->px);
        lb_worker_id = 0;
        if (w->base)
            event_base_free(w->base);
    }
    inbox_free(&grp->w[0].in);
    free(grp->w);
    free(grp);
    grp = NULL;
}
