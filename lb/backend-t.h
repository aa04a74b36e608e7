/* lb/backend-t.h - a backend: its servers and its balancing algorithm. */
#ifndef LXLB_BACKEND_T_H
#define LXLB_BACKEND_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf-t.h"

struct backend;
struct server;
struct proxy;
struct ctr_block;

/* The servers a request has been tried on (nginx's "tried"), referenced so a
 * freed server's address cannot come back as a new one. */
#define SRV_SET_MAX 8
struct srv_set {
    struct server *s[SRV_SET_MAX]; /* referenced */
    uint8_t n;                     /* entries used */
    uint8_t next;                  /* once full, the entry replaced next (ring) */
};

/* A balancing algorithm: an ops table, so adding one touches no caller. */
struct lb_algo {
    const char *name;
    /* Pick a usable server not in avoid (NULL: none avoided). NULL: none. */
    struct server *(*pick)(struct backend *be, const struct srv_set *avoid);
};

struct backend {
    char *name;                     /* from conf, owned */
    const struct conf_backend *conf; /* its section in gen */
    struct conf *gen;               /* the generation conf points into (referenced) */
    uint32_t refcnt;                /* proxy list + frontends + requests + servers */
    const struct lb_algo *algo;     /* from conf->balance */
    struct proxy *px;               /* owner */
    struct server **servers;        /* live servers (each holds one reference) */
    size_t nservers;                /* entries in servers */
    size_t cap;                     /* allocated entries in servers */
    size_t rot;                     /* leastconn: where the next tie-break scan starts */
    struct ctr_block *ctr;          /* requests routed here, 503s for want of a server
                                     * (lb/ctr.h), shared with its replicas */
};

#endif
