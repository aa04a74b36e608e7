/* tests/unit/test_redirect.c - lb/redirect.c: Location values for scheme and
 * location redirects, the whole response, and what must be refused (400):
 * header injection through Host, path or query. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "lb/http.h"
#include "lb/redirect.h"
#include "tests/unit/unit.h"

static struct conf_redirect scheme_rd(const char *scheme, bool keep_path)
{
    return (struct conf_redirect){ .enabled = true, .scheme = (char *)scheme, .code = 301,
                                   .keep_path = keep_path };
}

static struct conf_redirect location_rd(const char *loc, bool keep_path, uint16_t code)
{
    struct conf_redirect rd = { .enabled = true, .location = (char *)loc, .code = code,
                                .keep_path = keep_path };
    char why[128];

    CHECK(conf_parse_location(loc, keep_path, &rd.base_len, why, sizeof(why)) == 0);
    return rd;
}

static struct redirect_req req(bool https, const char *host, const char *target)
{
    return (struct redirect_req){ .https = https, .host = host,
                                  .host_len = host ? strlen(host) : 0, .target = target,
                                  .target_len = strlen(target), .http_minor = 1,
                                  .keepalive = true };
}

/* The Location for rd/rq as a string, or "400". */
static char *loc(const struct conf_redirect *rd, const struct redirect_req *rq)
{
    static char out[512];
    struct hbuf b = { 0 };
    int rc = redirect_location(rd, rq, &b);

    if (rc)
        snprintf(out, sizeof(out), "%d", rc);
    else
        snprintf(out, sizeof(out), "%.*s", (int)b.len, b.p);
    hbuf_free(&b);
    return out;
}

static void test_scheme(void)
{
    struct conf_redirect https = scheme_rd("https", true), http = scheme_rd("http", true);
    struct conf_redirect bare = scheme_rd("https", false);
    struct redirect_req rq = req(false, "Example.com:8080", "/a/b?x=1&y=%20");

    CHECK_STR(loc(&https, &rq), "https://Example.com/a/b?x=1&y=%20");
    CHECK_STR(loc(&bare, &rq), "https://Example.com/");
    rq = req(true, "example.com:8443", "/a");
    CHECK_STR(loc(&http, &rq), "http://example.com/a");
    /* The scheme stays: so does the port (a loop, but not a move elsewhere). */
    CHECK_STR(loc(&https, &rq), "https://example.com:8443/a");
    rq = req(false, "[::1]:8080", "/");
    CHECK_STR(loc(&https, &rq), "https://[::1]/");
    rq = req(false, "10.0.0.1", "/p?");
    CHECK_STR(loc(&https, &rq), "https://10.0.0.1/p?");
    /* absolute-form: its authority is the host (RFC 9112 3.2.2), not Host */
    rq = req(false, "other.example", "http://abs.example:81/p?q");
    CHECK_STR(loc(&https, &rq), "https://abs.example/p?q");
    rq = req(false, "other.example", "http://abs.example");
    CHECK_STR(loc(&https, &rq), "https://abs.example/");
}

static void test_location(void)
{
    struct conf_redirect a = location_rd("https://new.example.com", true, 301);
    struct conf_redirect b = location_rd("https://new.example.com/base/", true, 302);
    struct conf_redirect c = location_rd("https://new.example.com/x?from=old", false, 303);
    struct redirect_req rq = req(false, "old.example.com", "/a/b?q=1");

    CHECK_STR(loc(&a, &rq), "https://new.example.com/a/b?q=1");
    CHECK_STR(loc(&b, &rq), "https://new.example.com/base/a/b?q=1");
    CHECK_STR(loc(&c, &rq), "https://new.example.com/x?from=old");
    /* The Host plays no part: even none, or a bad one, is fine. */
    rq = req(false, NULL, "/");
    CHECK_STR(loc(&a, &rq), "https://new.example.com/");
    rq = req(false, "bad host\r\n", "/z");
    CHECK_STR(loc(&a, &rq), "https://new.example.com/z");
    rq = req(false, "h", "*");
    CHECK_STR(loc(&c, &rq), "https://new.example.com/x?from=old");
    CHECK_STR(loc(&a, &rq), "400"); /* OPTIONS *: no path to keep */
}

/* Whatever the request carries, a Location is one line of visible ASCII. */
static void test_injection_refused(void)
{
    struct conf_redirect https = scheme_rd("https", true);
    struct conf_redirect a = location_rd("https://new.example.com", true, 301);
    static const char *const bad_hosts[] = {
        "evil.com\r\nSet-Cookie: a=b", "evil.com\nX: y", "evil.com\r", "a b", "evil.com/x",
        "evil.com@good.com", "evil.com?x", "evil.com#x", "<script>", "a\"b", "a\tb",
        "caf\xc3\xa9.fr", "[::1", "[::1]\r\n", "h:80\r\nX: y", "h:8o", "", "h:123456",
    };
    static const char *const bad_targets[] = {
        "/a\r\nSet-Cookie: a=b", "/a\nb", "/a\rb", "/a b", "/a\tb", "/a\x7f", "/a\x80",
        "/a?x=\r\nX: y", "/a?x y", "/?\x01", "http://h/a\r\nX: y", "http://h/?\n",
    };
    struct hbuf b = { 0 };

    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        struct redirect_req rq = req(false, bad_hosts[i], "/");
        HBUF_LIT(&b, "kept");
        CHECK(redirect_response(&https, &rq, &b) == 400);
        CHECK(b.len == 4); /* nothing written */
        b.len = 0;
    }
    for (size_t i = 0; i < sizeof(bad_targets) / sizeof(bad_targets[0]); i++) {
        struct redirect_req rq = req(false, "h", bad_targets[i]);
        CHECK(redirect_response(&https, &rq, &b) == 400);
        CHECK(redirect_response(&a, &rq, &b) == 400);
        CHECK(b.len == 0);
    }
    /* A NUL in Host (found by fuzz_route: strchr matches the terminator). */
    struct redirect_req nul = { .host = "h\0", .host_len = 2, .target = "/",
                                .target_len = 1, .http_minor = 1 };
    CHECK(redirect_response(&https, &nul, &b) == 400 && b.len == 0);
    /* A bad absolute-form authority is refused too, whatever Host says. */
    struct redirect_req rq = req(false, "good", "http://ev il/x");
    CHECK(redirect_response(&https, &rq, &b) == 400);
    rq = req(false, NULL, "/");
    CHECK(redirect_response(&https, &rq, &b) == 400); /* HTTP/1.0 without Host */
    /* Percent-encoded bytes are text: passed on as they are. */
    rq = req(false, "h", "/%0d%0aX:%20y?a=%0A");
    CHECK_STR(loc(&https, &rq), "https://h/%0d%0aX:%20y?a=%0A");
    /* Without keep_path the path is not read at all. */
    struct conf_redirect bare = scheme_rd("https", false);
    rq = req(false, "h", "/a\r\nb");
    CHECK_STR(loc(&bare, &rq), "https://h/");
    hbuf_free(&b);
}

static char *response(const struct conf_redirect *rd, const struct redirect_req *rq)
{
    static char out[1024];
    struct hbuf b = { 0 };

    CHECK(redirect_response(rd, rq, &b) == 0);
    snprintf(out, sizeof(out), "%.*s", (int)b.len, b.p);
    hbuf_free(&b);
    return out;
}

static void test_response(void)
{
    struct conf_redirect rd = scheme_rd("https", true);
    struct redirect_req rq = req(false, "h.example", "/p?q");
    const char *body = "<html><body><h1>301 Moved Permanently</h1></body></html>\n";
    char want[512];

    snprintf(want, sizeof(want), "HTTP/1.1 301 Moved Permanently\r\n"
             "Location: https://h.example/p?q\r\nContent-Type: text/html\r\n"
             "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    CHECK_STR(response(&rd, &rq), want);
    rq.keepalive = false;
    CHECK_CONTAINS(response(&rd, &rq), "\r\nConnection: close\r\n\r\n<html>");
    rq.keepalive = true;
    rq.http_minor = 0;
    CHECK_CONTAINS(response(&rd, &rq), "\r\nConnection: keep-alive\r\n\r\n<html>");
    rq.head = true;
    char *r = response(&rd, &rq);
    CHECK(strstr(r, "<html>") == NULL);
    snprintf(want, sizeof(want), "Content-Length: %zu\r\n", strlen(body));
    CHECK_CONTAINS(r, want); /* as the GET would have it */
    CHECK(strlen(r) > 4 && strcmp(r + strlen(r) - 4, "\r\n\r\n") == 0);

    static const struct { uint16_t code; const char *line; } codes[] = {
        { 302, "HTTP/1.1 302 Found\r\n" }, { 303, "HTTP/1.1 303 See Other\r\n" },
        { 307, "HTTP/1.1 307 Temporary Redirect\r\n" },
        { 308, "HTTP/1.1 308 Permanent Redirect\r\n" },
    };
    rq = req(false, "h", "/");
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        rd.code = codes[i].code;
        r = response(&rd, &rq);
        CHECK(strncmp(r, codes[i].line, strlen(codes[i].line)) == 0);
        /* Content-Length is the body's length */
        const char *cl = strstr(r, "Content-Length: "), *bd = strstr(r, "\r\n\r\n");
        CHECK(cl && bd && (size_t)atoi(cl + 16) == strlen(bd + 4));
    }
}

UNIT_SUITE(redirect_tests) = {
    { "redirect_scheme", test_scheme },
    { "redirect_location", test_location },
    { "redirect_injection_refused", test_injection_refused },
    { "redirect_response", test_response },
    UNIT_END
};
