/* tests/unit/test_cookie.c - Cookie / Set-Cookie parsing and rewriting. */
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "lb/cookie.h"
#include "lb/forward.h"
#include "tests/unit/unit.h"

static char *drain(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = 0;
    return s;
}

static char *hbuf_take(struct hbuf *h)
{
    char *s = malloc(h->len + 1);
    if (h->len) /* an empty hbuf has no memory at all */
        memcpy(s, h->p, h->len);
    s[h->len] = 0;
    hbuf_free(h);
    return s;
}

static char *req_rewrite(const char *v, enum cookie_req_action act)
{
    struct hbuf h = { 0 };
    cookie_write_request(&h, "Cookie", 6, v, strlen(v), "SID", 3, act);
    return hbuf_take(&h);
}

static void find_pairs(void)
{
    const char *v, *h = "a=1;SID=web1~xyz ;  b= 2;;  SIDX=no";
    size_t n;

    CHECK(cookie_find(h, strlen(h), "SID", 3, &v, &n) && n == 8 && !memcmp(v, "web1~xyz", 8));
    CHECK(cookie_find(h, strlen(h), "b", 1, &v, &n) && n == 1 && *v == '2');
    CHECK(!cookie_find(h, strlen(h), "SI", 2, &v, &n));
    CHECK(!cookie_find("SID", 3, "SID", 3, &v, &n)); /* no '=': not a pair */
    CHECK(cookie_find("SID=", 4, "SID", 3, &v, &n) && n == 0);
    CHECK(!cookie_find("", 0, "SID", 3, &v, &n));
    CHECK(!cookie_find(" ; ;", 4, "SID", 3, &v, &n));
}

static void server_part(void)
{
    const char *s;
    size_t n;

    CHECK(cookie_server_part("web1~abc", 8, true, &s, &n) && n == 4 && !memcmp(s, "web1", 4));
    CHECK(!cookie_server_part("abc", 3, true, &s, &n));   /* prefix without '~' */
    CHECK(!cookie_server_part("~abc", 4, true, &s, &n));  /* empty server */
    CHECK(cookie_server_part("web1", 4, false, &s, &n) && n == 4);
    CHECK(cookie_server_part("\"web1\"", 6, false, &s, &n) && n == 4 && *s == 'w');
    CHECK(!cookie_server_part("", 0, false, &s, &n));
}

static void request_unprefix(void)
{
    char *s = req_rewrite("a=1; SID=web1~xyz; b=2", COOKIE_REQ_UNPREFIX);
    CHECK_STR(s, "Cookie: a=1; SID=xyz; b=2\r\n");
    free(s);
    s = req_rewrite("SID=plain", COOKIE_REQ_UNPREFIX); /* the app's own value */
    CHECK_STR(s, "Cookie: SID=plain\r\n");
    free(s);
    s = req_rewrite("  SID=a~b~c ;x=y  ", COOKIE_REQ_UNPREFIX);
    CHECK_STR(s, "Cookie: SID=b~c; x=y\r\n");
    free(s);
}

static void request_remove(void)
{
    char *s = req_rewrite("a=1; SID=web1; b=2", COOKIE_REQ_REMOVE);
    CHECK_STR(s, "Cookie: a=1; b=2\r\n");
    free(s);
    s = req_rewrite("SID=web1", COOKIE_REQ_REMOVE); /* nothing left: no header */
    CHECK_STR(s, "");
    free(s);
    s = req_rewrite("SID=web1; SID=web2", COOKIE_REQ_REMOVE);
    CHECK_STR(s, "");
    free(s);
}

static void set_cookie_match(void)
{
    CHECK(cookie_set_is("SID=abc; Path=/", 15, "SID", 3));
    CHECK(cookie_set_is(" SID =abc", 9, "SID", 3));
    CHECK(!cookie_set_is("SIDX=abc", 8, "SID", 3));
    CHECK(!cookie_set_is("SID", 3, "SID", 3));
    CHECK(!cookie_set_is("", 0, "SID", 3));
}

static char *set_rewrite(const char *v, bool prefix)
{
    struct hbuf h = { 0 };
    cookie_write_set(&h, v, strlen(v), 3, "web1", prefix);
    return hbuf_take(&h);
}

static void set_cookie_rewrite(void)
{
    char *s = set_rewrite("SID=abc; Path=/; HttpOnly", true);
    CHECK_STR(s, "Set-Cookie: SID=web1~abc; Path=/; HttpOnly\r\n");
    free(s);
    s = set_rewrite("SID=abc; Path=/", false);
    CHECK_STR(s, "Set-Cookie: SID=web1; Path=/\r\n");
    free(s);
    s = set_rewrite("SID=", true);
    CHECK_STR(s, "Set-Cookie: SID=web1~\r\n");
    free(s);
}

/* ------------------------------------------------ whole response heads */

static struct http_head resp_head(const char **fields)
{
    struct http_head h;
    http_head_init(&h, 512, 32768, 100);
    http_head_on_target(&h, "OK", 2);
    for (; *fields; fields += 2) {
        http_head_on_field(&h, fields[0], strlen(fields[0]));
        http_head_on_value(&h, fields[1], strlen(fields[1]));
    }
    return h;
}

static char *render(struct http_head *h, struct conf_cookie *ck, bool insert)
{
    struct evbuffer *b = evbuffer_new();
    struct fwd_resp_ctx ctx = { .status = 200, .keepalive = true, .cookie = ck,
                                .srv_cookie = "web1", .insert = insert };
    fwd_response_head(b, h, &ctx);
    char *s = drain(b);
    evbuffer_free(b);
    return s;
}

static void response_insert(void)
{
    const char *f[] = { "Content-Length", "0", "Set-Cookie", "SID=app", "Cache-Control",
                        "public", NULL };
    struct http_head h = resp_head(f);
    struct conf_cookie ck = { .mode = CONF_COOKIE_INSERT, .name = "SID", .nocache = true,
                              .httponly = true, .secure = true };
    char *s = render(&h, &ck, true);
    CHECK_STR(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                 "Set-Cookie: SID=web1; path=/; HttpOnly; Secure\r\n"
                 "Cache-Control: private\r\n\r\n");
    free(s);
    /* the client already has the right cookie: nothing inserted, cache untouched */
    s = render(&h, &ck, false);
    CHECK_STR(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nCache-Control: public\r\n\r\n");
    free(s);
    http_head_free(&h);
}

static void response_prefix_and_rewrite(void)
{
    const char *f[] = { "Set-Cookie", "a=1", "Set-Cookie", "SID=xyz; Path=/", NULL };
    struct http_head h = resp_head(f);
    struct conf_cookie ck = { .mode = CONF_COOKIE_PREFIX, .name = "SID" };
    char *s = render(&h, &ck, false);
    CHECK_STR(s, "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: SID=web1~xyz; Path=/\r\n\r\n");
    free(s);
    ck.mode = CONF_COOKIE_REWRITE;
    s = render(&h, &ck, false);
    CHECK_STR(s, "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: SID=web1; Path=/\r\n\r\n");
    free(s);
    http_head_free(&h);
}

UNIT_SUITE(cookie_tests) = {
    { "cookie_find_pairs", find_pairs },
    { "cookie_server_part", server_part },
    { "cookie_request_unprefix", request_unprefix },
    { "cookie_request_remove", request_remove },
    { "cookie_set_cookie_match", set_cookie_match },
    { "cookie_set_cookie_rewrite", set_cookie_rewrite },
    { "cookie_response_insert_nocache", response_insert },
    { "cookie_response_prefix_rewrite", response_prefix_and_rewrite },
    UNIT_END
};
