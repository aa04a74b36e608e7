/* lb/backend.h - backends, their server lists, and server selection. */
#ifndef LXLB_BACKEND_H
#define LXLB_BACKEND_H

#include <stdbool.h>

#include "lb/backend-t.h"
#include "lb/ctr.h"
#include "lb/server-t.h"

/* A backend lives while something points at it: the proxy's list, frontends,
 * requests in flight, and its servers (even removed ones, for their logs). */
struct backend *be_new(struct proxy *px, struct conf *gen, const struct conf_backend *cb);
/* Point it at a new generation (reload); servers are reconciled by the caller. */
void be_update(struct backend *be, struct conf *gen, const struct conf_backend *cb);
void be_ref(struct backend *be);
void be_unref(struct backend *be);
/* Removed from the configuration: drop its servers and the list's reference. */
void be_retire(struct backend *be);

/* Adds s (taking a reference). -1 when a server of that name exists, or out
 * of memory. Cannot fail for want of memory when s has its counters and
 * be_reserve made room: a reload's commit step relies on it. */
int be_add_server(struct backend *be, struct server *s);
/* Room for n servers in all. -1: out of memory (be is unchanged). */
int be_reserve(struct backend *be, size_t n);
/* Removes s from the list; it lives on until its last connection ends. */
void be_remove_server(struct backend *be, struct server *s);
/* The server is gone for good (its container stopped, its key was deleted):
 * retire it first, so the requests redispatched now cannot come back to it,
 * then remove it. A reload's removal (be_remove_server) lets requests finish. */
void be_remove_gone(struct backend *be, struct server *s);
struct server *be_find_server(const struct backend *be, const char *name);
struct server *be_find_cookie(const struct backend *be, const char *cookie, size_t len);

/* Is a usable server outside avoid there? (asks without moving the balancer) */
bool be_has_usable_outside(const struct backend *be, const struct srv_set *avoid);

/* The balancer: a usable server not in avoid (NULL: any), or NULL. */
struct server *be_pick(struct backend *be, const struct srv_set *avoid);

/* Tried sets. */
bool srv_set_has(const struct srv_set *set, const struct server *s);
void srv_set_add(struct srv_set *set, struct server *s);
void srv_set_clear(struct srv_set *set);

/* A response of be completed us microseconds after its request began: into
 * the backend's response-time histogram (/stats, /metrics, the dashboard's
 * p99). Cheap enough for every response. */
static inline void be_observe_latency(struct backend *be, int64_t us)
{
    ctr_observe_us(be->ctr, us);
}

extern const struct lb_algo lb_algo_roundrobin;
extern const struct lb_algo lb_algo_leastconn;

#endif
