/* lb/server.h - server lifetime and state. Every state change goes through
 * here so it is logged once and the balancer sees one truth. */
#ifndef LXLB_SERVER_H
#define LXLB_SERVER_H

#include "lb/ctr.h"
#include "lb/server-t.h"

struct server *srv_new(const char *name, const char *cookie, const struct conf_addr *addr,
                       uint32_t weight, enum srv_source source);
void srv_ref(struct server *s);
/* Drops a reference; the last one frees the server (and its idle connections). */
void srv_unref(struct server *s);

/* May the balancer give it a new client? health up and admin ready. */
static inline bool srv_usable(const struct server *s)
{
    return !s->removed && !s->retiring && s->health == SRV_HEALTH_UP &&
           s->admin == SRV_ADMIN_READY;
}

/* May a client already stuck to it (cookie) still use it? drain keeps them. */
static inline bool srv_usable_sticky(const struct server *s)
{
    return !s->removed && !s->retiring && s->health == SRV_HEALTH_UP &&
           s->admin != SRV_ADMIN_MAINT;
}

/* Requests in flight to it, over every worker. */
static inline unsigned srv_active(const struct server *s)
{
    return s->ctr ? (unsigned)ctr_sum(s->ctr, CTR_ACTIVE) : 0;
}

/* Weight and cookie from a newer source (a reload, the main loop). A cookie
 * that cannot be copied (out of memory) keeps the old one. */
void srv_set_params(struct server *s, uint32_t weight, const char *cookie);
/* The same with a cookie already copied, which s now owns (NULL: unchanged):
 * cannot fail, for a reload's commit step. */
void srv_adopt_params(struct server *s, uint32_t weight, char *cookie);

void srv_set_health(struct server *s, enum srv_health h, const char *reason);
void srv_set_admin(struct server *s, enum srv_admin a, const char *reason);
/* Discovery: its container is stopping or frozen (on) or back (off). On, the
 * requests still waiting on it with nothing back go elsewhere at once. The
 * caller logs, with the container's context. */
void srv_set_retiring(struct server *s, bool on);
/* Health has one owner: health/ decides a server's health state from what it
 * is told here (checks are its own). The composition root attaches it; until
 * then (and in worker replicas, which follow the main loop) events only
 * count. lb/, discovery/ and admin/ never call health/ directly. */
void srv_health_attach(const struct srv_health_sink *sink);
void srv_health_event(struct server *s, enum srv_hev ev, const char *why);

/* Passive health, from real traffic: a connect failed (refused, unreachable,
 * timeout) or a request got nothing back (connection reset, closed, timed
 * out); an answer after failures. A replica reports them to the main loop,
 * which gives them to health/ (over all loops: "fall in a row"). */
void srv_traffic_failed(struct server *s, const char *why);
static inline void srv_traffic_ok(struct server *s)
{
    if (s->consec_fails) /* the common case costs one load */
        srv_health_event(s, SRV_HEV_TRAFFIC_OK, NULL);
}

/* The PROXY header it wants first on each new connection (send_proxy): its
 * own setting for a server of the file, else its backend's. */
enum conf_send_proxy srv_send_proxy(const struct server *s);

const char *srv_health_name(enum srv_health h);
const char *srv_admin_name(enum srv_admin a);
const char *srv_source_name(enum srv_source src);
/* "checking", "up", "down", "drain" or "maint", as /stats shows it. */
const char *srv_state_name(const struct server *s);

#endif
