/* tests/unit/test_stream.c - the stream state machine and the HTTP/1.1
 * client connection, without sockets.
 *
 * The server side is faked at link time (the unit binary is linked with
 * -Wl,--wrap for the lb/sconn.h functions the stream calls): a test sees
 * each connect the stream asks for and answers it by hand (connected,
 * slow, failed, a response head and body fed through the real lb/h1.c
 * reader). The client side is either a fake (stream tests) or the real
 * lb/h1c.c on an in-memory bufferevent pair (client tests, with their
 * timers). Every test asserts what a user would see: the status, who ended
 * the exchange and when (the access-log code), which servers were tried. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf/conf.h"
#include "lb/backend.h"
#include "lb/cli.h"
#include "lb/ctr.h"
#include "lb/h1.h"
#include "lb/log.h"
#include "lb/pool.h"
#include "lb/proxy.h"
#include "lb/role.h"
#include "lb/sconn.h"
#include "lb/server.h"
#include "lb/stream.h"
#include "tests/unit/fake_sc.h"
#include "tests/unit/unit.h"

/* ------------------------------------------------------ fake server side */

static bool fake_on;                    /* wrappers fake (true) or pass through */
struct fake_sc *fakes[MAX_FAKES]; /* connections made, in order */
int nfakes;
static int fail_next_connect;           /* errno for the next connect, 0: none */
static struct fake_sc *pooled;          /* pool_take hands this out once */

struct srv_conn *__real_sconn_connect(struct event_base *, struct server *,
                                      const struct sconn_tmo *, const struct sconn_ops *,
                                      void *, bool, int *);
void __real_sconn_adopt(struct srv_conn *, const struct sconn_ops *, void *);
struct evbuffer *__real_sconn_out(struct srv_conn *);
int __real_sconn_send(struct srv_conn *, int, enum h1_body, struct http_head *, uint32_t);
size_t __real_sconn_room(const struct srv_conn *);
void __real_sconn_body(struct srv_conn *, struct evbuffer *);
void __real_sconn_body_end(struct srv_conn *);
void __real_sconn_resume(struct srv_conn *);
void __real_sconn_release(struct srv_conn *, bool, uint32_t);
void __real_sconn_free(struct srv_conn *);
struct srv_conn *__real_pool_take(struct server *);

/* Ours, or a real connection (other suites run real ones through these
 * wrappers): looked up among the fakes, never read past a real one. */
static struct fake_sc *fake_of(struct srv_conn *c)
{
    for (int i = 0; c && i < nfakes; i++)
        if (&fakes[i]->sc == c)
            return fakes[i];
    return NULL;
}

static struct fake_sc *fake_new(struct server *s, const struct sconn_ops *ops, void *owner)
{
    struct fake_sc *f = calloc(1, sizeof(*f));

    f->magic = FAKE_MAGIC;
    f->sc.srv = s;
    srv_ref(s);
    f->sc.ops = ops;
    f->sc.owner = owner;
    f->sc.state = SC_CONNECTING;
    f->out = evbuffer_new();
    f->room = 64 * 1024;
    h1r_init(&f->sc.resp, HTTP_RESPONSE);
    if (nfakes == MAX_FAKES)
        abort(); /* a test that needs more: raise MAX_FAKES */
    fakes[nfakes++] = f;
    return f;
}

struct srv_conn *__wrap_sconn_connect(struct event_base *base, struct server *s,
                                      const struct sconn_tmo *tmo, const struct sconn_ops *ops,
                                      void *owner, bool head_now, int *err)
{
    if (!fake_on)
        return __real_sconn_connect(base, s, tmo, ops, owner, head_now, err);
    if (fail_next_connect) {
        *err = fail_next_connect;
        fail_next_connect = 0;
        srv_traffic_failed(s, "refused at once");
        return NULL;
    }
    struct fake_sc *f = fake_new(s, ops, owner);
    f->soft_ms = tmo->soft_ms;
    return &f->sc;
}

void __wrap_sconn_adopt(struct srv_conn *c, const struct sconn_ops *ops, void *owner)
{
    if (!fake_of(c)) {
        __real_sconn_adopt(c, ops, owner);
        return;
    }
    c->ops = ops;
    c->owner = owner;
    c->state = SC_READY;
}

struct evbuffer *__wrap_sconn_out(struct srv_conn *c)
{
    return fake_of(c) ? fake_of(c)->out : __real_sconn_out(c);
}

int __wrap_sconn_send(struct srv_conn *c, int method, enum h1_body framing,
                      struct http_head *resp_head, uint32_t server_ms)
{
    struct fake_sc *f = fake_of(c);

    if (!f)
        return __real_sconn_send(c, method, framing, resp_head, server_ms);
    c->uses++;
    c->req_method = method;
    c->req_framing = framing;
    c->head_done = false;
    c->got_bytes = false;
    h1r_begin(&c->resp, resp_head);
    if (c->state == SC_CONNECTING) {
        f->queued = true; /* as lb/sconn.c: it goes when the test connects it */
        return 0;
    }
    c->state = SC_BUSY;
    f->sends++;
    return 1;
}

size_t __wrap_sconn_room(const struct srv_conn *c)
{
    const struct fake_sc *f = fake_of((struct srv_conn *)c);

    if (!f)
        return __real_sconn_room(c);
    size_t have = evbuffer_get_length(f->out);
    return have >= f->room ? 0 : f->room - have;
}

void __wrap_sconn_body(struct srv_conn *c, struct evbuffer *payload)
{
    struct fake_sc *f = fake_of(c);

    if (!f) {
        __real_sconn_body(c, payload);
        return;
    }
    if (c->req_framing == H1_BODY_CHUNKED)
        h1w_chunk(f->out, payload);
    else
        evbuffer_add_buffer(f->out, payload);
}

void __wrap_sconn_body_end(struct srv_conn *c)
{
    struct fake_sc *f = fake_of(c);

    if (!f) {
        __real_sconn_body_end(c);
        return;
    }
    f->body_ends++;
    if (c->req_framing == H1_BODY_CHUNKED)
        h1w_last_chunk(f->out);
}

void __wrap_sconn_resume(struct srv_conn *c)
{
    if (fake_of(c))
        fake_of(c)->resumed = true;
    else
        __real_sconn_resume(c);
}

void __wrap_sconn_release(struct srv_conn *c, bool reuse, uint32_t idle_ms)
{
    struct fake_sc *f = fake_of(c);

    if (!f) {
        __real_sconn_release(c, reuse, idle_ms);
        return;
    }
    f->released = true;
    f->reuse = reuse;
    c->ops = NULL;
}

void __wrap_sconn_free(struct srv_conn *c)
{
    if (fake_of(c))
        fake_of(c)->freed = true;
    else
        __real_sconn_free(c);
}

struct srv_conn *__wrap_pool_take(struct server *s)
{
    if (!fake_on)
        return __real_pool_take(s);
    if (pooled && pooled->sc.srv == s) {
        struct fake_sc *f = pooled;
        pooled = NULL;
        return &f->sc;
    }
    return NULL;
}

/* What a real connection would do, driven by the test. */
void fake_connected(struct fake_sc *f)
{
    if (f->queued) { /* the head written with the connect leaves now */
        f->queued = false;
        f->sc.state = SC_BUSY;
        f->sends++;
    } else {
        f->sc.state = SC_READY;
    }
    f->sc.ops->connected(f->sc.owner);
}

/* The soft deadline passed: does the stream move on? (as lb/sconn.c) */
static bool fake_slow(struct fake_sc *f)
{
    if (!f->sc.ops->give_up(f->sc.owner))
        return false;
    const struct sconn_ops *ops = f->sc.ops;
    void *owner = f->sc.owner;
    f->orphan = true;
    f->queued = false; /* the real one drops a queued head */
    evbuffer_drain(f->out, (size_t)-1);
    f->sc.state = SC_ORPHAN;
    f->sc.ops = NULL;
    ops->failed(owner, SC_FAIL_SLOW, true, "no answer to connect within 1s");
    return true;
}

static void fake_fail(struct fake_sc *f, enum sc_fail why, bool nothing_back)
{
    f->sc.ops->failed(f->sc.owner, why, nothing_back, "test failure");
}

/* Feed response bytes through the real reader, calling the stream as
 * lb/sconn.c does. */
void fake_respond(struct fake_sc *f, const char *bytes)
{
    struct srv_conn *c = &f->sc;
    struct evbuffer *in = evbuffer_new(), *payload = evbuffer_new();
    size_t used;

    evbuffer_add(in, bytes, strlen(bytes));
    c->got_bytes = true;
    while (c->ops && evbuffer_get_length(in)) {
        if (!c->head_done) {
            if (h1r_head(&c->resp, in, &used) != H1_HEAD)
                break;
            int status = c->resp.parser.status_code;
            if (status < 200 && status != 101) {
                if (c->ops->head(c->owner, status) < 0)
                    break;
                http_head_reset(c->resp.head);
                h1r_begin(&c->resp, c->resp.head);
                continue;
            }
            c->head_done = true;
            h1r_body_begin(&c->resp, h1r_response_body(&c->resp, c->req_method));
            if (c->ops->head(c->owner, status) < 0)
                break;
            if (c->resp.body == H1_BODY_NONE) {
                c->ops->done(c->owner);
                break;
            }
            continue;
        }
        enum h1_res r = h1r_body(&c->resp, in, payload, (size_t)-1, &used);
        if (evbuffer_get_length(payload))
            c->ops->body(c->owner, payload);
        if (r == H1_DONE) {
            c->ops->done(c->owner);
            break;
        }
        if (used == 0)
            break;
    }
    evbuffer_free(in);
    evbuffer_free(payload);
}

static void fakes_reset(void)
{
    for (int i = 0; i < nfakes; i++) {
        srv_unref(fakes[i]->sc.srv);
        evbuffer_free(fakes[i]->out);
        free(fakes[i]);
    }
    nfakes = 0;
    fail_next_connect = 0;
    pooled = NULL;
}

/* ------------------------------------------------------- fake client side */

struct fake_cli {
    struct evbuffer *body;     /* request payload still to give */
    bool body_complete;        /* all of it is in body */
    bool eof;                  /* the client closed mid-body */
    bool paused;               /* req_pause state */
    size_t room;               /* response bytes it can take */
    struct evbuffer *resp;     /* response payload received */
    int head_status;           /* status of the response head written, 0: none */
    int interim;               /* last interim status */
    int answered;              /* lxlb's own answer, 0: none */
    bool aborted, done;        /* how it ended */
    char who, phase;           /* the ending's termination code */
    char srv[32];              /* the server that served it */
    const char *why;           /* the refusal's reason */
};

static struct fake_cli fc;
static struct stream *live; /* the fake client's stream not ended yet */

static void fc_end(struct stream *st)
{
    if (st == live)
        live = NULL;
    fc.who = st->who;
    fc.phase = st->phase;
    fc.why = st->why;
    snprintf(fc.srv, sizeof(fc.srv), "%s", st->srv ? st->srv->name : "-");
    stream_log(st);
    stream_free(st);
}

static enum h1_res fc_req_body(struct stream *st, struct evbuffer *out, size_t max)
{
    size_t n = evbuffer_get_length(fc.body);

    (void)st;
    evbuffer_remove_buffer(fc.body, out, n < max ? n : max);
    if (evbuffer_get_length(fc.body))
        return H1_MORE;
    if (fc.body_complete)
        return H1_DONE;
    return fc.eof ? H1_EOF : H1_MORE;
}

static void fc_req_pause(struct stream *st, bool paused) { (void)st; fc.paused = paused; }

static int fc_resp_head(struct stream *st, const struct fwd_resp_ctx *ctx)
{
    (void)ctx;
    fc.head_status = st->status;
    return 0;
}

static void fc_resp_interim(struct stream *st, int status) { (void)st; fc.interim = status; }
static size_t fc_resp_room(struct stream *st) { (void)st; return fc.room; }

static void fc_resp_body(struct stream *st, struct evbuffer *payload)
{
    st->bytes_out += evbuffer_get_length(payload);
    evbuffer_add_buffer(fc.resp, payload);
}

static int fc_resp_done(struct stream *st)
{
    fc.done = true;
    fc_end(st);
    return -1;
}

static int fc_answer(struct stream *st, int status)
{
    fc.answered = status;
    st->status = status;
    fc_end(st);
    return -1;
}

static int fc_abort(struct stream *st)
{
    fc.aborted = true;
    fc_end(st);
    return -1;
}

static void fc_flush(struct stream *st) { (void)st; }
static const char *fc_ip(struct stream *st) { (void)st; return "192.0.2.7"; }
static const char *fc_name(struct stream *st) { (void)st; return "192.0.2.7:5555"; }

static const char *fc_tls(struct stream *st, char *buf, size_t n)
{
    (void)st; (void)buf; (void)n;
    return "";
}

static void fc_addrs(struct stream *st, const struct sockaddr **src, const struct sockaddr **dst)
{
    static struct sockaddr_in a = { .sin_family = AF_INET };
    (void)st;
    *src = *dst = (const struct sockaddr *)&a;
}

static int fc_redirect(struct stream *st, const struct conf_redirect *rd)
{
    fc.answered = rd->code;
    st->status = rd->code;
    fc_end(st);
    return -1;
}

static const struct stream_cli_ops fc_ops = {
    .req_body = fc_req_body,
    .req_pause = fc_req_pause,
    .resp_head = fc_resp_head,
    .resp_interim = fc_resp_interim,
    .resp_room = fc_resp_room,
    .resp_body = fc_resp_body,
    .resp_done = fc_resp_done,
    .answer = fc_answer,
    .abort = fc_abort,
    .flush = fc_flush,
    .client_ip = fc_ip,
    .client_name = fc_name,
    .tls_suffix = fc_tls,
    .addrs = fc_addrs,
    .redirect = fc_redirect,
};

/* ----------------------------------------------------------------- setup */

static const char *const BED_JSON =
    "{ \"defaults\": { \"timeout\": { \"connect\": \"5s\", \"client\": \"%s\","
    "                                  \"http_request\": \"%s\", \"keepalive\": \"%s\" },"
    "                  \"retries\": %d },"
    "  \"frontends\": [ { \"name\": \"fe\", \"bind\": [\"127.0.0.1:1\"],"
    "                     \"default_backend\": \"b\" } ],"
    "  \"backends\": [ { \"name\": \"b\", \"redispatch\": %s, \"servers\": ["
    "      { \"name\": \"s1\", \"address\": \"127.0.0.1:9001\" },"
    "      { \"name\": \"s2\", \"address\": \"127.0.0.1:9002\" },"
    "      { \"name\": \"s3\", \"address\": \"127.0.0.1:9003\" } ] } ] }";

struct bed bed_up(struct bed_opts o)
{
    struct bed b = { 0 };
    char json[2048], err[CONF_ERRLEN];

    snprintf(json, sizeof(json), BED_JSON, o.client ? o.client : "5s",
             o.http_request ? o.http_request : "5s", o.keepalive ? o.keepalive : "5s",
             o.retries, o.no_redispatch ? "false" : "true");
    struct conf *conf = conf_load_string("bed.json", json, err, sizeof(err));
    if (!conf) {
        fprintf(stderr, "bed config: %s\n", err);
        abort();
    }
    b.px = calloc(1, sizeof(*b.px));
    b.px->role = &role_main;
    b.px->base = event_base_new();
    b.px->conf = conf;
    b.px->ctr = ctr_get('p', "", NULL);
    b.be = be_new(b.px, conf, &conf->backends[0]);
    for (int i = 0; i < (o.nservers ? o.nservers : 3); i++) {
        struct server *s = proxy_static_server("b", &conf->backends[0].servers[i]);
        be_add_server(b.be, s);
        srv_unref(s);
    }
    b.fe = fe_new(b.px, "fe");
    fe_update(b.fe, conf, &conf->frontends[0], b.be);
    stream_lost_setup(b.px);
    snprintf(b.logpath, sizeof(b.logpath), "/tmp/lxlb-unit-stream-%d.log", (int)getpid());
    unlink(b.logpath);
    log_access_open(b.logpath);
    memset(&fc, 0, sizeof(fc));
    fc.body = evbuffer_new();
    fc.resp = evbuffer_new();
    fc.room = 64 * 1024;
    fake_on = true;
    return b;
}

void bed_down(struct bed *b)
{
    if (live) { /* a test that left its exchange in flight */
        stream_client_gone(live, 'K', '-');
        stream_free(live);
        live = NULL;
    }
    while (b->px->clis)
        cli_free(b->px->clis);
    fake_on = false;
    fakes_reset();
    stream_cache_free(b->px);
    stream_lost_cleanup(b->px);
    fe_unref(b->fe);
    be_retire(b->be);
    ctr_put(b->px->ctr);
    conf_unref(b->px->conf);
    event_base_free(b->px->base);
    free(b->px);
    evbuffer_free(fc.body);
    evbuffer_free(fc.resp);
    log_access_open("off");
    unlink(b->logpath);
}

/* The last access-log line written. */
const char *last_log_line(struct bed *b)
{
    static char line[1024];
    FILE *f;

    log_access_flush();
    line[0] = '\0';
    if (!(f = fopen(b->logpath, "r")))
        return line;
    char buf[1024];
    while (fgets(buf, sizeof(buf), f))
        snprintf(line, sizeof(line), "%s", buf);
    fclose(f);
    return line;
}

/* A stream for "METHOD TARGET" with Host, as the client side would make it. */
static struct stream *request(struct bed *b, int method, const char *target, enum h1_body body)
{
    struct stream *st = stream_new(b->px, b->fe, &fc_ops, NULL);

    live = st;
    http_head_on_target(&st->req, target, strlen(target));
    http_head_on_field(&st->req, "Host", 4);
    http_head_on_value(&st->req, "x", 1);
    st->method = method;
    st->req_major = 1;
    st->req_minor = 1;
    st->req_keepalive = true;
    st->req_body = body;
    stream_head_parsed(st);
    return st;
}

static void loop_once(struct bed *b) { event_base_loop(b->px->base, EVLOOP_NONBLOCK); }

static struct server *srv(struct bed *b, int i) { return b->be->servers[i]; }

/* --------------------------------------------------------- stream tests */

static void stream_plain_exchange(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_GET, "/a", H1_BODY_NONE);

    stream_start(st);
    CHECK(nfakes == 1 && fakes[0]->sc.srv == srv(&b, 0)); /* round robin starts at s1 */
    CHECK(fakes[0]->soft_ms == 1000); /* redispatch: a soft connect deadline */
    CHECK(fakes[0]->sends == 0);      /* nothing goes before the connect */
    fake_connected(fakes[0]);
    CHECK(fakes[0]->sends == 1);
    size_t n = evbuffer_get_length(fakes[0]->out);
    char *head = (char *)evbuffer_pullup(fakes[0]->out, (ssize_t)n);
    CHECK(n > 0 && !strncmp(head, "GET /a HTTP/1.1\r\n", 17));
    fake_respond(fakes[0], "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    CHECK(fc.done && fc.head_status == 200);
    CHECK(evbuffer_get_length(fc.resp) == 5);
    CHECK(fakes[0]->released && fakes[0]->reuse); /* keep-alive: back to the pool */
    CHECK(fc.who == '-' && fc.phase == '-');
    CHECK_CONTAINS(last_log_line(&b), "fe b/s1 200 ");
    CHECK_CONTAINS(last_log_line(&b), " -- \"GET /a HTTP/1.1\"");
    bed_down(&b);
}

static void stream_pooled_connection_used_at_once(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    pooled = fake_new(srv(&b, 0), NULL, NULL);
    pooled->sc.state = SC_IDLE;
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    CHECK(nfakes == 1 && fakes[0]->sends == 1); /* no connect: sent on the pooled one */
    CHECK(st->conn_reused);
    fake_respond(fakes[0], "HTTP/1.1 204 No Content\r\n\r\n");
    CHECK(fc.done && fc.head_status == 204 && fakes[0]->reuse);
    bed_down(&b);
}

static void stream_refused_connect_goes_to_an_untried_server(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    fake_fail(fakes[0], SC_FAIL_CONNECT, true);
    CHECK(fakes[0]->freed);
    CHECK(nfakes == 2 && fakes[1]->sc.srv != srv(&b, 0));
    fake_fail(fakes[1], SC_FAIL_CONNECT, true);
    /* s1 and s2 tried: the third goes to s3, never back to a tried one. */
    CHECK(nfakes == 3 && fakes[2]->sc.srv != fakes[0]->sc.srv &&
          fakes[2]->sc.srv != fakes[1]->sc.srv);
    fake_connected(fakes[2]);
    fake_respond(fakes[2], "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    CHECK(fc.done && st == NULL ? 1 : 1);
    CHECK(fc.head_status == 200);
    bed_down(&b);
}

static void stream_connect_failures_spend_retries_then_503(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 2 });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    for (int i = 0; i < 3 && nfakes == i + 1 && !fc.answered; i++)
        fake_fail(fakes[i], SC_FAIL_CONNECT_TMO, true);
    CHECK(nfakes == 3); /* the first try and two retries */
    CHECK(fc.answered == 503);
    CHECK(fc.who == 's' && fc.phase == 'C'); /* the server side timed out connecting */
    CHECK_CONTAINS(last_log_line(&b), " 503 ");
    CHECK_CONTAINS(last_log_line(&b), " sC \"GET / HTTP/1.1\"");
    bed_down(&b);
}

static void stream_no_usable_server_503_by_lxlb(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 2 });
    for (int i = 0; i < 3; i++)
        srv(&b, i)->health = SRV_HEALTH_DOWN;
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    CHECK(nfakes == 0 && fc.answered == 503 && fc.who == 'P' && fc.phase == 'C');
    CHECK(ctr_sum(b.be->ctr, CTR_NO_SERVER) == 1);
    bed_down(&b);
}

static void stream_slow_connect_moves_on_when_another_server_can_serve(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    CHECK(fake_slow(fakes[0]));
    CHECK(fakes[0]->orphan && !fakes[0]->freed); /* goes on alone: not the stream's */
    CHECK(nfakes == 2 && fakes[1]->sc.srv != fakes[0]->sc.srv);
    fake_connected(fakes[1]);
    fake_respond(fakes[1], "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    CHECK(fc.done && fc.head_status == 200);
    bed_down(&b);
}

static void stream_slow_connect_waits_when_nowhere_else(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3, .nservers = 1 });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    CHECK(!fake_slow(fakes[0])); /* the only server: wait for timeout.connect */
    CHECK(nfakes == 1 && !fakes[0]->orphan);
    fake_connected(fakes[0]);
    fake_respond(fakes[0], "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    CHECK(fc.done);
    bed_down(&b);
}

static void stream_without_redispatch_no_soft_deadline_same_server(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 2, .no_redispatch = true });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    CHECK(fakes[0]->soft_ms == 0);
    fake_fail(fakes[0], SC_FAIL_CONNECT, true);
    CHECK(nfakes == 2 && fakes[1]->sc.srv == fakes[0]->sc.srv);
    bed_down(&b);
}

static void stream_nothing_back_replayed_elsewhere(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    fake_connected(fakes[0]);
    fake_fail(fakes[0], SC_FAIL_CLOSED, true); /* a fresh connection closed, nothing back */
    CHECK(nfakes == 2 && fakes[1]->sc.srv != fakes[0]->sc.srv);
    CHECK(st->retries_left == 2);
    fake_connected(fakes[1]);
    CHECK(fakes[1]->sends == 1);
    fake_respond(fakes[1], "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    CHECK(fc.done);
    bed_down(&b);
}

static void stream_nothing_back_not_replayable_502(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_POST, "/up", H1_BODY_LENGTH);

    evbuffer_add(fc.body, "abc", 3);
    fc.body_complete = true;
    stream_start(st);
    fake_connected(fakes[0]);
    CHECK(fakes[0]->body_ends == 1);
    fake_fail(fakes[0], SC_FAIL_CLOSED, true);
    CHECK(nfakes == 1 && fc.answered == 502 && fc.who == 'S' && fc.phase == 'H');
    bed_down(&b);
}

static void stream_pooled_connection_closed_under_it_same_server(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    pooled = fake_new(srv(&b, 0), NULL, NULL);
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    fake_fail(fakes[0], SC_FAIL_CLOSED, true);
    /* Not the server's fault, nor a retry: a new connection to the same one. */
    CHECK(nfakes == 2 && fakes[1]->sc.srv == srv(&b, 0) && st->retries_left == 3);
    bed_down(&b);
}

static void stream_server_timeout_504_and_garbage_502(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    fake_connected(fakes[0]);
    fake_fail(fakes[0], SC_FAIL_TIMEOUT, true);
    CHECK(fc.answered == 504 && fc.who == 's' && fc.phase == 'H');
    memset(&fc.answered, 0, sizeof(fc.answered));
    st = request(&b, HTTP_GET, "/", H1_BODY_NONE);
    stream_start(st);
    fake_connected(fakes[1]);
    fake_fail(fakes[1], SC_FAIL_BAD, false);
    CHECK(fc.answered == 502 && fc.who == 'S' && fc.phase == 'H');
    bed_down(&b);
}

static void stream_server_gone_mid_response_cuts_the_client(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    fake_connected(fakes[0]);
    fake_respond(fakes[0], "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart");
    CHECK(fc.head_status == 200 && !fc.done);
    fake_fail(fakes[0], SC_FAIL_CLOSED, false);
    CHECK(fc.aborted && !fc.answered && fc.who == 'S' && fc.phase == 'D');
    bed_down(&b);
}

static void stream_interim_then_final(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    fake_connected(fakes[0]);
    fake_respond(fakes[0], "HTTP/1.1 100 Continue\r\n\r\n"
                           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    CHECK(fc.interim == 100 && fc.head_status == 200 && fc.done);
    bed_down(&b);
}

static void stream_unasked_101_is_502(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    fake_connected(fakes[0]);
    fake_respond(fakes[0], "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n");
    CHECK(fc.answered == 502 && fc.who == 'S');
    bed_down(&b);
}

/* A server going down does not act on its streams from inside the state
 * change: they are looked at on the next loop turn. */
static void stream_server_down_while_connecting_is_deferred(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    struct server *first = fakes[0]->sc.srv;
    srv_set_health(first, SRV_HEALTH_DOWN, "test");
    CHECK(nfakes == 1 && !fakes[0]->freed); /* nothing yet: deferred */
    loop_once(&b);
    CHECK(fakes[0]->freed && nfakes == 2 && fakes[1]->sc.srv != first);
    bed_down(&b);
}

static void stream_server_down_then_up_before_the_turn_changes_nothing(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    struct server *first = fakes[0]->sc.srv;
    srv_set_health(first, SRV_HEALTH_DOWN, "test");
    srv_set_health(first, SRV_HEALTH_UP, "test");
    loop_once(&b);
    /* Queued for a state that ended: the callback acts on none. */
    CHECK(nfakes == 1 && !fakes[0]->freed);
    bed_down(&b);
}

static void stream_server_lost_after_send_replays_only_idempotent(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    fake_connected(fakes[0]);
    srv_set_retiring(fakes[0]->sc.srv, true);
    loop_once(&b);
    CHECK(nfakes == 2); /* GET, nothing back: sent again elsewhere */
    fake_connected(fakes[1]);
    fake_respond(fakes[1], "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    CHECK(fc.done);
    srv_set_retiring(fakes[0]->sc.srv, false);

    memset(&fc.done, 0, sizeof(fc.done));
    st = request(&b, HTTP_POST, "/", H1_BODY_LENGTH);
    evbuffer_add(fc.body, "x", 1);
    fc.body_complete = true;
    stream_start(st);
    int k = nfakes - 1;
    fake_connected(fakes[k]);
    srv_set_retiring(fakes[k]->sc.srv, true);
    loop_once(&b);
    CHECK(nfakes == k + 1 && !fakes[k]->freed); /* a POST waits for its answer */
    fake_respond(fakes[k], "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    CHECK(fc.done);
    bed_down(&b);
}

static void stream_request_body_follows_the_servers_pace(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_POST, "/up", H1_BODY_CHUNKED);
    char data[3000];

    memset(data, 'x', sizeof(data));
    evbuffer_add(fc.body, data, sizeof(data));
    stream_start(st);
    fakes[0]->room = 1000; /* the server takes its time */
    fake_connected(fakes[0]);
    CHECK(fc.paused && !st->req_done);
    evbuffer_drain(fakes[0]->out, (size_t)-1); /* it drained */
    fakes[0]->sc.ops->drained(fakes[0]->sc.owner);
    fc.body_complete = true;
    evbuffer_drain(fakes[0]->out, (size_t)-1);
    fakes[0]->sc.ops->drained(fakes[0]->sc.owner);
    evbuffer_drain(fakes[0]->out, (size_t)-1);
    fakes[0]->sc.ops->drained(fakes[0]->sc.owner);
    CHECK(st->req_done && fakes[0]->body_ends == 1);
    /* The last chunk went out, re-framed by lxlb. */
    size_t n = evbuffer_get_length(fakes[0]->out);
    char *tail = (char *)evbuffer_pullup(fakes[0]->out, (ssize_t)n);
    CHECK(n >= 5 && !memcmp(tail + n - 5, "0\r\n\r\n", 5));
    fake_respond(fakes[0], "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    CHECK(fc.done && fc.head_status == 201);
    bed_down(&b);
}

static void stream_client_gone_mid_body_logged_cb(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_POST, "/up", H1_BODY_LENGTH);

    evbuffer_add(fc.body, "abc", 3);
    fc.eof = true; /* and nothing more comes */
    stream_start(st);
    fake_connected(fakes[0]);
    CHECK(fc.aborted && fc.who == 'C' && fc.phase == 'B' && fakes[0]->freed);
    CHECK_CONTAINS(last_log_line(&b), " CB \"POST /up HTTP/1.1\"");
    bed_down(&b);
}

static void stream_refusal_after_the_head_went_out_cuts(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct stream *st = request(&b, HTTP_GET, "/", H1_BODY_NONE);

    stream_start(st);
    fake_connected(fakes[0]);
    fake_respond(fakes[0], "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
    fake_fail(fakes[0], SC_FAIL_TIMEOUT, false);
    CHECK(fc.aborted && !fc.answered && fc.who == 's' && fc.phase == 'D');
    bed_down(&b);
}

/* ---------------------------------------- the HTTP/1.1 client connection */

/* A client connection on one end of an in-memory pair; the test is the
 * client at the other end. */
struct peer {
    struct bufferevent *pair[2]; /* [0] lxlb's, [1] the test client's */
    struct cli *c;
};

static struct peer peer_up(struct bed *b)
{
    struct peer p = { { NULL, NULL }, NULL };
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(4242) };

    sa.sin_addr.s_addr = htonl(0xc0000207); /* 192.0.2.7 */
    bufferevent_pair_new(b->px->base, 0, p.pair);
    bufferevent_enable(p.pair[1], EV_READ | EV_WRITE);
    p.c = cli_new(b->fe, p.pair[0], (struct sockaddr *)&sa, false, false);
    return p;
}

static void peer_send(struct peer *p, const char *s)
{
    bufferevent_write(p->pair[1], s, strlen(s));
}

/* Run the loop for up to ms, or until the client side has n bytes (0:
 * just run). */
static size_t peer_wait(struct bed *b, struct peer *p, size_t n, int ms)
{
    struct evbuffer *in = bufferevent_get_input(p->pair[1]);
    for (int i = 0; i < ms; i++) {
        event_base_loop(b->px->base, EVLOOP_NONBLOCK);
        if (n && evbuffer_get_length(in) >= n)
            break;
        usleep(1000);
    }
    return evbuffer_get_length(in);
}

static char *peer_text(struct peer *p)
{
    struct evbuffer *in = bufferevent_get_input(p->pair[1]);
    size_t n = evbuffer_get_length(in);
    static char out[8192];

    if (n >= sizeof(out))
        n = sizeof(out) - 1;
    evbuffer_copyout(in, out, n);
    out[n] = '\0';
    return out;
}

static void client_timeout_on_an_incomplete_head_408(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3, .client = "40ms",
                                             .http_request = "10s" });
    struct peer p = peer_up(&b);

    peer_send(&p, "GET / HTTP/1.1\r\nHost: x\r\n");
    peer_wait(&b, &p, 1, 500);
    CHECK_CONTAINS(peer_text(&p), "HTTP/1.1 408 ");
    CHECK(nfakes == 0);
    CHECK_CONTAINS(last_log_line(&b), " 408 ");
    CHECK_CONTAINS(last_log_line(&b), " cR \"<BADREQ>\"");
    bufferevent_free(p.pair[1]);
    bed_down(&b);
}

static void client_http_request_deadline_bounds_a_trickling_head(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3, .client = "1s",
                                             .http_request = "60ms" });
    struct peer p = peer_up(&b);

    for (int i = 0; i < 20 && !strstr(peer_text(&p), "408"); i++) {
        peer_send(&p, i == 0 ? "GET / HTTP/1.1\r\n" : "X: y\r\n");
        peer_wait(&b, &p, 1, 10);
    }
    CHECK_CONTAINS(peer_text(&p), "HTTP/1.1 408 ");
    bufferevent_free(p.pair[1]);
    bed_down(&b);
}

static void client_idle_keepalive_closes_silently(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3, .keepalive = "30ms" });
    struct peer p = peer_up(&b);

    peer_send(&p, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    peer_wait(&b, &p, 0, 5);
    CHECK(nfakes == 1);
    fake_connected(fakes[0]);
    fake_respond(fakes[0], "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    peer_wait(&b, &p, 1, 50);
    CHECK_CONTAINS(peer_text(&p), "HTTP/1.1 200 OK");
    CHECK(b.px->clis != NULL);
    peer_wait(&b, &p, 0, 150);
    CHECK(b.px->clis == NULL); /* closed after timeout.keepalive, no answer sent */
    bufferevent_free(p.pair[1]);
    bed_down(&b);
}

static void client_body_inactivity_408(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3, .client = "40ms" });
    struct peer p = peer_up(&b);

    peer_send(&p, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    peer_wait(&b, &p, 0, 5);
    fake_connected(fakes[0]);
    peer_wait(&b, &p, 1, 500);
    CHECK_CONTAINS(peer_text(&p), "HTTP/1.1 408 ");
    CHECK(fakes[0]->freed); /* the half-sent request goes no further */
    CHECK_CONTAINS(last_log_line(&b), " cB \"POST /up HTTP/1.1\"");
    bufferevent_free(p.pair[1]);
    bed_down(&b);
}

static void client_waiting_on_a_slow_server_is_not_timed_out(void)
{
    /* timeout.client guards the client, not the server: while the request
     * is whole and the server thinks, no client timer runs. */
    struct bed b = bed_up((struct bed_opts){ .retries = 3, .client = "20ms" });
    struct peer p = peer_up(&b);

    peer_send(&p, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    peer_wait(&b, &p, 0, 5);
    fake_connected(fakes[0]);
    peer_wait(&b, &p, 1, 80);
    CHECK(peer_text(&p)[0] == '\0');
    fake_respond(fakes[0], "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    peer_wait(&b, &p, 1, 50);
    CHECK_CONTAINS(peer_text(&p), "HTTP/1.1 200 OK");
    bufferevent_free(p.pair[1]);
    bed_down(&b);
}

static void client_pipelined_requests_answered_in_order(void)
{
    struct bed b = bed_up((struct bed_opts){ .retries = 3 });
    struct peer p = peer_up(&b);

    peer_send(&p, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
    peer_wait(&b, &p, 0, 5);
    CHECK(nfakes == 1); /* one at a time: the second waits in the input */
    fake_connected(fakes[0]);
    fake_respond(fakes[0], "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n#1");
    CHECK(nfakes == 2);
    fake_connected(fakes[1]);
    fake_respond(fakes[1], "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n#2");
    peer_wait(&b, &p, 80, 50);
    const char *t = peer_text(&p), *one = strstr(t, "#1"), *two = strstr(t, "#2");
    CHECK(one && two && one < two);
    bufferevent_free(p.pair[1]);
    bed_down(&b);
}

UNIT_SUITE(stream_tests) = {
    { "stream_plain_exchange", stream_plain_exchange },
    { "stream_pooled_connection_used_at_once", stream_pooled_connection_used_at_once },
    { "stream_refused_connect_goes_to_an_untried_server",
      stream_refused_connect_goes_to_an_untried_server },
    { "stream_connect_failures_spend_retries_then_503",
      stream_connect_failures_spend_retries_then_503 },
    { "stream_no_usable_server_503_by_lxlb", stream_no_usable_server_503_by_lxlb },
    { "stream_slow_connect_moves_on_when_another_server_can_serve",
      stream_slow_connect_moves_on_when_another_server_can_serve },
    { "stream_slow_connect_waits_when_nowhere_else", stream_slow_connect_waits_when_nowhere_else },
    { "stream_without_redispatch_no_soft_deadline_same_server",
      stream_without_redispatch_no_soft_deadline_same_server },
    { "stream_nothing_back_replayed_elsewhere", stream_nothing_back_replayed_elsewhere },
    { "stream_nothing_back_not_replayable_502", stream_nothing_back_not_replayable_502 },
    { "stream_pooled_connection_closed_under_it_same_server",
      stream_pooled_connection_closed_under_it_same_server },
    { "stream_server_timeout_504_and_garbage_502", stream_server_timeout_504_and_garbage_502 },
    { "stream_server_gone_mid_response_cuts_the_client",
      stream_server_gone_mid_response_cuts_the_client },
    { "stream_interim_then_final", stream_interim_then_final },
    { "stream_unasked_101_is_502", stream_unasked_101_is_502 },
    { "stream_server_down_while_connecting_is_deferred",
      stream_server_down_while_connecting_is_deferred },
    { "stream_server_down_then_up_before_the_turn_changes_nothing",
      stream_server_down_then_up_before_the_turn_changes_nothing },
    { "stream_server_lost_after_send_replays_only_idempotent",
      stream_server_lost_after_send_replays_only_idempotent },
    { "stream_request_body_follows_the_servers_pace",
      stream_request_body_follows_the_servers_pace },
    { "stream_client_gone_mid_body_logged_cb", stream_client_gone_mid_body_logged_cb },
    { "stream_refusal_after_the_head_went_out_cuts", stream_refusal_after_the_head_went_out_cuts },
    { "client_timeout_on_an_incomplete_head_408", client_timeout_on_an_incomplete_head_408 },
    { "client_http_request_deadline_bounds_a_trickling_head",
      client_http_request_deadline_bounds_a_trickling_head },
    { "client_idle_keepalive_closes_silently", client_idle_keepalive_closes_silently },
    { "client_body_inactivity_408", client_body_inactivity_408 },
    { "client_waiting_on_a_slow_server_is_not_timed_out",
      client_waiting_on_a_slow_server_is_not_timed_out },
    { "client_pipelined_requests_answered_in_order", client_pipelined_requests_answered_in_order },
    UNIT_END
};
