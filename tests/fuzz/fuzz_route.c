/* tests/fuzz/fuzz_route.c - libFuzzer target over routing and redirects:
 * lb/route.c (route_match, route_target_split) and lb/redirect.c.
 *
 * The input's first bytes describe a table of up to 32 routes, 4 bytes each
 * (host: none, exact or wildcard, from a small set of names so that they
 * overlap; path prefix; methods); the rest is requests, one per line: a method byte, the
 * Host value, a space, the request target.
 *
 * Invariants (any violation aborts, so libFuzzer saves the input):
 *  - never a crash, leak or undefined behaviour (ASan + UBSan);
 *  - route_match gives the route a linear scan in config order gives;
 *  - route_target_split cuts the target into consecutive pieces that put
 *    back together give the target;
 *  - a redirect is refused (400) exactly when it would copy a bad Host
 *    (scheme redirects) or a path or query that is not visible ASCII;
 *    otherwise the response is one well-formed head (status line, CRLF
 *    lines of visible ASCII and spaces, exactly one Location, whose
 *    authority is valid and, for location redirects, the configured one),
 *    and Content-Length is the length of the body. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <llhttp.h>

#include "conf/conf.h"
#include "lb/http.h"
#include "lb/redirect.h"
#include "lb/route.h"

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "INVARIANT FAILED at %s:%d: %s\n  ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fprintf(stderr, "\n");                                                           \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

#define MAX_ROUTES 32
#define MAX_REQS 16

static const char *const names[] = { "a", "b", "a.b", "b.a", "x.a.b", "example.com",
                                     "www.example.com", "[::1]" };
/* Prefixes that nest and share their first 8 bytes, as real ones do. */
static const char *const prefixes[] = { "/", "/a", "/a/", "/ab", "/api/", "/api/v1/",
                                        "/api/v1/users", "/api/v1/users/", "/api/v1/usage",
                                        "/api/v2/", "/static/", "/static/img/",
                                        "/a/a/a/a/a", "/a/a/a/a/b", "/a/a/a/a/a/a",
                                        "/api/v1/users/x/y/z" };
static const int methods[] = { HTTP_GET, HTTP_POST, HTTP_HEAD, HTTP_PUT, HTTP_DELETE };

struct table {
    struct conf_frontend f;
    struct conf_route r[MAX_ROUTES];
    char keys[MAX_ROUTES][24];
    char paths[MAX_ROUTES][24];
};

/* Four bytes per route: host kind and name, path prefix (two), methods. */
static size_t table_from(const uint8_t *d, size_t n, struct table *t)
{
    size_t nr = n ? d[0] % MAX_ROUTES + 1 : 0, pos = 1;

    memset(t, 0, sizeof(*t));
    t->f.name = "fuzz";
    t->f.routes = t->r;
    for (size_t i = 0; i < nr && pos + 4 <= n; i++, pos += 4) {
        struct conf_route *r = &t->r[t->f.nroutes++];
        uint8_t h = d[pos], p = d[pos + 1], p2 = d[pos + 2], m = d[pos + 3];

        r->index = (uint32_t)i;
        r->host_match = (enum conf_host_match)(h % 3);
        if (r->host_match != CONF_HOST_ANY) {
            snprintf(t->keys[i], sizeof(t->keys[i]), "%s%s",
                     r->host_match == CONF_HOST_SUFFIX ? "." : "", names[(h >> 2) % 8]);
            r->host_key = t->keys[i];
            r->host_key_len = strlen(t->keys[i]);
        }
        if ((p & 3) == 3) {
            snprintf(t->paths[i], sizeof(t->paths[i]), "%s", prefixes[(p >> 2) % 16]);
            r->path_prefix = t->paths[i];
            r->path_prefix_len = strlen(t->paths[i]);
        } else if (p & 1) { /* "/" then up to 11 of "/ab": long ones pass the 8-byte heads */
            size_t len = 1 + (p >> 2) % 12;
            t->paths[i][0] = '/';
            for (size_t k = 1; k < len; k++)
                t->paths[i][k] = "/ab"[((p2 >> (k % 8)) + (p >> 5) * k) % 3];
            r->path_prefix = t->paths[i];
            r->path_prefix_len = len;
        }
        for (int k = 0; k < 5; k++)
            if (m & (1 << k))
                r->methods |= 1ull << methods[k];
    }
    return pos;
}

static int linear(const struct table *t, const char *host, size_t hlen, const char *path,
                  size_t plen, int method)
{
    char key[ROUTE_HOST_MAX];
    size_t klen = route_host_norm(host, hlen, key);
    const char *q = memchr(path, '?', plen);

    if (q)
        plen = (size_t)(q - path);
    for (size_t i = 0; i < t->f.nroutes; i++) {
        const struct conf_route *r = &t->r[i];
        bool host_ok = r->host_match == CONF_HOST_ANY ||
            (r->host_match == CONF_HOST_EXACT && klen == r->host_key_len &&
             memcmp(key, r->host_key, klen) == 0) ||
            (r->host_match == CONF_HOST_SUFFIX && klen > r->host_key_len &&
             memcmp(key + klen - r->host_key_len, r->host_key, r->host_key_len) == 0);
        bool path_ok = !r->path_prefix || (plen >= r->path_prefix_len &&
                       memcmp(path, r->path_prefix, r->path_prefix_len) == 0);
        bool method_ok = !r->methods || (r->methods & (1ull << method));
        if (host_ok && path_ok && method_ok)
            return (int)i;
    }
    return -1;
}

static void check_split(const char *target, size_t len, const struct route_target *tg)
{
    const char *end = target + len;

    CHECK(tg->path >= target && tg->path + tg->path_len <= end, "path out of the target");
    if (tg->query) {
        CHECK(tg->query == tg->path + tg->path_len + 1 && tg->query[-1] == '?' &&
              tg->query + tg->query_len == end, "query not after the path");
    } else {
        CHECK(tg->path + tg->path_len == end, "target does not end with the path");
    }
    CHECK(memchr(tg->path, '?', tg->path_len) == NULL, "'?' in the path");
    if (tg->authority) {
        CHECK(tg->authority + tg->authority_len == tg->path, "authority not before the path");
        CHECK(!memchr(tg->authority, '@', tg->authority_len), "userinfo in the authority");
    } else {
        CHECK(tg->path == target, "origin-form path does not start the target");
    }
}

static bool visible(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* 400 exactly when something copied would be unsafe. */
static bool should_refuse(const struct conf_redirect *rd, const struct redirect_req *rq,
                          const struct route_target *tg)
{
    if (rd->keep_path && ((tg->path_len && tg->path[0] != '/') ||
                          !visible(tg->path, tg->path_len) ||
                          (tg->query && !visible(tg->query, tg->query_len))))
        return true;
    if (!rd->scheme)
        return false;
    const char *h = tg->authority ? tg->authority : rq->host;
    size_t hl = tg->authority ? tg->authority_len : rq->host_len;
    return !h || !hl || !conf_authority_ok(h, hl);
}

/* A whole response: head lines, one Location, Content-Length = body. */
static void check_response(const struct conf_redirect *rd, const struct redirect_req *rq,
                           const char *p, size_t n)
{
    const char *end = p + n, *line = p, *loc = NULL, *cl = NULL;
    size_t loclen = 0, nloc = 0;

    CHECK(n > 13 && memcmp(p, "HTTP/1.1 3", 10) == 0, "status line %.20s", p);
    for (;;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        CHECK(eol && eol > line && eol[-1] == '\r', "a head line without CRLF");
        size_t len = (size_t)(eol - 1 - line);
        if (len == 0) {
            line = eol + 1;
            break;
        }
        for (size_t i = 0; i < len; i++)
            CHECK(line[i] >= 0x20 && line[i] < 0x7f, "byte 0x%02x in a head line",
                  (unsigned char)line[i]);
        if (len > 10 && memcmp(line, "Location: ", 10) == 0) {
            loc = line + 10;
            loclen = len - 10;
            nloc++;
        }
        if (len > 16 && memcmp(line, "Content-Length: ", 16) == 0)
            cl = line + 16;
        line = eol + 1;
    }
    CHECK(nloc == 1 && cl, "%zu Location fields", nloc);
    if (rq->head)
        CHECK(line == end, "a body after HEAD");
    else
        CHECK((size_t)atoi(cl) == (size_t)(end - line), "Content-Length %d, body %zu",
              atoi(cl), (size_t)(end - line));
    CHECK(visible(loc, loclen), "Location not visible ASCII");
    if (rd->location) {
        CHECK(loclen >= rd->base_len && !memcmp(loc, rd->location, rd->base_len),
              "Location does not start with the configured base");
    } else {
        size_t sl = strlen(rd->scheme);
        CHECK(loclen > sl + 3 && !memcmp(loc, rd->scheme, sl) && !memcmp(loc + sl, "://", 3),
              "Location scheme");
        const char *a = loc + sl + 3;
        size_t alen = 0;
        while (a + alen < loc + loclen && a[alen] != '/' && a[alen] != '?')
            alen++;
        CHECK(conf_authority_ok(a, alen), "Location authority %.*s", (int)alen, a);
    }
}

static void check_redirects(const char *host, size_t hlen, const char *target, size_t tlen,
                            uint8_t flags)
{
    static struct conf_redirect rds[4];
    static bool init;
    struct route_target tg;

    if (!init) {
        char why[128];
        rds[0] = (struct conf_redirect){ true, "https", NULL, 0, 301, true };
        rds[1] = (struct conf_redirect){ true, "http", NULL, 0, 308, false };
        rds[2] = (struct conf_redirect){ true, NULL, "https://new.example:8443/base/", 0,
                                         302, true };
        rds[3] = (struct conf_redirect){ true, NULL, "http://[::1]/x?y", 0, 307, false };
        for (int i = 2; i < 4; i++)
            if (conf_parse_location(rds[i].location, rds[i].keep_path, &rds[i].base_len,
                                    why, sizeof(why)) < 0)
                abort();
        init = true;
    }
    route_target_split(target, tlen, &tg);
    check_split(target, tlen, &tg);
    struct redirect_req rq = { .https = flags & 1, .host = (flags & 2) ? NULL : host,
                               .host_len = (flags & 2) ? 0 : hlen, .target = target,
                               .target_len = tlen, .http_minor = (flags >> 2) & 1,
                               .keepalive = flags & 8, .head = flags & 16 };
    for (int i = 0; i < 4; i++) {
        struct hbuf b = { 0 };
        int rc = redirect_response(&rds[i], &rq, &b);
        CHECK(rc == 0 || rc == 400, "status %d", rc);
        CHECK((rc == 400) == should_refuse(&rds[i], &rq, &tg), "redirect %d: %d for "
              "host %.*s target %.*s", i, rc, (int)hlen, host, (int)tlen, target);
        if (rc == 0)
            check_response(&rds[i], &rq, b.p, b.len);
        else
            CHECK(b.len == 0, "refused but wrote");
        hbuf_free(&b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct table *t = malloc(sizeof(*t));
    size_t pos = table_from(data, size, t);
    struct route_table *rt = route_table_new(&t->f);
    const char *d = (const char *)data, *end = d + size;

    CHECK(rt, "out of memory");
    for (int q = 0; q < MAX_REQS && pos < size; q++) {
        const char *line = d + pos, *eol = memchr(line, '\n', (size_t)(end - line));
        size_t len = (size_t)((eol ? eol : end) - line);
        pos += len + 1;
        if (len < 1)
            continue;
        uint8_t flags = (uint8_t)line[0];
        int method = methods[flags % 5];
        const char *host = line + 1, *sp = memchr(host, ' ', len - 1);
        size_t hlen = sp ? (size_t)(sp - host) : len - 1;
        const char *target = sp ? sp + 1 : host + hlen;
        size_t tlen = (size_t)(line + len - target);
        struct route_target tg;

        route_target_split(target, tlen, &tg);
        const char *h = tg.authority ? tg.authority : host;
        size_t hl = tg.authority ? tg.authority_len : hlen;
        const struct conf_route *r = route_match(rt, h, hl, tg.path, tg.path_len, method);
        int want = linear(t, h, hl, tg.path, tg.path_len, method);
        CHECK((r ? (int)r->index : -1) == want, "route %d, linear scan %d: host %.*s "
              "path %.*s", r ? (int)r->index : -1, want, (int)hl, h, (int)tg.path_len,
              tg.path);
        if (r)
            route_count(rt, r);
        check_redirects(host, hlen, target, tlen, flags >> 3);
    }
    route_table_free(rt);
    free(t);
    return 0;
}
