/* lb/h1c-stream.c - what an HTTP/1.1 client connection does for its
 * streams: gives them the request body (decoded from its framing), writes
 * their responses (framed again), lxlb's own answers (errors, redirects, the
 * ACME challenge), and the switch to a tunnel after a 101. */
#include <string.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "acme/acme.h"
#include "lb/cli.h"
#include "lb/ctr.h"
#include "lb/forward.h"
#include "lb/h1.h"
#include "lb/h1c-int.h"
#include "lb/http.h"
#include "lb/proxy-t.h"
#include "lb/redirect.h"
#include "lb/stream.h"
#include "lb/tls.h"

static int st_answer(struct stream *st, int status);
static int st_resp_done(struct stream *st);

/* HTTP-01 (acme/acme.h): a plain frontend answers the CA's GET (or HEAD)
 * /.well-known/acme-challenge/TOKEN for a challenge lxlb has open, itself,
 * before routing and whatever the Host: 200 text/plain with the key
 * authorization, kept alive as the client asks, logged as "-/-". Other
 * paths and tokens go on to the stream. true: answered. */
bool h1c_acme_reply(struct cli *c, struct stream *st)
{
    const char *target = st->req.buf + st->req.target;
    const char *q = memchr(target, '?', st->req.target_len);
    struct evbuffer *out = h1c_out(c);
    char body[ACME_KEYAUTH_MAX];
    size_t blen, before;

    if (c->fe->conf->tls.enabled || st->req_body != H1_BODY_NONE ||
        (st->method != HTTP_GET && st->method != HTTP_HEAD) ||
        !acme_challenge(target, q ? (size_t)(q - target) : st->req.target_len, body,
                        sizeof(body), &blen))
        return false;
    ctr_inc(c->fe->ctr, CTR_REQUESTS);
    before = evbuffer_get_length(out);
    evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                        "Content-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n", blen,
                        !c->h1.keepalive ? "Connection: close\r\n"
                        : st->req_minor == 0 ? "Connection: keep-alive\r\n" : "");
    if (st->method == HTTP_GET)
        evbuffer_add(out, body, blen);
    st->status = 200;
    st->bytes_out = evbuffer_get_length(out) - before;
    st->req_done = true;
    st->resp_body = H1_BODY_NONE;
    st->state = ST_DONE;
    st_resp_done(st); /* logs, frees st, serves the next request or closes */
    return true;
}

static enum h1_res st_req_body(struct stream *st, struct evbuffer *out, size_t max)
{
    struct cli *c = h1c_of(st);
    size_t used;
    enum h1_res r = h1r_body(&c->h1.req, h1c_in(c), out, max, &used);

    ctr_add(c->fe->ctr, CTR_BYTES_IN, (int64_t)used);
    if (r == H1_ERR) {
        st->why = c->h1.req.why;
        return r;
    }
    if (r == H1_DONE) {
        c->h1.body_wanted = false;
        cli_disarm(c);
        return r;
    }
    if (evbuffer_get_length(h1c_in(c)) == 0 && c->eof)
        return H1_EOF;
    if (evbuffer_get_length(h1c_in(c)) == 0) {
        /* Waiting on the client now: its inactivity counts. */
        c->h1.body_wanted = true;
        cli_read(c, true);
        cli_arm(c, H1C_STREAM, h1c_tmo(c)->client_ms);
    }
    return r;
}

static void st_req_pause(struct stream *st, bool paused)
{
    struct cli *c = h1c_of(st);

    /* The server is not keeping up: stop reading the client until its
     * buffer drains; the client is not the slow one meanwhile. */
    c->h1.body_wanted = !paused;
    cli_read(c, !paused);
    if (paused)
        cli_disarm(c);
}

static bool close_after(struct cli *c, const struct stream *st)
{
    return !c->h1.keepalive || st->resp_body == H1_BODY_EOF ||
           c->px->stopping || (c->eof && evbuffer_get_length(h1c_in(c)) == 0);
}

static int st_resp_head(struct stream *st, const struct fwd_resp_ctx *ctx)
{
    struct cli *c = h1c_of(st);
    struct evbuffer *out = h1c_out(c);
    size_t before = evbuffer_get_length(out);
    struct fwd_resp_ctx x = *ctx;

    c->h1.keepalive = !close_after(c, st);
    x.keepalive = c->h1.keepalive;
    x.client_http10 = st->req_major == 1 && st->req_minor == 0;
    fwd_response_head(out, &st->resp, &x);
    st->bytes_out += evbuffer_get_length(out) - before;
    return 0;
}

static void st_resp_interim(struct stream *st, int status)
{
    struct cli *c = h1c_of(st);
    struct evbuffer *out = h1c_out(c);
    size_t before = evbuffer_get_length(out);
    struct fwd_resp_ctx ctx = { .status = status, .keepalive = true };

    fwd_response_head(out, &st->resp, &ctx);
    st->bytes_out += evbuffer_get_length(out) - before;
}

static size_t st_resp_room(struct stream *st)
{
    size_t have = evbuffer_get_length(h1c_out(h1c_of(st)));
    return have >= CLI_BUF_HIGH ? 0 : CLI_BUF_HIGH - have;
}

static void st_resp_body(struct stream *st, struct evbuffer *payload)
{
    struct evbuffer *out = h1c_out(h1c_of(st));
    size_t before = evbuffer_get_length(out);

    if (st->resp_body == H1_BODY_CHUNKED)
        h1w_chunk(out, payload);
    else
        evbuffer_add_buffer(out, payload);
    st->bytes_out += evbuffer_get_length(out) - before;
}

/* An exchange is over (its response is in the output): log it and serve the
 * next request (maybe already buffered: pipelining), or close. */
static int next_or_close(struct cli *c, struct stream *st, bool whole)
{
    bool unread = evbuffer_get_length(h1c_in(c)) > 0;

    if (!whole)
        c->h1.keepalive = false; /* the rest of the body is in the way: close */
    /* Closing: the response goes with the close (h1c_close_after_flush). */
    bool closing = !c->h1.keepalive || c->px->stopping || (c->eof && !unread);
    if (!closing)
        cli_flush(c);
    ctr_add(c->fe->ctr, CTR_BYTES_OUT, (int64_t)st->bytes_out);
    stream_log(st);
    h1c_end_stream(c);
    c->h1.nreq++;
    if (closing) {
        h1c_close_after_flush(c, whole && !unread);
        return -1;
    }
    h1c_set_state(c, H1C_IDLE);
    cli_arm(c, H1C_IDLE, h1c_tmo(c)->keepalive_ms);
    cli_read(c, true);
    h1c_parse_head(c);
    return -1;
}

static int st_resp_done(struct stream *st)
{
    struct cli *c = h1c_of(st);

    if (st->resp_body == H1_BODY_CHUNKED) {
        h1w_last_chunk(h1c_out(c));
        st->bytes_out += 5;
    }
    return next_or_close(c, st, st->req_done);
}

/* The route's redirect, built from the request's Host and target (never
 * from unchecked bytes: lb/redirect.h). The connection stays open as after
 * any response, unless the request has a body: it is not read, so the
 * connection closes after the answer. */
static int st_redirect(struct stream *st, const struct conf_redirect *rd)
{
    struct cli *c = h1c_of(st);
    int host = http_hdr_find(&st->req, "host", 0);
    bool ka = c->h1.keepalive && !c->px->stopping && st->req_body == H1_BODY_NONE &&
              !(c->eof && evbuffer_get_length(h1c_in(c)) == 0);
    struct redirect_req rq = {
        .https = c->fe->conf->tls.enabled,
        .host = host >= 0 ? http_hdr_value(&st->req, (uint32_t)host) : NULL,
        .host_len = host >= 0 ? st->req.hdrs[host].value_len : 0,
        .target = st->req.buf + st->req.target,
        .target_len = st->req.target_len,
        .http_minor = st->req_minor,
        .keepalive = ka,
        .head = st->method == HTTP_HEAD,
    };
    struct hbuf b = { 0 };

    if (redirect_response(rd, &rq, &b) != 0) {
        hbuf_free(&b);
        st->who = WHO_PROXY;
        st->phase = PH_HEAD;
        st->why = "a redirect would copy unsafe bytes of the request";
        return st_answer(st, 400);
    }
    st->status = rd->code;
    st->bytes_out = b.len;
    hbuf_to_evbuffer(&b, h1c_out(c));
    hbuf_free(&b);
    c->h1.keepalive = ka;
    return next_or_close(c, st, st->req_body == H1_BODY_NONE);
}

/* lxlb's own answer: an error page, then close. */
static int st_answer(struct stream *st, int status)
{
    struct cli *c = h1c_of(st);
    struct evbuffer *out = h1c_out(c);
    size_t before = evbuffer_get_length(out);

    ctr_inc(c->fe->ctr, CTR_ERRORS);
    http_error_page(out, status);
    st->status = status;
    st->bytes_out = evbuffer_get_length(out) - before;
    ctr_add(c->fe->ctr, CTR_BYTES_OUT, (int64_t)st->bytes_out);
    stream_log(st);
    h1c_end_stream(c);
    h1c_close_after_flush(c, false);
    return -1;
}

static int st_abort(struct stream *st)
{
    struct cli *c = h1c_of(st);

    ctr_add(c->fe->ctr, CTR_BYTES_OUT, (int64_t)st->bytes_out);
    stream_log(st);
    h1c_end_stream(c);
    cli_free(c);
    return -1;
}

static void st_flush(struct stream *st) { cli_flush(h1c_of(st)); }

/* After a 101 the connection is the tunnel's: no keep-alive after it, no
 * write timeout of its own (the stream's timeout.tunnel covers both ways). */
static void st_tunnel(struct stream *st, struct evbuffer **in, struct evbuffer **out)
{
    struct cli *c = h1c_of(st);

    h1c_set_state(c, H1C_TUNNEL);
    c->h1.keepalive = false;
    cli_write_timeout(c, NULL);
    *in = h1c_in(c);
    *out = h1c_out(c);
    cli_read(c, true);
}

static const char *st_client_ip(struct stream *st) { return h1c_of(st)->client_ip; }

static void st_addrs(struct stream *st, const struct sockaddr **src, const struct sockaddr **dst)
{
    *src = (const struct sockaddr *)&h1c_of(st)->src;
    *dst = (const struct sockaddr *)&h1c_of(st)->dst;
}
static const char *st_client_name(struct stream *st) { return h1c_of(st)->client; }

static const char *st_tls_suffix(struct stream *st, char *buf, size_t n)
{
    return tls_log_suffix(h1c_of(st)->bev, buf, n);
}

const struct stream_cli_ops h1c_stream_ops = {
    .req_body = st_req_body,
    .req_pause = st_req_pause,
    .resp_head = st_resp_head,
    .resp_interim = st_resp_interim,
    .resp_room = st_resp_room,
    .resp_body = st_resp_body,
    .resp_done = st_resp_done,
    .answer = st_answer,
    .redirect = st_redirect,
    .abort = st_abort,
    .flush = st_flush,
    .tunnel = st_tunnel,
    .client_ip = st_client_ip,
    .client_name = st_client_name,
    .addrs = st_addrs,
    .tls_suffix = st_tls_suffix,
};
