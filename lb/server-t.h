/* lb/server-t.h - a server (one backend peer) and its two independent states.
 * Types only; the functions are in lb/server.h.
 *
 * Health (checking/up/down) belongs to health/; admin (ready/drain/maint)
 * belongs to the admin API and discovery. The balancer never looks at either
 * directly: it asks srv_usable() / srv_usable_sticky(). */
#ifndef LXLB_SERVER_T_H
#define LXLB_SERVER_T_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf-t.h"

enum srv_health {
    SRV_HEALTH_CHECKING = 0, /* discovered, waiting for its first passing check */
    SRV_HEALTH_UP,           /* takes traffic */
    SRV_HEALTH_DOWN,         /* failed fall checks, or fall real connects in a row */
};

enum srv_admin {
    SRV_ADMIN_READY = 0, /* normal */
    SRV_ADMIN_DRAIN,     /* no new clients; sticky clients still served */
    SRV_ADMIN_MAINT,     /* no requests at all */
};

enum srv_source {
    SRV_SRC_STATIC = 0, /* from the config file */
    SRV_SRC_LXC,        /* discovery.lxc */
    SRV_SRC_ETCD,       /* discovery.etcd */
};

struct server;

/* What health/ is told about a server: it alone decides its health state
 * (lb/server.h srv_health_event). */
enum srv_hev {
    SRV_HEV_ADDED = 0,    /* joined a backend: its checks start */
    SRV_HEV_REMOVED,      /* left its backend: its checks stop */
    SRV_HEV_TRAFFIC_FAIL, /* real traffic failed (connect, nothing back, timeout) */
    SRV_HEV_TRAFFIC_OK,   /* real traffic got an answer after failures */
    SRV_HEV_RESTARTED,    /* its container started again: back to "checking", checked now */
    SRV_HEV_CHECK_NOW,    /* its port opened (discovery): check at once, not at the next turn */
    SRV_HEV_CONF,         /* its backend's health section changed (reload): checks anew */
};

/* The health owner (health/), attached by the composition root. */
struct srv_health_sink {
    void (*event)(struct server *s, enum srv_hev ev, const char *why);
};

struct backend;
struct srv_conn;
struct stream;
struct check;
struct ctr_block;

struct server {
    char *name;                /* unique within the backend */
    char *cookie;              /* sticky cookie value, defaults to name */
    struct conf_addr addr;     /* where to connect */
    uint32_t weight;           /* balancer weight, 0: never picked by the balancer */
    enum srv_source source;    /* who created it */
    enum srv_health health;    /* owned by health/ (via srv_set_health) */
    enum srv_admin admin;      /* owned by admin and discovery (via srv_set_admin) */
    bool removed;              /* no longer in its backend: freed at refcnt 0 */
    bool retiring;             /* its container is stopping or frozen (discovery):
                                * no new request, sticky clients included */
    uint32_t refcnt;           /* backend list + requests + pooled connections */
    struct backend *backend;   /* the backend that lists it (kept for logs once removed) */

    int64_t cur_weight;        /* smooth weighted round robin state (this worker's) */
    uint32_t consec_fails;     /* real-traffic failures in a row (the main loop's count;
                                * a replica's: failures not yet followed by an answer) */

    struct ctr_block *ctr;     /* requests, failures, bytes, requests in flight (lb/ctr.h),
                                * shared with its replicas; NULL until in a backend */
    int64_t state_since_ms;    /* wall clock (ms) of the last health/admin change */

    struct srv_conn *idle;     /* pooled idle connections, most recent first */
    struct stream *waiting;    /* streams bound to it with nothing back yet (this
                                * worker's): told when it goes away */
    struct stream *tunnels;    /* this worker's open tunnels to it: closed when it
                                * is gone for good (its container stopped) */
    uint32_t nidle;            /* entries in idle */

    struct check *check;       /* active health check, NULL: none (health/) */
    char last_check[64];       /* last check result, e.g. "L7OK 200 in 2ms" */
    uint32_t last_check_ms;    /* how long the last check took (ms) */
};

#endif
