/* tests/unit/test_lb.c - the balancer, head rewriting and header helpers. */
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "conf/conf.h"
#include "lb/backend.h"
#include "lb/forward.h"
#include "lb/http.h"
#include "lb/server.h"
#include "tests/unit/unit.h"

static struct conf_backend test_cb = { .name = "b", .retries = 3 };

static struct backend *make_backend(enum conf_balance bal, const uint32_t *weights, size_t n)
{
    struct conf_addr a = { .family = AF_INET };
    test_cb.balance = bal;
    struct backend *be = be_new(NULL, NULL, &test_cb);
    for (size_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "s%zu", i);
        struct server *s = srv_new(name, NULL, &a, weights[i], SRV_SRC_STATIC);
        be_add_server(be, s);
        srv_unref(s);
    }
    return be;
}

static void count_picks(struct backend *be, int picks, int *counts)
{
    for (int i = 0; i < picks; i++) {
        struct server *s = be_pick(be, NULL);
        if (s)
            counts[atoi(s->name + 1)]++;
    }
}

static void rr_weights_over_1000(void)
{
    uint32_t w[] = { 5, 3, 2 };
    int counts[3] = { 0 };
    struct backend *be = make_backend(CONF_BALANCE_ROUNDROBIN, w, 3);

    count_picks(be, 1000, counts);
    CHECK(counts[0] == 500);
    CHECK(counts[1] == 300);
    CHECK(counts[2] == 200);
    be_retire(be);
}

static void rr_smooth_no_bursts(void)
{
    uint32_t w[] = { 5, 1, 1 };
    struct backend *be = make_backend(CONF_BALANCE_ROUNDROBIN, w, 3);
    char seq[8] = { 0 };

    for (int i = 0; i < 7; i++)
        seq[i] = (char)('a' + atoi(be_pick(be, NULL)->name + 1));
    CHECK_STR(seq, "aabacaa"); /* nginx's smooth order: never five a's in a row */
    be_retire(be);
}

static void rr_equal_alternates(void)
{
    uint32_t w[] = { 1, 1 };
    struct backend *be = make_backend(CONF_BALANCE_ROUNDROBIN, w, 2);
    char seq[7] = { 0 };

    for (int i = 0; i < 6; i++)
        seq[i] = (char)('0' + atoi(be_pick(be, NULL)->name + 1));
    CHECK_STR(seq, "010101");
    be_retire(be);
}

static void rr_skips_unusable(void)
{
    uint32_t w[] = { 1, 1, 1 };
    int counts[3] = { 0 };
    struct backend *be = make_backend(CONF_BALANCE_ROUNDROBIN, w, 3);

    be->servers[1]->health = SRV_HEALTH_DOWN;
    be->servers[2]->admin = SRV_ADMIN_DRAIN;
    count_picks(be, 100, counts);
    CHECK(counts[0] == 100 && counts[1] == 0 && counts[2] == 0);
    be->servers[0]->admin = SRV_ADMIN_MAINT;
    CHECK(be_pick(be, NULL) == NULL);
    be_retire(be);
}

static void rr_weight_zero_never_picked(void)
{
    uint32_t w[] = { 0, 1 };
    int counts[2] = { 0 };
    struct backend *be = make_backend(CONF_BALANCE_ROUNDROBIN, w, 2);

    count_picks(be, 50, counts);
    CHECK(counts[0] == 0 && counts[1] == 50);
    be_retire(be);
}

static void pick_avoids_tried_servers(void)
{
    uint32_t w[] = { 1, 1, 1 };
    struct backend *be = make_backend(CONF_BALANCE_ROUNDROBIN, w, 3);
    struct srv_set tried = { 0 };

    srv_set_add(&tried, be->servers[0]);
    for (int i = 0; i < 10; i++)
        CHECK(be_pick(be, &tried) != be->servers[0]);
    srv_set_add(&tried, be->servers[2]);
    for (int i = 0; i < 10; i++)
        CHECK(be_pick(be, &tried) == be->servers[1]);
    CHECK(be_has_usable_outside(be, &tried));
    /* Every usable server tried: none is left to pick from the set's outside. */
    be->servers[1]->health = SRV_HEALTH_DOWN;
    CHECK(be_pick(be, &tried) == NULL);
    CHECK(!be_has_usable_outside(be, &tried));
    CHECK(be_pick(be, NULL) != NULL);
    srv_set_clear(&tried);
    be_retire(be);
}

static void leastconn_prefers_idle(void)
{
    uint32_t w[] = { 1, 1, 2 };
    struct backend *be = make_backend(CONF_BALANCE_LEASTCONN, w, 3);

    ctr_add(be->servers[0]->ctr, CTR_ACTIVE, 4);
    ctr_add(be->servers[1]->ctr, CTR_ACTIVE, 1);
    ctr_add(be->servers[2]->ctr, CTR_ACTIVE, 3); /* 1.5 per weight unit */
    CHECK(be_pick(be, NULL) == be->servers[1]);
    ctr_inc(be->servers[1]->ctr, CTR_ACTIVE); /* 2 vs 1.5: the heavier one wins */
    CHECK(be_pick(be, NULL) == be->servers[2]);
    be_retire(be);
}

static void leastconn_spreads_when_idle(void)
{
    uint32_t w[] = { 1, 1, 1 };
    int counts[3] = { 0 };
    struct backend *be = make_backend(CONF_BALANCE_LEASTCONN, w, 3);

    count_picks(be, 300, counts);
    CHECK(counts[0] == 100 && counts[1] == 100 && counts[2] == 100);
    be_retire(be);
}

static void removed_server_outlives_backend_list(void)
{
    uint32_t w[] = { 1, 1 };
    struct backend *be = make_backend(CONF_BALANCE_ROUNDROBIN, w, 2);
    struct server *s = be->servers[0];

    srv_ref(s); /* a request in flight */
    be_remove_server(be, s);
    CHECK(s->removed);
    CHECK(!srv_usable(s));
    CHECK(be->nservers == 1);
    CHECK_STR(s->name, "s0"); /* still valid memory */
    srv_unref(s);
    be_retire(be);
}

/* ---------------------------------------------------------------- heads */

static void head_add(struct http_head *h, const char *name, const char *value)
{
    http_head_on_field(h, name, strlen(name));
    http_head_on_value(h, value, strlen(value));
}

static char *render_request(struct http_head *h, const struct conf_frontend *fe, bool close)
{
    struct evbuffer *out = evbuffer_new();
    struct fwd_req_ctx ctx = { .method = "GET", .major = 1, .minor = 1, .fe = fe,
                               .client_ip = "10.0.0.9", .close = close };
    fwd_request_head(out, h, &ctx);
    size_t n = evbuffer_get_length(out);
    char *s = malloc(n + 1);
    evbuffer_remove(out, s, n);
    s[n] = 0;
    evbuffer_free(out);
    return s;
}

static void request_rewrite(void)
{
    struct http_head h;
    struct conf_header set[] = { { "X-Forwarded-Proto", "https" } };
    struct conf_frontend fe = { .forwardfor = true, .set_headers = set, .nset_headers = 1 };

    http_head_init(&h, 8192, 32768, 100);
    http_head_on_target(&h, "/a?b=1", 6);
    head_add(&h, "Host", "example");
    head_add(&h, "Connection", "keep-alive, X-Private");
    head_add(&h, "X-Private", "secret");
    head_add(&h, "Keep-Alive", "timeout=5");
    head_add(&h, "x-forwarded-proto", "http");
    head_add(&h, "X-Forwarded-For", "1.2.3.4");
    head_add(&h, "Upgrade", "websocket");
    head_add(&h, "Content-Length", "5");
    char *s = render_request(&h, &fe, false);
    CHECK_STR(s, "GET /a?b=1 HTTP/1.1\r\n"
                 "Host: example\r\n"
                 "X-Forwarded-For: 1.2.3.4, 10.0.0.9\r\n"
                 "Content-Length: 5\r\n"
                 "X-Forwarded-Proto: https\r\n"
                 "\r\n");
    free(s);
    http_head_free(&h);
}

static void request_rewrite_adds_xff_and_close(void)
{
    struct http_head h;
    struct conf_frontend fe = { .forwardfor = true };

    http_head_init(&h, 8192, 32768, 100);
    http_head_on_target(&h, "/", 1);
    head_add(&h, "Host", "h");
    char *s = render_request(&h, &fe, true);
    CHECK_STR(s, "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.9\r\n"
                 "Connection: close\r\n\r\n");
    free(s);
    fe.forwardfor = false;
    s = render_request(&h, &fe, false);
    CHECK_STR(s, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    free(s);
    http_head_free(&h);
}

static void response_rewrite(void)
{
    struct http_head h;
    struct evbuffer *out = evbuffer_new();
    struct fwd_resp_ctx ctx = { .status = 200, .keepalive = false };
    char buf[512];

    http_head_init(&h, 512, 32768, 100);
    http_head_on_target(&h, "OK", 2);
    head_add(&h, "Content-Length", "3");
    head_add(&h, "Connection", "keep-alive");
    head_add(&h, "Keep-Alive", "timeout=5");
    fwd_response_head(out, &h, &ctx);
    size_t n = evbuffer_remove(out, buf, sizeof(buf) - 1);
    buf[n] = 0;
    CHECK_STR(buf, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
    ctx.keepalive = true;
    ctx.client_http10 = true;
    fwd_response_head(out, &h, &ctx);
    n = evbuffer_remove(out, buf, sizeof(buf) - 1);
    buf[n] = 0;
    CHECK_STR(buf, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n");
    evbuffer_free(out);
    http_head_free(&h);
}

static void head_limits(void)
{
    struct http_head h;
    char big[600];

    memset(big, 'a', sizeof(big));
    http_head_init(&h, 16, 512, 2);
    CHECK(http_head_on_target(&h, big, 17) < 0 && h.limit_status == 414);
    http_head_reset(&h);
    CHECK(http_head_on_target(&h, "/", 1) == 0);
    CHECK(http_head_on_field(&h, "A", 1) == 0 && http_head_on_value(&h, "1", 1) == 0);
    CHECK(http_head_on_field(&h, "B", 1) == 0 && http_head_on_value(&h, "2", 1) == 0);
    CHECK(http_head_on_field(&h, "C", 1) < 0 && h.limit_status == 431); /* count */
    http_head_reset(&h);
    CHECK(http_head_on_field(&h, "A", 1) == 0);
    CHECK(http_head_on_value(&h, big, sizeof(big)) < 0 && h.limit_status == 431); /* size */
    http_head_free(&h);
}

static void head_fragments_join(void)
{
    struct http_head h;

    http_head_init(&h, 8192, 32768, 100);
    http_head_on_field(&h, "Con", 3);
    http_head_on_field(&h, "tent-Type", 9);
    http_head_on_value(&h, "text/", 5);
    http_head_on_value(&h, "html", 4);
    http_head_on_field(&h, "X", 1);
    http_head_on_value(&h, "y", 1);
    CHECK(h.nhdrs == 2);
    CHECK(http_hdr_is(&h, 0, "content-type"));
    CHECK(h.hdrs[0].value_len == 9 && !memcmp(http_hdr_value(&h, 0), "text/html", 9));
    CHECK(http_hdr_find(&h, "x", 0) == 1);
    CHECK(http_hdr_find(&h, "missing", 0) == -1);
    http_head_free(&h);
}

static void header_names_must_be_tokens(void)
{
    struct http_head h;

    http_head_init(&h, 8192, 32768, 100);
    head_add(&h, "Good-Name", "v");
    CHECK(http_head_names_valid(&h));
    head_add(&h, "Bad Name", "v");
    CHECK(!http_head_names_valid(&h));
    http_head_free(&h);
}

/* The head byte scan, whole and split at every position (reads end anywhere). */
static bool scan_ok(const char *h, size_t split)
{
    uint8_t st = 0;
    size_t n = strlen(h);
    if (split > n)
        split = n;
    return !http_head_bytes_bad(&st, h, split) && !http_head_bytes_bad(&st, h + split, n - split);
}

static void head_bytes_scan(void)
{
    static const struct { const char *head; bool ok; } cases[] = {
        { "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true },
        { "GET / HTTP/1.1\r\nHost: a\r\nX: b c\r\n\r\n", true },
        { "GET / HTTP/1.1\nHost: a\r\n\r\n", false },        /* bare LF */
        { "GET / HTTP/1.1\r\nHost: a\r\n\n", false },        /* bare LF at the end */
        { "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", false },     /* bare CR */
        { "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", false },  /* obs-fold, SP */
        { "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", false }, /* obs-fold, HTAB */
        { "\nGET / HTTP/1.1\r\n\r\n", false },
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
        for (size_t split = 0; split <= strlen(cases[c].head); split++)
            if (scan_ok(cases[c].head, split) != cases[c].ok) {
                fprintf(stderr, "  case %zu split %zu: expected %d\n", c, split, cases[c].ok);
                unit_failed_checks++;
            }
}

static void list_tokens(void)
{
    const char *v = " keep-alive ,Upgrade,  x-a\t";
    CHECK(http_list_has(v, strlen(v), "upgrade", 7));
    CHECK(http_list_has(v, strlen(v), "KEEP-ALIVE", 10));
    CHECK(http_list_has(v, strlen(v), "x-a", 3));
    CHECK(!http_list_has(v, strlen(v), "keep", 4));
    CHECK(!http_list_has("", 0, "a", 1));
}

static void error_page_closes(void)
{
    struct evbuffer *out = evbuffer_new();
    char buf[1024];

    http_error_page(out, 503);
    size_t n = evbuffer_remove(out, buf, sizeof(buf) - 1);
    buf[n] = 0;
    CHECK(!strncmp(buf, "HTTP/1.1 503 Service Unavailable\r\n", 34));
    CHECK_CONTAINS(buf, "Connection: close\r\n");
    CHECK_CONTAINS(buf, "Content-Type: text/html\r\n");
    const char *body = strstr(buf, "\r\n\r\n") + 4;
    char cl[64];
    snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", strlen(body));
    CHECK_CONTAINS(buf, cl);
    evbuffer_free(out);
}

UNIT_SUITE(lb_tests) = {
    { "lb_rr_weights_over_1000", rr_weights_over_1000 },
    { "lb_rr_smooth_no_bursts", rr_smooth_no_bursts },
    { "lb_rr_equal_alternates", rr_equal_alternates },
    { "lb_rr_skips_unusable", rr_skips_unusable },
    { "lb_rr_weight_zero_never_picked", rr_weight_zero_never_picked },
    { "lb_pick_avoids_tried_servers", pick_avoids_tried_servers },
    { "lb_leastconn_prefers_idle", leastconn_prefers_idle },
    { "lb_leastconn_spreads_when_idle", leastconn_spreads_when_idle },
    { "lb_removed_server_outlives_list", removed_server_outlives_backend_list },
    { "fwd_request_rewrite", request_rewrite },
    { "fwd_request_xff_and_close", request_rewrite_adds_xff_and_close },
    { "fwd_response_rewrite", response_rewrite },
    { "http_head_limits", head_limits },
    { "http_head_fragments_join", head_fragments_join },
    { "http_header_names_tokens", header_names_must_be_tokens },
    { "http_head_bytes_scan", head_bytes_scan },
    { "http_list_tokens", list_tokens },
    { "http_error_page_closes", error_page_closes },
    UNIT_END
};
