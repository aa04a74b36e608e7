/* lb/dispatch.h - which server a stream goes to, at first and after a
 * failure: the one place that decides connect, retry and redispatch.
 *
 * A stream remembers the servers it was tried on (nginx's "tried" set). A
 * retry goes to a usable server not tried yet; when every usable one was
 * tried, to the one that failed if it is still usable (a single-server
 * backend retries on it), else to any usable one. Without redispatch a
 * failed connect goes back to the same server while it is usable. */
#ifndef LXLB_DISPATCH_H
#define LXLB_DISPATCH_H

#include <stdbool.h>

struct stream;
struct server;

enum disp_why {
    DISP_FIRST = 0,      /* a new request: its sticky server, else the balancer */
    DISP_CONNECT_FAILED, /* its connect failed, timed out, was slow, or its server left */
    DISP_NOTHING_BACK,   /* sent on a fresh connection, nothing came back (replayable) */
    DISP_POOL_CLOSED,    /* a pooled connection was closed under it (replayable) */
};

/* The server st goes to now, or NULL with *status (503: none usable, or
 * retries spent on connects; 502: retries spent on replays). Consumes a
 * retry where the rules above say so. Does not connect. */
struct server *dispatch(struct stream *st, enum disp_why why, int *status);

/* A connect to st's server is slow: is there a usable server it was not
 * tried on? (then it moves on) */
bool dispatch_can_move_on(const struct stream *st);

#endif
