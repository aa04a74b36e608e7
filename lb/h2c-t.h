/* lb/h2c-t.h - HTTP/2 on a client connection (lb/h2c.c): the connection's
 * nghttp2 session and one struct h2s per HTTP/2 stream, each serving one
 * struct stream. Types only; functions in lb/h2c.h. */
#ifndef LXLB_H2C_T_H
#define LXLB_H2C_T_H

#include <stdbool.h>
#include <stdint.h>

#include "lb/http.h"

struct cli;
struct event;
struct evbuffer;
struct stream;
typedef struct nghttp2_session nghttp2_session;

enum h2c_state {
    H2C_OPEN = 0, /* serving streams (timer: idle while none is open, else the
                   * deadlines of streams waiting on the client) */
    H2C_DRAIN,    /* GOAWAY sent (stop, reload): open streams finish, then close
                   * (timer: their deadlines; after a reload also global.grace) */
    H2C_CLOSING,  /* the last frames go out, then close (no timer: the write timeout) */
};

/* One HTTP/2 stream, from its HEADERS until nghttp2 closes it. Its
 * exchange (st) may end before it does: response DATA still waiting for
 * the client's window, request DATA still arriving after an early answer. */
struct h2s {
    struct h2c *h2;            /* its connection */
    struct stream *st;         /* the exchange, NULL once it ended (logged, freed) */
    int32_t id;                /* HTTP/2 stream id */
    struct evbuffer *req;      /* request payload received, not yet taken by the server
                                * side (at most the stream's window: unconsumed) */
    struct evbuffer *resp;     /* response payload not yet framed as DATA */
    int64_t wait_us;           /* waiting on the client (its request body, or its window
                                * for the response) since then (monotonic us), 0: not */
    uint32_t hdr_bytes;        /* header list so far, as RFC 9113 counts it (bytes) */
    int refuse;                /* status to answer once the head is whole, 0: none */
    const char *why;           /* that refusal's reason (static text) */
    bool head_done;            /* the request head was converted (stream_head_parsed) */
    bool req_eos;              /* END_STREAM came: the request is whole */
    bool body_wanted;          /* the stream waits for request DATA (fed on arrival) */
    bool resp_eos;             /* the response is whole: END_STREAM once resp drains */
    bool resp_deferred;        /* its data source said DEFERRED: resume on more */
    bool resp_blocked;         /* resp_room said 0: resume the server side on room */
    bool rst_after;            /* RST_STREAM(NO_ERROR) once the response is out: the
                                * request body was still coming (RFC 9113 8.1) */
    bool client_reset;         /* the client sent RST_STREAM for it */
    bool todo;                 /* on the connection's to-do list */
    struct h2s *prev, *next;   /* the connection's streams */
    struct h2s *tnext;         /* to-do list: start it, or feed it request DATA */
};

/* The connection's HTTP/2 state (struct cli's h2). */
struct h2c {
    struct cli *c;             /* its client connection */
    nghttp2_session *ses;      /* server session: framing, HPACK, flow control */
    enum h2c_state state;      /* see enum h2c_state */
    struct event *send_ev;     /* runs a send pass on the loop's next round (batched) */
    struct evbuffer *stage;    /* a send pass's frames, handed to the output at once */
    struct h2s *streams;       /* open streams */
    uint32_t nstreams;         /* entries in streams */
    struct h2s *todo;          /* streams to start or feed after this read */
    uint64_t resp_buffered;    /* response payload held over all streams (bytes) */
    uint32_t nblocked;         /* streams with resp_blocked set */
    /* The request head being decoded: HEADERS and CONTINUATION frames of
     * one stream come without any other frame between them. */
    struct hbuf authority;     /* :authority */
    struct hbuf host;          /* a Host field */
    struct hbuf cookie;        /* cookie fields joined with "; " (RFC 9113 8.2.3) */
    bool has_authority;        /* :authority came */
    bool has_host;             /* host came */
    bool has_cookie;           /* cookie came */
    /* Abuse accounting. */
    uint32_t resets;           /* streams the client reset before their answer */
    uint32_t completed;        /* exchanges completed */
    uint32_t ctrl;             /* PING, SETTINGS, PRIORITY, empty DATA frames this second */
    int64_t ctrl_since_us;     /* start of that second (monotonic us) */
    int64_t idle_since_us;     /* no stream open since (monotonic us) */
    int64_t drain_until_us;    /* DRAIN after a reload: close then (monotonic us), 0: none */
    uint32_t nreq;             /* streams served */
    char close_who;            /* termination code for streams a close cuts (enum st_who) */
    bool sending;              /* inside a send pass (no re-entry) */
    bool lingering;            /* closing: the output is out, cli_linger runs */
    bool send_queued;          /* send_ev is active */
    bool timer_dirty;          /* something the timer depends on changed */
};

#endif
