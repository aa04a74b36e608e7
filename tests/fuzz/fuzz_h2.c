/* tests/fuzz/fuzz_h2.c - libFuzzer target over lxlb's HTTP/2 client side.
 *
 * The input is what a client sends after the connection preface on a plain
 * frontend with "http2": true. It goes through the real client connection
 * (lb/cli.c: the preface sniff), the real lb/h2c.c (its nghttp2 server
 * session and callbacks: head conversion, flow control, the to-do list,
 * floods, GOAWAY) and the real stream (lb/stream.c) on an in-memory
 * bufferevent pair. The backend has no server, so every request that gets
 * that far is answered 503 by lxlb itself: answers, DATA, resets and the
 * connection's close are all exercised without a socket.
 *
 * The input is fed in two pieces (split where its first byte says), so a
 * frame cut between reads is covered too.
 *
 * Invariants (any violation aborts, so libFuzzer saves the input):
 *  - never a crash, leak or undefined behaviour (ASan + UBSan);
 *  - what lxlb writes is a sequence of whole HTTP/2 frames starting with
 *    its SETTINGS, none longer than the default SETTINGS_MAX_FRAME_SIZE
 *    unless the client may have raised it (then that is not checked). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf/conf.h"
#include "lb/backend.h"
#include "lb/cli.h"
#include "lb/ctr.h"
#include "lb/h2c.h"
#include "lb/log.h"
#include "lb/proxy.h"
#include "lb/role.h"
#include "lb/stream.h"

#define INVARIANT(c)                                                              \
    do {                                                                          \
        if (!(c)) {                                                               \
            fprintf(stderr, "INVARIANT FAILED: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
            abort();                                                              \
        }                                                                         \
    } while (0)

static const char *const CONF_JSON =
    "{ \"defaults\": { \"timeout\": { \"client\": \"1s\", \"http_request\": \"1s\" },"
    "                  \"h2\": { \"max_concurrent_streams\": 8, \"initial_window\": 4096,"
    "                            \"max_header_list\": 4096 } },"
    "  \"frontends\": [ { \"name\": \"fe\", \"bind\": [\"127.0.0.1:1\"], \"http2\": true,"
    "                     \"default_backend\": \"b\" } ],"
    "  \"backends\": [ { \"name\": \"b\", \"retries\": 0 } ] }";

static struct proxy *px;
static struct frontend *fe;
static struct backend *be;

static void setup(void)
{
    char err[CONF_ERRLEN];
    struct conf *conf = conf_load_string("fuzz.json", CONF_JSON, err, sizeof(err));

    if (!conf) {
        fprintf(stderr, "fuzz config: %s\n", err);
        abort();
    }
    log_access_open("off");
    px = calloc(1, sizeof(*px));
    px->role = &role_main;
    px->base = event_base_new();
    px->conf = conf;
    px->ctr = ctr_get('p', "", NULL);
    be = be_new(px, conf, &conf->backends[0]);
    fe = fe_new(px, "fe");
    fe_update(fe, conf, &conf->frontends[0], be);
    stream_lost_setup(px);
}

/* The frames lxlb wrote: whole, its SETTINGS first, within the frame size. */
static void check_output(struct evbuffer *in, bool bigger_frames)
{
    size_t n = evbuffer_get_length(in), at = 0;
    const uint8_t *p = evbuffer_pullup(in, (ssize_t)n);

    if (n == 0)
        return;
    INVARIANT(n >= 9 && p[3] == 0x4 /* SETTINGS */ && !(p[4] & 0x1));
    while (at + 9 <= n) {
        uint32_t len = (uint32_t)p[at] << 16 | (uint32_t)p[at + 1] << 8 | p[at + 2];
        INVARIANT(bigger_frames || len <= 16384);
        at += 9 + len;
    }
    INVARIANT(at == n); /* no frame cut short */
}

/* Did the client send SETTINGS_MAX_FRAME_SIZE (id 5)? Then frames may be
 * larger; scanning its frames roughly is enough to know. */
static bool raises_frame_size(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i + 6 <= n; i++)
        if (d[i] == 0 && d[i + 1] == 5)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    struct bufferevent *pair[2];
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(4242) };
    size_t cut;

    if (!px)
        setup();
    sa.sin_addr.s_addr = htonl(0xc0000207);
    bufferevent_pair_new(px->base, 0, pair);
    bufferevent_enable(pair[1], EV_READ | EV_WRITE);
    if (!cli_new(fe, pair[0], (struct sockaddr *)&sa, false, false)) {
        bufferevent_free(pair[1]);
        return 0;
    }
    bufferevent_write(pair[1], H2C_PREFACE, H2C_PREFACE_LEN);
    cut = n ? (size_t)d[0] * n / 256 : 0;
    bufferevent_write(pair[1], d, cut);
    for (int i = 0; i < 4; i++)
        event_base_loop(px->base, EVLOOP_NONBLOCK);
    if (n > cut)
        bufferevent_write(pair[1], d + cut, n - cut);
    for (int i = 0; i < 8; i++)
        event_base_loop(px->base, EVLOOP_NONBLOCK);
    check_output(bufferevent_get_input(pair[1]), raises_frame_size(d, n));
    while (px->clis)
        cli_free(px->clis);
    for (int i = 0; i < 2; i++)
        event_base_loop(px->base, EVLOOP_NONBLOCK);
    bufferevent_free(pair[1]);
    return 0;
}
