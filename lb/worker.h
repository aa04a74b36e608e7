/* lb/worker.h - global.workers > 1: one event loop per thread.
 *
 * Worker 0 is the main loop: it alone runs health checks, discovery, the
 * admin API, reloads and signal handling, and it owns the truth about every
 * server. Workers 1.. each serve traffic on a replica of the proxy built from
 * the same configuration: their own listening sockets on the same addresses
 * (SO_REUSEPORT: the kernel spreads connections), client connections, pooled server
 * connections and balancer state. Nothing on the request path is shared, so
 * it takes no lock. The main loop publishes each server change to every
 * replica as a message; replicas send back what real traffic says about a
 * server (passive health), which the main loop judges. Counters are summed
 * across workers (lb/ctr.h).
 *
 * With workers: 1 none of this exists: every function here is a no-op. */
#ifndef LXLB_WORKER_H
#define LXLB_WORKER_H

#include <stdbool.h>
#include <stddef.h>

struct conf;
struct proxy;
struct server;
struct wk_msg;

/* Build the replicas of px (binding their sockets): before any fork or
 * privilege drop. -1 with a reason in err. */
int workers_new(struct proxy *px, char *err, size_t errlen);
/* Give each replica its loop and thread. -1 with a reason in err. */
int workers_start(char *err, size_t errlen);
/* Main loop: graceful (finish in-flight requests within global.grace) or
 * immediate stop of every replica. */
void workers_stop(bool graceful);
/* Replicas whose loop has not ended yet. */
unsigned workers_running(void);
/* Wait for every thread, then free the replicas. */
void workers_free(void);

/* Main loop: s was added or changed state (health, admin, retiring). */
void workers_server_changed(struct server *s);
/* Main loop: s has its first failure in a row; any loop's next answer from it
 * must reach the main loop, so that "fall failures in a row" means in a row
 * over all loops. */
void workers_server_suspect(struct server *s);
/* Main loop: s left its backend (gone: its container or key is gone). */
void workers_server_removed(struct server *s);
/* Main loop, a reload's first step: the messages that will carry generation
 * nc to every replica, so that a reload applied on the main loop cannot fail
 * to reach them. *out NULL without replicas; -1 out of memory. */
int workers_reload_prepare(struct conf *nc, struct wk_msg **out);
/* The swap is under way: server changes are not published one by one (it
 * allocates nothing; the replicas get every server at the commit). */
void workers_reload_hold(void);
/* The main loop applied it (px->conf is nc): changes are published again,
 * and each replica gets its message, then every server's state, and applies
 * both on its own loop. */
void workers_reload_commit(struct proxy *px, struct wk_msg *msgs);
/* The reload was rejected: free the messages. */
void workers_reload_abort(struct wk_msg *msgs);
/* Replica: real traffic to s failed (why) or got an answer after failures. */
void workers_traffic(struct server *s, bool failed, const char *why);

#endif
