/* lb/cli-t.h - a client connection: the socket (plain or TLS), its timer,
 * and the protocol it speaks (HTTP/1.1 in lb/h1c.c, HTTP/2 in lb/h2c.c). Types only; functions
 * in lb/cli.h. */
#ifndef LXLB_CLI_T_H
#define LXLB_CLI_T_H

#include <stdbool.h>
#include <stdint.h>

#include <sys/socket.h>
#include <event2/util.h>

#include "lb/h1-t.h"
#include "lb/rd.h"

struct bufferevent;
struct event;
struct frontend;
struct proxy;
struct stream;
struct tio;
struct cli;
struct h2c;

/* A protocol spoken on client connections. Each callback may free the
 * connection (cli_free); the caller then touches nothing. */
struct cli_proto {
    const char *name;                       /* "http/1.1" */
    void (*start)(struct cli *c);           /* the connection is ready (TLS: handshake done) */
    void (*read)(struct cli *c);            /* bytes arrived in the input */
    void (*written)(struct cli *c);         /* the output drained (below its low mark) */
    void (*event)(struct cli *c, short what); /* EOF, error or write timeout (BEV_EVENT_*) */
    /* Its timer fired; armed: the state it was armed in (cli_arm). A
     * protocol acts only when it is still in that state. */
    void (*timeout)(struct cli *c, int armed);
    void (*stop)(struct cli *c);            /* graceful stop: finish, take no more requests */
    void (*release)(struct cli *c);         /* the connection is being freed */
    /* A reload took effect (may be NULL): HTTP/2 sends GOAWAY, so clients
     * come back to the new settings. */
    void (*reloaded)(struct cli *c);
};

enum h1c_state {
    H1C_IDLE = 0, /* before a request (timer: http_request for the first, else keepalive) */
    H1C_HEAD,     /* a request head is coming (timer: the sooner of the http_request
                   * deadline and client inactivity) */
    H1C_STREAM,   /* a stream serves the request (timer: client inactivity, only while
                   * its body is awaited) */
    H1C_TUNNEL,   /* after a 101: raw bytes to and from the stream (its timer:
                   * timeout.tunnel) */
    H1C_CLOSING,  /* the last bytes go out, then close (no timer: the write timeout) */
    H1C_LINGER,   /* reading and discarding a moment before the close (timer: linger) */
};

/* HTTP/1.1 on a client connection: one request at a time, in order. */
struct h1c {
    enum h1c_state state;      /* see enum h1c_state */
    struct h1r req;            /* the request reader (one parser per direction) */
    struct stream *st;         /* the request being served, NULL in IDLE */
    int64_t head_deadline_us;  /* HEAD: when timeout.http_request runs out (monotonic us) */
    bool keepalive;            /* serve another request after this one */
    bool body_wanted;          /* the stream waits for request body bytes from the client */
    bool clean_close;          /* closing after a whole request, nothing unread: no linger */
    uint32_t nreq;             /* requests served on this connection */
};

/* accept_proxy: the PROXY protocol header being read, before the socket
 * gets its bufferevent (a TLS handshake must not start on its bytes). */
struct cli_pp {
    struct event *ev;            /* reads the raw socket (level-triggered) */
    evutil_socket_t fd;          /* the accepted socket */
    uint8_t *buf;                /* header bytes consumed so far */
    size_t len;                  /* bytes in buf */
    size_t cap;                  /* bytes allocated for buf */
};

struct cli {
    struct proxy *px;            /* owner */
    struct frontend *fe;         /* accepted by (referenced) */
    struct bufferevent *bev;     /* the socket, plain or TLS */
    struct rd rd;                /* its reading on plain TCP (lb/rd.h) */
    struct tio *tio;             /* TLS on the socket (lb/tio.h), NULL on plain TCP */
    struct event *timer;         /* the protocol state's deadline */
    int timer_state;             /* the state it was armed in (a callback checks it) */
    const struct cli_proto *proto; /* NULL while the TLS handshake or the PROXY
                                  * header runs */
    struct cli_pp *pp;           /* the PROXY header phase, NULL after it (or without) */
    struct sockaddr_storage src; /* the client: as accepted, or from a PROXY header */
    struct sockaddr_storage dst; /* where it connected: this socket's address, or
                                  * the PROXY header's (for send_proxy) */
    bool direct;                 /* plain TCP: writes from our callbacks (out_flush) */
    bool eof;                    /* the client closed its sending side */
    int64_t accepted_us;         /* accept time (monotonic us) */
    char client_ip[46];          /* text, for X-Forwarded-For */
    char client[64];             /* ip:port text, for the log */
    struct cli *prev, *next;     /* the proxy's client connections */
    struct h1c h1;               /* HTTP/1.1 state */
    struct h2c *h2;              /* HTTP/2 state (lb/h2c-t.h), NULL unless it speaks h2 */
};

#endif
