/* lb/session-t.h - one client connection (session) and the request it is
 * serving (transaction). */
#ifndef LXLB_SESSION_T_H
#define LXLB_SESSION_T_H

#include <stdbool.h>
#include <stdint.h>
#include <llhttp.h>

#include "lb/http.h"
#include "lb/rd.h"

struct bufferevent;
struct event;
struct frontend;
struct proxy;
struct server;
struct backend;
struct srv_conn;

enum body_kind {
    BODY_NONE = 0, /* the head is the whole message */
    BODY_LENGTH,   /* Content-Length bytes follow */
    BODY_CHUNKED,  /* chunked transfer coding */
    BODY_EOF,      /* response delimited by the server closing */
};

enum sess_state {
    SESS_IDLE = 0,   /* between requests (or before the first) */
    SESS_HEAD,       /* reading a request head */
    SESS_CONNECT,    /* head read; getting a server connection */
    SESS_ACTIVE,     /* request and response flowing */
    SESS_CLOSING,    /* flushing the last bytes, then close */
};

struct txn {
    struct http_head req;        /* request head as received */
    struct http_head resp;       /* response head as received */
    int method;                  /* llhttp_method_t */
    uint8_t req_major;           /* request HTTP version */
    uint8_t req_minor;
    enum body_kind req_body;     /* request body framing */
    enum body_kind resp_body;    /* response body framing */
    bool req_keepalive;          /* the client allows another request */
    bool req_done;               /* the whole request reached the server's buffer */
    bool resp_started;           /* response bytes were sent to the client */
    bool resp_head_done;         /* final response head parsed */
    bool head_done;              /* the request head parsed completely */
    uint8_t scan;                /* request head line-ending scan state */
    uint8_t resp_scan;           /* response head line-ending scan state */
    bool resp_keepalive;         /* the server allows reuse */
    bool conn_reused;            /* the request went on a pooled connection */
    struct backend *be;          /* where it was routed */
    struct server *srv;          /* chosen server (referenced), NULL before */
    struct server *failed_srv;   /* last server whose connect failed (redispatch) */
    const struct server *cookie_srv; /* server the client's cookie names (compared, never
                                      * dereferenced: it may be gone), NULL: none */
    int retries_left;            /* connect attempts left after this one */
    int status;                  /* final status sent to the client */
    uint64_t bytes_out;          /* bytes sent to the client for this request */
    int64_t t_start_us;          /* first byte of the request head */
    int64_t t_head_us;           /* request head complete */
    int64_t t_connect_us;        /* server connection ready */
    int64_t t_resp_us;           /* response head received */
    struct txn *next_free;       /* freelist link */
};

struct session {
    struct proxy *px;            /* owner */
    struct frontend *fe;         /* accepted by */
    struct bufferevent *bev;     /* client socket */
    struct rd rd;                /* its reading on plain TCP (lb/rd.h); with TLS the
                                  * bufferevent reads */
    llhttp_t parser;             /* request parser: one per direction */
    struct txn *txn;             /* request in progress, NULL when idle */
    struct srv_conn *sc;         /* server connection in use, NULL if none */
    struct event *timer;         /* http_request / keepalive / body timeout */
    enum sess_state state;       /* see enum sess_state */
    bool keepalive;              /* serve another request after this one */
    bool client_eof;             /* the client closed its sending side */
    bool clean_close;            /* closing after a whole request, nothing unread:
                                  * no lingering needed */
    bool direct;                 /* plain TCP: responses are written from our
                                  * callbacks (out_flush), not on the next turn */
    uint32_t nreq;               /* requests served on this connection */
    char client_ip[46];          /* text, for X-Forwarded-For */
    char client[64];             /* ip:port text, for the log */
    struct session *prev, *next; /* proxy's session list */
};

#endif
