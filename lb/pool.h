/* lb/pool.h - server connections and per-server pools of idle keep-alive ones.
 *
 * A pooled connection watches its socket: a server that closes an idle
 * connection (or sends bytes nobody asked for) gets it dropped at once, so
 * most stale connections are gone before anyone picks them. */
#ifndef LXLB_POOL_H
#define LXLB_POOL_H

#include <stdint.h>

#include "lb/pool-t.h"

struct event_base;

#define POOL_MAX_IDLE 256 /* idle connections kept per server */

/* A new, connecting server connection (no callbacks set yet). NULL on error. */
struct srv_conn *sconn_new(struct event_base *base, struct server *s);
void sconn_free(struct srv_conn *c);

/* Most recently used idle connection of s, or NULL. */
struct srv_conn *pool_take(struct server *s);
/* Park c idle for at most idle_ms; frees it when the pool is full or s unusable. */
void pool_put(struct srv_conn *c, uint32_t idle_ms);
/* Close every idle connection of s. */
void pool_flush(struct server *s);

#endif
