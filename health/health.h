/* health/health.h - active HTTP checks. Writes a server's health state only
 * through srv_set_health(); the passive side (real-traffic connect failures)
 * is srv_connect_failed() in lb/server.c. */
#ifndef LXLB_HEALTH_H
#define LXLB_HEALTH_H

struct proxy;
struct server;

/* Start checks for every server of every backend that has "health". */
int health_start(struct proxy *px);
/* Stop and free every check (exit). */
void health_stop(struct proxy *px);
/* A server joined a backend after start (discovery, reload): check it, at
 * once when it is waiting in "checking". No-op when its backend has no health. */
void health_server_added(struct server *s);
/* A server leaves its backend: stop and free its check. */
void health_server_removed(struct server *s);

#endif
