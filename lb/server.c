/* lb/server.c - server lifetime and the single place its state changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "lb/backend.h"
#include "lb/ctr.h"
#include "lb/log.h"
#include "lb/pool.h"
#include "lb/proxy-t.h"
#include "lb/server.h"
#include "lb/stream.h"
#include "lb/worker.h"

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

struct server *srv_new(const char *name, const char *cookie, const struct conf_addr *addr,
                       uint32_t weight, enum srv_source source)
{
    struct server *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->name = strdup(name);
    s->cookie = strdup(cookie ? cookie : name);
    if (!s->name || !s->cookie)
        goto err;
    s->addr = *addr;
    s->weight = weight;
    s->source = source;
    /* As HAProxy: a static server starts up; a discovered one must prove itself. */
    s->health = source == SRV_SRC_STATIC ? SRV_HEALTH_UP : SRV_HEALTH_CHECKING;
    s->refcnt = 1;
    s->state_since_ms = now_ms();
    return s;
err:
    free(s->name);
    free(s->cookie);
    free(s);
    return NULL;
}

void srv_ref(struct server *s) { s->refcnt++; }

void srv_unref(struct server *s)
{
    if (--s->refcnt > 0)
        return;
    be_unref(s->backend);
    ctr_put(s->ctr);
    free(s->name);
    free(s->cookie);
    free(s);
}

enum conf_send_proxy srv_send_proxy(const struct server *s)
{
    const struct conf_backend *cb = s->backend ? s->backend->conf : NULL;

    if (!cb)
        return CONF_SEND_PROXY_NONE;
    if (s->source == SRV_SRC_STATIC)
        for (size_t i = 0; i < cb->nservers; i++)
            if (!strcmp(cb->servers[i].name, s->name))
                return cb->servers[i].send_proxy;
    return cb->send_proxy;
}

const char *srv_health_name(enum srv_health h)
{
    static const char *names[] = { "checking", "up", "down" };
    return names[h];
}

const char *srv_admin_name(enum srv_admin a)
{
    static const char *names[] = { "ready", "drain", "maint" };
    return names[a];
}

const char *srv_source_name(enum srv_source src)
{
    static const char *names[] = { "static", "lxc", "etcd" };
    return names[src];
}

const char *srv_state_name(const struct server *s)
{
    if (s->admin != SRV_ADMIN_READY)
        return srv_admin_name(s->admin);
    return srv_health_name(s->health);
}

static const char *be_name(const struct server *s)
{
    return s->backend ? s->backend->name : "-";
}

/* Replicas (lb/worker.h) apply the main loop's changes: it logged them once. */
static bool on_main_loop(const struct server *s)
{
    return !s->backend || !s->backend->px || s->backend->px->role->owns_servers;
}

void srv_set_params(struct server *s, uint32_t weight, const char *cookie)
{
    srv_adopt_params(s, weight, strcmp(s->cookie, cookie) ? strdup(cookie) : NULL);
}

void srv_adopt_params(struct server *s, uint32_t weight, char *cookie)
{
    s->weight = weight;
    if (cookie) {
        free(s->cookie);
        s->cookie = cookie;
    }
}

void srv_set_health(struct server *s, enum srv_health h, const char *reason)
{
    if (s->health == h)
        return;
    if (on_main_loop(s))
        log_event(h == SRV_HEALTH_DOWN ? LOG_LVL_WARN : LOG_LVL_INFO,
                  "server %s/%s is %s (was %s): %s", be_name(s), s->name,
                  srv_health_name(h), srv_health_name(s->health), reason);
    s->health = h;
    s->state_since_ms = now_ms();
    s->consec_fails = 0;
    /* A server that went down may have stale idle connections. */
    if (h == SRV_HEALTH_DOWN) {
        pool_flush(s);
        /* Requests still connecting to it would wait for their timeout: a
         * vanished container's address stalls a connect for seconds. */
        stream_server_lost(s);
    }
    workers_server_changed(s);
}

void srv_set_admin(struct server *s, enum srv_admin a, const char *reason)
{
    if (s->admin == a)
        return;
    if (on_main_loop(s))
        log_event(LOG_LVL_INFO, "server %s/%s admin state %s (was %s): %s", be_name(s),
                  s->name, srv_admin_name(a), srv_admin_name(s->admin), reason);
    s->admin = a;
    s->state_since_ms = now_ms();
    if (a == SRV_ADMIN_MAINT)
        pool_flush(s);
    workers_server_changed(s);
}

void srv_set_retiring(struct server *s, bool on)
{
    if (s->retiring == on)
        return;
    s->retiring = on;
    s->state_since_ms = now_ms();
    if (on)
        stream_server_lost(s);
    workers_server_changed(s);
}

static const struct srv_health_sink *health_sink; /* the main loop's (health/) */

void srv_health_attach(const struct srv_health_sink *sink) { health_sink = sink; }

void srv_health_event(struct server *s, enum srv_hev ev, const char *why)
{
    if (!on_main_loop(s)) {
        /* A replica's traffic goes to the main loop, which counts it over
         * every loop; the rest is the main loop's to decide. */
        if (ev == SRV_HEV_TRAFFIC_FAIL) {
            s->consec_fails++;
            workers_traffic(s, true, why);
        } else if (ev == SRV_HEV_TRAFFIC_OK) {
            s->consec_fails = 0;
            workers_traffic(s, false, NULL);
        }
        return;
    }
    if (health_sink)
        health_sink->event(s, ev, why);
    else if (ev == SRV_HEV_TRAFFIC_OK)
        s->consec_fails = 0;
}

void srv_traffic_failed(struct server *s, const char *why)
{
    if (s->ctr)
        ctr_inc(s->ctr, CTR_FAILURES);
    srv_health_event(s, SRV_HEV_TRAFFIC_FAIL, why);
}
