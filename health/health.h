/* health/health.h - active HTTP checks. Writes a server's health state only
 * through srv_set_health(); the passive side (real-traffic connect failures)
 * is srv_traffic_failed() in lb/server.c. The pure state machine and parser
 * are in health/check.h. */
#ifndef LXLB_HEALTH_H
#define LXLB_HEALTH_H

struct proxy;
struct server;

/* Start checks for every server of every backend that has "health"; first
 * checks are spread over one interval. Idempotent: after a reload, calling it
 * again starts checks for servers lacking one and stops those whose backend
 * no longer has "health". 0, or -1 out of memory. */
int health_start(struct proxy *px);
/* Stop and free every check (exit). */
void health_stop(struct proxy *px);
/* A server joined a backend after start (discovery, reload): check it, at
 * once when it is waiting in "checking". When its backend has no health, a
 * "checking" server is set up at once (nothing would ever check it). */
void health_server_added(struct server *s);
/* A server leaves its backend: stop and free its check. */
void health_server_removed(struct server *s);

#endif
