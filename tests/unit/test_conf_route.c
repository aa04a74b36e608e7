/* tests/unit/test_conf_route.c - conf/: frontends[].routes, redirects,
 * accept_proxy, send_proxy and timeout.tunnel (SPEC.md "Routing,
 * redirects, tunnels, PROXY protocol"): what loads, its defaults, and every
 * error at once with file, line and JSON path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <llhttp.h>

#include "conf/conf.h"
#include "tests/unit/unit.h"

/* One frontend "f" with routes R (a JSON array body) and extra keys, over
 * backends b and api. */
#define FE_R(extra, routes) "{\"name\":\"f\",\"bind\":[\"127.0.0.1:18080\"]" extra \
                            ",\"routes\":[" routes "]}"
#define DOC_R(extra, routes) "{\"frontends\":[" FE_R(extra, routes) "]," \
                             "\"backends\":[{\"name\":\"b\"},{\"name\":\"api\"}]}"

static char err[CONF_ERRLEN];

static struct conf *load(const char *json)
{
    return conf_load_string("t.json", json, err, sizeof(err));
}

#define CHECK_ERR(json, frag) do { struct conf *c_ = load(json); \
    CHECK(c_ == NULL); conf_free(c_); CHECK_CONTAINS(err, frag); } while (0)

static int count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* SPEC.md's example, whole. */
static const char spec_json[] =
    "{\n"
    "  \"defaults\": { \"timeout\": { \"tunnel\": \"1h\" } },\n"
    "  \"frontends\": [ { \"name\": \"http\", \"bind\": [\"127.0.0.1:18080\"],\n"
    "      \"default_backend\": \"web\",\n"
    "      \"accept_proxy\": false,\n"
    "      \"routes\": [\n"
    "        { \"host\": \"shop.example.com\", \"path_prefix\": \"/api/\", \"backend\": \"api\" },\n"
    "        { \"host\": \"*.example.com\", \"backend\": \"web\" },\n"
    "        { \"path_prefix\": \"/static/\", \"backend\": \"static\" },\n"
    "        { \"host\": \"old.example.com\", \"redirect\": { \"location\": \"https://new.example.com\", \"code\": 301 } },\n"
    "        { \"redirect\": { \"scheme\": \"https\" } } ] } ],\n"
    "  \"backends\": [ { \"name\": \"api\", \"send_proxy\": \"v2\" }, { \"name\": \"web\" },\n"
    "                { \"name\": \"static\" } ]\n"
    "}\n";

static void test_spec_example(void)
{
    struct conf *c = load(spec_json);
    const struct conf_frontend *f;
    const struct conf_route *r;

    CHECK_STR(err, "");
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(c->timeout.tunnel_ms == 3600000);
    f = &c->frontends[0];
    CHECK(!f->accept_proxy);
    CHECK(f->backend == &c->backends[1]);
    CHECK(f->nroutes == 5);
    CHECK(f->route_table == NULL); /* lb/route.c builds it, not conf */
    r = f->routes;
    CHECK(r[0].index == 0 && r[4].index == 4);
    CHECK(r[0].host_match == CONF_HOST_EXACT);
    CHECK_STR(r[0].host_key, "shop.example.com");
    CHECK_STR(r[0].path_prefix, "/api/");
    CHECK(r[0].path_prefix_len == 5 && r[0].methods == 0);
    CHECK(r[0].backend == &c->backends[0] && !r[0].redirect.enabled);
    CHECK(r[1].host_match == CONF_HOST_SUFFIX);
    CHECK_STR(r[1].host, "*.example.com");
    CHECK_STR(r[1].host_key, ".example.com");
    CHECK(r[1].host_key_len == 12);
    CHECK(r[1].path_prefix == NULL && r[1].backend == &c->backends[1]);
    CHECK(r[2].host_match == CONF_HOST_ANY && r[2].host_key == NULL);
    CHECK(r[2].backend == &c->backends[2]);
    CHECK(r[3].redirect.enabled && r[3].backend == NULL && r[3].backend_name == NULL);
    CHECK_STR(r[3].redirect.location, "https://new.example.com");
    CHECK(r[3].redirect.base_len == strlen("https://new.example.com"));
    CHECK(r[3].redirect.code == 301 && r[3].redirect.keep_path && !r[3].redirect.scheme);
    CHECK(r[4].redirect.enabled && r[4].host_match == CONF_HOST_ANY);
    CHECK_STR(r[4].redirect.scheme, "https");
    CHECK(r[4].redirect.code == 301 && r[4].redirect.keep_path && !r[4].redirect.location);
    CHECK(c->backends[0].send_proxy == CONF_SEND_PROXY_V2);
    CHECK(c->backends[1].send_proxy == CONF_SEND_PROXY_NONE);
    conf_free(c);
}

static void test_defaults(void)
{
    struct conf *c = load("{\"frontends\":[{\"name\":\"f\",\"bind\":\":18080\","
                          "\"default_backend\":\"b\"}],\"backends\":[{\"name\":\"b\","
                          "\"servers\":[{\"address\":\"127.0.0.1:1\"}]}]}");

    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(c->timeout.tunnel_ms == 3600000);
    CHECK(!c->frontends[0].accept_proxy && c->frontends[0].nroutes == 0);
    CHECK(c->frontends[0].routes == NULL);
    CHECK(c->backends[0].send_proxy == CONF_SEND_PROXY_NONE);
    CHECK(c->backends[0].servers[0].send_proxy == CONF_SEND_PROXY_NONE);
    conf_free(c);
}

/* Routes make default_backend optional: no match is then 404. */
static void test_default_backend_optional(void)
{
    struct conf *c = load(DOC_R("", "{\"host\":\"a.example\",\"backend\":\"b\"}"));

    CHECK(c != NULL);
    if (c) {
        CHECK(c->frontends[0].default_backend == NULL && c->frontends[0].backend == NULL);
        CHECK(c->frontends[0].nroutes == 1);
    }
    conf_free(c);
    CHECK_ERR(DOC_R("", ""), "t.json:1: $.frontends[0]: missing required key "
              "\"default_backend\"");
    CHECK_ERR("{\"frontends\":[{\"name\":\"f\",\"bind\":\":18080\"}],"
              "\"backends\":[{\"name\":\"b\"}]}", "missing required key \"default_backend\"");
}

static void test_host_patterns(void)
{
    struct conf *c = load(DOC_R("", "{\"host\":\"Shop.Example.COM.\",\"backend\":\"b\"},"
                                    "{\"host\":\"*.Example.com\",\"backend\":\"b\"},"
                                    "{\"host\":\"[::1]\",\"backend\":\"b\"},"
                                    "{\"host\":\"10.0.0.1\",\"backend\":\"b\"},"
                                    "{\"host\":\"*.a-b_c.d\",\"backend\":\"b\"}"));
    const struct conf_route *r;

    CHECK_STR(err, "");
    if (!c)
        return;
    r = c->frontends[0].routes;
    CHECK_STR(r[0].host_key, "shop.example.com");
    CHECK_STR(r[0].host, "Shop.Example.COM.");
    CHECK(r[0].host_match == CONF_HOST_EXACT && r[0].host_key_len == 16);
    CHECK_STR(r[1].host_key, ".example.com");
    CHECK(r[1].host_match == CONF_HOST_SUFFIX);
    CHECK_STR(r[2].host_key, "[::1]");
    CHECK(r[2].host_match == CONF_HOST_EXACT);
    CHECK_STR(r[3].host_key, "10.0.0.1");
    CHECK_STR(r[4].host_key, ".a-b_c.d");
    conf_free(c);
}

static void test_bad_hosts(void)
{
    static const struct { const char *host, *why; } t[] = {
        { "*", "\\\"*\\\" alone: leave \\\"host\\\" out" },
        { "a.*.b", "'*' is only allowed as the whole first label" },
        { "*a.b", "'*' is only allowed as the whole first label" },
        { "*.*.b", "'*' is only allowed" },
        { "*.", "'*' is only allowed" },
        { "example.com:80", "no port here" },
        { "[::1]:80", "an IPv6 host is written [addr], with no port" },
        { "[nope]", "bad IPv6 address" },
        { "exa mple.com", "character 0x20 not allowed" },
        { "a..b", "empty label" },
        { ".a.b", "empty label" },
        { "caf\\u00e9.fr", "character 0xc3 not allowed" },
        { "a\\r\\nb", "character 0x0d not allowed" },
    };
    char doc[512];

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(doc, sizeof(doc), DOC_R("", "{\"host\":\"%s\",\"backend\":\"b\"}"), t[i].host);
        struct conf *c = load(doc);
        CHECK(c == NULL);
        conf_free(c);
        CHECK_CONTAINS(err, "$.frontends[0].routes[0].host: bad host");
        char want[128];
        /* the test table is JSON-escaped; the message is not */
        snprintf(want, sizeof(want), "%s", t[i].why);
        for (char *p = want; (p = strstr(p, "\\\"")); )
            memmove(p, p + 1, strlen(p));
        CHECK_CONTAINS(err, want);
        if (!strstr(err, want))
            fprintf(stderr, "  host %s\n", t[i].host);
    }
    /* 64-byte label, 254-byte name */
    char label[80], name[300];
    memset(label, 'a', 64);
    label[64] = '\0';
    snprintf(doc, sizeof(doc), DOC_R("", "{\"host\":\"%s.com\",\"backend\":\"b\"}"), label);
    CHECK_ERR(doc, "a label is at most 63 bytes");
    for (size_t i = 0; i < 254; i++)
        name[i] = i % 2 ? '.' : 'a';
    name[253] = 'a';
    name[254] = '\0';
    snprintf(doc, sizeof(doc), DOC_R("", "{\"host\":\"%s\",\"backend\":\"b\"}"), name);
    CHECK_ERR(doc, "a host name is 1-253 bytes");
}

static void test_methods(void)
{
    struct conf *c = load(DOC_R("", "{\"methods\":[\"GET\",\"HEAD\"],\"backend\":\"b\"},"
                                    "{\"methods\":\"POST\",\"backend\":\"b\"},"
                                    "{\"methods\":[\"M-SEARCH\",\"PATCH\"],\"backend\":\"b\"}"));

    CHECK_STR(err, "");
    if (!c)
        return;
    CHECK(c->frontends[0].routes[0].methods == ((1ull << HTTP_GET) | (1ull << HTTP_HEAD)));
    CHECK(c->frontends[0].routes[1].methods == 1ull << HTTP_POST);
    CHECK(c->frontends[0].routes[2].methods == ((1ull << HTTP_MSEARCH) | (1ull << HTTP_PATCH)));
    conf_free(c);
    CHECK_ERR(DOC_R("", "{\"methods\":[\"GET\",\"get\"],\"backend\":\"b\"}"),
              "$.frontends[0].routes[0].methods[1]: unknown method \"get\" (methods are "
              "case-sensitive");
    CHECK_ERR(DOC_R("", "{\"methods\":[\"BREW\"],\"backend\":\"b\"}"),
              "$.frontends[0].routes[0].methods[0]: unknown method \"BREW\"");
    CHECK_ERR(DOC_R("", "{\"methods\":[\"CONNECT\"],\"backend\":\"b\"}"),
              "$.frontends[0].routes[0].methods[0]: lxlb refuses CONNECT");
    CHECK_ERR(DOC_R("", "{\"methods\":[],\"backend\":\"b\"}"),
              "$.frontends[0].routes[0].methods: must not be empty");
    CHECK_ERR(DOC_R("", "{\"methods\":[1],\"backend\":\"b\"}"),
              "$.frontends[0].routes[0].methods[0]: expected a string");
}

static void test_paths(void)
{
    struct conf *c = load(DOC_R("", "{\"path_prefix\":\"/\",\"backend\":\"b\"},"
                                    "{\"path_prefix\":\"/a%20b/~x\",\"backend\":\"b\"}"));

    CHECK_STR(err, "");
    conf_free(c);
    CHECK_ERR(DOC_R("", "{\"path_prefix\":\"api/\",\"backend\":\"b\"}"),
              "$.frontends[0].routes[0].path_prefix: \"api/\" must start with '/'");
    CHECK_ERR(DOC_R("", "{\"path_prefix\":\"/a b\",\"backend\":\"b\"}"),
              "$.frontends[0].routes[0].path_prefix: byte 0x20 cannot be in a request path");
    CHECK_ERR(DOC_R("", "{\"path_prefix\":\"/a?b\",\"backend\":\"b\"}"), "byte 0x3f");
    CHECK_ERR(DOC_R("", "{\"path_prefix\":\"/a\\nb\",\"backend\":\"b\"}"), "byte 0x0a");
    CHECK_ERR(DOC_R("", "{\"path_prefix\":\"\",\"backend\":\"b\"}"),
              "$.frontends[0].routes[0].path_prefix: must not be empty");
}

static void test_redirects(void)
{
    struct conf *c = load(DOC_R("",
        "{\"redirect\":{\"location\":\"https://new.example.com/\"}},"
        "{\"redirect\":{\"location\":\"http://[::1]:8080/base/\",\"code\":308}},"
        "{\"redirect\":{\"location\":\"https://x.example/?a=b#f\",\"keep_path\":false,"
        "\"code\":302}},"
        "{\"redirect\":{\"scheme\":\"http\",\"code\":307,\"keep_path\":false}},"
        "{\"redirect\":{\"location\":\"HTTPS://x.example\",\"code\":303}}"));
    const struct conf_route *r;

    CHECK_STR(err, "");
    if (!c)
        return;
    r = c->frontends[0].routes;
    CHECK(r[0].redirect.base_len == strlen("https://new.example.com"));
    CHECK(r[1].redirect.base_len == strlen("http://[::1]:8080/base"));
    CHECK(r[1].redirect.code == 308);
    CHECK(r[2].redirect.base_len == strlen(r[2].redirect.location));
    CHECK(!r[2].redirect.keep_path && r[2].redirect.code == 302);
    CHECK_STR(r[3].redirect.scheme, "http");
    CHECK(r[3].redirect.code == 307 && !r[3].redirect.keep_path);
    CHECK(r[4].redirect.code == 303);
    conf_free(c);
}

static void test_bad_redirects(void)
{
    static const struct { const char *red, *msg; } t[] = {
        { "{\"scheme\":\"https\",\"code\":300}", "redirect.code: bad code 300 (expected 301, "
          "302, 303, 307 or 308)" },
        { "{\"scheme\":\"https\",\"code\":200}", "redirect.code: bad code 200" },
        { "{\"scheme\":\"https\",\"code\":\"301\"}", "redirect.code: expected an integer" },
        { "{\"scheme\":\"ftp\"}", "redirect.scheme: unknown scheme \"ftp\"" },
        { "{}", "redirect: needs exactly one of \"scheme\" or \"location\"" },
        { "{\"scheme\":\"https\",\"location\":\"https://a\"}", "needs exactly one of" },
        { "{\"location\":\"/relative\"}", "redirect.location: bad location \"/relative\": "
          "not an absolute http:// or https:// URL" },
        { "{\"location\":\"ftp://a.b/\"}", "not an absolute http:// or https:// URL" },
        { "{\"location\":\"https://\"}", "bad host[:port] \"\"" },
        { "{\"location\":\"https://a b/\"}", "only visible ASCII" },
        { "{\"location\":\"https://a.b/\\r\\nSet-Cookie: x=1\"}", "only visible ASCII" },
        { "{\"location\":\"https://a.b/\\u0001x\"}", "only visible ASCII" },
        { "{\"location\":\"https://a.b/\\u00e9\"}", "only visible ASCII" },
        { "{\"location\":\"https://a<b>/\"}", "bad host[:port] \"a<b>\"" },
        { "{\"location\":\"https://a.b:99999/\"}", "bad host[:port] \"a.b:99999\"" },
        { "{\"location\":\"https://user@a.b/\"}", "bad host[:port] \"user@a.b\"" },
        { "{\"location\":\"https://a.b/?q=1\"}", "has a query or fragment: the request's "
          "path cannot be appended (set \"keep_path\": false)" },
        { "{\"scheme\":\"https\",\"keep_path\":\"yes\"}", "redirect.keep_path: expected true "
          "or false" },
        { "{\"scheme\":\"https\",\"port\":443}", "redirect.port: unknown key" },
    };
    char doc[512];

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(doc, sizeof(doc), DOC_R("", "{\"redirect\":%s}"), t[i].red);
        struct conf *c = load(doc);
        CHECK(c == NULL);
        conf_free(c);
        CHECK_CONTAINS(err, "t.json:1: $.frontends[0].routes[0].redirect");
        CHECK_CONTAINS(err, t[i].msg);
    }
}

static void test_route_shape(void)
{
    CHECK_ERR(DOC_R("", "{\"host\":\"a.b\",\"backend\":\"nope\"}"),
              "t.json:1: $.frontends[0].routes[0].backend: no backend named \"nope\"");
    CHECK_ERR(DOC_R("", "{\"host\":\"a.b\",\"backend\":\"b\",\"redirect\":{\"scheme\":\"https\"}}"),
              "$.frontends[0].routes[0]: has both \"backend\" and \"redirect\": give one");
    CHECK_ERR(DOC_R("", "{\"host\":\"a.b\"}"),
              "$.frontends[0].routes[0]: needs \"backend\" or \"redirect\"");
    CHECK_ERR(DOC_R("", "{\"host\":\"a.b\",\"backend\":\"b\",\"hots\":1}"),
              "$.frontends[0].routes[0].hots: unknown key (expected one of: host, "
              "path_prefix, methods, backend, redirect)");
    CHECK_ERR(DOC_R("", "1"), "$.frontends[0].routes[0]: expected an object, got an integer");
    CHECK_ERR("{\"frontends\":[{\"name\":\"f\",\"bind\":\":1\",\"routes\":{}}],"
              "\"backends\":[{\"name\":\"b\"}]}",
              "$.frontends[0].routes: expected an array of routes, got an object");
}

static void test_proxy_protocol_keys(void)
{
    struct conf *c = load("{\"frontends\":[{\"name\":\"f\",\"bind\":\":18080\","
        "\"default_backend\":\"b\",\"accept_proxy\":true}],"
        "\"backends\":[{\"name\":\"b\",\"send_proxy\":\"v1\",\"servers\":["
        "{\"name\":\"s1\",\"address\":\"127.0.0.1:1\"},"
        "{\"name\":\"s2\",\"address\":\"127.0.0.1:2\",\"send_proxy\":\"v2\"}]},"
        "{\"name\":\"c\",\"servers\":[{\"name\":\"s\",\"address\":\"127.0.0.1:3\","
        "\"send_proxy\":\"v1\"}]}],"
        "\"defaults\":{\"timeout\":{\"tunnel\":\"90s\"}}}");

    CHECK_STR(err, "");
    if (!c)
        return;
    CHECK(c->frontends[0].accept_proxy);
    CHECK(c->timeout.tunnel_ms == 90000);
    CHECK(c->backends[0].send_proxy == CONF_SEND_PROXY_V1);
    CHECK(c->backends[0].servers[0].send_proxy == CONF_SEND_PROXY_V1); /* inherited */
    CHECK(c->backends[0].servers[1].send_proxy == CONF_SEND_PROXY_V2);
    CHECK(c->backends[1].send_proxy == CONF_SEND_PROXY_NONE);
    CHECK(c->backends[1].servers[0].send_proxy == CONF_SEND_PROXY_V1);
    conf_free(c);
}

/* One document, every kind of mistake: each reported, with its line. */
static void test_every_error_at_once(void)
{
    static const char doc[] =
        "{\n"
        "  \"defaults\": { \"timeout\": { \"tunnel\": \"0s\" } },\n"          /* 2 */
        "  \"frontends\": [ { \"name\": \"f\", \"bind\": \":18080\",\n"
        "    \"accept_proxy\": \"yes\",\n"                                     /* 4 */
        "    \"routes\": [\n"
        "      { \"host\": \"*\", \"backend\": \"b\" },\n"                     /* 6 */
        "      { \"host\": \"a.b\", \"backend\": \"nope\" },\n"                /* 7 */
        "      { \"path_prefix\": \"x\", \"backend\": \"b\",\n"               /* 8 */
        "        \"redirect\": { \"scheme\": \"https\" } },\n"
        "      { \"methods\": [\"GET\", \"FETCH\"] },\n"                      /* 10 */
        "      { \"redirect\": {\n"
        "          \"location\": \"https://a.b/\\r\\nX: y\",\n"             /* 12 */
        "          \"code\": 304 } }\n"                                        /* 13 */
        "    ] } ],\n"
        "  \"backends\": [ { \"name\": \"b\", \"send_proxy\": \"v3\",\n"      /* 15 */
        "      \"servers\": [ { \"address\": \"127.0.0.1:1\", \"send_proxy\": true } ] } ]\n"
        "}\n";
    struct conf *c = load(doc);

    CHECK(c == NULL);
    conf_free(c);
    CHECK_CONTAINS(err, "t.json:2: $.defaults.timeout.tunnel: must be at least 1ms");
    CHECK_CONTAINS(err, "t.json:4: $.frontends[0].accept_proxy: expected true or false");
    CHECK_CONTAINS(err, "t.json:6: $.frontends[0].routes[0].host: bad host \"*\"");
    CHECK_CONTAINS(err, "t.json:7: $.frontends[0].routes[1].backend: no backend named \"nope\"");
    CHECK_CONTAINS(err, "t.json:8: $.frontends[0].routes[2]: has both");
    CHECK_CONTAINS(err, "t.json:8: $.frontends[0].routes[2].path_prefix: \"x\" must start");
    CHECK_CONTAINS(err, "t.json:10: $.frontends[0].routes[3]: needs \"backend\" or \"redirect\"");
    CHECK_CONTAINS(err, "t.json:10: $.frontends[0].routes[3].methods[1]: unknown method \"FETCH\"");
    CHECK_CONTAINS(err, "t.json:12: $.frontends[0].routes[4].redirect.location: bad location");
    CHECK_CONTAINS(err, "t.json:13: $.frontends[0].routes[4].redirect.code: bad code 304");
    CHECK_CONTAINS(err, "t.json:15: $.backends[0].send_proxy: unknown PROXY protocol version "
                   "\"v3\" (expected \"v1\" or \"v2\")");
    CHECK_CONTAINS(err, "t.json:16: $.backends[0].servers[0].send_proxy: expected a string");
    CHECK(count_lines(err) == 12);
    /* The bad location is shown, its CR and LF made harmless. */
    CHECK(strstr(err, "\r") == NULL);
    CHECK_CONTAINS(err, "bad location \"https://a.b/??X: y\"");
}

static void test_authority_table(void)
{
    static const struct { const char *s; bool ok; } t[] = {
        { "example.com", true }, { "example.com:8080", true }, { "EXAMPLE.com:", true },
        { "10.0.0.1:80", true }, { "[::1]", true }, { "[::1]:443", true },
        { "[2001:db8::1]:8443", true }, { "[::ffff:10.0.0.1]", true }, { "a%2Db", true },
        { "a-b_c~d!$&'()*+,;=", true }, { "x:65535", true },
        { "", false }, { ":80", false }, { "a b", false }, { "a\r\nb", false },
        { "a:b", false }, { "a:65536", false }, { "a:123456", false }, { "a:80:80", false },
        { "[::1", false }, { "[::1]x", false }, { "[]", false }, { "[zz::1]", false },
        { "user@host", false }, { "a/b", false }, { "a?b", false }, { "a#b", false },
        { "a%2", false }, { "a%zz", false }, { "<script>", false }, { "a\"b", false },
        { "a\\b", false }, { "caf\xc3\xa9", false }, { "a\tb", false },
    };

    /* strchr() finds the terminating NUL: a NUL must not pass as a sub-delim. */
    CHECK(!conf_authority_ok("a\0b", 3));
    CHECK(!conf_authority_ok("ab\0", 3));
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        bool ok = conf_authority_ok(t[i].s, strlen(t[i].s));
        CHECK(ok == t[i].ok);
        if (ok != t[i].ok)
            fprintf(stderr, "  authority \"%s\"\n", t[i].s);
    }
}

UNIT_SUITE(conf_route_tests) = {
    { "conf_route_spec_example", test_spec_example },
    { "conf_route_defaults", test_defaults },
    { "conf_route_default_backend_optional", test_default_backend_optional },
    { "conf_route_host_patterns", test_host_patterns },
    { "conf_route_bad_hosts", test_bad_hosts },
    { "conf_route_methods", test_methods },
    { "conf_route_paths", test_paths },
    { "conf_route_redirects", test_redirects },
    { "conf_route_bad_redirects", test_bad_redirects },
    { "conf_route_shape", test_route_shape },
    { "conf_route_proxy_protocol_keys", test_proxy_protocol_keys },
    { "conf_route_every_error_at_once", test_every_error_at_once },
    { "conf_route_authority_table", test_authority_table },
    UNIT_END
};
