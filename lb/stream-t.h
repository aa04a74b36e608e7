/* lb/stream-t.h - one request/response exchange, apart from the client
 * connection it came on and the server connection that serves it. Types
 * only; the functions are in lb/stream.h.
 *
 * The client side (lb/h1c.c for HTTP/1.1; HTTP/2 streams later) parses the
 * request head into the stream and gives it the request body; the stream
 * routes it, picks a server (lb/dispatch.c), takes a server connection
 * (lb/sconn.h) and relays both ways; the server connection reports through
 * a few callbacks (connected, head, body, done, failed). */
#ifndef LXLB_STREAM_T_H
#define LXLB_STREAM_T_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf-t.h"
#include "lb/backend-t.h"
#include "lb/h1-t.h"
#include "lb/http.h"

struct backend;
struct evbuffer;
struct frontend;
struct proxy;
struct server;
struct srv_conn;
struct stream;
struct fwd_resp_ctx;
struct conf_redirect;
struct sockaddr;

enum st_state {
    ST_HEAD = 0, /* the client is sending the request head */
    ST_CONNECT,  /* head complete; waiting for a server connection */
    ST_WAIT,     /* request head sent (its body may still flow); awaiting the response */
    ST_RESP,     /* response head sent to the client; its body flowing */
    ST_TUNNEL,   /* after a 101: bytes both ways (timer: timeout.tunnel, idle) */
    ST_DONE,     /* over and logged: the client side frees it */
};

/* Who ended the exchange and when, for the access log (README "Logs"). */
enum st_who {
    WHO_NONE = '-',   /* it completed */
    WHO_CLIENT = 'C', /* the client closed or reset */
    WHO_CLIENT_TMO = 'c', /* the client went quiet (timeout.client / http_request) */
    WHO_SERVER = 'S', /* the server closed, reset, refused or answered garbage */
    WHO_SERVER_TMO = 's', /* the server went quiet (timeout.server / connect) */
    WHO_PROXY = 'P',  /* lxlb refused the request (malformed, too large, no server) */
    WHO_RESOURCE = 'R', /* lxlb ran out of memory */
    WHO_KILLED = 'K', /* lxlb stopped (grace over) */
};
enum st_phase {
    PH_NONE = '-',    /* it completed */
    PH_HEAD = 'R',    /* receiving the request head */
    PH_BODY = 'B',    /* receiving the request body */
    PH_CONNECT = 'C', /* getting a server connection */
    PH_WAIT = 'H',    /* waiting for the response head */
    PH_DATA = 'D',    /* sending the response body */
};

/* What a client side does for its streams (HTTP/1.1 now; HTTP/2 next).
 * A function returning int returns -1 when the stream was freed (with its
 * client connection, perhaps): the caller then touches neither. */
struct stream_cli_ops {
    /* Move at most max bytes of request payload into out; H1_DONE when the
     * request is complete, H1_MORE, H1_ERR (st->why says why), or H1_EOF
     * (the client closed before the end of the body). */
    enum h1_res (*req_body)(struct stream *st, struct evbuffer *out, size_t max);
    /* Stop or resume taking request body bytes from the client. */
    void (*req_pause)(struct stream *st, bool paused);
    /* Write the response head st->resp rewritten per ctx (and its framing). */
    int (*resp_head)(struct stream *st, const struct fwd_resp_ctx *ctx);
    /* An interim (1xx) response head. */
    void (*resp_interim)(struct stream *st, int status);
    /* Bytes of response payload the client side can take now. */
    size_t (*resp_room)(struct stream *st);
    /* Response payload: all of it is taken (framed as the client needs). */
    void (*resp_body)(struct stream *st, struct evbuffer *payload);
    /* The response is complete: log, free the stream, serve the next. */
    int (*resp_done)(struct stream *st);
    /* After a 101: the connection carries raw bytes from now on; its input
     * and output, and reads keep going to the stream (stream_tunnel_io). */
    void (*tunnel)(struct stream *st, struct evbuffer **in, struct evbuffer **out);
    /* lxlb answers itself (status >= 400: an error page and close). */
    int (*answer)(struct stream *st, int status);
    /* lxlb answers with the redirect of the request's route (then, as after
     * any response, the next request); a redirect that would copy unsafe
     * bytes of the request answers 400. */
    int (*redirect)(struct stream *st, const struct conf_redirect *rd);
    /* The response cannot complete: cut the client connection. */
    int (*abort)(struct stream *st);
    /* Send what the response queued so far (end of a server read). */
    void (*flush)(struct stream *st);
    /* The client's address: "192.0.2.7" (X-Forwarded-For) and with its port
     * for the log ("192.0.2.7:51000", "[2001:db8::1]:51000"). */
    const char *(*client_ip)(struct stream *st);
    const char *(*client_name)(struct stream *st);
    /* The client's address and the one it connected to (after a PROXY
     * header: the header's), for send_proxy. */
    void (*addrs)(struct stream *st, const struct sockaddr **src, const struct sockaddr **dst);
    /* " TLSv1.3/CIPHER" or "", for the log line (buf: 96+ bytes). */
    const char *(*tls_suffix)(struct stream *st, char *buf, size_t n);
};

/* A stream's place on one list: doubly linked and knowing its head, so
 * leaving it needs nothing else. */
struct st_link {
    struct stream *prev, *next; /* neighbours on the list */
    struct stream **head;       /* the list it is on, NULL: none */
};

struct stream {
    struct proxy *px;              /* owner loop */
    struct frontend *fe;           /* accepted by (the client side holds a reference) */
    const struct stream_cli_ops *cli; /* its client side */
    void *cli_ctx;                 /* that side's connection */
    struct srv_conn *sc;           /* server connection in use, NULL if none */
    enum st_state state;           /* see enum st_state */

    struct http_head req;          /* request head as received */
    struct http_head resp;         /* response head as received */
    int method;                    /* llhttp_method_t */
    uint8_t req_major, req_minor;  /* request HTTP version */
    enum h1_body req_body;         /* request body framing as received */
    enum h1_body resp_body;        /* response body framing as received */
    bool req_keepalive;            /* the client allows another request after it */
    bool req_done;                 /* the whole request reached the server's buffer */
    bool resp_keepalive;           /* the server allows reusing its connection */
    bool conn_reused;              /* the request went on a pooled connection */
    bool head_queued;              /* ST_CONNECT: the head waits in the connection's
                                    * output for the connect to finish */
    size_t head_bytes;             /* bytes of the head sent to the server */
    bool upgrade;                  /* the request asks for an Upgrade (Connection: upgrade
                                    * and Upgrade, no body): a 101 opens a tunnel */
    enum conf_send_proxy send_proxy; /* the PROXY header its server connections start
                                      * with (none: pooled connections may serve it) */

    struct backend *be;            /* where it was routed (referenced), NULL before */
    struct server *srv;            /* chosen server (referenced), NULL before */
    const struct server *cookie_srv; /* server the client's cookie names (compared,
                                      * never dereferenced: it may be gone) */
    struct srv_set tried;          /* servers connected to for it so far */
    int retries_left;              /* connect attempts left after this one */

    int status;                    /* final status sent to the client, -1: none */
    uint64_t bytes_out;            /* bytes sent to the client for it */
    int64_t t_start_us;            /* first byte of the request head (wall clock, us) */
    int64_t t_start_mono_us;       /* the same on the precise monotonic clock (us), for
                                    * the response-time histogram: the loop's cached
                                    * clock above ticks in milliseconds */
    int64_t t_head_us;             /* request head complete, 0: never */
    int64_t t_connect_us;          /* a server connection ready, -1: never */
    int64_t t_resp_us;             /* response head received, -1: never */
    char who, phase;               /* termination code (enum st_who, enum st_phase) */
    const char *why;               /* a refusal's reason, for the log (static text) */

    struct st_link srv_link;       /* on srv->waiting (bound to srv, nothing back yet) or,
                                    * after a 101, on srv->tunnels (closed when it stops) */
    struct evbuffer *cin, *cout;   /* ST_TUNNEL: the client connection's input and output */
    struct event *tunnel_timer;    /* ST_TUNNEL: timeout.tunnel, for idle both ways */
    int64_t tunnel_last_us;        /* ST_TUNNEL: the last byte moved (monotonic us) */
    struct st_link lost_link;      /* on px->lost: queued for a server-lost verdict */
    struct stream *next_free;      /* the proxy's recycled streams */
};

#endif
