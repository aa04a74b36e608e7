/* lb/forward.c - request and response head rewriting. */
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>

#include "lb/forward.h"

/* Heads are built here, then handed over in one piece (one loop thread). */
static __thread struct hbuf scratch; /* per worker thread */
/* A rewritten Set-Cookie value, on its way to a sink. */
static __thread struct hbuf cookie_scratch;

void fwd_cleanup(void)
{
    hbuf_free(&scratch);
    hbuf_free(&cookie_scratch);
}

/* Is field i one lxlb must not pass on: hop-by-hop, or named by Connection
 * (conn: the first Connection field, -1 when there is none)? Framing fields
 * are kept even when named, since the body travels as is. */
static bool drop_field(const struct http_head *h, uint32_t i, int conn)
{
    const char *name = http_hdr_name(h, i);
    uint32_t nlen = h->hdrs[i].name_len;

    if (http_is_hop_by_hop(name, nlen))
        return true;
    if (conn < 0 || http_is_end_to_end(name, nlen))
        return false;
    for (int c = conn; c >= 0; c = http_hdr_find(h, "connection", (uint32_t)c + 1))
        if (http_list_has(http_hdr_value(h, (uint32_t)c), h->hdrs[c].value_len, name, nlen))
            return true;
    return false;
}

static bool is_set_header(const struct conf_frontend *fe, const char *name, uint32_t nlen)
{
    for (size_t k = 0; k < fe->nset_headers; k++)
        if (strlen(fe->set_headers[k].name) == nlen &&
            !strncasecmp(fe->set_headers[k].name, name, nlen))
            return true;
    return false;
}

static void add_field(struct hbuf *b, const struct http_head *h, uint32_t i)
{
    hbuf_add(b, http_hdr_name(h, i), h->hdrs[i].name_len);
    HBUF_LIT(b, ": ");
    hbuf_add(b, http_hdr_value(h, i), h->hdrs[i].value_len);
    HBUF_LIT(b, "\r\n");
}

static void add_line(struct hbuf *b, const char *name, const char *value)
{
    hbuf_str(b, name);
    HBUF_LIT(b, ": ");
    hbuf_str(b, value);
    HBUF_LIT(b, "\r\n");
}

void fwd_request_head(struct evbuffer *out, const struct http_head *req,
                      const struct fwd_req_ctx *ctx)
{
    const struct conf_frontend *fe = ctx->fe;
    struct hbuf *b = &scratch;
    int last_xff = -1, conn = http_hdr_find(req, "connection", 0);

    hbuf_str(b, ctx->method);
    HBUF_LIT(b, " ");
    hbuf_add(b, req->buf + req->target, req->target_len);
    /* An HTTP/2 request goes on as HTTP/1.1. */
    HBUF_LIT(b, " HTTP/1.");
    hbuf_uint(b, ctx->major >= 2 ? 1 : ctx->minor);
    HBUF_LIT(b, "\r\n");
    if (fe->forwardfor)
        for (int i = http_hdr_find(req, "x-forwarded-for", 0); i >= 0;
             i = http_hdr_find(req, "x-forwarded-for", (uint32_t)i + 1))
            last_xff = i;
    for (uint32_t i = 0; i < req->nhdrs; i++) {
        if (drop_field(req, i, conn) ||
            is_set_header(fe, http_hdr_name(req, i), req->hdrs[i].name_len))
            continue;
        if (ctx->cookie_name && ctx->cookie_act != COOKIE_REQ_KEEP &&
            http_hdr_is(req, i, "cookie")) {
            cookie_write_request(b, http_hdr_name(req, i), req->hdrs[i].name_len,
                                 http_hdr_value(req, i), req->hdrs[i].value_len,
                                 ctx->cookie_name, strlen(ctx->cookie_name), ctx->cookie_act);
            continue;
        }
        add_field(b, req, i);
        if ((int)i == last_xff) {
            /* Append to the last field so the server sees one list. */
            b->len -= 2;
            HBUF_LIT(b, ", ");
            hbuf_str(b, ctx->client_ip);
            HBUF_LIT(b, "\r\n");
        }
    }
    if (fe->forwardfor && last_xff < 0)
        add_line(b, "X-Forwarded-For", ctx->client_ip);
    for (size_t k = 0; k < fe->nset_headers; k++)
        add_line(b, fe->set_headers[k].name, fe->set_headers[k].value);
    if (ctx->upgrade) {
        /* Both hop-by-hop, so dropped above: what an Upgrade needs is said anew. */
        HBUF_LIT(b, "Connection: upgrade\r\nUpgrade: ");
        hbuf_add(b, ctx->upgrade, ctx->upgrade_len);
        HBUF_LIT(b, "\r\n");
    } else if (ctx->close) {
        HBUF_LIT(b, "Connection: close\r\n");
    }
    HBUF_LIT(b, "\r\n");
    hbuf_to_evbuffer(b, out);
}

/* Is field i a Set-Cookie for the persistence cookie? */
static bool is_our_set_cookie(const struct http_head *h, uint32_t i, const struct conf_cookie *ck)
{
    return http_hdr_is(h, i, "set-cookie") &&
           cookie_set_is(http_hdr_value(h, i), h->hdrs[i].value_len, ck->name, strlen(ck->name));
}

/* Will this response set the persistence cookie (so nocache applies)? */
static bool sets_cookie(const struct http_head *h, const struct fwd_resp_ctx *ctx)
{
    if (ctx->insert)
        return true;
    if (ctx->cookie->mode == CONF_COOKIE_INSERT)
        return false;
    for (uint32_t i = 0; i < h->nhdrs; i++)
        if (is_our_set_cookie(h, i, ctx->cookie))
            return true;
    return false;
}

#define SINK_LIT(s, name, v, vlen) (s)->field((s)->arg, name, sizeof(name) - 1, v, vlen)

static void add_inserted_cookie(const struct fwd_sink *s, const struct fwd_resp_ctx *ctx)
{
    struct hbuf *v = &cookie_scratch;

    v->len = 0;
    hbuf_str(v, ctx->cookie->name);
    HBUF_LIT(v, "=");
    hbuf_str(v, ctx->srv_cookie);
    HBUF_LIT(v, "; path=/");
    if (ctx->cookie->httponly)
        HBUF_LIT(v, "; HttpOnly");
    if (ctx->cookie->secure)
        HBUF_LIT(v, "; Secure");
    SINK_LIT(s, "Set-Cookie", v->p, v->len);
    v->len = 0;
}

/* The persistence cookie on the way out: prefix and rewrite modes edit the
 * server's own Set-Cookie; insert mode owns the cookie, so the server's is
 * dropped and lxlb's added. nocache makes such a response private, so a
 * shared cache never hands one client's cookie to another. True when field
 * i was handled here (passed on rewritten, or dropped). */
static bool rewrite_set_cookie(const struct fwd_sink *s, const struct http_head *h, uint32_t i,
                               const struct fwd_resp_ctx *ctx, bool nocache)
{
    const struct conf_cookie *ck = ctx->cookie;
    struct hbuf *v = &cookie_scratch;

    if (nocache && http_hdr_is(h, i, "cache-control"))
        return true;
    if (!is_our_set_cookie(h, i, ck))
        return false;
    if (ck->mode != CONF_COOKIE_INSERT) {
        v->len = 0;
        cookie_set_value(v, http_hdr_value(h, i), h->hdrs[i].value_len, strlen(ck->name),
                         ctx->srv_cookie, ck->mode == CONF_COOKIE_PREFIX);
        SINK_LIT(s, "Set-Cookie", v->p, v->len);
        v->len = 0;
    }
    return true;
}

void fwd_response_fields(const struct http_head *resp, const struct fwd_resp_ctx *ctx,
                         const struct fwd_sink *sink)
{
    bool persist = ctx->cookie && ctx->cookie->mode != CONF_COOKIE_NONE && ctx->srv_cookie;
    bool nocache = persist && ctx->cookie->nocache && sets_cookie(resp, ctx);
    int conn = http_hdr_find(resp, "connection", 0);

    for (uint32_t i = 0; i < resp->nhdrs; i++) {
        if (drop_field(resp, i, conn) ||
            (persist && rewrite_set_cookie(sink, resp, i, ctx, nocache)))
            continue;
        sink->field(sink->arg, http_hdr_name(resp, i), resp->hdrs[i].name_len,
                    http_hdr_value(resp, i), resp->hdrs[i].value_len);
    }
    if (persist && ctx->insert)
        add_inserted_cookie(sink, ctx);
    if (nocache)
        SINK_LIT(sink, "Cache-Control", "private", 7);
}

/* The HTTP/1 text sink: "Name: value\r\n" into the head being built. */
static void text_field(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    struct hbuf *b = arg;

    hbuf_add(b, name, nlen);
    HBUF_LIT(b, ": ");
    hbuf_add(b, value, vlen);
    HBUF_LIT(b, "\r\n");
}

void fwd_response_head(struct evbuffer *out, const struct http_head *resp,
                       const struct fwd_resp_ctx *ctx)
{
    struct hbuf *b = &scratch;
    const struct fwd_sink text = { text_field, b };

    HBUF_LIT(b, "HTTP/1.1 ");
    hbuf_uint(b, (unsigned)ctx->status);
    HBUF_LIT(b, " ");
    hbuf_add(b, resp->buf + resp->target, resp->target_len);
    HBUF_LIT(b, "\r\n");
    fwd_response_fields(resp, ctx, &text);
    if (ctx->upgrade) {
        HBUF_LIT(b, "Connection: upgrade\r\nUpgrade: ");
        hbuf_add(b, ctx->upgrade, ctx->upgrade_len);
        HBUF_LIT(b, "\r\n");
    } else if (!ctx->keepalive)
        HBUF_LIT(b, "Connection: close\r\n");
    else if (ctx->client_http10)
        HBUF_LIT(b, "Connection: keep-alive\r\n");
    HBUF_LIT(b, "\r\n");
    hbuf_to_evbuffer(b, out);
}
