/* admin/admin-t.h - the admin listener's own state. Types only. */
#ifndef LXLB_ADMIN_T_H
#define LXLB_ADMIN_T_H

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

struct admin {
    struct proxy *px;                /* whose figures we serve; NULL: not running */
    struct event_base *base;         /* the proxy's loop (we add no loop of our own) */
    struct evhttp *http;             /* the HTTP/1.1 server, NULL: not running */
    struct evhttp_bound_socket *sock; /* our listening socket, owned by http */
    struct conf_addr bind;           /* where we listen: to unlink a unix path, to
                                      * keep the socket when a reload leaves it alone */
    int64_t started_ms;              /* CLOCK_MONOTONIC ms of the first start: uptime */
};

#endif
