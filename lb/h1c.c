/* lb/h1c.c - HTTP/1.1 on client connections: requests one at a time, in
 * order (pipelined ones wait in the input), each served by a stream.
 *
 * Half-close: a client may shut its sending side after its last request
 * (RFC 9112 9.6). Every request that arrived before the FIN is answered, in
 * order; the connection closes after the last one. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lb/cli.h"
#include "lb/ctr.h"
#include "lb/h1.h"
#include "lb/h1c-int.h"
#include "lb/http.h"
#include "lb/proxy-t.h"
#include "lb/stream.h"


/* Every state change goes through here: the old state's deadline ends. */
void h1c_set_state(struct cli *c, enum h1c_state s)
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
    h1c_set_state(c, H1C_IDLE);
    /* The first request's deadline runs from the accept (or the end of the
     * TLS handshake): a connection that never sends one is a slow one. */
    cli_arm(c, H1C_IDLE, h1c_tmo(c)->http_request_ms);
    if (evbuffer_get_length(h1c_in(c)))
        h1c_parse_head(c); /* TLS: bytes read with the handshake's last record */
}

/* The stream is over (logged by the caller): forget it. */
void h1c_end_stream(struct cli *c)
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
    h1c_end_stream(c);
}

/* Take no more requests; close once the output is flushed. */
void h1c_close_after_flush(struct cli *c, bool clean)
{
    h1c_set_state(c, H1C_CLOSING);
    c->h1.keepalive = false;
    c->h1.clean_close = clean;
    cli_read(c, false);
    cli_flush_last(c);
    if (evbuffer_get_length(h1c_out(c)) == 0)
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

    if (ms > h1c_tmo(c)->client_ms)
        ms = h1c_tmo(c)->client_ms;
    cli_arm(c, H1C_HEAD, ms);
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
    h1c_set_state(c, H1C_STREAM);
    int bad = http_request_verdict(&st->req, p, &why);
    if (bad) {
        stream_refuse(st, bad, WHO_PROXY, PH_HEAD, why);
        return;
    }
    if (st->req_body != H1_BODY_NONE && !h1r_body_prefix_ok(&c->h1.req, h1c_in(c))) {
        /* Checked before the head goes anywhere: a bad chunk, or a smuggled
         * request behind it, never reaches a server in part. */
        stream_refuse(st, 400, WHO_PROXY, PH_BODY, "malformed chunked body");
        return;
    }
    /* A frontend's http_close closes the client side after this exchange
     * (as HAProxy's option httpclose in a frontend); a backend's closes only
     * the server side (stream.c). */
    c->h1.keepalive = st->req_keepalive && !c->px->stopping && !c->fe->conf->http_close;
    c->h1.body_wanted = false;
    h1r_body_begin(&c->h1.req, st->req_body);
    if (h1c_acme_reply(c, st))
        return;
    stream_start(st); /* the body waits in the input until the server is there */
}

void h1c_parse_head(struct cli *c)
{
    struct evbuffer *in = h1c_in(c);
    size_t used;

    if (evbuffer_get_length(in) == 0) {
        if (c->eof && c->h1.st)
            goto gone;
        if (c->eof)
            cli_free(c);
        return;
    }
    if (!c->h1.st) {
        if (!(c->h1.st = stream_new(c->px, c->fe, &h1c_stream_ops, c))) {
            cli_free(c); /* out of memory: nothing sensible can be said */
            return;
        }
        h1r_begin(&c->h1.req, &c->h1.st->req);
        if (c->h1.nreq > 0 || c->h1.state != H1C_IDLE)
            c->h1.head_deadline_us = cli_mono_us() + (int64_t)h1c_tmo(c)->http_request_ms * 1000;
        else
            c->h1.head_deadline_us = c->accepted_us + (int64_t)h1c_tmo(c)->http_request_ms * 1000;
        h1c_set_state(c, H1C_HEAD);
    }
    enum h1_res r = h1r_head(&c->h1.req, in, &used);
    ctr_add(c->fe->ctr, CTR_BYTES_IN, (int64_t)used);
    if (r == H1_ERR) {
        h1c_set_state(c, H1C_STREAM);
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
    h1c_end_stream(c);
    cli_free(c);
}

/* ------------------------------------------------------------ callbacks */

static void h1_read(struct cli *c)
{
    struct stream *st = c->h1.st;

    switch (c->h1.state) {
    case H1C_IDLE:
    case H1C_HEAD:
        h1c_parse_head(c);
        return;
    case H1C_STREAM:
        if (c->h1.body_wanted) {
            stream_req_more(st);
            return;
        }
        /* Pipelined bytes (or a body before its server is there) wait their
         * turn; a full input is not read from until then. */
        if (evbuffer_get_length(h1c_in(c)) >= CLI_BUF_HIGH)
            cli_read(c, false);
        return;
    case H1C_TUNNEL:
        stream_tunnel_io(st);
        return;
    case H1C_CLOSING:
    case H1C_LINGER:
        evbuffer_drain(h1c_in(c), (size_t)-1);
        return;
    }
}

static void h1_written(struct cli *c)
{
    struct stream *st = c->h1.st;

    switch (c->h1.state) {
    case H1C_CLOSING:
        if (evbuffer_get_length(h1c_out(c)) == 0)
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
        if (evbuffer_get_length(h1c_out(c)) == 0)
            cli_arm(c, H1C_IDLE, h1c_tmo(c)->keepalive_ms);
        return;
    default:
        return;
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
            h1c_parse_head(c); /* what came before the FIN; then it is closed */
            return;
        }
        stream_client_gone(st, WHO_CLIENT, PH_HEAD);
        stream_log(st);
        h1c_end_stream(c);
        cli_free(c);
        return;
    case H1C_STREAM:
        /* Half-closed after a whole request (or with the rest of its body
         * already in the input): still owed its answer, and those of whole
         * requests behind it. A body cut short shows when it is read. */
        if (only_eof && st && st->state != ST_HEAD &&
            (!c->h1.req.in_body || !c->h1.body_wanted ||
             evbuffer_get_length(h1c_in(c)) > 0))
            return;
        if (st) {
            stream_client_gone(st, what & BEV_EVENT_TIMEOUT ? WHO_CLIENT_TMO : WHO_CLIENT,
                               stream_phase(st));
            stream_log(st);
            h1c_end_stream(c);
        }
        cli_free(c);
        return;
    case H1C_IDLE:
        if (only_eof && evbuffer_get_length(h1c_in(c))) {
            h1c_parse_head(c);
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
        if (evbuffer_get_length(h1c_out(c)) > 0) {
            cli_arm(c, H1C_IDLE, h1c_tmo(c)->keepalive_ms);
            return;
        }
        cli_free(c); /* idle keep-alive, or the first request never came */
        return;
    case H1C_HEAD:
        h1c_set_state(c, H1C_STREAM);
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
