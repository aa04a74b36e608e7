/* lb/h1c.c - HTTP/1.1 on client connections: requests one at a time, in
 * order (pipelined ones wait in the input), each served by a stream.
 *
 * Half-close: a client may shut its sending side after its last request
 * (RFC 9112 9.6). Every request that arrived before the FIN is answered, in
 * order; the connection closes after the last one. */
#include <string.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "acme/acme.h"
#include "lb/cli.h"
#include "lb/ctr.h"
#include "lb/forward.h"
#include "lb/h1.h"
#include "lb/http.h"
#include "lb/proxy-t.h"
#include "lb/redirect.h"
#include "lb/stream.h"
#include "lb/tls.h"

static const struct stream_cli_ops h1_stream_ops;
static int st_answer(struct stream *st, int status);
static void parse_head(struct cli *c);

static struct evbuffer *input(const struct cli *c) { return bufferevent_get_input(c->bev); }
static struct evbuffer *output(const struct cli *c) { return bufferevent_get_output(c->bev); }

static const struct conf_timeouts *tmo(const struct cli *c)
{
    return &c->px->conf->timeout;
}

static struct cli *cli_of(struct stream *st) { return st->cli_ctx; }

/* Every state change goes through here: the old state's deadline ends. */
static void set_state(struct cli *c, enum h1c_state s)
{
    cli_disarm(c);
    c->h1.state = s;
}

/* ------------------------------------------------------------- lifetime */

static void h1_start(struct cli *c)
{
    c->accepted_us = cli_mono_us();
    h1r_init(&c->h1.req, HTTP_REQUEST);
    c->h1.keepalive = true;
    set_state(c, H1C_IDLE);
    /* The first request's deadline runs from the accept (or the end of the
     * TLS handshake): a connection that never sends one is a slow one. */
    cli_arm(c, H1C_IDLE, tmo(c)->http_request_ms);
    if (evbuffer_get_length(input(c)))
        parse_head(c); /* TLS: bytes read with the handshake's last record */
}

/* The stream is over (logged by the caller): forget it. */
static void end_stream(struct cli *c)
{
    stream_free(c->h1.st);
    c->h1.st = NULL;
}

static void h1_release(struct cli *c)
{
    struct stream *st = c->h1.st;

    if (!st)
        return;
    /* Closed under a request (lxlb's exit, the grace period over): it still
     * gets its line. */
    if (st->state != ST_DONE)
        stream_client_gone(st, WHO_KILLED, st->state == ST_HEAD ? PH_HEAD
                                           : st->state == ST_RESP ? PH_DATA : PH_WAIT);
    stream_log(st);
    end_stream(c);
}

/* Take no more requests; close once the output is flushed. */
static void close_after_flush(struct cli *c, bool clean)
{
    set_state(c, H1C_CLOSING);
    c->h1.keepalive = false;
    c->h1.clean_close = clean;
    cli_read(c, false);
    cli_flush(c);
    if (evbuffer_get_length(output(c)) == 0)
        cli_linger(c, clean);
}

/* ---------------------------------------------------------------- heads */

/* A head is coming: the sooner of the http_request deadline (the whole
 * head) and client inactivity (timeout.client, as HAProxy applies it at
 * every point of an exchange). */
static void arm_head_timer(struct cli *c)
{
    int64_t left_us = c->h1.head_deadline_us - cli_mono_us();
    uint32_t ms = left_us <= 0 ? 0 : (uint32_t)((left_us + 999) / 1000);

    if (ms > tmo(c)->client_ms)
        ms = tmo(c)->client_ms;
    cli_arm(c, H1C_HEAD, ms);
}

static int st_resp_done(struct stream *st);

/* HTTP-01 (acme/acme.h): a plain frontend answers the CA's GET (or HEAD)
 * /.well-known/acme-challenge/TOKEN for a challenge lxlb has open, itself,
 * before routing and whatever the Host: 200 text/plain with the key
 * authorization, kept alive as the client asks, logged as "-/-". Other
 * paths and tokens go on to the stream. true: answered. */
static bool acme_reply(struct cli *c, struct stream *st)
{
    const char *target = st->req.buf + st->req.target;
    const char *q = memchr(target, '?', st->req.target_len);
    struct evbuffer *out = output(c);
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

/* A request head is complete: check it, then hand it to its stream. */
static void on_head(struct cli *c)
{
    struct stream *st = c->h1.st;
    const llhttp_t *p = &c->h1.req.parser;
    const char *why = NULL;

    st->method = p->method;
    st->req_major = p->http_major;
    st->req_minor = p->http_minor;
    st->req_keepalive = llhttp_should_keep_alive(p);
    st->req_body = h1r_request_body(&c->h1.req);
    stream_head_parsed(st);
    set_state(c, H1C_STREAM);
    int bad = http_request_verdict(&st->req, p, &why);
    if (bad) {
        stream_refuse(st, bad, WHO_PROXY, PH_HEAD, why);
        return;
    }
    if (st->req_body != H1_BODY_NONE && !h1r_body_prefix_ok(&c->h1.req, input(c))) {
        /* Checked before the head goes anywhere: a bad chunk, or a smuggled
         * request behind it, never reaches a server in part. */
        stream_refuse(st, 400, WHO_PROXY, PH_BODY, "malformed chunked body");
        return;
    }
    c->h1.keepalive = st->req_keepalive && !c->px->stopping;
    c->h1.body_wanted = false;
    h1r_body_begin(&c->h1.req, st->req_body);
    if (acme_reply(c, st))
        return;
    stream_start(st); /* the body waits in the input until the server is there */
}

static void parse_head(struct cli *c)
{
    struct evbuffer *in = input(c);
    size_t used;

    if (evbuffer_get_length(in) == 0) {
        if (c->eof && c->h1.st)
            goto gone;
        if (c->eof)
            cli_free(c);
        return;
    }
    if (!c->h1.st) {
        if (!(c->h1.st = stream_new(c->px, c->fe, &h1_stream_ops, c))) {
            cli_free(c); /* out of memory: nothing sensible can be said */
            return;
        }
        h1r_begin(&c->h1.req, &c->h1.st->req);
        if (c->h1.nreq > 0 || c->h1.state != H1C_IDLE)
            c->h1.head_deadline_us = cli_mono_us() + (int64_t)tmo(c)->http_request_ms * 1000;
        else
            c->h1.head_deadline_us = c->accepted_us + (int64_t)tmo(c)->http_request_ms * 1000;
        set_state(c, H1C_HEAD);
    }
    enum h1_res r = h1r_head(&c->h1.req, in, &used);
    ctr_add(c->fe->ctr, CTR_BYTES_IN, (int64_t)used);
    if (r == H1_ERR) {
        set_state(c, H1C_STREAM);
        stream_refuse(c->h1.st, c->h1.req.status, WHO_PROXY, PH_HEAD, c->h1.req.why);
        return;
    }
    if (r == H1_HEAD) {
        on_head(c);
        return;
    }
    if (c->eof)
        goto gone;
    arm_head_timer(c);
    return;
gone:
    /* The client closed before its head was whole. */
    stream_client_gone(c->h1.st, WHO_CLIENT, PH_HEAD);
    stream_log(c->h1.st);
    end_stream(c);
    cli_free(c);
}

/* ------------------------------------------------------------ callbacks */

static void h1_read(struct cli *c)
{
    struct stream *st = c->h1.st;

    switch (c->h1.state) {
    case H1C_IDLE:
    case H1C_HEAD:
        parse_head(c);
        return;
    case H1C_STREAM:
        if (c->h1.body_wanted) {
            stream_req_more(st);
            return;
        }
        /* Pipelined bytes (or a body before its server is there) wait their
         * turn; a full input is not read from until then. */
        if (evbuffer_get_length(input(c)) >= CLI_BUF_HIGH)
            cli_read(c, false);
        return;
    case H1C_TUNNEL:
        stream_tunnel_io(st);
        return;
    case H1C_CLOSING:
    case H1C_LINGER:
        evbuffer_drain(input(c), (size_t)-1);
        return;
    }
}

static void h1_written(struct cli *c)
{
    struct stream *st = c->h1.st;

    switch (c->h1.state) {
    case H1C_CLOSING:
        if (evbuffer_get_length(output(c)) == 0)
            cli_linger(c, c->h1.clean_close);
        return;
    case H1C_STREAM:
        if (st && st->state == ST_RESP)
            stream_resp_drained(st);
        return;
    case H1C_TUNNEL:
        stream_tunnel_io(st);
        return;
    case H1C_IDLE:
        /* Idle from now, not from when the last byte was queued. */
        if (evbuffer_get_length(output(c)) == 0)
            cli_arm(c, H1C_IDLE, tmo(c)->keepalive_ms);
        return;
    default:
        return;
    }
}

static char phase_of(const struct stream *st)
{
    switch (st->state) {
    case ST_HEAD: return PH_HEAD;
    case ST_CONNECT: return st->req_done ? PH_CONNECT : PH_BODY;
    case ST_WAIT: return st->req_done ? PH_WAIT : PH_BODY;
    default: return PH_DATA;
    }
}

/* The client closed its side, reset, or stopped reading. */
static void h1_event(struct cli *c, short what)
{
    struct stream *st = c->h1.st;
    bool only_eof = (what & BEV_EVENT_EOF) && !(what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT));

    switch (c->h1.state) {
    case H1C_HEAD:
        if (only_eof) {
            parse_head(c); /* what came before the FIN; then it is closed */
            return;
        }
        stream_client_gone(st, WHO_CLIENT, PH_HEAD);
        stream_log(st);
        end_stream(c);
        cli_free(c);
        return;
    case H1C_STREAM:
        /* Half-closed after a whole request (or with the rest of its body
         * already in the input): still owed its answer, and those of whole
         * requests behind it. A body cut short shows when it is read. */
        if (only_eof && st && st->state != ST_HEAD &&
            (!c->h1.req.in_body || !c->h1.body_wanted ||
             evbuffer_get_length(input(c)) > 0))
            return;
        if (st) {
            stream_client_gone(st, what & BEV_EVENT_TIMEOUT ? WHO_CLIENT_TMO : WHO_CLIENT,
                               phase_of(st));
            stream_log(st);
            end_stream(c);
        }
        cli_free(c);
        return;
    case H1C_IDLE:
        if (only_eof && evbuffer_get_length(input(c))) {
            parse_head(c);
            return;
        }
        cli_free(c);
        return;
    case H1C_TUNNEL:
        stream_tunnel_closed(st, only_eof); /* logs and ends the stream (resp_done) */
        return;
    default:
        cli_free(c);
        return;
    }
}

static void h1_timeout(struct cli *c, int armed)
{
    struct stream *st = c->h1.st;

    if (armed != (int)c->h1.state)
        return;
    switch (c->h1.state) {
    case H1C_IDLE:
        /* The keep-alive clock starts when the last response is out: a slow
         * reader is guarded by the write timeout, not by this one. */
        if (evbuffer_get_length(output(c)) > 0) {
            cli_arm(c, H1C_IDLE, tmo(c)->keepalive_ms);
            return;
        }
        cli_free(c); /* idle keep-alive, or the first request never came */
        return;
    case H1C_HEAD:
        set_state(c, H1C_STREAM);
        stream_refuse(st, 408, WHO_CLIENT_TMO, PH_HEAD, "request head not received in time");
        return;
    case H1C_STREAM:
        /* Armed only while the request body is awaited from the client. */
        if (c->h1.body_wanted)
            stream_refuse(st, 408, WHO_CLIENT_TMO, PH_BODY, "request body not received in time");
        return;
    default:
        return;
    }
}

static void h1_stop(struct cli *c)
{
    c->h1.keepalive = false;
    if (c->h1.state == H1C_IDLE && !c->h1.st)
        cli_free(c);
}

const struct cli_proto h1c_proto = {
    .name = "http/1.1",
    .start = h1_start,
    .read = h1_read,
    .written = h1_written,
    .event = h1_event,
    .timeout = h1_timeout,
    .stop = h1_stop,
    .release = h1_release,
};

/* ------------------------------------------------------- stream's client */

static enum h1_res st_req_body(struct stream *st, struct evbuffer *out, size_t max)
{
    struct cli *c = cli_of(st);
    size_t used;
    enum h1_res r = h1r_body(&c->h1.req, input(c), out, max, &used);

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
    if (evbuffer_get_length(input(c)) == 0 && c->eof)
        return H1_EOF;
    if (evbuffer_get_length(input(c)) == 0) {
        /* Waiting on the client now: its inactivity counts. */
        c->h1.body_wanted = true;
        cli_read(c, true);
        cli_arm(c, H1C_STREAM, tmo(c)->client_ms);
    }
    return r;
}

static void st_req_pause(struct stream *st, bool paused)
{
    struct cli *c = cli_of(st);

    /* The server is not keeping up: stop reading the client until its
     * buffer drains; the client is not the slow one meanwhile. */
    c->h1.body_wanted = !paused;
    cli_read(c, !paused);
    if (paused)
        cli_disarm(c);
}

static bool close_after(struct cli *c, const struct stream *st)
{
    return !c->h1.keepalive || (st->be && st->be->conf->http_close) ||
           st->resp_body == H1_BODY_EOF ||
           c->px->stopping || (c->eof && evbuffer_get_length(input(c)) == 0);
}

static int st_resp_head(struct stream *st, const struct fwd_resp_ctx *ctx)
{
    struct cli *c = cli_of(st);
    struct evbuffer *out = output(c);
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
    struct cli *c = cli_of(st);
    struct evbuffer *out = output(c);
    size_t before = evbuffer_get_length(out);
    struct fwd_resp_ctx ctx = { .status = status, .keepalive = true };

    fwd_response_head(out, &st->resp, &ctx);
    st->bytes_out += evbuffer_get_length(out) - before;
}

static size_t st_resp_room(struct stream *st)
{
    size_t have = evbuffer_get_length(output(cli_of(st)));
    return have >= CLI_BUF_HIGH ? 0 : CLI_BUF_HIGH - have;
}

static void st_resp_body(struct stream *st, struct evbuffer *payload)
{
    struct evbuffer *out = output(cli_of(st));
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
    cli_flush(c);
    ctr_add(c->fe->ctr, CTR_BYTES_OUT, (int64_t)st->bytes_out);
    stream_log(st);
    end_stream(c);
    c->h1.nreq++;
    if (!whole)
        c->h1.keepalive = false; /* the rest of the body is in the way: close */
    if (!c->h1.keepalive || c->px->stopping) {
        close_after_flush(c, whole && evbuffer_get_length(input(c)) == 0);
        return -1;
    }
    set_state(c, H1C_IDLE);
    if (c->eof && evbuffer_get_length(input(c)) == 0) {
        close_after_flush(c, true);
        return -1;
    }
    cli_arm(c, H1C_IDLE, tmo(c)->keepalive_ms);
    cli_read(c, true);
    parse_head(c);
    return -1;
}

static int st_resp_done(struct stream *st)
{
    struct cli *c = cli_of(st);

    if (st->resp_body == H1_BODY_CHUNKED) {
        h1w_last_chunk(output(c));
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
    struct cli *c = cli_of(st);
    int host = http_hdr_find(&st->req, "host", 0);
    bool ka = c->h1.keepalive && !c->px->stopping && st->req_body == H1_BODY_NONE &&
              !(c->eof && evbuffer_get_length(input(c)) == 0);
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
    hbuf_to_evbuffer(&b, output(c));
    hbuf_free(&b);
    c->h1.keepalive = ka;
    return next_or_close(c, st, st->req_body == H1_BODY_NONE);
}

/* lxlb's own answer: an error page, then close. */
static int st_answer(struct stream *st, int status)
{
    struct cli *c = cli_of(st);
    struct evbuffer *out = output(c);
    size_t before = evbuffer_get_length(out);

    ctr_inc(c->fe->ctr, CTR_ERRORS);
    http_error_page(out, status);
    st->status = status;
    st->bytes_out = evbuffer_get_length(out) - before;
    ctr_add(c->fe->ctr, CTR_BYTES_OUT, (int64_t)st->bytes_out);
    stream_log(st);
    end_stream(c);
    close_after_flush(c, false);
    return -1;
}

static int st_abort(struct stream *st)
{
    struct cli *c = cli_of(st);

    ctr_add(c->fe->ctr, CTR_BYTES_OUT, (int64_t)st->bytes_out);
    stream_log(st);
    end_stream(c);
    cli_free(c);
    return -1;
}

static void st_flush(struct stream *st) { cli_flush(cli_of(st)); }

/* After a 101 the connection is the tunnel's: no keep-alive after it, no
 * write timeout of its own (the stream's timeout.tunnel covers both ways). */
static void st_tunnel(struct stream *st, struct evbuffer **in, struct evbuffer **out)
{
    struct cli *c = cli_of(st);

    set_state(c, H1C_TUNNEL);
    c->h1.keepalive = false;
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    *in = input(c);
    *out = output(c);
    cli_read(c, true);
}

static const char *st_client_ip(struct stream *st) { return cli_of(st)->client_ip; }

static void st_addrs(struct stream *st, const struct sockaddr **src, const struct sockaddr **dst)
{
    *src = (const struct sockaddr *)&cli_of(st)->src;
    *dst = (const struct sockaddr *)&cli_of(st)->dst;
}
static const char *st_client_name(struct stream *st) { return cli_of(st)->client; }

static const char *st_tls_suffix(struct stream *st, char *buf, size_t n)
{
    return tls_log_suffix(cli_of(st)->bev, buf, n);
}

static const struct stream_cli_ops h1_stream_ops = {
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
