/* lb/h2c.c - HTTP/2 on client connections (lb/h2c.h).
 *
 * libnghttp2 does the framing, HPACK, flow control and most of RFC 9113's
 * checks; it is driven from the connection's buffers (mem_recv over the
 * input, mem_send into the output, DATA moved without a copy), so a read
 * that brings many frames costs one pass and one write.
 *
 * Each HTTP/2 stream is one struct stream, served exactly as an HTTP/1.1
 * request is (routing, stickiness, retries, the log line); this file is its
 * client side (struct stream_cli_ops). The request head is converted to an
 * HTTP/1.1 one as RFC 9113 8.3 says (:authority becomes Host, cookies are
 * joined, a body without content-length goes chunked); request trailers
 * are dropped, as lb/h1.c drops chunked trailers.
 *
 * Nothing that could free the connection runs inside an nghttp2 callback:
 * a stream whose head completes, or whose body grows, goes on a to-do list
 * that is worked through once the read is parsed; a stream reset in the
 * same read never reaches a server.
 *
 * Flow control follows backpressure both ways: request DATA is consumed
 * (WINDOW_UPDATE) only as the server connection takes it; response DATA
 * comes from a per-stream buffer that the server side fills only while
 * it has room, and a data source that defers when it is empty. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "lb/cli.h"
#include "lb/ctr.h"
#include "lb/forward.h"
#include "lb/h2c.h"
#include "lb/http.h"
#include "lb/log.h"
#include "lb/proxy-t.h"
#include "lb/redirect.h"
#include "lb/stream.h"
#include "lb/tls.h"

#define H2T 0 /* the one timer state: h2_rearm computes its deadline */

static const struct stream_cli_ops h2_stream_ops;
static void h2_rearm(struct cli *c);
static void close_after_send(struct cli *c, char who);

static struct evbuffer *input(const struct cli *c) { return bufferevent_get_input(c->bev); }
static struct evbuffer *output(const struct cli *c) { return bufferevent_get_output(c->bev); }

static const struct conf_timeouts *tmo(const struct cli *c) { return &c->px->conf->timeout; }
static const struct conf_h2 *limits(const struct cli *c) { return &c->fe->conf->h2; }

static struct h2s *h2s_of(struct stream *st) { return st->cli_ctx; }

/* The rewritten head as an nghttp2 header list: names in lower case (HTTP/2
 * requires it), framing fields HTTP/2 does itself left out. */
struct nv_sink {
    struct hbuf text;   /* names and values, back to back */
    uint32_t *off;      /* per field: name offset, name length, value offset, length */
    size_t n, cap;      /* fields used, allocated */
};

static __thread struct nv_sink nvs;

/* ------------------------------------------------------------- sending */

/* Frames nghttp2 has queued go into the output, as far as it has room;
 * DATA is moved there by send_data, without a copy. They are staged first
 * and handed over at once: libevent_openssl writes (one SSL_write, one
 * system call) each time its output grows, and every chain apart; frames
 * of many streams then go out in one record. */
static void send_frames(struct cli *c)
{
    struct h2c *h2 = c->h2;
    struct evbuffer *out = output(c), *stage = h2->stage;
    size_t n;

    if (h2->sending)
        return;
    h2->sending = true;
    while (evbuffer_get_length(out) + evbuffer_get_length(stage) < CLI_BUF_HIGH) {
        const uint8_t *data;
        ssize_t k = nghttp2_session_mem_send(h2->ses, &data);
        if (k <= 0) {
            if (k < 0)
                h2->state = H2C_CLOSING; /* out of memory inside nghttp2 */
            break;
        }
        evbuffer_add(stage, data, (size_t)k);
    }
    h2->sending = false;
    if (!(n = evbuffer_get_length(stage)))
        return;
    if (!c->direct && n <= H2C_STAGE_PULLUP)
        evbuffer_pullup(stage, -1);
    evbuffer_add_buffer(out, stage);
}

static size_t room_of(const struct h2s *s)
{
    const struct cli *c = s->h2->c;
    size_t have = evbuffer_get_length(s->resp);

    if (evbuffer_get_length(output(c)) >= CLI_BUF_HIGH || s->h2->resp_buffered >= H2C_CONN_BUF ||
        have >= H2C_STREAM_BUF)
        return 0;
    return H2C_STREAM_BUF - have;
}

/* Streams whose server side was held for want of room get going again. */
static void resume_blocked(struct h2c *h2)
{
    struct h2s *s, *next;

    if (!h2->nblocked)
        return;
    for (s = h2->streams; s; s = next) {
        next = s->next;
        if (!s->resp_blocked || room_of(s) == 0)
            continue;
        s->resp_blocked = false;
        h2->nblocked--;
        s->wait_us = 0;
        h2->timer_dirty = true;
        if (s->st)
            stream_resp_drained(s->st); /* may end s->st, never s */
    }
}

/* The output is out after the close was decided: read and discard a
 * moment (a reset would destroy the GOAWAY), then close. May free c. */
static void finish_close(struct cli *c)
{
    if (c->h2->lingering)
        return;
    c->h2->lingering = true;
    cli_linger(c, false);
}

/* One pass: frames out, held streams resumed (and their data out), the
 * close once nghttp2 is done, the timer. May free c. */
static void send_pass(struct cli *c)
{
    struct h2c *h2 = c->h2;

    send_frames(c);
    resume_blocked(h2);
    send_frames(c);
    if (h2->state != H2C_CLOSING && !nghttp2_session_want_read(h2->ses) &&
        !nghttp2_session_want_write(h2->ses))
        close_after_send(c, WHO_CLIENT); /* GOAWAY both ways, or a fatal error */
    if (h2->state == H2C_DRAIN && h2->nstreams == 0)
        close_after_send(c, WHO_NONE);
    if (h2->state == H2C_CLOSING)
        send_frames(c); /* what the close queued */
    cli_flush(c);
    if (h2->state == H2C_CLOSING) {
        if (evbuffer_get_length(output(c)) == 0)
            finish_close(c);
        return;
    }
    h2_rearm(c);
}

static void send_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cli *c = arg;

    (void)fd; (void)what;
    c->h2->send_queued = false;
    if (!c->h2->lingering)
        send_pass(c);
}

/* Something is queued: send it on this loop round, once for every stream
 * that queued something meanwhile. */
static void want_send(struct h2c *h2)
{
    if (h2->send_queued || h2->sending)
        return;
    h2->send_queued = true;
    event_active(h2->send_ev, EV_TIMEOUT, 0);
}

/* --------------------------------------------------------------- streams */

/* The exchange is over: count, log and free it (s lives on until nghttp2
 * closes the HTTP/2 stream). */
static void end_exchange(struct h2s *s)
{
    struct stream *st = s->st;
    struct cli *c = s->h2->c;
    size_t left = evbuffer_get_length(s->req);

    if (left) { /* body nobody will take: the connection's window opens again */
        nghttp2_session_consume(s->h2->ses, s->id, left);
        evbuffer_drain(s->req, left);
        want_send(s->h2);
    }
    ctr_add(c->fe->ctr, CTR_BYTES_OUT, (int64_t)st->bytes_out);
    stream_log(st);
    stream_free(st);
    s->st = NULL;
    s->body_wanted = false;
}

/* The exchange cannot finish (client gone, connection closing). */
static void cut_exchange(struct h2s *s, char who)
{
    if (!s->st)
        return;
    if (s->st->state != ST_DONE)
        stream_client_gone(s->st, who, stream_phase(s->st));
    end_exchange(s);
}

static void todo_del(struct h2s *s)
{
    struct h2s **p;

    if (!s->todo)
        return;
    for (p = &s->h2->todo; *p; p = &(*p)->tnext)
        if (*p == s) {
            *p = s->tnext;
            break;
        }
    s->todo = false;
}

static void todo_add(struct h2s *s)
{
    if (s->todo)
        return;
    s->todo = true;
    s->tnext = s->h2->todo;
    s->h2->todo = s;
}

static void h2s_free(struct h2s *s)
{
    struct h2c *h2 = s->h2;
    struct cli *c = h2->c;

    todo_del(s);
    if (s->resp_blocked)
        h2->nblocked--;
    h2->resp_buffered -= evbuffer_get_length(s->resp);
    if (s->prev)
        s->prev->next = s->next;
    else
        h2->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    h2->nstreams--;
    ctr_dec(c->fe->ctr, CTR_H2_STREAMS);
    if (h2->nstreams == 0)
        h2->idle_since_us = cli_mono_us();
    h2->timer_dirty = true;
    evbuffer_free(s->req);
    evbuffer_free(s->resp);
    free(s);
}

static struct h2s *h2s_new(struct cli *c, int32_t id)
{
    struct h2c *h2 = c->h2;
    struct h2s *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->req = evbuffer_new();
    s->resp = evbuffer_new();
    s->st = stream_new(c->px, c->fe, &h2_stream_ops, s);
    if (!s->req || !s->resp || !s->st) {
        if (s->st)
            stream_free(s->st);
        if (s->req)
            evbuffer_free(s->req);
        if (s->resp)
            evbuffer_free(s->resp);
        free(s);
        return NULL;
    }
    s->h2 = h2;
    s->id = id;
    s->next = h2->streams;
    if (h2->streams)
        h2->streams->prev = s;
    h2->streams = s;
    h2->nstreams++;
    h2->nreq++;
    h2->timer_dirty = true;
    ctr_inc(c->fe->ctr, CTR_H2_STREAMS);
    ctr_inc(c->fe->ctr, CTR_H2_STREAMS_TOTAL);
    s->wait_us = cli_mono_us(); /* its head is coming: bounded as on HTTP/1.1 */
    return s;
}

/* The stream's exchange waits on the client (or stops waiting). */
static void wait_client(struct h2s *s, bool waiting)
{
    int64_t was = s->wait_us;

    s->wait_us = waiting ? (was ? was : cli_mono_us()) : 0;
    if (!was != !s->wait_us)
        s->h2->timer_dirty = true;
}

/* ------------------------------------------------------ the request head */

static int method_of(const uint8_t *v, size_t len)
{
#define XX(num, name, string)                                                  \
    if (len == sizeof(#string) - 1 && !memcmp(v, #string, len))                \
        return num;
    HTTP_METHOD_MAP(XX)
#undef XX
    return -1;
}

static void refuse(struct h2s *s, int status, const char *why)
{
    if (!s->refuse) {
        s->refuse = status;
        s->why = why;
    }
}

static void scratch_add(struct hbuf *b, bool *has, const uint8_t *v, size_t len, const char *sep)
{
    if (*has && sep)
        hbuf_str(b, sep);
    hbuf_add(b, v, len);
    *has = true;
}

static int on_begin_headers(nghttp2_session *ses, const nghttp2_frame *f, void *arg)
{
    struct cli *c = arg;
    struct h2c *h2 = c->h2;
    struct h2s *s;

    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    h2->authority.len = h2->host.len = h2->cookie.len = 0;
    h2->has_authority = h2->has_host = h2->has_cookie = false;
    if (h2->state != H2C_OPEN || c->px->stopping) {
        nghttp2_submit_rst_stream(ses, NGHTTP2_FLAG_NONE, f->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    if (!(s = h2s_new(c, f->hd.stream_id)))
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM INTERNAL_ERROR */
    nghttp2_session_set_stream_user_data(ses, f->hd.stream_id, s);
    return 0;
}

static void pseudo_field(struct h2s *s, const uint8_t *n, size_t nlen, const uint8_t *v,
                         size_t vlen)
{
    struct h2c *h2 = s->h2;
    struct stream *st = s->st;

    if (nlen == 7 && !memcmp(n, ":method", 7)) {
        int m = method_of(v, vlen);
        if (m < 0)
            refuse(s, 400, "unknown method");
        else
            st->method = m;
    } else if (nlen == 5 && !memcmp(n, ":path", 5)) {
        if (http_head_on_target(&st->req, (const char *)v, vlen) < 0)
            refuse(s, st->req.limit_status, "request target too long");
    } else if (nlen == 10 && !memcmp(n, ":authority", 10)) {
        scratch_add(&h2->authority, &h2->has_authority, v, vlen, NULL);
    }
    /* :scheme is checked by nghttp2 and not forwarded: the server sees the
     * frontend's own (X-Forwarded-Proto by set_headers, as for HTTP/1.1). */
}

static int on_header(nghttp2_session *ses, const nghttp2_frame *f, const uint8_t *n,
                     size_t nlen, const uint8_t *v, size_t vlen, uint8_t flags, void *arg)
{
    struct cli *c = arg;
    struct h2c *h2 = c->h2;
    struct h2s *s = nghttp2_session_get_stream_user_data(ses, f->hd.stream_id);
    struct http_head *h;

    (void)flags;
    /* Trailers (a second HEADERS) are dropped: the body goes on chunked
     * with none, as lb/h1.c drops chunked trailers. */
    if (!s || !s->st || f->hd.type != NGHTTP2_HEADERS ||
        f->headers.cat != NGHTTP2_HCAT_REQUEST || s->refuse)
        return 0;
    s->hdr_bytes += (uint32_t)(nlen + vlen + 32);
    if (s->hdr_bytes > limits(c)->max_header_list) {
        refuse(s, 431, "header list over h2.max_header_list");
        return 0;
    }
    if (nlen && n[0] == ':') {
        pseudo_field(s, n, nlen, v, vlen);
        return 0;
    }
    if (nlen == 6 && !memcmp(n, "cookie", 6)) {
        scratch_add(&h2->cookie, &h2->has_cookie, v, vlen, "; ");
        return 0;
    }
    if (nlen == 4 && !memcmp(n, "host", 4)) {
        if (h2->has_host)
            refuse(s, 400, "more than one Host");
        scratch_add(&h2->host, &h2->has_host, v, vlen, NULL);
        return 0;
    }
    /* nghttp2 refused connection-specific fields and a te other than
     * "trailers"; te is hop-by-hop and dropped by lb/forward.c. */
    h = &s->st->req;
    if (http_head_on_field(h, (const char *)n, nlen) < 0 ||
        http_head_on_value(h, (const char *)v, vlen) < 0)
        refuse(s, h->limit_status, "request head too large");
    return 0;
}

static bool add_field(struct h2s *s, const char *n, const char *v, size_t vlen)
{
    struct http_head *h = &s->st->req;

    if (http_head_on_field(h, n, strlen(n)) < 0 || http_head_on_value(h, v, vlen) < 0) {
        refuse(s, h->limit_status, "request head too large");
        return false;
    }
    return true;
}

/* What nghttp2 lets through but the HTTP/1.1 request must not carry. */
static const char *target_bad(const struct http_head *h, int method)
{
    const char *t;

    if (method == HTTP_CONNECT)
        return NULL; /* refused with 405 as for HTTP/1.1 */
    if (h->target_len == 0)
        return "bad :path"; /* (an empty head may have no arena at all) */
    t = h->buf + h->target;
    if (t[0] != '/' && !(h->target_len == 1 && t[0] == '*'))
        return "bad :path";
    for (uint32_t i = 0; i < h->target_len; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return "control or non-ASCII byte in :path";
    return NULL;
}

/* The head is whole: convert it into the HTTP/1.1 request the server will
 * get. -1: malformed (RFC 9113 8.1.1): the stream is reset. */
static int head_done(struct h2s *s, bool eos)
{
    struct h2c *h2 = s->h2;
    struct stream *st = s->st;
    const char *why;

    st->req_major = 2;
    st->req_minor = 0;
    st->req_keepalive = true;
    stream_head_parsed(st);
    s->head_done = true;
    wait_client(s, false);
    if (h2->has_authority && h2->has_host &&
        (h2->authority.len != h2->host.len ||
         (h2->host.len && strncasecmp(h2->authority.p, h2->host.p, h2->host.len)))) {
        st->why = "Host disagrees with :authority";
        return -1;
    }
    if ((why = target_bad(&st->req, st->method))) {
        st->why = why;
        return -1;
    }
    if (s->refuse)
        return 0;
    if (st->method == HTTP_CONNECT) {
        refuse(s, 405, "CONNECT is not served");
        return 0;
    }
    if (!h2->has_authority && !h2->has_host) {
        refuse(s, 400, "no :authority or Host");
        return 0;
    }
    if (h2->has_authority)
        add_field(s, "Host", h2->authority.p, h2->authority.len);
    else
        add_field(s, "Host", h2->host.p, h2->host.len);
    if (h2->has_cookie)
        add_field(s, "cookie", h2->cookie.p, h2->cookie.len);
    if (eos)
        st->req_body = H1_BODY_NONE;
    else if (http_hdr_find(&st->req, "content-length", 0) >= 0)
        st->req_body = H1_BODY_LENGTH;
    else if (add_field(s, "transfer-encoding", "chunked", 7))
        st->req_body = H1_BODY_CHUNKED;
    if (!s->refuse && !http_head_names_valid(&st->req))
        refuse(s, 400, "a field name that is not a token");
    return 0;
}

/* ----------------------------------------------------- frames received */

/* ENHANCE_YOUR_CALM: the client costs more than it asks for. */
static void calm(struct cli *c, const char *why)
{
    if (c->h2->state == H2C_CLOSING)
        return;
    log_event(LOG_LVL_INFO, "frontend %s: %s: HTTP/2 %s: GOAWAY ENHANCE_YOUR_CALM",
              c->fe->name, c->client, why);
    nghttp2_session_terminate_session(c->h2->ses, NGHTTP2_ENHANCE_YOUR_CALM);
}

/* Control frames cost CPU and answers while asking for nothing: PING,
 * SETTINGS and PRIORITY floods (CVE-2019-9512, -9515), empty DATA frames
 * (CVE-2019-9518). */
static void count_ctrl(struct cli *c)
{
    struct h2c *h2 = c->h2;
    int64_t now = cli_mono_us();

    if (now - h2->ctrl_since_us >= 1000000) {
        h2->ctrl_since_us = now;
        h2->ctrl = 0;
    }
    if (++h2->ctrl > H2C_CTRL_PER_SEC)
        calm(c, "control frame flood");
}

static int on_frame_recv(nghttp2_session *ses, const nghttp2_frame *f, void *arg)
{
    struct cli *c = arg;
    struct h2s *s = nghttp2_session_get_stream_user_data(ses, f->hd.stream_id);
    bool eos = f->hd.flags & NGHTTP2_FLAG_END_STREAM;

    switch (f->hd.type) {
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK))
            count_ctrl(c);
        return 0;
    case NGHTTP2_PRIORITY:
        count_ctrl(c);
        return 0;
    case NGHTTP2_RST_STREAM:
        if (s) {
            s->client_reset = true;
            /* CVE-2023-44487: resetting streams is free for the client and
             * costs us; one that resets far more than it lets complete goes. */
            if (s->st && ++c->h2->resets > c->h2->completed + H2C_RESET_SLACK)
                calm(c, "rapid reset");
        }
        return 0;
    case NGHTTP2_DATA:
        if (f->hd.length == 0 && !eos)
            count_ctrl(c);
        break;
    case NGHTTP2_HEADERS:
        if (s && s->st && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
            if (head_done(s, eos) < 0) {
                nghttp2_submit_rst_stream(ses, NGHTTP2_FLAG_NONE, f->hd.stream_id,
                                          NGHTTP2_PROTOCOL_ERROR);
                return 0;
            }
            todo_add(s);
        }
        break;
    default:
        return 0;
    }
    if (s && eos) {
        s->req_eos = true;
        if (s->body_wanted)
            todo_add(s);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ses, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *arg)
{
    struct h2s *s = nghttp2_session_get_stream_user_data(ses, id);

    (void)flags; (void)arg;
    if (!s || !s->st) {
        nghttp2_session_consume(ses, id, len); /* nobody wants it: the window stays open */
        return 0;
    }
    evbuffer_add(s->req, data, len);
    if (s->body_wanted) {
        wait_client(s, false);
        todo_add(s);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ses, int32_t id, uint32_t code, void *arg)
{
    struct h2s *s = nghttp2_session_get_stream_user_data(ses, id);

    (void)arg;
    if (!s)
        return 0;
    if (s->st) {
        /* Reset before its exchange was over: by the client, or by nghttp2
         * for a malformed request (then who is lxlb, as a 400 would be). */
        if (!s->client_reset && !s->st->why)
            s->st->why = nghttp2_http2_strerror(code);
        cut_exchange(s, s->client_reset ? WHO_CLIENT : WHO_PROXY);
    }
    h2s_free(s);
    return 0;
}

/* Once the last DATA of an early answer is out, the rest of the request is
 * not wanted (RFC 9113 8.1). */
static int on_frame_send(nghttp2_session *ses, const nghttp2_frame *f, void *arg)
{
    struct h2s *s = nghttp2_session_get_stream_user_data(ses, f->hd.stream_id);
    struct cli *c = arg;

    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR)
        ctr_inc(c->fe->ctr, CTR_H2_ABUSE); /* a protocol error or a flood ended it */
    if (s && s->rst_after && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS))
        nghttp2_submit_rst_stream(ses, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
    return 0;
}

/* ------------------------------------------------------ response DATA */

static ssize_t data_read(nghttp2_session *ses, int32_t id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *arg)
{
    struct h2s *s = src->ptr;
    size_t have = evbuffer_get_length(s->resp);

    (void)ses; (void)id; (void)buf; (void)arg;
    if (have == 0 && !s->resp_eos) {
        s->resp_deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (len > have)
        len = have;
    if (len == have && s->resp_eos)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (len)
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    return (ssize_t)len;
}

static int send_data(nghttp2_session *ses, nghttp2_frame *f, const uint8_t *framehd, size_t len,
                     nghttp2_data_source *src, void *arg)
{
    struct cli *c = arg;
    struct h2s *s = src->ptr;
    struct evbuffer *out = c->h2->stage;

    (void)ses; (void)f; /* no padding: no select_padding callback */
    evbuffer_add(out, framehd, 9);
    evbuffer_remove_buffer(s->resp, out, len);
    c->h2->resp_buffered -= len;
    if (s->st)
        s->st->bytes_out += 9;
    if (s->wait_us && !s->resp_blocked)
        wait_client(s, false);
    else if (s->wait_us)
        s->wait_us = cli_mono_us(); /* progress: its window moves */
    return 0;
}

/* --------------------------------------------------------- the to-do list */

/* After a read: start the streams whose head came, feed those whose body
 * grew; a stream reset in the same read is gone from the list already. */
static void run_todo(struct cli *c)
{
    struct h2c *h2 = c->h2;
    struct h2s *s;

    while ((s = h2->todo)) {
        h2->todo = s->tnext;
        s->todo = false;
        struct stream *st = s->st;
        if (!st)
            continue;
        if (st->state == ST_HEAD) {
            if (s->refuse)
                stream_refuse(st, s->refuse, WHO_PROXY, PH_HEAD, s->why);
            else
                stream_start(st);
        } else if (s->body_wanted) {
            stream_req_more(st);
        }
    }
}

/* ------------------------------------------------------- the connection */

/* Built once per loop thread, freed by h2c_cleanup. */
static __thread nghttp2_session_callbacks *cbs;
static __thread nghttp2_option *opt;

static nghttp2_session_callbacks *callbacks(void)
{
    if (cbs || nghttp2_session_callbacks_new(&cbs) != 0)
        return cbs;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_send_data_callback(cbs, send_data);
    return cbs;
}

static nghttp2_option *options(void)
{
    if (opt || nghttp2_option_new(&opt) != 0)
        return opt;
    /* WINDOW_UPDATE only as the server side takes the body. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    /* No priority tree kept for closed streams: nothing to pile up. */
    nghttp2_option_set_no_closed_streams(opt, 1);
    /* A client that makes acks pile up unread is flooding. */
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    return opt;
}

static int session_new(struct cli *c)
{
    const struct conf_h2 *l = limits(c);
    struct h2c *h2 = calloc(1, sizeof(*h2));
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, l->max_concurrent_streams },
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, l->initial_window },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, l->max_header_list },
        { NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 },
    };
    nghttp2_session_callbacks *cbs = callbacks();
    nghttp2_option *opt = options();

    if (!h2 || !cbs || !opt)
        goto err;
    h2->c = c;
    h2->close_who = WHO_KILLED;
    h2->idle_since_us = cli_mono_us();
    if (!(h2->send_ev = event_new(c->px->base, -1, 0, send_cb, c)) ||
        !(h2->stage = evbuffer_new()) ||
        nghttp2_session_server_new2(&h2->ses, cbs, c, opt) != 0)
        goto err;
    c->h2 = h2; /* from here h2_release frees it */
    ctr_inc(c->fe->ctr, CTR_H2_CONNS);
    ctr_inc(c->fe->ctr, CTR_H2_CONNS_TOTAL);
    uint32_t win = l->initial_window > H2C_CONN_BUF ? l->initial_window : H2C_CONN_BUF;
    if (nghttp2_submit_settings(h2->ses, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) ||
        nghttp2_session_set_local_window_size(h2->ses, NGHTTP2_FLAG_NONE, 0, (int32_t)win))
        return -1;
    return 0;
err:
    if (h2 && h2->send_ev)
        event_free(h2->send_ev);
    if (h2 && h2->stage)
        evbuffer_free(h2->stage);
    free(h2);
    return -1;
}

/* Every open exchange ends now (the connection goes). */
static void cut_all(struct cli *c, char who)
{
    for (struct h2s *s = c->h2->streams; s; s = s->next)
        cut_exchange(s, who);
}

/* No more frames in: what is queued goes out (GOAWAY, last answers), then
 * the connection closes. */
static void close_after_send(struct cli *c, char who)
{
    struct h2c *h2 = c->h2;

    if (h2->state == H2C_CLOSING)
        return;
    h2->state = H2C_CLOSING;
    cut_all(c, who == WHO_NONE ? WHO_KILLED : who);
    cli_disarm(c);
    cli_read(c, false);
    want_send(h2);
}

static void h2_release(struct cli *c)
{
    struct h2c *h2 = c->h2;

    if (!h2)
        return;
    cut_all(c, h2->close_who);
    /* The session first: closing it reports each stream's close. */
    while (h2->streams) {
        nghttp2_session_set_stream_user_data(h2->ses, h2->streams->id, NULL);
        h2s_free(h2->streams);
    }
    nghttp2_session_del(h2->ses);
    event_free(h2->send_ev);
    evbuffer_free(h2->stage);
    hbuf_free(&h2->authority);
    hbuf_free(&h2->host);
    hbuf_free(&h2->cookie);
    ctr_dec(c->fe->ctr, CTR_H2_CONNS);
    free(h2);
    c->h2 = NULL;
}

/* nghttp2 gave up on the input (a flood it caught, a bad preface): tell
 * the client why with a GOAWAY when it can still be framed. */
static void fatal_recv(struct cli *c, int err)
{
    uint32_t code = err == NGHTTP2_ERR_FLOODED || err == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                        ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR;

    if (err == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
        log_event(LOG_LVL_DEBUG, "frontend %s: %s: HTTP/2: %s", c->fe->name, c->client,
                  nghttp2_strerror(err));
        return;
    }
    log_event(LOG_LVL_INFO, "frontend %s: %s: HTTP/2: %s: GOAWAY %s", c->fe->name, c->client,
              nghttp2_strerror(err), nghttp2_http2_strerror(code));
    nghttp2_session_terminate_session(c->h2->ses, code);
}

/* Bytes came: parse them all, then act on what they said, then answer. */
static void h2_read(struct cli *c)
{
    struct h2c *h2 = c->h2;
    struct evbuffer *in = input(c);
    size_t total = evbuffer_get_length(in), used = 0;

    if (h2->state == H2C_CLOSING) {
        evbuffer_drain(in, total);
        return;
    }
    while (used < total) {
        struct evbuffer_iovec v[8];
        int n = evbuffer_peek(in, -1, NULL, v, 8);
        size_t got = 0;
        for (int i = 0; i < n && i < 8; i++) {
            ssize_t r = nghttp2_session_mem_recv(h2->ses, v[i].iov_base, v[i].iov_len);
            if (r < 0) {
                fatal_recv(c, (int)r);
                evbuffer_drain(in, (size_t)-1);
                ctr_add(c->fe->ctr, CTR_BYTES_IN, (int64_t)(used + got));
                run_todo(c);
                close_after_send(c, WHO_CLIENT);
                send_pass(c);
                return;
            }
            got += v[i].iov_len;
        }
        evbuffer_drain(in, got);
        used += got;
    }
    ctr_add(c->fe->ctr, CTR_BYTES_IN, (int64_t)used);
    run_todo(c);
    send_pass(c);
}

static void h2_start(struct cli *c)
{
    cli_disarm(c); /* a sniff's deadline: h2_rearm sets ours */
    if (session_new(c) < 0) {
        cli_free(c);
        return;
    }
    c->h2->timer_dirty = true;
    if (evbuffer_get_length(input(c)))
        h2_read(c); /* the preface (sniffed), or what came with the handshake */
    else
        send_pass(c); /* our SETTINGS */
}

static void h2_written(struct cli *c)
{
    struct h2c *h2 = c->h2;

    if (h2->state == H2C_CLOSING) {
        if (evbuffer_get_length(output(c)) == 0)
            finish_close(c);
        return;
    }
    want_send(h2); /* room again: more DATA can go */
}

/* The client closed, reset, or stopped reading for timeout.client. */
static void h2_event(struct cli *c, short what)
{
    char who = what & BEV_EVENT_TIMEOUT ? WHO_CLIENT_TMO : WHO_CLIENT;

    if (c->h2->state == H2C_CLOSING && !(what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) &&
        evbuffer_get_length(output(c)) > 0)
        return; /* a half-close: the last frames still go out */
    c->h2->close_who = who;
    cli_free(c);
}

/* How long a stream may wait on its client: timeout.client, and for its
 * head the sooner of that and timeout.http_request (as on HTTP/1.1). */
static int64_t wait_limit_us(const struct cli *c, const struct h2s *s)
{
    uint32_t ms = tmo(c)->client_ms;

    if (!s->head_done && tmo(c)->http_request_ms < ms)
        ms = tmo(c)->http_request_ms;
    return (int64_t)ms * 1000;
}

/* A stream that waited on the client too long: 408 before its answer,
 * reset after it. A head never finished leaves the connection stuck in
 * the middle of a header block (HPACK): it goes. */
static void stream_timed_out(struct h2s *s)
{
    struct h2c *h2 = s->h2;

    wait_client(s, false);
    if (!s->head_done) {
        cut_exchange(s, WHO_CLIENT_TMO);
        nghttp2_session_terminate_session(h2->ses, NGHTTP2_NO_ERROR);
        return;
    }
    if (!s->st) {
        nghttp2_submit_rst_stream(h2->ses, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
        return;
    }
    stream_refuse(s->st, 408, WHO_CLIENT_TMO, s->st->state == ST_RESP ? PH_DATA : PH_BODY,
                  s->st->state == ST_RESP ? "client took no data in time"
                                          : "request body not received in time");
}

/* The deadline h2_rearm set: act on everything that is due. */
static void h2_timeout(struct cli *c, int armed)
{
    struct h2c *h2 = c->h2;
    int64_t now = cli_mono_us();
    uint32_t idle_ms = h2->nreq ? tmo(c)->keepalive_ms : tmo(c)->http_request_ms;

    if (armed != H2T || h2->state == H2C_CLOSING)
        return;
    h2->timer_dirty = true;
    if (h2->state == H2C_DRAIN && h2->drain_until_us && now >= h2->drain_until_us) {
        close_after_send(c, WHO_KILLED); /* grace over */
        return;
    }
    if (h2->nstreams == 0 && now - h2->idle_since_us >= (int64_t)idle_ms * 1000) {
        nghttp2_session_terminate_session(h2->ses, NGHTTP2_NO_ERROR);
        close_after_send(c, WHO_NONE);
        return;
    }
    for (struct h2s *s = h2->streams, *next; s; s = next) {
        next = s->next; /* s stays: only nghttp2 frees it */
        if (s->wait_us && now - s->wait_us >= wait_limit_us(c, s))
            stream_timed_out(s);
    }
    want_send(h2);
}

/* The one timer, at the earliest of: the idle deadline (no stream open),
 * each waiting stream's timeout.client, the grace of a reload's drain. */
static void h2_rearm(struct cli *c)
{
    struct h2c *h2 = c->h2;
    int64_t at = INT64_MAX, now;
    uint32_t idle_ms = h2->nreq ? tmo(c)->keepalive_ms : tmo(c)->http_request_ms;

    if (!h2->timer_dirty)
        return;
    h2->timer_dirty = false;
    if (h2->state == H2C_DRAIN && h2->drain_until_us)
        at = h2->drain_until_us;
    if (h2->nstreams == 0 && h2->state == H2C_OPEN)
        at = h2->idle_since_us + (int64_t)idle_ms * 1000;
    for (struct h2s *s = h2->streams; s; s = s->next)
        if (s->wait_us && s->wait_us + wait_limit_us(c, s) < at)
            at = s->wait_us + wait_limit_us(c, s);
    if (at == INT64_MAX) {
        cli_disarm(c);
        return;
    }
    now = cli_mono_us();
    cli_arm(c, H2T, at <= now ? 0 : (uint32_t)((at - now + 999) / 1000));
}

/* GOAWAY with the last stream taken: those finish, no new one starts. */
static void drain(struct cli *c, uint32_t grace_ms)
{
    struct h2c *h2 = c->h2;

    if (h2->state != H2C_OPEN)
        return;
    h2->state = H2C_DRAIN;
    h2->drain_until_us = grace_ms ? cli_mono_us() + (int64_t)grace_ms * 1000 : 0;
    h2->timer_dirty = true;
    nghttp2_submit_goaway(h2->ses, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h2->ses), NGHTTP2_NO_ERROR,
                          NULL, 0);
    want_send(h2);
}

/* Graceful stop: lb/proxy.c's grace timer closes whatever is left. */
static void h2_stop(struct cli *c) { drain(c, 0); }

/* A reload: clients reconnect to the new settings; open streams get
 * global.grace to finish. */
static void h2_reloaded(struct cli *c) { drain(c, c->px->conf->global.grace_ms); }

void h2c_cleanup(void)
{
    hbuf_free(&nvs.text);
    free(nvs.off);
    nvs.off = NULL;
    nvs.n = nvs.cap = 0;
    if (cbs) {
        nghttp2_session_callbacks_del(cbs);
        cbs = NULL;
    }
    if (opt) {
        nghttp2_option_del(opt);
        opt = NULL;
    }
}

const struct cli_proto h2c_proto = {
    .name = "h2",
    .start = h2_start,
    .read = h2_read,
    .written = h2_written,
    .event = h2_event,
    .timeout = h2_timeout,
    .stop = h2_stop,
    .release = h2_release,
    .reloaded = h2_reloaded,
};

/* ------------------------------------------------------- stream's client */

static enum h1_res st_req_body(struct stream *st, struct evbuffer *out, size_t max)
{
    struct h2s *s = h2s_of(st);
    size_t n = evbuffer_get_length(s->req);

    if (n > max)
        n = max;
    if (n) {
        evbuffer_remove_buffer(s->req, out, n);
        nghttp2_session_consume(s->h2->ses, s->id, n); /* its window opens again */
        want_send(s->h2);
    }
    if (evbuffer_get_length(s->req) == 0 && s->req_eos) {
        s->body_wanted = false;
        wait_client(s, false);
        return H1_DONE;
    }
    if (evbuffer_get_length(s->req) == 0) {
        s->body_wanted = true; /* fed when DATA comes */
        wait_client(s, true);
    }
    return H1_MORE;
}

static void st_req_pause(struct stream *st, bool paused)
{
    struct h2s *s = h2s_of(st);

    /* The server is not keeping up: DATA stays unconsumed, so the client's
     * window closes and it stops sending; it is not the slow one. */
    s->body_wanted = !paused;
    if (paused)
        wait_client(s, false);
}


static void nv_field(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    struct nv_sink *k = arg;
    size_t at = k->text.len;

    if (nlen == 17 && !strncasecmp(name, "transfer-encoding", 17))
        return;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        uint32_t *o = realloc(k->off, cap * 4 * sizeof(*o));
        if (!o)
            return; /* out of memory: the field is lost, not the process */
        k->off = o;
        k->cap = cap;
    }
    hbuf_add(&k->text, name, nlen);
    for (size_t i = 0; i < nlen; i++)
        if (k->text.p[at + i] >= 'A' && k->text.p[at + i] <= 'Z')
            k->text.p[at + i] = (char)(k->text.p[at + i] - 'A' + 'a');
    hbuf_add(&k->text, value, vlen);
    k->off[k->n * 4] = (uint32_t)at;
    k->off[k->n * 4 + 1] = (uint32_t)nlen;
    k->off[k->n * 4 + 2] = (uint32_t)(at + nlen);
    k->off[k->n * 4 + 3] = (uint32_t)vlen;
    k->n++;
}

/* :status's three digits (the server's status was checked: 100-599). */
static void status_text(char code[4], int status)
{
    code[0] = (char)('0' + status / 100 % 10);
    code[1] = (char)('0' + status / 10 % 10);
    code[2] = (char)('0' + status % 10);
    code[3] = '\0';
}

/* Submit a response: :status, the fields in nvs, and a body when body. */
static int submit(struct h2s *s, int status, bool body)
{
    struct nv_sink *k = &nvs;
    char code[4];
    nghttp2_nv *nv = calloc(k->n + 1, sizeof(*nv));
    nghttp2_data_provider prd = { .source.ptr = s, .read_callback = data_read };
    int rc;

    if (!nv)
        return -1;
    status_text(code, status);
    nv[0] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE };
    for (size_t i = 0; i < k->n; i++) {
        const uint32_t *o = &k->off[i * 4];
        nv[i + 1] = (nghttp2_nv){ (uint8_t *)k->text.p + o[0], (uint8_t *)k->text.p + o[2],
                                  o[1], o[3], NGHTTP2_NV_FLAG_NONE };
    }
    rc = nghttp2_submit_response(s->h2->ses, s->id, nv, k->n + 1, body ? &prd : NULL);
    if (s->st)
        s->st->bytes_out += k->text.len + 3 + 2 * (k->n + 1);
    free(nv);
    k->n = 0;
    k->text.len = 0;
    want_send(s->h2);
    return rc;
}

static int st_resp_head(struct stream *st, const struct fwd_resp_ctx *ctx)
{
    struct h2s *s = h2s_of(st);
    const struct fwd_sink sink = { nv_field, &nvs };

    fwd_response_fields(&st->resp, ctx, &sink);
    if (submit(s, ctx->status, st->resp_body != H1_BODY_NONE) != 0)
        return stream_refuse(st, 502, WHO_RESOURCE, PH_WAIT, "cannot submit the response");
    if (st->resp_body == H1_BODY_NONE)
        s->resp_eos = true;
    return 0;
}

static void st_resp_interim(struct stream *st, int status)
{
    struct h2s *s = h2s_of(st);
    char code[4];
    nghttp2_nv nv = { (uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE };

    status_text(code, status);
    nghttp2_submit_headers(s->h2->ses, NGHTTP2_FLAG_NONE, s->id, NULL, &nv, 1, NULL);
    want_send(s->h2);
}

static size_t st_resp_room(struct stream *st)
{
    struct h2s *s = h2s_of(st);
    size_t room = room_of(s);

    if (room == 0 && !s->resp_blocked) {
        s->resp_blocked = true;
        s->h2->nblocked++;
        wait_client(s, true);
    }
    return room;
}

static void resume(struct h2s *s)
{
    if (s->resp_deferred) {
        s->resp_deferred = false;
        nghttp2_session_resume_data(s->h2->ses, s->id);
    }
    want_send(s->h2);
}

static void st_resp_body(struct stream *st, struct evbuffer *payload)
{
    struct h2s *s = h2s_of(st);
    size_t n = evbuffer_get_length(payload);

    evbuffer_add_buffer(s->resp, payload);
    s->h2->resp_buffered += n;
    st->bytes_out += n;
    resume(s);
}

/* The exchange ended with the response whole (queued): the rest is
 * nghttp2's, as the client's window allows. */
static int finish(struct h2s *s)
{
    s->resp_eos = true;
    if (!s->req_eos)
        s->rst_after = true;
    s->h2->completed++;
    end_exchange(s);
    resume(s);
    return -1;
}

static int st_resp_done(struct stream *st) { return finish(h2s_of(st)); }

/* lxlb's own answer: on HTTP/2 the connection stays. */
static int st_answer(struct stream *st, int status)
{
    struct h2s *s = h2s_of(st);
    struct cli *c = s->h2->c;
    char body[256], len[16];
    int n = http_error_body(body, sizeof(body), status);

    ctr_inc(c->fe->ctr, CTR_ERRORS);
    st->status = status;
    snprintf(len, sizeof(len), "%d", n);
    nv_field(&nvs, "content-type", 12, "text/html", 9);
    nv_field(&nvs, "content-length", 14, len, strlen(len));
    nv_field(&nvs, "cache-control", 13, "no-cache", 8);
    evbuffer_add(s->resp, body, (size_t)n);
    s->h2->resp_buffered += (size_t)n;
    st->bytes_out += (uint64_t)n;
    if (submit(s, status, true) != 0)
        nghttp2_submit_rst_stream(s->h2->ses, NGHTTP2_FLAG_NONE, s->id,
                                  NGHTTP2_INTERNAL_ERROR);
    return finish(s);
}

/* A route's redirect, answered on the stream (the connection stays). */
static int st_redirect(struct stream *st, const struct conf_redirect *rd)
{
    struct h2s *s = h2s_of(st);
    int host = http_hdr_find(&st->req, "host", 0);
    struct redirect_req rq = {
        .https = s->h2->c->fe->conf->tls.enabled,
        .host = host >= 0 ? http_hdr_value(&st->req, (uint32_t)host) : NULL,
        .host_len = host >= 0 ? st->req.hdrs[host].value_len : 0,
        .target = st->req.buf + st->req.target,
        .target_len = st->req.target_len,
        .http_minor = 1,
        .keepalive = true,
        .head = st->method == HTTP_HEAD,
    };
    struct hbuf loc = { 0 };

    if (redirect_location(rd, &rq, &loc) != 0) {
        hbuf_free(&loc);
        st->who = WHO_PROXY;
        st->phase = PH_HEAD;
        st->why = "a redirect would copy unsafe bytes of the request";
        return st_answer(st, 400);
    }
    st->status = rd->code;
    nv_field(&nvs, "location", 8, loc.p, loc.len);
    nv_field(&nvs, "content-length", 14, "0", 1);
    hbuf_free(&loc);
    if (submit(s, rd->code, false) != 0)
        nghttp2_submit_rst_stream(s->h2->ses, NGHTTP2_FLAG_NONE, s->id,
                                  NGHTTP2_INTERNAL_ERROR);
    return finish(s);
}

/* Never called: lb/stream.c tunnels HTTP/1.1 upgrades only (RFC 9113 8.6
 * has no Upgrade, and nghttp2 refuses the fields). Should it be, the
 * stream is reset and its buffers stand in, so nothing runs off. */
static void st_tunnel(struct stream *st, struct evbuffer **in, struct evbuffer **out)
{
    struct h2s *s = h2s_of(st);

    nghttp2_submit_rst_stream(s->h2->ses, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    want_send(s->h2);
    *in = s->req;
    *out = s->resp;
}

static void st_addrs(struct stream *st, const struct sockaddr **src, const struct sockaddr **dst)
{
    *src = (const struct sockaddr *)&h2s_of(st)->h2->c->src;
    *dst = (const struct sockaddr *)&h2s_of(st)->h2->c->dst;
}

/* The response cannot complete: the stream is reset, the connection stays. */
static int st_abort(struct stream *st)
{
    struct h2s *s = h2s_of(st);
    struct h2c *h2 = s->h2;
    uint32_t code = st->who == WHO_CLIENT_TMO ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR;

    h2->resp_buffered -= evbuffer_get_length(s->resp);
    evbuffer_drain(s->resp, (size_t)-1);
    end_exchange(s);
    nghttp2_submit_rst_stream(h2->ses, NGHTTP2_FLAG_NONE, s->id, code);
    want_send(h2);
    return -1;
}

static void st_flush(struct stream *st) { want_send(h2s_of(st)->h2); }

static const char *st_client_ip(struct stream *st) { return h2s_of(st)->h2->c->client_ip; }
static const char *st_client_name(struct stream *st) { return h2s_of(st)->h2->c->client; }

static const char *st_tls_suffix(struct stream *st, char *buf, size_t n)
{
    return tls_log_suffix(h2s_of(st)->h2->c->bev, buf, n);
}

static const struct stream_cli_ops h2_stream_ops = {
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
