/* admin/admin-t.h - the admin listener's own state. Types only. */
#ifndef LXLB_ADMIN_T_H
#define LXLB_ADMIN_T_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf-t.h"

struct proxy;
struct event_base;
struct evhttp;
struct evhttp_bound_socket;

/* Bounds on what one admin client may send or hold open. The API takes tiny
 * JSON bodies, so anything larger is an error, not a reason to buffer. */
#define ADMIN_MAX_HEADERS  8192 /* bytes of the request line and headers */
#define ADMIN_MAX_BODY     4096 /* bytes of a request body */
#define ADMIN_TIMEOUT_S    10   /* read/write inactivity, then the connection closes */

/* The last minutes of figures the dashboard draws, sampled on the loop
 * every AHIST_STEP_MS: a shared ring of sample times, and per series a ring
 * of values (NaN: no value then). */
#define AHIST_STEP_MS 2000
#define AHIST_POINTS 150           /* 5 minutes */

enum ahist_kind {
    AHIST_BACKEND,                 /* a: requests/s, b: p99 response time (ms),
                                    * c: usable servers */
    AHIST_CONTAINER,               /* a: CPU (% of one CPU), b: memory (bytes) */
};

struct ahist_series {
    enum ahist_kind kind;
    char *key;                     /* backend name, or "backend/server" */
    double a[AHIST_POINTS];        /* first figure, by ring index */
    double b[AHIST_POINTS];        /* second figure */
    double c[AHIST_POINTS];        /* third figure (backends) */
    uint64_t last_count;           /* backend: requests at the last sample */
    uint64_t last_lat[15];         /* backend: latency buckets at the last sample */
    int64_t seen_ms;               /* monotonic ms of its last value */
    struct ahist_series *next;
};

struct ahist {
    struct event *tick;            /* every AHIST_STEP_MS, while the admin listens */
    int64_t t[AHIST_POINTS];       /* wall ms of each sample, by ring index */
    int64_t mono_last;             /* monotonic ms of the last sample */
    size_t head;                   /* ring index of the oldest sample */
    size_t n;                      /* samples in the ring */
    struct ahist_series *series;   /* every backend and container seen lately */
};

struct admin {
    struct proxy *px;                /* whose figures we serve; NULL: not running */
    struct event_base *base;         /* the proxy's loop (we add no loop of our own) */
    struct evhttp *http;             /* the HTTP/1.1 server, NULL: not running */
    struct evhttp_bound_socket *sock; /* our listening socket, owned by http */
    struct conf_addr bind;           /* where we listen: to unlink a unix path, to
                                      * keep the socket when a reload leaves it alone */
    int64_t started_ms;              /* CLOCK_MONOTONIC ms of the first start: uptime */
    struct ahist hist;               /* the dashboard's graphs */
};

#endif
