/* tests/unit/test_route.c - lb/route.c: first match wins (also against a
 * plain linear scan on random tables), wildcards, case, ports, methods,
 * path prefixes, request targets, per-route counters and their /stats and
 * /metrics output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <jansson.h>
#include <llhttp.h>

#include "admin/admin-int.h"
#include "conf/conf.h"
#include "lb/ctr.h"
#include "lb/proxy-t.h"
#include "lb/route.h"
#include "tests/unit/unit.h"

static char err[CONF_ERRLEN];

/* A frontend "f" (no default_backend) with routes R over backends b, c, d. */
static struct conf *load_routes(const char *routes)
{
    char doc[8192];
    struct conf *c;

    snprintf(doc, sizeof(doc), "{\"frontends\":[{\"name\":\"f\",\"bind\":\":18080\","
             "\"routes\":[%s]}],\"backends\":[{\"name\":\"b\"},{\"name\":\"c\"},"
             "{\"name\":\"d\"}]}", routes);
    c = conf_load_string("t.json", doc, err, sizeof(err));
    if (!c)
        fprintf(stderr, "  %s", err);
    else if (route_conf_load(c, err, sizeof(err)) < 0)
        CHECK(!"route_conf_load");
    return c;
}

/* The index of the route a request takes, -1 for none. */
static int pick(const struct conf *c, const char *host, const char *path, int method)
{
    const struct conf_frontend *f = &c->frontends[0];
    const struct conf_route *r = route_match(f->route_table, host, host ? strlen(host) : 0,
                                             path, strlen(path), method);
    return r ? (int)r->index : -1;
}

#define PICK(c, host, path, want) do { int got_ = pick(c, host, path, HTTP_GET); \
    if (got_ != (want)) { fprintf(stderr, "  %s:%d: %s %s -> %d, want %d\n", __FILE__, \
    __LINE__, host ? host : "(none)", path, got_, want); unit_failed_checks++; } } while (0)

static void test_first_match_wins(void)
{
    struct conf *c = load_routes(
        "{\"host\":\"a.example\",\"path_prefix\":\"/api/\",\"backend\":\"b\"},"
        "{\"host\":\"*.example\",\"backend\":\"c\"},"
        "{\"path_prefix\":\"/api/\",\"backend\":\"d\"},"
        "{\"host\":\"a.example\",\"backend\":\"b\"}");

    if (!c)
        return;
    CHECK(c->frontends[0].route_table != NULL);
    CHECK(c->frontends[0].route_table_free != NULL);
    PICK(c, "a.example", "/api/x", 0);
    PICK(c, "a.example", "/other", 1); /* route 3 is shadowed by the wildcard */
    PICK(c, "b.example", "/api/x", 1);
    PICK(c, "other.org", "/api/x", 2);
    PICK(c, "other.org", "/", -1);
    PICK(c, "example", "/", -1);       /* *.example is not example itself */
    PICK(c, NULL, "/api/", 2);          /* no host: only host-less routes */
    conf_free(c);

    /* The same routes, the catch-all first: it takes everything. */
    c = load_routes("{\"backend\":\"d\"},"
                    "{\"host\":\"a.example\",\"path_prefix\":\"/api/\",\"backend\":\"b\"},"
                    "{\"host\":\"*.example\",\"backend\":\"c\"}");
    if (!c)
        return;
    PICK(c, "a.example", "/api/x", 0);
    PICK(c, "zzz", "/", 0);
    PICK(c, NULL, "", 0);
    conf_free(c);
}

static void test_wildcards(void)
{
    struct conf *c = load_routes("{\"host\":\"*.b.example.com\",\"backend\":\"b\"},"
                                 "{\"host\":\"*.example.com\",\"backend\":\"c\"},"
                                 "{\"host\":\"*.com\",\"backend\":\"d\"}");

    if (!c)
        return;
    PICK(c, "x.b.example.com", "/", 0);
    PICK(c, "y.x.b.example.com", "/", 0);
    PICK(c, "b.example.com", "/", 1);
    PICK(c, "x.c.example.com", "/", 1);
    PICK(c, "example.com", "/", 2);
    PICK(c, "xexample.com", "/", 2);
    PICK(c, "com", "/", -1);
    PICK(c, ".com", "/", -1);
    PICK(c, "a.example.com.evil", "/", -1);
    PICK(c, "a.example.comx", "/", -1);
    conf_free(c);
    /* General before specific: the specific one is never reached. */
    c = load_routes("{\"host\":\"*.example.com\",\"backend\":\"c\"},"
                    "{\"host\":\"*.b.example.com\",\"backend\":\"b\"},"
                    "{\"host\":\"x.b.example.com\",\"backend\":\"b\"}");
    if (!c)
        return;
    PICK(c, "x.b.example.com", "/", 0);
    PICK(c, "b.example.com", "/", 0);
    conf_free(c);
}

static void test_case_ports_dots(void)
{
    struct conf *c = load_routes("{\"host\":\"Shop.Example.com\",\"backend\":\"b\"},"
                                 "{\"host\":\"[::1]\",\"backend\":\"c\"},"
                                 "{\"host\":\"10.0.0.1\",\"backend\":\"d\"},"
                                 "{\"host\":\"*.EXAMPLE.org\",\"backend\":\"d\"},"
                                 "{\"path_prefix\":\"/API/\",\"backend\":\"b\"}");

    if (!c)
        return;
    PICK(c, "shop.example.com", "/", 0);
    PICK(c, "SHOP.EXAMPLE.COM", "/", 0);
    PICK(c, "shop.example.com:8080", "/", 0);
    PICK(c, "shop.example.com:", "/", 0);
    PICK(c, "shop.example.com.", "/", 0);     /* the root's dot, as nginx */
    PICK(c, "shop.example.com.:443", "/", 0);
    PICK(c, "shop.example.com..", "/", -1);
    PICK(c, "[::1]", "/", 1);
    PICK(c, "[::1]:8443", "/", 1);
    PICK(c, "::1", "/", -1);
    PICK(c, "10.0.0.1:80", "/", 2);
    PICK(c, "A.Example.ORG:1", "/", 3);
    PICK(c, "x", "/API/a", 4);
    PICK(c, "x", "/api/a", -1);               /* paths are case-sensitive */
    conf_free(c);
}

static void test_methods(void)
{
    struct conf *c = load_routes(
        "{\"path_prefix\":\"/api\",\"methods\":[\"POST\",\"PUT\"],\"backend\":\"b\"},"
        "{\"path_prefix\":\"/api\",\"methods\":\"GET\",\"backend\":\"c\"},"
        "{\"path_prefix\":\"/api\",\"backend\":\"d\"}");

    if (!c)
        return;
    CHECK(pick(c, "h", "/api", HTTP_POST) == 0);
    CHECK(pick(c, "h", "/api", HTTP_PUT) == 0);
    CHECK(pick(c, "h", "/api", HTTP_GET) == 1);
    CHECK(pick(c, "h", "/api", HTTP_DELETE) == 2); /* DELETE is method 0 */
    CHECK(pick(c, "h", "/api", HTTP_HEAD) == 2);
    CHECK(pick(c, "h", "/api", 99) == 2);          /* not a method bit: no narrowed route */
    CHECK(pick(c, "h", "/api", -1) == 2);
    conf_free(c);
}

static void test_path_prefixes(void)
{
    struct conf *c = load_routes("{\"path_prefix\":\"/a/b/c\",\"backend\":\"b\"},"
                                 "{\"path_prefix\":\"/a/b\",\"backend\":\"b\"},"
                                 "{\"path_prefix\":\"/a\",\"backend\":\"b\"},"
                                 "{\"path_prefix\":\"/a/bz\",\"backend\":\"b\"},"
                                 "{\"path_prefix\":\"/\",\"backend\":\"b\"},"
                                 "{\"path_prefix\":\"/static/\",\"backend\":\"b\"}");

    if (!c)
        return;
    PICK(c, "h", "/a/b/c/d", 0);
    PICK(c, "h", "/a/b/c", 0);
    PICK(c, "h", "/a/b/x", 1);
    PICK(c, "h", "/a/bq", 1);
    PICK(c, "h", "/a/bz", 1);   /* /a/b comes first */
    PICK(c, "h", "/a/c", 2);
    PICK(c, "h", "/a", 2);
    PICK(c, "h", "/", 4);
    PICK(c, "h", "/static/x", 4);
    PICK(c, "h", "", -1);
    PICK(c, "h", "*", -1);
    PICK(c, "h", "/a?x=/a/b/c", 2); /* only the path before '?' counts */
    PICK(c, "h", "/?/a", 4);
    conf_free(c);
    c = load_routes("{\"path_prefix\":\"/static/\",\"backend\":\"b\"},"
                    "{\"host\":\"h\",\"path_prefix\":\"/static/img/\",\"backend\":\"c\"},"
                    "{\"host\":\"h\",\"backend\":\"d\"}");
    if (!c)
        return;
    PICK(c, "h", "/static/img/x", 0);
    PICK(c, "h", "/static", 2);
    PICK(c, "h", "/stat", 2);
    conf_free(c);
}

/* ------------------------------------------------ against a linear scan */

static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) % n;
}

static void rnd_str(char *out, const char *alphabet, size_t maxlen)
{
    size_t n = rnd((uint32_t)maxlen + 1), k = strlen(alphabet);

    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[rnd((uint32_t)k)];
    out[n] = '\0';
}

/* What route_match must equal: the routes in order, the first that fits. */
static int linear(const struct conf_route *r, size_t n, const char *host, const char *path,
                  int method)
{
    char key[ROUTE_HOST_MAX];
    size_t klen = route_host_norm(host, strlen(host), key);
    size_t plen = strcspn(path, "?");

    for (size_t i = 0; i < n; i++) {
        bool host_ok = r[i].host_match == CONF_HOST_ANY ||
            (r[i].host_match == CONF_HOST_EXACT && klen == r[i].host_key_len &&
             memcmp(key, r[i].host_key, klen) == 0) ||
            (r[i].host_match == CONF_HOST_SUFFIX && klen > r[i].host_key_len &&
             memcmp(key + klen - r[i].host_key_len, r[i].host_key, r[i].host_key_len) == 0);
        bool path_ok = !r[i].path_prefix || (plen >= r[i].path_prefix_len &&
                       memcmp(path, r[i].path_prefix, r[i].path_prefix_len) == 0);
        bool method_ok = !r[i].methods || (method >= 0 && method < 64 &&
                                           (r[i].methods & (1ull << method)));
        if (host_ok && path_ok && method_ok)
            return (int)i;
    }
    return -1;
}

static void random_table(struct conf_frontend *f, struct conf_route *r, char (*keys)[16],
                         char (*paths)[16], size_t n)
{
    static const char *const names[] = { "a", "b", "a.b", "b.a", "a.a", "x.a.b", "ab" };

    memset(f, 0, sizeof(*f));
    memset(r, 0, n * sizeof(*r));
    f->name = "rnd";
    f->routes = r;
    f->nroutes = n;
    for (size_t i = 0; i < n; i++) {
        r[i].index = (uint32_t)i;
        r[i].host_match = (enum conf_host_match)rnd(3);
        if (r[i].host_match != CONF_HOST_ANY) {
            snprintf(keys[i], 16, "%s%s", r[i].host_match == CONF_HOST_SUFFIX ? "." : "",
                     names[rnd(7)]);
            r[i].host_key = keys[i];
            r[i].host_key_len = strlen(keys[i]);
        }
        if (rnd(4)) {
            paths[i][0] = '/';
            /* short ones overlap often; long ones pass the 8-byte heads */
            rnd_str(paths[i] + 1, rnd(2) ? "/ab" : "/a", rnd(2) ? 4 : 12);
            r[i].path_prefix = paths[i];
            r[i].path_prefix_len = strlen(paths[i]);
        }
        if (!rnd(3))
            r[i].methods = (rnd(2) ? 1ull << HTTP_GET : 0) | (rnd(2) ? 1ull << HTTP_POST : 0);
    }
}

static void test_same_as_linear_scan(void)
{
    enum { ROUTES = 24, TABLES = 500, REQUESTS = 300 };
    struct conf_route r[ROUTES];
    char keys[ROUTES][16], paths[ROUTES][16], host[16], path[24];
    static const int methods[] = { HTTP_GET, HTTP_POST, HTTP_HEAD };
    struct conf_frontend f;
    int mismatches = 0;

    for (int t = 0; t < TABLES; t++) {
        random_table(&f, r, keys, paths, 1 + rnd(ROUTES));
        struct route_table *tab = route_table_new(&f);
        CHECK(tab != NULL);
        if (!tab)
            return;
        for (int q = 0; q < REQUESTS; q++) {
            rnd_str(host, "abAB..:1", 8);
            path[0] = rnd(8) ? '/' : '*';
            rnd_str(path + 1, rnd(2) ? "/ab?" : "/a", rnd(2) ? 6 : 16);
            int m = methods[rnd(3)];
            const struct conf_route *got = route_match(tab, host, strlen(host), path,
                                                       strlen(path), m);
            int want = linear(r, f.nroutes, host, path, m);
            if ((got ? (int)got->index : -1) != want && mismatches++ < 5)
                fprintf(stderr, "  table %d: %s %s -> %d, linear scan %d\n", t, host, path,
                        got ? (int)got->index : -1, want);
        }
        route_table_free(tab);
    }
    CHECK(mismatches == 0);
}

/* ------------------------------------------------ pieces */

static void test_host_norm(void)
{
    char out[ROUTE_HOST_MAX], big[300];

    CHECK(route_host_norm("WWW.Example.COM:80", 18, out) == 15);
    CHECK(memcmp(out, "www.example.com", 15) == 0);
    CHECK(route_host_norm("[FE80::1]:443", 13, out) == 9 && memcmp(out, "[fe80::1]", 9) == 0);
    CHECK(route_host_norm("a.", 2, out) == 1 && out[0] == 'a');
    CHECK(route_host_norm(".", 1, out) == 0);
    CHECK(route_host_norm(":80", 3, out) == 0);
    CHECK(route_host_norm("", 0, out) == 0);
    CHECK(route_host_norm(NULL, 5, out) == 0);
    memset(big, 'a', sizeof(big));
    CHECK(route_host_norm(big, ROUTE_HOST_MAX - 1, out) == ROUTE_HOST_MAX - 1);
    CHECK(route_host_norm(big, ROUTE_HOST_MAX, out) == 0);
    CHECK(route_host_norm(big, sizeof(big), out) == 0);
}

#define SPLIT(t, auth, p, q) do { struct route_target tg_; \
    route_target_split(t, strlen(t), &tg_); \
    CHECK((auth) ? tg_.authority && tg_.authority_len == strlen(auth ? auth : "") && \
                   memcmp(tg_.authority, auth ? auth : "", tg_.authority_len) == 0 \
                 : tg_.authority == NULL); \
    CHECK(tg_.path_len == strlen(p) && memcmp(tg_.path, p, tg_.path_len) == 0); \
    CHECK((q) ? tg_.query && tg_.query_len == strlen(q ? q : "") && \
                memcmp(tg_.query, q ? q : "", tg_.query_len) == 0 \
              : tg_.query == NULL); } while (0)

static void test_target_split(void)
{
    SPLIT("/a/b?x=1&y", NULL, "/a/b", "x=1&y");
    SPLIT("/", NULL, "/", NULL);
    SPLIT("/p?", NULL, "/p", "");
    SPLIT("/p??q", NULL, "/p", "?q");
    SPLIT("http://Host.example:8080/p/q?z", "Host.example:8080", "/p/q", "z");
    SPLIT("HTTPS://h/x", "h", "/x", NULL);
    SPLIT("http://h", "h", "", NULL);
    SPLIT("http://h?q", "h", "", "q");
    SPLIT("http://user:pw@h.example/x", "h.example", "/x", NULL);
    SPLIT("http://a@b@c/x", "c", "/x", NULL);
    SPLIT("*", NULL, "*", NULL);
    SPLIT("h:80", NULL, "h:80", NULL); /* authority-form: not a URL, only CONNECT has it */
    SPLIT("", NULL, "", NULL);
}

static void test_null_and_empty(void)
{
    struct conf_frontend f = { .name = "e" };
    struct route_table *t = route_table_new(&f);

    CHECK(route_match(NULL, "h", 1, "/", 1, HTTP_GET) == NULL);
    CHECK(t != NULL);
    CHECK(route_match(t, "h", 1, "/", 1, HTTP_GET) == NULL);
    CHECK(route_match(t, NULL, 0, NULL, 0, HTTP_GET) == NULL);
    route_table_free(t);
    route_table_free(NULL);
}

/* ------------------------------------------------ counters and admin */

static void test_counters_survive_a_reload(void)
{
    struct conf *c1 = load_routes("{\"host\":\"a\",\"backend\":\"b\"},"
                                  "{\"path_prefix\":\"/x\",\"backend\":\"c\"}");
    struct conf *c2 = load_routes("{\"host\":\"a\",\"backend\":\"b\"},"
                                  "{\"path_prefix\":\"/y\",\"backend\":\"d\"}");
    const struct route_table *t1, *t2;

    if (!c1 || !c2)
        goto out;
    t1 = c1->frontends[0].route_table;
    t2 = c2->frontends[0].route_table;
    for (int i = 0; i < 3; i++)
        route_count(t1, &c1->frontends[0].routes[0]);
    route_count(t1, &c1->frontends[0].routes[1]);
    CHECK(route_requests(t1, 0) == 3 && route_requests(t1, 1) == 1);
    /* The next generation's route 0 of frontend f is the same counter. */
    CHECK(route_requests(t2, 0) == 3);
    route_count(t2, &c2->frontends[0].routes[0]);
    CHECK(route_requests(t1, 0) == 4);
    CHECK(route_requests(t2, 5) == 0);
out:
    conf_free(c1);
    conf_free(c2);
}

static void test_admin_output(void)
{
    struct conf *c = load_routes(
        "{\"host\":\"*.example.com\",\"methods\":[\"GET\",\"HEAD\"],\"backend\":\"b\"},"
        "{\"path_prefix\":\"/api/\",\"backend\":\"c\"},"
        "{\"redirect\":{\"scheme\":\"https\",\"code\":308}}");
    struct frontend fe = { .name = "f" };
    struct frontend *fes[1] = { &fe };
    struct proxy px = { .frontends = fes, .nfrontends = 1 };
    struct admin a = { .px = &px };
    struct evbuffer *b = evbuffer_new();
    json_t *st = NULL, *routes;
    char *text = NULL;

    if (!c || !b)
        goto out;
    fe.conf = &c->frontends[0];
    fe.ctr = ctr_get('f', "admin-test", NULL);
    px.ctr = ctr_get('p', "admin-test", NULL);
    const struct route_table *t = fe.conf->route_table;
    for (int i = 0; i < 5; i++)
        route_count(t, pick(c, "w.example.com", "/", HTTP_GET) == 0 ? &fe.conf->routes[0]
                                                                     : &fe.conf->routes[2]);
    route_count(t, &fe.conf->routes[pick(c, "w.example.com", "/api/", HTTP_POST)]);
    route_count(t, &fe.conf->routes[pick(c, "x", "/", HTTP_POST)]);

    st = admin_stats_json(&a);
    routes = json_object_get(json_array_get(json_object_get(st, "frontends"), 0), "routes");
    CHECK(json_array_size(routes) == 3);
    json_t *r0 = json_array_get(routes, 0), *r2 = json_array_get(routes, 2);
    CHECK(json_integer_value(json_object_get(r0, "requests")) == 5);
    CHECK_STR(json_string_value(json_object_get(r0, "host")), "*.example.com");
    CHECK_STR(json_string_value(json_object_get(r0, "backend")), "b");
    CHECK_STR(json_string_value(json_array_get(json_object_get(r0, "methods"), 0)), "GET");
    CHECK_STR(json_string_value(json_array_get(json_object_get(r0, "methods"), 1)), "HEAD");
    CHECK(json_is_null(json_object_get(r0, "redirect")));
    CHECK(json_integer_value(json_object_get(json_array_get(routes, 1), "requests")) == 1);
    CHECK(json_integer_value(json_object_get(r2, "requests")) == 1);
    CHECK(json_is_null(json_object_get(r2, "backend")));
    CHECK(json_integer_value(json_object_get(json_object_get(r2, "redirect"), "code")) == 308);
    CHECK_STR(json_string_value(json_object_get(json_object_get(r2, "redirect"), "scheme")),
              "https");

    CHECK(admin_metrics(&a, b) == 0);
    evbuffer_add(b, "", 1);
    text = strdup((const char *)evbuffer_pullup(b, -1));
    CHECK_CONTAINS(text, "# TYPE lxlb_route_requests_total counter\n");
    CHECK_CONTAINS(text, "lxlb_route_requests_total{frontend=\"f\",route=\"0\","
                         "host=\"*.example.com\",path_prefix=\"\",target=\"b\"} 5\n");
    CHECK_CONTAINS(text, "lxlb_route_requests_total{frontend=\"f\",route=\"1\",host=\"\","
                         "path_prefix=\"/api/\",target=\"c\"} 1\n");
    CHECK_CONTAINS(text, "lxlb_route_requests_total{frontend=\"f\",route=\"2\",host=\"\","
                         "path_prefix=\"\",target=\"redirect\"} 1\n");
    ctr_put(fe.ctr);
    ctr_put(px.ctr);
out:
    free(text);
    json_decref(st);
    if (b)
        evbuffer_free(b);
    conf_free(c);
}

UNIT_SUITE(route_tests) = {
    { "route_first_match_wins", test_first_match_wins },
    { "route_wildcards", test_wildcards },
    { "route_case_ports_dots", test_case_ports_dots },
    { "route_methods", test_methods },
    { "route_path_prefixes", test_path_prefixes },
    { "route_same_as_linear_scan", test_same_as_linear_scan },
    { "route_host_norm", test_host_norm },
    { "route_target_split", test_target_split },
    { "route_null_and_empty", test_null_and_empty },
    { "route_counters_survive_a_reload", test_counters_survive_a_reload },
    { "route_admin_output", test_admin_output },
    UNIT_END
};
