/* tests/unit/fake_sc.h - the fake server side and the test bed of
 * tests/unit/test_stream.c, shared with the other client-side tests
 * (tests/unit/test_h2c.c): a proxy with one backend of three servers whose
 * connections the test drives by hand (no sockets). */
#ifndef LXLB_TEST_FAKE_SC_H
#define LXLB_TEST_FAKE_SC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lb/sconn-t.h"

struct backend;
struct frontend;
struct proxy;

#define FAKE_MAGIC 0x5ca1ab1eu
#define MAX_FAKES 16

struct fake_sc {
    struct srv_conn sc;        /* what the stream sees */
    uint32_t magic;            /* FAKE_MAGIC */
    struct evbuffer *out;      /* what the stream sent */
    uint32_t soft_ms;          /* the soft deadline it asked for */
    size_t room;               /* request bytes it can take */
    int sends;                 /* requests sent on it */
    int body_ends;             /* sconn_body_end calls */
    bool released, reuse, freed, orphan, resumed;
    bool queued;               /* a head sent with the connect, before it is done */
};

extern struct fake_sc *fakes[MAX_FAKES]; /* connections made, in order */
extern int nfakes;

/* What a real connection would do, driven by the test. */
void fake_connected(struct fake_sc *f);
/* Response bytes through the real reader, calling the stream as lb/sconn.c does. */
void fake_respond(struct fake_sc *f, const char *bytes);

struct bed {
    struct proxy *px;
    struct backend *be;
    struct frontend *fe;
    char logpath[64];
};

struct bed_opts {
    int retries;            /* backend retries */
    bool no_redispatch;     /* redispatch false */
    int nservers;           /* servers kept (1-3) */
    const char *client, *http_request, *keepalive; /* timeouts, NULL: 5s */
};

/* Up: a proxy on its own event base, servers s1-s3, the access log in a
 * file of its own; down: everything freed (client connections too). */
struct bed bed_up(struct bed_opts o);
void bed_down(struct bed *b);
/* The last access-log line written. */
const char *last_log_line(struct bed *b);

#endif
