/* lb/sconn.h - server connections: connect (with a soft deadline that lets a
 * stream move on from a host that does not answer), send a request, read its
 * response with lb/h1.h, and go back to the pool.
 *
 * What real traffic says about a server is judged here, once: a failed or
 * timed-out connect, and a fresh connection closed before any answer, count
 * against it (srv_traffic_failed); a response head clears it. */
#ifndef LXLB_SCONN_H
#define LXLB_SCONN_H

#include <stddef.h>
#include <stdint.h>

#include "lb/sconn-t.h"

struct event_base;

struct sconn_tmo {
    uint32_t connect_ms; /* timeout.connect */
    uint32_t soft_ms;    /* ask ops->give_up after this long, 0: never */
    uint32_t idle_ms;    /* an orphan that connects idles this long in the pool */
};

/* Connect to s for owner. head_now: the caller sends its head at once
 * (sconn_send, before ops->connected); otherwise ops->connected says when to
 * send. NULL with *err (errno) when it failed at once (the failure is
 * counted against s). */
struct srv_conn *sconn_connect(struct event_base *base, struct server *s,
                               const struct sconn_tmo *tmo, const struct sconn_ops *ops,
                               void *owner, bool head_now, int *err);
/* A pooled connection taken by a stream (lb/pool.h pool_take). */
void sconn_adopt(struct srv_conn *c, const struct sconn_ops *ops, void *owner);

/* Where the request head goes (before sconn_send). */
struct evbuffer *sconn_out(struct srv_conn *c);
/* The head is in sconn_out: send it, then read the response head into
 * resp_head. method: the request's (HEAD); framing: its body's. 1: on its
 * way; 0: still connecting (sconn_connect with head_now): the head goes when
 * the connect is done, and ops->connected (or ops->failed) follows. */
int sconn_send(struct srv_conn *c, int method, enum h1_body framing,
               struct http_head *resp_head, uint32_t server_ms);
/* Bytes of request body it can queue now. */
size_t sconn_room(const struct srv_conn *c);
/* Request payload (all of it is moved), framed as the request's; then the end. */
void sconn_body(struct srv_conn *c, struct evbuffer *payload);
void sconn_body_end(struct srv_conn *c);
/* The client drained: read the response again, starting with what is
 * already buffered. */
void sconn_resume(struct srv_conn *c);

/* After a 101: raw bytes both ways (ops->tunnel on each read), no read or
 * write timeout of its own (the stream's tunnel timer). */
void sconn_tunnel(struct srv_conn *c);
struct evbuffer *sconn_in(struct srv_conn *c);
/* Stop reading (the client is full) or read again. */
void sconn_pause(struct srv_conn *c, bool paused);
/* Write what is queued now. */
void sconn_flush(struct srv_conn *c);

/* The stream is done with it: idle in the pool (reuse) or closed. */
void sconn_release(struct srv_conn *c, bool reuse, uint32_t idle_ms);
/* Close now (from any state). */
void sconn_free(struct srv_conn *c);
/* Free this thread's scratch buffer (a loop's thread ending). */
void sconn_thread_cleanup(void);

#endif
