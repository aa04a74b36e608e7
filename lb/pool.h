/* lb/pool.h - per-server pools of idle keep-alive server connections.
 *
 * A pooled connection watches its socket: a server that closes an idle
 * connection (or sends bytes nobody asked for) gets it dropped at once, so
 * most stale connections are gone before anyone picks them. */
#ifndef LXLB_POOL_H
#define LXLB_POOL_H

#include <stdint.h>

#include "lb/sconn-t.h"

#define POOL_MAX_IDLE 256 /* idle connections kept per server */

/* Most recently used idle connection of s, or NULL. */
struct srv_conn *pool_take(struct server *s);
/* Park c idle for at most idle_ms; frees it when the pool is full or s unusable. */
void pool_put(struct srv_conn *c, uint32_t idle_ms);
/* Close every idle connection of s. */
void pool_flush(struct server *s);

#endif
