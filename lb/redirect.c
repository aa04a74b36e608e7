/* lb/redirect.c - Location values and redirect responses (lb/redirect.h).
 *
 * Everything is checked before the first byte is written, so a refused
 * request leaves the caller's buffer as it was and the caller answers 400.
 * The body does not repeat the Location: a URL copied into HTML would need
 * escaping, and browsers follow the header anyway (nginx does the same). */
#include <string.h>

#include "conf/conf.h"
#include "lb/http.h"
#include "lb/redirect.h"
#include "lb/route.h"

/* What a Location is made of, each piece checked. */
struct loc {
    const char *scheme; /* "http"/"https" for a scheme redirect, NULL: base */
    const char *host;   /* scheme redirect: host[:port] to copy */
    size_t host_len;    /* bytes */
    const char *base;   /* location redirect: the configured URL (or its base) */
    size_t base_len;    /* bytes */
    const char *path;   /* appended after host or base, NULL: nothing */
    size_t path_len;    /* bytes */
    const char *query;  /* appended after '?', NULL: no '?' */
    size_t query_len;   /* bytes */
};

static bool visible(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* host[:port] without its port. */
static size_t host_only(const char *h, size_t n)
{
    const char *end = h[0] == '[' ? memchr(h, ']', n) : memchr(h, ':', n);

    if (!end)
        return n;
    return h[0] == '[' ? (size_t)(end - h) + 1 : (size_t)(end - h);
}

static int loc_path(const struct route_target *tg, struct loc *l)
{
    if (tg->path_len && tg->path[0] != '/')
        return 400; /* "*" or garbage: there is no path to keep */
    l->path = tg->path_len ? tg->path : "/";
    l->path_len = tg->path_len ? tg->path_len : 1;
    l->query = tg->query;
    l->query_len = tg->query_len;
    if (!visible(l->path, l->path_len) || (l->query && !visible(l->query, l->query_len)))
        return 400;
    return 0;
}

static int loc_scheme(const struct conf_redirect *rd, const struct redirect_req *rq,
                      const struct route_target *tg, struct loc *l)
{
    l->scheme = rd->scheme;
    l->host = tg->authority ? tg->authority : rq->host;
    l->host_len = tg->authority ? tg->authority_len : rq->host_len;
    if (!l->host || !l->host_len || !conf_authority_ok(l->host, l->host_len))
        return 400;
    /* The port belongs to the old scheme's listener. */
    if (strcmp(rd->scheme, rq->https ? "https" : "http") != 0)
        l->host_len = host_only(l->host, l->host_len);
    if (!rd->keep_path) {
        l->path = "/";
        l->path_len = 1;
    }
    return 0;
}

static int loc_plan(const struct conf_redirect *rd, const struct redirect_req *rq,
                    struct loc *l)
{
    struct route_target tg;
    int rc;

    memset(l, 0, sizeof(*l));
    route_target_split(rq->target, rq->target_len, &tg);
    if (rd->keep_path && (rc = loc_path(&tg, l)))
        return rc;
    if (rd->scheme)
        return loc_scheme(rd, rq, &tg, l);
    l->base = rd->location;
    l->base_len = rd->keep_path ? rd->base_len : strlen(rd->location);
    return 0;
}

static void loc_write(const struct loc *l, struct hbuf *out)
{
    if (l->scheme) {
        hbuf_str(out, l->scheme);
        HBUF_LIT(out, "://");
        hbuf_add(out, l->host, l->host_len);
    } else {
        hbuf_add(out, l->base, l->base_len);
    }
    if (l->path)
        hbuf_add(out, l->path, l->path_len);
    if (l->query) {
        HBUF_LIT(out, "?");
        hbuf_add(out, l->query, l->query_len);
    }
}

int redirect_location(const struct conf_redirect *rd, const struct redirect_req *rq,
                      struct hbuf *out)
{
    struct loc l;
    int rc = loc_plan(rd, rq, &l);

    if (rc)
        return rc;
    loc_write(&l, out);
    return 0;
}

int redirect_response(const struct conf_redirect *rd, const struct redirect_req *rq,
                      struct hbuf *out)
{
    static const char b1[] = "<html><body><h1>", b2[] = "</h1></body></html>\n";
    const char *reason = http_reason(rd->code);
    size_t body = sizeof(b1) - 1 + 4 + strlen(reason) + sizeof(b2) - 1;
    struct loc l;
    int rc = loc_plan(rd, rq, &l);

    if (rc)
        return rc;
    HBUF_LIT(out, "HTTP/1.1 ");
    hbuf_uint(out, rd->code);
    HBUF_LIT(out, " ");
    hbuf_str(out, reason);
    HBUF_LIT(out, "\r\nLocation: ");
    loc_write(&l, out);
    HBUF_LIT(out, "\r\nContent-Type: text/html\r\nContent-Length: ");
    hbuf_uint(out, (unsigned)body);
    if (!rq->keepalive)
        HBUF_LIT(out, "\r\nConnection: close");
    else if (rq->http_minor == 0)
        HBUF_LIT(out, "\r\nConnection: keep-alive");
    HBUF_LIT(out, "\r\n\r\n");
    if (rq->head)
        return 0;
    HBUF_LIT(out, b1);
    hbuf_uint(out, rd->code);
    HBUF_LIT(out, " ");
    hbuf_str(out, reason);
    HBUF_LIT(out, b2);
    return 0;
}
