/* lb/proxy-t.h - the running proxy: frontends, listeners and the loop that
 * owns every piece of proxy state. */
#ifndef LXLB_PROXY_T_H
#define LXLB_PROXY_T_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf-t.h"
#include "lb/role-t.h"

struct event_base;
struct event;
struct evconnlistener;
struct backend;
struct cli;
struct stream;
struct reload;
struct tls_ctx;
struct ctr_block;

struct frontend {
    char *name;                        /* from conf, owned */
    const struct conf_frontend *conf;  /* its section in gen */
    struct conf *gen;                  /* the generation conf points into (referenced) */
    struct backend *backend;           /* default_backend (referenced) */
    struct tls_ctx *tls;               /* certificates of gen (lb/tls.c, referenced),
                                        * NULL: plain HTTP */
    struct proxy *px;                  /* owner */
    uint32_t refcnt;                   /* proxy list + connections: a frontend removed by a
                                        * reload lives until its connections end */
    struct ctr_block *ctr;             /* connections, requests, errors, bytes
                                        * (lb/ctr.h), shared with its replicas */
};

struct listener {
    int fd;                     /* bound, listening socket */
    struct conf_addr addr;      /* what it is bound to */
    struct evconnlistener *evl; /* accepting on the loop, NULL before attach */
    struct frontend *fe;        /* whose connections these are */
    struct listener *next;      /* next listener of the proxy */
};

struct proxy {
    const struct proxy_role *role; /* the main loop (health, discovery, admin,
                                    * reload, signals) or a replica that only
                                    * serves traffic (lb/role.h, lb/worker.h) */
    unsigned wid;                  /* worker id: 0 the main loop, 1.. replicas
                                    * (counter slots, messages) */
    struct event_base *base;       /* the loop */
    struct conf *conf;             /* the generation in force, owned */
    struct frontend **frontends;   /* one per conf frontend */
    size_t nfrontends;
    struct backend **backends;     /* one per conf backend */
    size_t nbackends;
    struct listener *listeners;    /* all frontend listeners */
    struct cli *clis;              /* every open client connection (for stop) */
    uint32_t nconn;                /* client connections open now in this worker */
    struct ctr_block *ctr;         /* client connections over all workers (stats) */
    bool accept_paused;            /* listeners disabled: maxconn or EMFILE */
    bool stopping;                 /* graceful stop under way */
    struct event *accept_retry;    /* re-enables accepting after EMFILE */
    struct event *grace_timer;     /* forced exit after global.grace */
    struct reload *reload;         /* SIGHUP machinery (lb/reload.c), NULL before attach */
    struct stream *free_streams;   /* recycled streams (no malloc per request) */
    uint32_t nfree_streams;        /* entries in free_streams */
    struct stream *lost;           /* streams whose server left, for lost_ev (lb/stream.h) */
    struct event *lost_ev;         /* looks at them on the next loop turn */
};

#endif
