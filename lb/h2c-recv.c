/* lb/h2c-recv.c - HTTP/2 frames received (lb/h2c-int.h): nghttp2's
 * receive callbacks, each stream's request head converted to the HTTP/1.1
 * one its server will get (RFC 9113 8.3: :authority becomes Host, cookies
 * are joined, a body without content-length goes chunked; request
 * trailers are dropped, as lb/h1.c drops chunked trailers), and the abuse
 * accounting of control frames and resets. */
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
#include "lb/h2c-int.h"
#include "lb/h2c.h"
#include "lb/http.h"
#include "lb/log.h"
#include "lb/proxy-t.h"
#include "lb/stream.h"

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
    if (s->hdr_bytes > h2c_limits(c)->max_header_list) {
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
    h2s_wait_client(s, false);
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
            h2s_todo_add(s);
        }
        break;
    default:
        return 0;
    }
    if (s && eos) {
        s->req_eos = true;
        if (s->body_wanted)
            h2s_todo_add(s);
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
        h2s_wait_client(s, false);
        h2s_todo_add(s);
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
        h2s_cut(s, s->client_reset ? WHO_CLIENT : WHO_PROXY);
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

/* ------------------------------------------------------- the callbacks */

/* Built once per loop thread, freed by h2c_callbacks_free. */
static __thread nghttp2_session_callbacks *cbs;

nghttp2_session_callbacks *h2c_callbacks(void)
{
    if (cbs || nghttp2_session_callbacks_new(&cbs) != 0)
        return cbs;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_send_data_callback(cbs, h2s_send_data);
    return cbs;
}

void h2c_callbacks_free(void)
{
    if (cbs) {
        nghttp2_session_callbacks_del(cbs);
        cbs = NULL;
    }
}
