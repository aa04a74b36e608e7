/* lb/h2c-stream.c - one HTTP/2 stream (lb/h2c-int.h): its life from
 * HEADERS until nghttp2 closes it, its deadline, and its client side
 * (struct stream_cli_ops) for the struct stream that serves it.
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
#include "lb/h2c-int.h"
#include "lb/h2c.h"
#include "lb/http.h"
#include "lb/proxy-t.h"
#include "lb/redirect.h"
#include "lb/stream.h"
#include "lb/tls.h"

static const struct stream_cli_ops h2_stream_ops;

/* The rewritten head as an nghttp2 header list: names in lower case (HTTP/2
 * requires it), framing fields HTTP/2 does itself left out. */
struct nv_sink {
    struct hbuf text;   /* names and values, back to back */
    uint32_t *off;      /* per field: name offset, name length, value offset, length */
    size_t n, cap;      /* fields used, allocated */
};

static __thread struct nv_sink nvs;

/* --------------------------------------------------------------- streams */

/* The exchange is over: count, log and free it (s lives on until nghttp2
 * closes the HTTP/2 stream). */
void h2s_end(struct h2s *s)
{
    struct stream *st = s->st;
    struct cli *c = s->h2->c;
    size_t left = evbuffer_get_length(s->req);

    if (left) { /* body nobody will take: the connection's window opens again */
        nghttp2_session_consume(s->h2->ses, s->id, left);
        evbuffer_drain(s->req, left);
        h2c_want_send(s->h2);
    }
    ctr_add(c->fe->ctr, CTR_BYTES_OUT, (int64_t)st->bytes_out);
    stream_log(st);
    stream_free(st);
    s->st = NULL;
    s->body_wanted = false;
}

/* The exchange cannot finish (client gone, connection closing). */
void h2s_cut(struct h2s *s, char who)
{
    if (!s->st)
        return;
    if (s->st->state != ST_DONE)
        stream_client_gone(s->st, who, stream_phase(s->st));
    h2s_end(s);
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

void h2s_todo_add(struct h2s *s)
{
    if (s->todo)
        return;
    s->todo = true;
    s->tnext = s->h2->todo;
    s->h2->todo = s;
}

void h2s_free(struct h2s *s)
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

struct h2s *h2s_new(struct cli *c, int32_t id)
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

size_t h2s_room(const struct h2s *s)
{
    const struct cli *c = s->h2->c;
    size_t have = evbuffer_get_length(s->resp);

    if (evbuffer_get_length(h2c_out(c)) >= CLI_BUF_HIGH || s->h2->resp_buffered >= H2C_CONN_BUF ||
        have >= H2C_STREAM_BUF)
        return 0;
    return H2C_STREAM_BUF - have;
}

/* The stream's exchange waits on the client (or stops waiting). */
void h2s_wait_client(struct h2s *s, bool waiting)
{
    int64_t was = s->wait_us;

    s->wait_us = waiting ? (was ? was : cli_mono_us()) : 0;
    if (!was != !s->wait_us)
        s->h2->timer_dirty = true;
}

/* How long a stream may wait on its client: timeout.client, and for its
 * head the sooner of that and timeout.http_request (as on HTTP/1.1). */
int64_t h2s_wait_limit_us(const struct cli *c, const struct h2s *s)
{
    uint32_t ms = h2c_tmo(c)->client_ms;

    if (!s->head_done && h2c_tmo(c)->http_request_ms < ms)
        ms = h2c_tmo(c)->http_request_ms;
    return (int64_t)ms * 1000;
}

/* A stream that waited on the client too long: 408 before its answer,
 * reset after it. A head never finished leaves the connection stuck in
 * the middle of a header block (HPACK): it goes. */
void h2s_timed_out(struct h2s *s)
{
    struct h2c *h2 = s->h2;

    h2s_wait_client(s, false);
    if (!s->head_done) {
        h2s_cut(s, WHO_CLIENT_TMO);
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

int h2s_send_data(nghttp2_session *ses, nghttp2_frame *f, const uint8_t *framehd, size_t len,
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
        h2s_wait_client(s, false);
    else if (s->wait_us)
        s->wait_us = cli_mono_us(); /* progress: its window moves */
    return 0;
}

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
        h2c_want_send(s->h2);
    }
    if (evbuffer_get_length(s->req) == 0 && s->req_eos) {
        s->body_wanted = false;
        h2s_wait_client(s, false);
        return H1_DONE;
    }
    if (evbuffer_get_length(s->req) == 0) {
        s->body_wanted = true; /* fed when DATA comes */
        h2s_wait_client(s, true);
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
        h2s_wait_client(s, false);
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
    h2c_want_send(s->h2);
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
    h2c_want_send(s->h2);
}

static size_t st_resp_room(struct stream *st)
{
    struct h2s *s = h2s_of(st);
    size_t room = h2s_room(s);

    if (room == 0 && !s->resp_blocked) {
        s->resp_blocked = true;
        s->h2->nblocked++;
        h2s_wait_client(s, true);
    }
    return room;
}

static void resume(struct h2s *s)
{
    if (s->resp_deferred) {
        s->resp_deferred = false;
        nghttp2_session_resume_data(s->h2->ses, s->id);
    }
    h2c_want_send(s->h2);
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
    h2s_end(s);
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
    h2c_want_send(s->h2);
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
    h2s_end(s);
    nghttp2_submit_rst_stream(h2->ses, NGHTTP2_FLAG_NONE, s->id, code);
    h2c_want_send(h2);
    return -1;
}

static void st_flush(struct stream *st) { h2c_want_send(h2s_of(st)->h2); }

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


void h2s_cleanup(void)
{
    hbuf_free(&nvs.text);
    free(nvs.off);
    nvs.off = NULL;
    nvs.n = nvs.cap = 0;
}
