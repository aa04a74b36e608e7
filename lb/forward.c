/* lb/forward.c - request and response head rewriting. */
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>

#include "lb/forward.h"

/* Is field i one lxlb must not pass on: hop-by-hop, or named by Connection?
 * Framing fields are kept even when named, since the body travels as is. */
static bool drop_field(const struct http_head *h, uint32_t i)
{
    const char *name = http_hdr_name(h, i);
    uint32_t nlen = h->hdrs[i].name_len;

    if (http_is_hop_by_hop(name, nlen))
        return true;
    if (http_is_end_to_end(name, nlen))
        return false;
    for (int c = http_hdr_find(h, "connection", 0); c >= 0;
         c = http_hdr_find(h, "connection", (uint32_t)c + 1))
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

static void add_field(struct evbuffer *out, const struct http_head *h, uint32_t i)
{
    evbuffer_add(out, http_hdr_name(h, i), h->hdrs[i].name_len);
    EVBUF_ADD_LIT(out, ": ");
    evbuffer_add(out, http_hdr_value(h, i), h->hdrs[i].value_len);
    EVBUF_ADD_LIT(out, "\r\n");
}

void fwd_request_head(struct evbuffer *out, const struct http_head *req,
                      const struct fwd_req_ctx *ctx)
{
    const struct conf_frontend *fe = ctx->fe;
    int last_xff = -1;

    evbuffer_add_printf(out, "%s %.*s HTTP/%u.%u\r\n", ctx->method, (int)req->target_len,
                        req->buf + req->target, ctx->major, ctx->minor);
    if (fe->forwardfor)
        for (int i = http_hdr_find(req, "x-forwarded-for", 0); i >= 0;
             i = http_hdr_find(req, "x-forwarded-for", (uint32_t)i + 1))
            last_xff = i;
    for (uint32_t i = 0; i < req->nhdrs; i++) {
        if (drop_field(req, i) || is_set_header(fe, http_hdr_name(req, i), req->hdrs[i].name_len))
            continue;
        if (ctx->cookie_name && ctx->cookie_act != COOKIE_REQ_KEEP &&
            http_hdr_is(req, i, "cookie")) {
            cookie_write_request(out, http_hdr_name(req, i), req->hdrs[i].name_len,
                                 http_hdr_value(req, i), req->hdrs[i].value_len,
                                 ctx->cookie_name, strlen(ctx->cookie_name), ctx->cookie_act);
            continue;
        }
        if ((int)i == last_xff) {
            /* Append to the last field so the server sees one list. */
            evbuffer_add(out, http_hdr_name(req, i), req->hdrs[i].name_len);
            evbuffer_add_printf(out, ": %.*s, %s\r\n", (int)req->hdrs[i].value_len,
                                http_hdr_value(req, i), ctx->client_ip);
            continue;
        }
        add_field(out, req, i);
    }
    if (fe->forwardfor && last_xff < 0)
        evbuffer_add_printf(out, "X-Forwarded-For: %s\r\n", ctx->client_ip);
    for (size_t k = 0; k < fe->nset_headers; k++)
        evbuffer_add_printf(out, "%s: %s\r\n", fe->set_headers[k].name, fe->set_headers[k].value);
    if (ctx->close)
        EVBUF_ADD_LIT(out, "Connection: close\r\n");
    EVBUF_ADD_LIT(out, "\r\n");
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

static void add_inserted_cookie(struct evbuffer *out, const struct fwd_resp_ctx *ctx)
{
    evbuffer_add_printf(out, "Set-Cookie: %s=%s; path=/%s%s\r\n", ctx->cookie->name,
                        ctx->srv_cookie, ctx->cookie->httponly ? "; HttpOnly" : "",
                        ctx->cookie->secure ? "; Secure" : "");
}

/* The persistence cookie on the way out: prefix and rewrite modes edit the
 * server's own Set-Cookie; insert mode owns the cookie, so the server's is
 * dropped and lxlb's added. nocache makes such a response private, so a
 * shared cache never hands one client's cookie to another. */
static bool rewrite_set_cookie(struct evbuffer *out, const struct http_head *h, uint32_t i,
                               const struct fwd_resp_ctx *ctx, bool nocache)
{
    const struct conf_cookie *ck = ctx->cookie;

    if (nocache && http_hdr_is(h, i, "cache-control"))
        return true;
    if (!is_our_set_cookie(h, i, ck))
        return false;
    if (ck->mode != CONF_COOKIE_INSERT)
        cookie_write_set(out, http_hdr_value(h, i), h->hdrs[i].value_len, strlen(ck->name),
                         ctx->srv_cookie, ck->mode == CONF_COOKIE_PREFIX);
    return true;
}

void fwd_response_head(struct evbuffer *out, const struct http_head *resp,
                       const struct fwd_resp_ctx *ctx)
{
    bool persist = ctx->cookie && ctx->cookie->mode != CONF_COOKIE_NONE && ctx->srv_cookie;
    bool nocache = persist && ctx->cookie->nocache && sets_cookie(resp, ctx);

    evbuffer_add_printf(out, "HTTP/1.1 %d %.*s\r\n", ctx->status, (int)resp->target_len,
                        resp->buf + resp->target);
    for (uint32_t i = 0; i < resp->nhdrs; i++) {
        if (drop_field(resp, i) || (persist && rewrite_set_cookie(out, resp, i, ctx, nocache)))
            continue;
        add_field(out, resp, i);
    }
    if (persist && ctx->insert)
        add_inserted_cookie(out, ctx);
    if (nocache)
        EVBUF_ADD_LIT(out, "Cache-Control: private\r\n");
    if (!ctx->keepalive)
        EVBUF_ADD_LIT(out, "Connection: close\r\n");
    else if (ctx->client_http10)
        EVBUF_ADD_LIT(out, "Connection: keep-alive\r\n");
    EVBUF_ADD_LIT(out, "\r\n");
}
