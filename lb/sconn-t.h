/* lb/sconn-t.h - a connection to a server: connecting, serving one stream's
 * request, or idle in the server's pool. Types only; functions in lb/sconn.h
 * (and the pool in lb/pool.h). */
#ifndef LXLB_SCONN_T_H
#define LXLB_SCONN_T_H

#include <stdbool.h>
#include <stdint.h>

#include "lb/h1-t.h"
#include "lb/rd.h"

struct bufferevent;
struct event;
struct evbuffer;
struct http_head;
struct server;

enum sc_state {
    SC_CONNECTING = 0, /* TCP connect under way for a stream (timer: connect deadline) */
    SC_ORPHAN,         /* a connect its stream gave up on as slow: it goes on alone,
                        * and how it ends still counts for the server's health
                        * (timer: timeout.connect) */
    SC_READY,          /* connected, owned by a stream, no request sent yet */
    SC_BUSY,           /* a request sent: reading its response (read timeout:
                        * timeout.server) */
    SC_IDLE,           /* in its server's pool (read timeout: timeout.keepalive) */
    SC_TUNNEL,         /* after a 101: raw bytes both ways for its stream, which
                        * owns the idle timer (timeout.tunnel) */
};

/* Why a connection failed its stream. */
enum sc_fail {
    SC_FAIL_CONNECT = 0, /* connect refused, unreachable... */
    SC_FAIL_CONNECT_TMO, /* no connect within timeout.connect */
    SC_FAIL_SLOW,        /* no connect within the soft deadline, and the stream moved on
                          * (the connection goes on as an orphan: not the stream's now) */
    SC_FAIL_CLOSED,      /* closed or reset after the connect */
    SC_FAIL_TIMEOUT,     /* no byte within timeout.server */
    SC_FAIL_BAD,         /* a malformed response */
    SC_FAIL_RESET,       /* SC_TUNNEL: reset or failed (SC_FAIL_CLOSED: a clean close) */
};

/* What a connection tells its stream (lb/stream.c). A function returning int
 * returns -1 when the connection was freed: the caller touches it no more. */
struct sconn_ops {
    void (*connected)(void *owner);
    /* No connect for the soft deadline: give up on it (true) or keep waiting? */
    bool (*give_up)(void *owner);
    /* A response head is in the stream's head (status; 1xx are interim). */
    int (*head)(void *owner, int status);
    /* Payload bytes of the response the stream can take now (0: stop reading). */
    size_t (*room)(void *owner);
    /* Response payload (the stream takes all of it). */
    void (*body)(void *owner, struct evbuffer *payload);
    /* The response is complete. */
    int (*done)(void *owner);
    /* The connection failed the stream. nothing_back: no byte of a response
     * came (the request may be replayed). */
    int (*failed)(void *owner, enum sc_fail why, bool nothing_back, const char *text);
    /* The request's output drained: more request body can go. */
    void (*drained)(void *owner);
    /* A read delivered something: send the client what it got. */
    void (*flush)(void *owner);
    /* SC_TUNNEL: bytes arrived (in sconn_in). */
    void (*tunnel)(void *owner);
};

struct srv_conn {
    struct bufferevent *bev;       /* the socket; owned (writes) */
    struct rd rd;                  /* its reading (lb/rd.h) */
    struct server *srv;            /* referenced while the connection lives */
    enum sc_state state;           /* see enum sc_state */
    struct event *timer;           /* SC_CONNECTING, SC_ORPHAN: the connect deadline */
    uint32_t connect_left_ms;      /* after the soft deadline: timeout.connect left (ms),
                                    * 0: the timer is already the hard deadline */
    uint32_t idle_ms;              /* an orphan that connects idles this long (ms) */
    uint32_t soft_ms;              /* the soft deadline (ms), for messages */
    uint32_t server_ms;            /* timeout.server of the request in flight (ms) */
    bool queued;                   /* SC_CONNECTING: a request head waits in the output
                                    * for the connect to finish */
    int connect_err;               /* SC_CONNECTING: the connect's failure (errno) that
                                    * writing the head met, reported by the timer */
    const struct sconn_ops *ops;   /* its stream's callbacks (not while idle or orphan) */
    void *owner;                   /* that stream */
    struct h1r resp;               /* the response reader */
    int req_method;                /* of the request in flight (HEAD: no response body) */
    enum h1_body req_framing;      /* how its body goes out (chunked: re-framed) */
    bool head_done;                /* the final response head was read */
    bool got_bytes;                /* a byte of the response arrived */
    uint32_t uses;                 /* requests sent on it so far */
    struct srv_conn *next;         /* next idle connection of srv */
};

#endif
