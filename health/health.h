/* health/health.h - the one owner of servers' health state: active HTTP
 * checks, and what it is told through lb/server.h srv_health_event() (a
 * server added or removed, real-traffic failures over every loop, a
 * container started again, a reload's new health section). Writes health
 * only through srv_set_health(). The pure state machine and parser are in
 * health/check.h. */
#ifndef LXLB_HEALTH_H
#define LXLB_HEALTH_H

struct proxy;
struct server;

/* Take the servers' health (srv_health_attach) and start checks for every
 * server of every backend that has "health"; first checks are spread over
 * one interval. Idempotent. 0, or -1 out of memory. */
int health_start(struct proxy *px);
/* Stop and free every check (exit); events only count from here on. */
void health_stop(struct proxy *px);

#endif
