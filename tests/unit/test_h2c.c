/* tests/unit/test_h2c.c - the HTTP/2 client side (lb/h2c.c) without
 * sockets: an nghttp2 client session in the test talks to a real client
 * connection over an in-memory bufferevent pair, and the server side is
 * tests/unit/test_stream.c's fake (tests/unit/fake_sc.h). Each test asserts
 * what a user would see: the HTTP/1.1 request the server gets, the status
 * and body the client gets, flow control holding a fast peer to a slow one,
 * the access-log line. Also the h2 configuration keys (conf/h2.c). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "conf/conf.h"
#include "lb/cli.h"
#include "lb/proxy-t.h"
#include "lb/stream.h"
#include "tests/unit/fake_sc.h"
#include "tests/unit/unit.h"

#define NSTREAMS 8

/* The client at the other end of the pair. */
struct h2peer {
    struct bufferevent *pair[2]; /* [0] lxlb's, [1] ours */
    struct cli *c;               /* lxlb's connection */
    nghttp2_session *ses;        /* our client session */
    int status[NSTREAMS];        /* :status by stream id / 2 */
    size_t body[NSTREAMS];       /* DATA bytes by stream id / 2 */
    char last_body[64];          /* the start of the last DATA */
    bool closed[NSTREAMS];       /* stream closed */
    uint32_t code[NSTREAMS];     /* its close's error code */
    bool hop_field;              /* a connection-specific field came back */
    int goaway;                  /* GOAWAY error code + 1, 0: none */
    const uint8_t *upload;       /* request body to send, NULL: none */
    size_t upload_len, upload_sent;
    struct evbuffer *hold;       /* frames held back to go out in one write, NULL: none */
};

static ssize_t pc_send(nghttp2_session *s, const uint8_t *d, size_t n, int flags, void *u)
{
    struct h2peer *p = u;

    (void)s; (void)flags;
    if (p->hold)
        evbuffer_add(p->hold, d, n);
    else
        bufferevent_write(p->pair[1], d, n);
    return (ssize_t)n;
}

static int pc_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nlen,
                     const uint8_t *v, size_t vlen, uint8_t flags, void *u)
{
    struct h2peer *p = u;
    int i = f->hd.stream_id / 2;

    (void)s; (void)vlen; (void)flags;
    if (i < NSTREAMS && nlen == 7 && !memcmp(n, ":status", 7))
        p->status[i] = atoi((const char *)v);
    if ((nlen == 10 && !memcmp(n, "connection", 10)) ||
        (nlen == 10 && !memcmp(n, "keep-alive", 10)) ||
        (nlen == 17 && !memcmp(n, "transfer-encoding", 17)))
        p->hop_field = true;
    return 0;
}

static int pc_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t n,
                   void *u)
{
    struct h2peer *p = u;

    (void)s; (void)flags;
    if (id / 2 < NSTREAMS)
        p->body[id / 2] += n;
    snprintf(p->last_body, sizeof(p->last_body), "%.*s", (int)(n < 63 ? n : 63), d);
    return 0;
}

static int pc_close(nghttp2_session *s, int32_t id, uint32_t code, void *u)
{
    struct h2peer *p = u;

    (void)s;
    if (id / 2 < NSTREAMS) {
        p->closed[id / 2] = true;
        p->code[id / 2] = code;
    }
    return 0;
}

static int pc_frame(nghttp2_session *s, const nghttp2_frame *f, void *u)
{
    struct h2peer *p = u;

    (void)s;
    if (f->hd.type == NGHTTP2_GOAWAY)
        p->goaway = (int)f->goaway.error_code + 1;
    return 0;
}

static ssize_t pc_upload(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *u)
{
    struct h2peer *p = u;
    size_t left = p->upload_len - p->upload_sent;

    (void)s; (void)id; (void)src;
    if (len > left)
        len = left;
    memcpy(buf, p->upload + p->upload_sent, len);
    p->upload_sent += len;
    if (p->upload_sent == p->upload_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)len;
}

/* manual_window: the client opens its windows itself (a slow reader). */
static struct h2peer *peer_up(struct bed *b, bool manual_window, uint32_t window)
{
    struct h2peer *p = calloc(1, sizeof(*p));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(4242) };
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    nghttp2_settings_entry iv = { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window };

    /* The bed's frontend is plain: it takes prior knowledge here. */
    ((struct conf_frontend *)b->fe->conf)->http2 = true;
    sa.sin_addr.s_addr = htonl(0xc0000207);
    bufferevent_pair_new(b->px->base, 0, p->pair);
    bufferevent_enable(p->pair[1], EV_READ | EV_WRITE);
    p->c = cli_new(b->fe, p->pair[0], (struct sockaddr *)&sa, false, false);
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, pc_send);
    nghttp2_session_callbacks_set_on_header_callback(cbs, pc_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, pc_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, pc_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, pc_frame);
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, manual_window);
    nghttp2_session_client_new2(&p->ses, cbs, p, opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    nghttp2_submit_settings(p->ses, NGHTTP2_FLAG_NONE, &iv, 1);
    return p;
}

static void peer_down(struct h2peer *p)
{
    nghttp2_session_del(p->ses);
    bufferevent_free(p->pair[1]);
    free(p);
}

/* Both sides run until nothing moves for a few rounds. */
static void pump(struct bed *b, struct h2peer *p)
{
    struct evbuffer *in = bufferevent_get_input(p->pair[1]);

    for (int idle = 0, i = 0; idle < 3 && i < 2000; i++) {
        size_t n;
        nghttp2_session_send(p->ses);
        event_base_loop(b->px->base, EVLOOP_NONBLOCK);
        if ((n = evbuffer_get_length(in))) {
            nghttp2_session_mem_recv(p->ses, evbuffer_pullup(in, (ssize_t)n), n);
            evbuffer_drain(in, n);
            idle = 0;
        } else {
            idle++;
        }
    }
}

static int32_t get(struct h2peer *p, const char *path, const nghttp2_nv *extra, size_t nextra,
                   bool upload)
{
    nghttp2_nv nv[16] = {
        { (uint8_t *)":method", (uint8_t *)(upload ? "POST" : "GET"), 7, upload ? 4 : 3, 0 },
        { (uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0 },
        { (uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0 },
        { (uint8_t *)":authority", (uint8_t *)"example.test", 10, 12, 0 },
    };
    nghttp2_data_provider prd = { .read_callback = pc_upload };

    if (nextra)
        memcpy(nv + 4, extra, nextra * sizeof(*nv));
    return nghttp2_submit_request(p->ses, NULL, nv, 4 + nextra, upload ? &prd : NULL, NULL);
}

static const char *sent_to_server(int i)
{
    static char text[4096];
    size_t n = evbuffer_get_length(fakes[i]->out);

    if (n >= sizeof(text))
        n = sizeof(text) - 1;
    evbuffer_copyout(fakes[i]->out, text, n);
    text[n] = '\0';
    return text;
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, 0 }

/* ---------------------------------------------------------------- tests */

static void h2c_request_converted_to_http11_and_answered(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct h2peer *p = peer_up(&b, false, 65535);
    nghttp2_nv extra[] = { NV("cookie", "a=1"), NV("x-one", "1"), NV("cookie", "b=2"),
                           NV("te", "trailers") };
    int32_t id = get(p, "/a?b", extra, 4, false);

    pump(&b, p);
    CHECK(id == 1 && nfakes == 1);
    fake_connected(fakes[0]);
    const char *head = sent_to_server(0);
    CHECK(!strncmp(head, "GET /a?b HTTP/1.1\r\n", 19));
    CHECK_CONTAINS(head, "\r\nHost: example.test\r\n");
    CHECK_CONTAINS(head, "\r\ncookie: a=1; b=2\r\n"); /* one field for HTTP/1.1 */
    CHECK_CONTAINS(head, "\r\nx-one: 1\r\n");
    CHECK(!strstr(head, "te:") && !strstr(head, "ransfer-encoding")); /* no body */
    fake_respond(fakes[0], "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n"
                           "Keep-Alive: timeout=5\r\n\r\nhello");
    pump(&b, p);
    CHECK(p->status[0] == 200 && p->body[0] == 5 && p->closed[0] && p->code[0] == 0);
    CHECK_STR(p->last_body, "hello");
    CHECK(!p->hop_field);
    CHECK(fakes[0]->released && fakes[0]->reuse);
    CHECK_CONTAINS(last_log_line(&b), "fe b/s1 200 ");
    CHECK_CONTAINS(last_log_line(&b), " -- \"GET /a?b HTTP/2.0\"");
    peer_down(p);
    bed_down(&b);
}

/* Payload bytes ('x') the server got, its chunk framing left out. */
static size_t count_x(struct evbuffer *b)
{
    size_t n = 0, len = evbuffer_get_length(b);
    const char *s = (const char *)evbuffer_pullup(b, (ssize_t)len);

    for (size_t i = 0; i < len; i++)
        n += s[i] == 'x';
    return n;
}

static void h2c_upload_window_follows_the_server(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct h2peer *p = peer_up(&b, false, 65535);
    static uint8_t data[200000];
    size_t got = 0;

    memset(data, 'x', sizeof(data));
    p->upload = data;
    p->upload_len = sizeof(data);
    get(p, "/up", NULL, 0, true);
    pump(&b, p);
    /* No content-length: the body goes chunked to the server. */
    CHECK(nfakes == 1);
    fakes[0]->room = 20000; /* a slow server */
    fake_connected(fakes[0]);
    CHECK_CONTAINS(sent_to_server(0), "\r\ntransfer-encoding: chunked\r\n");
    struct evbuffer_ptr end = evbuffer_search(fakes[0]->out, "\r\n\r\n", 4, NULL);
    CHECK(end.pos > 0);
    evbuffer_drain(fakes[0]->out, (size_t)end.pos + 4); /* the head: payload follows */
    pump(&b, p);
    /* The client is held to its window: lxlb took what the server could. */
    CHECK(p->upload_sent <= 65535 + 20000);
    CHECK(evbuffer_get_length(fakes[0]->out) <= 20000 + 100);
    for (int i = 0; i < 100 && fakes[0]->body_ends == 0; i++) {
        got += count_x(fakes[0]->out);
        evbuffer_drain(fakes[0]->out, (size_t)-1);
        fakes[0]->sc.ops->drained(fakes[0]->sc.owner);
        pump(&b, p);
    }
    got += count_x(fakes[0]->out);
    CHECK(fakes[0]->body_ends == 1);
    CHECK(got == sizeof(data));
    if (got != sizeof(data))
        fprintf(stderr, "  got %zu of %zu, client sent %zu\n", got, sizeof(data), p->upload_sent);
    evbuffer_drain(fakes[0]->out, (size_t)-1);
    fake_respond(fakes[0], "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    pump(&b, p);
    CHECK(p->status[0] == 201 && p->closed[0]);
    peer_down(p);
    bed_down(&b);
}

static void h2c_slow_reader_holds_the_server_and_a_window_frees_it(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct h2peer *p = peer_up(&b, true, 16384);
    static char part[100001];

    memset(part, 'x', sizeof(part) - 1);
    get(p, "/big", NULL, 0, false);
    pump(&b, p);
    fake_connected(fakes[0]);
    fake_respond(fakes[0], "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n");
    fake_respond(fakes[0], part);
    pump(&b, p);
    CHECK(p->status[0] == 200 && p->body[0] <= 16384);
    /* 100 kB waits in lxlb: the server side is told to stop reading. */
    CHECK(fakes[0]->sc.ops->room(fakes[0]->sc.owner) == 0);
    CHECK(!fakes[0]->resumed);
    /* The client opens its windows wide: the rest flows, the server side
     * is resumed. */
    nghttp2_submit_window_update(p->ses, NGHTTP2_FLAG_NONE, 0, 1 << 20);
    nghttp2_submit_window_update(p->ses, NGHTTP2_FLAG_NONE, 1, 1 << 20);
    pump(&b, p);
    CHECK(p->body[0] == 100000 && fakes[0]->resumed);
    fake_respond(fakes[0], part);
    pump(&b, p);
    CHECK(p->body[0] == 200000 && p->closed[0] && p->code[0] == 0);
    peer_down(p);
    bed_down(&b);
}

static void h2c_stream_reset_with_its_headers_never_reaches_a_server(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct h2peer *p = peer_up(&b, false, 65535);
    int32_t id = get(p, "/r", NULL, 0, false);

    /* HEADERS and RST_STREAM in one read, as a rapid-reset client sends them. */
    p->hold = evbuffer_new();
    nghttp2_session_send(p->ses);
    nghttp2_submit_rst_stream(p->ses, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    nghttp2_session_send(p->ses);
    bufferevent_write_buffer(p->pair[1], p->hold);
    evbuffer_free(p->hold);
    p->hold = NULL;
    pump(&b, p);
    CHECK(nfakes == 0);
    CHECK_CONTAINS(last_log_line(&b), " CR \"GET /r HTTP/2.0\"");
    /* The connection goes on. */
    get(p, "/next", NULL, 0, false);
    pump(&b, p);
    CHECK(nfakes == 1 && p->goaway == 0);
    peer_down(p);
    bed_down(&b);
}

static void h2c_lxlb_answers_on_the_stream_and_keeps_the_connection(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 0, .nservers = 1 });
    struct h2peer *p = peer_up(&b, false, 65535);

    get(p, "/1", NULL, 0, false);
    pump(&b, p);
    /* Its one server refuses, no retry left: lxlb answers 503 itself. */
    fakes[0]->sc.ops->failed(fakes[0]->sc.owner, SC_FAIL_CONNECT, true, "refused");
    get(p, "/2", NULL, 0, false);
    pump(&b, p);
    CHECK(p->status[0] == 503 && p->closed[0]);
    CHECK(p->body[0] > 0 && p->goaway == 0);
    CHECK(nfakes == 2); /* the second request went on */
    peer_down(p);
    bed_down(&b);
}

static void h2c_idle_connection_gets_goaway(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3, .http_request = "50ms" });
    struct h2peer *p = peer_up(&b, false, 65535);

    pump(&b, p);
    for (int i = 0; i < 300 && !p->goaway; i++) {
        usleep(1000);
        pump(&b, p);
    }
    CHECK(p->goaway == 1); /* NO_ERROR */
    peer_down(p);
    bed_down(&b);
}

static void h2c_unfinished_header_block_is_timed_out(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3, .http_request = "50ms" });
    struct h2peer *p = peer_up(&b, false, 65535);
    /* HEADERS for stream 1 without END_HEADERS (":method: GET"), then silence. */
    static const uint8_t frame[] = { 0, 0, 1, 0x1, 0x0, 0, 0, 0, 1, 0x82 };

    pump(&b, p);
    bufferevent_write(p->pair[1], frame, sizeof(frame));
    for (int i = 0; i < 300 && !strstr(last_log_line(&b), " cR "); i++) {
        usleep(1000);
        event_base_loop(b.px->base, EVLOOP_NONBLOCK);
    }
    CHECK_CONTAINS(last_log_line(&b), " cR \"<BADREQ>\"");
    CHECK(nfakes == 0);
    peer_down(p);
    bed_down(&b);
}

/* ------------------------------------------------------------ conf/h2.c */

static void h2c_conf_defaults_overrides_and_errors(void)
{
    char err[CONF_ERRLEN];
    struct conf *c = conf_load_string("h2.json",
        "{ \"defaults\": { \"h2\": { \"max_concurrent_streams\": 50 } },"
        "  \"frontends\": ["
        "    { \"name\": \"a\", \"bind\": \"127.0.0.1:1\", \"default_backend\": \"b\" },"
        "    { \"name\": \"t\", \"bind\": \"127.0.0.1:2\", \"default_backend\": \"b\","
        "      \"tls\": { \"cert\": \"x.pem\" }, \"h2\": { \"initial_window\": 1048576 } },"
        "    { \"name\": \"p\", \"bind\": \"127.0.0.1:3\", \"default_backend\": \"b\","
        "      \"http2\": true } ],"
        "  \"backends\": [ { \"name\": \"b\" } ] }", err, sizeof(err));

    CHECK(c != NULL);
    if (c) {
        CHECK(!c->frontends[0].http2 && c->frontends[1].http2 && c->frontends[2].http2);
        CHECK(c->frontends[0].h2.max_concurrent_streams == 50);
        CHECK(c->frontends[1].h2.max_concurrent_streams == 50);
        CHECK(c->frontends[1].h2.initial_window == 1048576);
        CHECK(c->frontends[0].h2.initial_window == 65535);
        CHECK(c->frontends[2].h2.max_header_list == 32768);
        conf_free(c);
    }
    c = conf_load_string("bad.json",
        "{ \"defaults\": { \"h2\": { \"max_concurrent_streams\": 0, \"window\": 1 } },\n"
        "  \"frontends\": [ { \"name\": \"a\", \"bind\": \"127.0.0.1:1\",\n"
        "    \"default_backend\": \"b\", \"http2\": \"yes\",\n"
        "    \"h2\": { \"max_header_list\": 10 } } ],\n"
        "  \"backends\": [ { \"name\": \"b\" } ] }", err, sizeof(err));
    CHECK(c == NULL);
    CHECK_CONTAINS(err, "bad.json:1: $.defaults.h2.max_concurrent_streams");
    CHECK_CONTAINS(err, "$.defaults.h2");
    CHECK_CONTAINS(err, "window");
    CHECK_CONTAINS(err, "bad.json:3: $.frontends[0].http2");
    CHECK_CONTAINS(err, "bad.json:4: $.frontends[0].h2.max_header_list");
}

UNIT_SUITE(h2c_tests) = {
    { "h2c_request_converted_to_http11_and_answered",
      h2c_request_converted_to_http11_and_answered },
    { "h2c_upload_window_follows_the_server", h2c_upload_window_follows_the_server },
    { "h2c_slow_reader_holds_the_server_and_a_window_frees_it",
      h2c_slow_reader_holds_the_server_and_a_window_frees_it },
    { "h2c_stream_reset_with_its_headers_never_reaches_a_server",
      h2c_stream_reset_with_its_headers_never_reaches_a_server },
    { "h2c_lxlb_answers_on_the_stream_and_keeps_the_connection",
      h2c_lxlb_answers_on_the_stream_and_keeps_the_connection },
    { "h2c_idle_connection_gets_goaway", h2c_idle_connection_gets_goaway },
    { "h2c_unfinished_header_block_is_timed_out", h2c_unfinished_header_block_is_timed_out },
    { "h2c_conf_defaults_overrides_and_errors", h2c_conf_defaults_overrides_and_errors },
    UNIT_END
};
