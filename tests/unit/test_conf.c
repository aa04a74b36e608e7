/* tests/unit/test_conf.c - conf/: the JSON schema, its defaults, every kind
 * of error (with path), and the small parsers (durations, addresses, expect). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "conf/conf.h"
#include "tests/unit/unit.h"

/* A minimal valid document, pieces of which the tests replace. */
#define FE_X(extra) "{\"name\":\"f\",\"bind\":[\"127.0.0.1:18080\"]," \
                    "\"default_backend\":\"b\"" extra "}"
#define BE_X(extra) "{\"name\":\"b\"" extra "}"
#define DOC(top, fe, be) "{" top "\"frontends\":[" fe "],\"backends\":[" be "]}"
#define DOC_FE(extra) DOC("", FE_X(extra), BE_X(""))
#define DOC_BE(extra) DOC("", FE_X(""), BE_X(extra))
#define DOC_TOP(top) DOC(top ",", FE_X(""), BE_X(""))

static char err[CONF_ERRLEN];

static struct conf *load(const char *json)
{
    return conf_load_string("t.json", json, err, sizeof(err));
}

/* Fails the test when json loads, or when the message lacks frag. */
#define CHECK_ERR(json, frag) do { struct conf *c_ = load(json); \
    CHECK(c_ == NULL); conf_free(c_); CHECK_CONTAINS(err, frag); } while (0)

static int count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static const char full_json[] =
    "{\n"
    "  \"global\":   { \"maxconn\": 5000, \"workers\": 2, \"grace\": \"3s\",\n"
    "                \"user\": null, \"group\": null, \"chroot\": null,\n"
    "                \"access_log\": \"/var/log/lxlb.log\" },\n"
    "  \"admin\":    { \"bind\": \"127.0.0.1:19000\", \"token\": null },\n"
    "  \"defaults\": { \"timeout\": { \"connect\": \"4s\", \"client\": \"40s\", \"server\": 30000,\n"
    "                             \"keepalive\": \"1m\", \"http_request\": \"500ms\" },\n"
    "                \"retries\": 2,\n"
    "                \"limits\": { \"request_line\": 4096, \"header_size\": 16384,\n"
    "                            \"header_count\": 50 } },\n"
    "  \"frontends\": [ {\n"
    "      \"name\": \"http\",\n"
    "      \"bind\": [\"127.0.0.1:18080\", \"[::1]:18080\"],\n"
    "      \"tls\": { \"cert\": \"/etc/lxlb/site.crt\", \"key\": \"/etc/lxlb/site.key\",\n"
    "               \"certs\": [ { \"cert\": \"/etc/lxlb/other.pem\" } ] },\n"
    "      \"default_backend\": \"http_nodes\",\n"
    "      \"forwardfor\": false,\n"
    "      \"http_close\": true,\n"
    "      \"set_headers\": { \"X-Forwarded-Proto\": \"https\", \"X-Empty\": \"\" } } ],\n"
    "  \"backends\": [ {\n"
    "      \"name\": \"http_nodes\",\n"
    "      \"balance\": \"leastconn\",\n"
    "      \"http_close\": true,\n"
    "      \"redispatch\": false,\n"
    "      \"retries\": 5,\n"
    "      \"health\": { \"path\": \"/check\", \"interval\": \"1s\", \"timeout\": \"2h\",\n"
    "                  \"rise\": 4, \"fall\": 6, \"expect\": \"200,3xx\" },\n"
    "      \"cookie\": { \"name\": \"SID\", \"mode\": \"insert\",\n"
    "                  \"indirect\": true, \"nocache\": true,\n"
    "                  \"httponly\": true, \"secure\": true },\n"
    "      \"servers\": [ { \"name\": \"http1\", \"address\": \"127.0.0.1:8081\",\n"
    "                     \"weight\": 3, \"cookie\": \"h1\" },\n"
    "                   { \"name\": \"http2\", \"address\": \"unix:/run/web.sock\" } ],\n"
    "      \"discovery\": {\n"
    "          \"lxc\":  { \"lxcpath\": \"/srv/lxc\", \"group\": \"web\", \"match\": \"web*\",\n"
    "                    \"port\": 8080, \"interface\": \"eth1\", \"ip_timeout\": \"10s\" },\n"
    "          \"etcd\": { \"endpoints\": [\"http://10.0.0.1:2379\", \"https://10.0.0.2:2379\"],\n"
    "                    \"prefix\": \"/x/\" } } } ]\n"
    "}\n";

static void test_valid_full(void)
{
    struct conf *c = load(full_json);
    struct conf_frontend *f;
    struct conf_backend *b;

    CHECK_STR(err, "");
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_STR(c->path, "t.json");
    CHECK(c->global.maxconn == 5000 && c->global.workers == 2 && c->global.grace_ms == 3000);
    CHECK(!c->global.user && !c->global.group && !c->global.chroot); /* see test_privileges */
    CHECK_STR(c->global.access_log, "/var/log/lxlb.log");
    CHECK(c->admin.enabled && c->admin.token == NULL);
    CHECK(c->admin.bind.family == AF_INET);
    CHECK_STR(c->admin.bind.text, "127.0.0.1:19000");
    CHECK(c->timeout.connect_ms == 4000 && c->timeout.client_ms == 40000);
    CHECK(c->timeout.server_ms == 30000 && c->timeout.keepalive_ms == 60000);
    CHECK(c->timeout.http_request_ms == 500);
    CHECK(c->retries == 2);
    CHECK(c->limits.request_line == 4096 && c->limits.header_size == 16384);
    CHECK(c->limits.header_count == 50);

    CHECK(c->nfrontends == 1);
    f = &c->frontends[0];
    CHECK_STR(f->name, "http");
    CHECK(f->nbinds == 2 && f->binds[0].family == AF_INET && f->binds[1].family == AF_INET6);
    CHECK_STR(f->binds[1].text, "[::1]:18080");
    CHECK(f->tls.enabled && f->tls.ncerts == 2);
    CHECK_STR(f->tls.certs[0].cert, "/etc/lxlb/site.crt");
    CHECK_STR(f->tls.certs[0].key, "/etc/lxlb/site.key");
    CHECK_STR(f->tls.certs[1].cert, "/etc/lxlb/other.pem");
    CHECK_STR(f->tls.certs[1].key, "/etc/lxlb/other.pem");
    CHECK_STR(f->default_backend, "http_nodes");
    CHECK(f->backend == &c->backends[0]);
    CHECK(!f->forwardfor && f->http_close);
    CHECK(f->nset_headers == 2);
    CHECK_STR(f->set_headers[0].name, "X-Forwarded-Proto");
    CHECK_STR(f->set_headers[0].value, "https");
    CHECK_STR(f->set_headers[1].value, "");

    CHECK(c->nbackends == 1);
    b = &c->backends[0];
    CHECK_STR(b->name, "http_nodes");
    CHECK(b->balance == CONF_BALANCE_LEASTCONN && b->http_close && !b->redispatch);
    CHECK(b->retries == 5);
    CHECK(b->health.enabled);
    CHECK_STR(b->health.path, "/check");
    CHECK(b->health.interval_ms == 1000 && b->health.timeout_ms == 7200000);
    CHECK(b->health.rise == 4 && b->health.fall == 6 && b->health.nexpect == 2);
    CHECK(b->health.expect[0].lo == 200 && b->health.expect[0].hi == 200);
    CHECK(b->health.expect[1].lo == 300 && b->health.expect[1].hi == 399);
    CHECK(b->cookie.mode == CONF_COOKIE_INSERT);
    CHECK_STR(b->cookie.name, "SID");
    CHECK(b->cookie.indirect && b->cookie.nocache && b->cookie.httponly && b->cookie.secure);
    CHECK(b->nservers == 2);
    CHECK_STR(b->servers[0].name, "http1");
    CHECK_STR(b->servers[0].cookie, "h1");
    CHECK(b->servers[0].weight == 3);
    CHECK(ntohs(((struct sockaddr_in *)&b->servers[0].addr.ss)->sin_port) == 8081);
    CHECK(b->servers[1].addr.family == AF_UNIX);
    CHECK_STR(b->servers[1].cookie, "http2");
    CHECK(b->servers[1].weight == 1);
    CHECK(b->lxc.enabled);
    CHECK_STR(b->lxc.lxcpath, "/srv/lxc");
    CHECK_STR(b->lxc.group, "web");
    CHECK_STR(b->lxc.match, "web*");
    CHECK(b->lxc.port == 8080 && b->lxc.ip_timeout_ms == 10000);
    CHECK_STR(b->lxc.interface, "eth1");
    CHECK(b->etcd.enabled && b->etcd.nendpoints == 2);
    CHECK_STR(b->etcd.endpoints[1], "https://10.0.0.2:2379");
    CHECK_STR(b->etcd.prefix, "/x/");
    CHECK(conf_find_backend(c, "http_nodes") == b);
    CHECK(conf_find_backend(c, "nope") == NULL);
    conf_free(c);
}

static void test_minimal_defaults(void)
{
    struct conf *c = load(DOC("", FE_X(""), BE_X("")));
    struct conf_backend *b;

    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(c->global.maxconn == 20000 && c->global.workers == 1);
    CHECK(c->global.grace_ms == 10000);
    CHECK(!c->global.user && !c->global.group && !c->global.chroot);
    CHECK_STR(c->global.access_log, "stderr");
    CHECK(!c->admin.enabled && !c->admin.token);
    CHECK(c->timeout.connect_ms == 5000 && c->timeout.client_ms == 50000);
    CHECK(c->timeout.server_ms == 50000 && c->timeout.keepalive_ms == 10000);
    CHECK(c->timeout.http_request_ms == 10000);
    CHECK(c->limits.request_line == 8192 && c->limits.header_size == 32768);
    CHECK(c->limits.header_count == 100);
    CHECK(c->retries == 3);
    CHECK(c->frontends[0].forwardfor && !c->frontends[0].http_close);
    CHECK(!c->frontends[0].tls.enabled && c->frontends[0].nset_headers == 0);
    CHECK(c->frontends[0].backend == &c->backends[0]);
    b = &c->backends[0];
    CHECK(b->balance == CONF_BALANCE_ROUNDROBIN && !b->http_close && b->redispatch);
    CHECK(b->retries == 3);
    CHECK(!b->health.enabled && b->cookie.mode == CONF_COOKIE_NONE);
    CHECK(b->nservers == 0 && !b->lxc.enabled && !b->etcd.enabled);
    conf_free(c);
}

static void test_empty_sections_defaults(void)
{
    struct conf *c = load(DOC_BE(",\"health\":{},\"cookie\":{},\"retries\":null,"
                                 "\"discovery\":{\"lxc\":{},\"etcd\":{}}"));
    struct conf_backend *b;

    CHECK(c != NULL);
    if (!c)
        return;
    b = &c->backends[0];
    CHECK(b->health.enabled);
    CHECK_STR(b->health.path, "/");
    CHECK(b->health.interval_ms == 5000 && b->health.timeout_ms == 2000);
    CHECK(b->health.rise == 2 && b->health.fall == 3);
    CHECK(b->health.nexpect == 1 && b->health.expect[0].lo == 200 &&
          b->health.expect[0].hi == 399);
    CHECK(b->cookie.mode == CONF_COOKIE_PREFIX);
    CHECK_STR(b->cookie.name, "JSESSIONID");
    CHECK(!b->cookie.indirect && !b->cookie.nocache && !b->cookie.httponly &&
          !b->cookie.secure);
    CHECK(b->lxc.enabled);
    CHECK_STR(b->lxc.lxcpath, "/var/lib/lxc");
    CHECK(b->lxc.group == NULL);
    CHECK_STR(b->lxc.match, "*");
    CHECK(b->lxc.port == 80 && b->lxc.ip_timeout_ms == 30000);
    CHECK_STR(b->lxc.interface, "eth0");
    CHECK(b->etcd.enabled && b->etcd.nendpoints == 1);
    CHECK_STR(b->etcd.endpoints[0], "http://127.0.0.1:2379");
    CHECK_STR(b->etcd.prefix, "/lxlb/b/");
    conf_free(c);
}

static void test_server_defaults(void)
{
    struct conf *c = load(DOC("\"defaults\":{\"retries\":7},", FE_X(""),
                              BE_X(",\"servers\":[{\"address\":\"127.0.0.1:1\"},"
                                   "{\"name\":\"web-1.x\",\"address\":\"127.0.0.1:2\","
                                   "\"weight\":0}]")));

    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(c->backends[0].retries == 7);
    CHECK_STR(c->backends[0].servers[0].name, "srv1");
    CHECK_STR(c->backends[0].servers[0].cookie, "srv1");
    CHECK(c->backends[0].servers[0].weight == 1);
    CHECK_STR(c->backends[0].servers[1].cookie, "web-1.x");
    CHECK(c->backends[0].servers[1].weight == 0);
    conf_free(c);
}

static void test_bind_string(void)
{
    struct conf *c = load(DOC("", "{\"name\":\"f\",\"bind\":\":18081\",\"default_backend\":\"b\"}",
                              BE_X("")));
    const struct sockaddr_in *sin;

    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(c->frontends[0].nbinds == 1);
    sin = (const struct sockaddr_in *)&c->frontends[0].binds[0].ss;
    CHECK(sin->sin_addr.s_addr == htonl(INADDR_ANY) && ntohs(sin->sin_port) == 18081);
    conf_free(c);
}

static void test_tls(void)
{
    struct conf *c = load(DOC_FE(",\"tls\":{\"cert\":\"/a.pem\"}"));

    CHECK(c && c->frontends[0].tls.ncerts == 1);
    if (c) {
        CHECK_STR(c->frontends[0].tls.certs[0].key, "/a.pem");
        conf_free(c);
    }
    c = load(DOC_FE(",\"tls\":{\"certs\":[{\"cert\":\"/a\",\"key\":\"/k\"},{\"cert\":\"/b\"}]}"));
    CHECK(c && c->frontends[0].tls.ncerts == 2);
    if (c) {
        CHECK_STR(c->frontends[0].tls.certs[0].key, "/k");
        conf_free(c);
    }
    CHECK_ERR(DOC_FE(",\"tls\":{}"), "t.json:1: $.frontends[0].tls: needs \"cert\"");
    CHECK_ERR(DOC_FE(",\"tls\":{\"key\":\"/k\"}"), "$.frontends[0].tls: \"key\" given without");
    CHECK_ERR(DOC_FE(",\"tls\":{\"certs\":[{\"key\":\"/k\"}]}"),
              "$.frontends[0].tls.certs[0]: missing required key \"cert\"");
    CHECK_ERR(DOC_FE(",\"tls\":{\"cert\":\"/a\",\"chain\":\"/c\"}"),
              "$.frontends[0].tls.chain: unknown key");
}

static void test_unknown_keys(void)
{
    CHECK_ERR(DOC_TOP("\"globals\":{}"), "t.json:1: $.globals: unknown key (expected one of: "
              "global, admin, defaults, frontends, backends, acme)");
    CHECK_ERR(DOC_TOP("\"global\":{\"maxconns\":1}"), "$.global.maxconns: unknown key");
    CHECK_ERR(DOC_TOP("\"defaults\":{\"timeout\":{\"queue\":\"1s\"}}"),
              "$.defaults.timeout.queue: unknown key");
    CHECK_ERR(DOC_FE(",\"mode\":\"http\""), "$.frontends[0].mode: unknown key");
    CHECK_ERR(DOC_BE(",\"servers\":[{\"address\":\"127.0.0.1:1\",\"check\":true}]"),
              "$.backends[0].servers[0].check: unknown key");
    CHECK_ERR(DOC_BE(",\"discovery\":{\"docker\":{}}"),
              "$.backends[0].discovery.docker: unknown key");
    CHECK_ERR(DOC_BE(",\"health\":{\"uri\":\"/\"}"), "$.backends[0].health.uri: unknown key");
}

static void test_wrong_types(void)
{
    CHECK_ERR(DOC_TOP("\"global\":{\"maxconn\":\"10\"}"),
              "$.global.maxconn: expected an integer, got a string");
    CHECK_ERR(DOC_TOP("\"global\":[]"), "$.global: expected an object, got an array");
    CHECK_ERR(DOC_FE(",\"forwardfor\":\"yes\""),
              "$.frontends[0].forwardfor: expected true or false, got a string");
    CHECK_ERR(DOC("", "{\"name\":\"f\",\"bind\":80,\"default_backend\":\"b\"}", BE_X("")),
              "$.frontends[0].bind: expected a string or an array of strings, got an integer");
    CHECK_ERR(DOC("", "{\"name\":\"f\",\"bind\":[80],\"default_backend\":\"b\"}", BE_X("")),
              "$.frontends[0].bind[0]: expected a string, got an integer");
    CHECK_ERR(DOC_BE(",\"servers\":{}"), "$.backends[0].servers: expected an array");
    CHECK_ERR(DOC_BE(",\"servers\":[1]"), "$.backends[0].servers[0]: expected an object");
    CHECK_ERR(DOC_BE(",\"retries\":1.5"), "$.backends[0].retries: expected an integer, "
              "got a real number");
    CHECK_ERR(DOC_BE(",\"name\":\"\""), "");
    CHECK_ERR("[]", "t.json:1: $: expected an object, got an array");
}

static void test_missing_required(void)
{
    CHECK_ERR(DOC("", "{\"bind\":[\":1\"],\"default_backend\":\"b\"}", BE_X("")),
              "t.json:1: $.frontends[0]: missing required key \"name\"");
    CHECK_ERR(DOC("", "{\"name\":\"f\",\"default_backend\":\"b\"}", BE_X("")),
              "$.frontends[0]: missing required key \"bind\"");
    CHECK_ERR(DOC("", "{\"name\":\"f\",\"bind\":[\":1\"]}", BE_X("")),
              "$.frontends[0]: missing required key \"default_backend\"");
    CHECK_ERR(DOC("", FE_X(""), "{\"balance\":\"roundrobin\"}"),
              "$.backends[0]: missing required key \"name\"");
    CHECK_ERR(DOC_BE(",\"servers\":[{\"name\":\"s\"}]"),
              "$.backends[0].servers[0]: missing required key \"address\"");
    CHECK_ERR("{\"backends\":[" BE_X("") "]}", "t.json:1: $: missing required key \"frontends\"");
    CHECK_ERR("{\"frontends\":[" FE_X("") "]}", "$: missing required key \"backends\"");
    CHECK_ERR("{\"frontends\":[],\"backends\":[" BE_X("") "]}",
              "$.frontends: at least one frontend is required");
    CHECK_ERR("{\"frontends\":[" FE_X("") "],\"backends\":[]}",
              "$.backends: at least one backend is required");
    CHECK_ERR(DOC("", "{\"name\":\"f\",\"bind\":[],\"default_backend\":\"b\"}", BE_X("")),
              "$.frontends[0].bind: must not be empty");
}

static void test_default_backend_missing(void)
{
    CHECK_ERR(DOC("", "{\"name\":\"f\",\"bind\":[\":1\"],\"default_backend\":\"nope\"}",
                  BE_X("")), "$.frontends[0].default_backend: no backend named \"nope\"");
}

static void test_duplicate_names(void)
{
    CHECK_ERR(DOC("", FE_X("") "," "{\"name\":\"f\",\"bind\":[\"127.0.0.1:18082\"],"
                  "\"default_backend\":\"b\"}", BE_X("")),
              "$.frontends[1].name: duplicate frontend name \"f\" (also $.frontends[0])");
    CHECK_ERR(DOC("", FE_X(""), BE_X("") "," BE_X("")),
              "$.backends[1].name: duplicate backend name \"b\" (also $.backends[0])");
    CHECK_ERR(DOC_BE(",\"servers\":[{\"name\":\"a\",\"address\":\"127.0.0.1:1\",\"cookie\":\"x\"},"
                     "{\"name\":\"a\",\"address\":\"127.0.0.1:2\",\"cookie\":\"y\"}]"),
              "$.backends[0].servers[1].name: duplicate server name \"a\" (also servers[0])");
    CHECK_ERR(DOC_BE(",\"servers\":[{\"name\":\"a\",\"address\":\"127.0.0.1:1\",\"cookie\":\"x\"},"
                     "{\"name\":\"c\",\"address\":\"127.0.0.1:2\",\"cookie\":\"x\"}]"),
              "$.backends[0].servers[1].cookie: duplicate server cookie \"x\"");
    /* A server cookie defaulting to another's explicit cookie clashes too. */
    CHECK_ERR(DOC_BE(",\"servers\":[{\"name\":\"a\",\"address\":\"127.0.0.1:1\",\"cookie\":\"c\"},"
                     "{\"name\":\"c\",\"address\":\"127.0.0.1:2\"}]"),
              "duplicate server cookie \"c\"");
}

static void test_same_server_name_other_backend(void)
{
    struct conf *c = load(DOC("", FE_X(""),
        BE_X(",\"servers\":[{\"name\":\"s\",\"address\":\"127.0.0.1:1\"}]") ","
        "{\"name\":\"b2\",\"servers\":[{\"name\":\"s\",\"address\":\"127.0.0.1:1\"}]}"));

    CHECK(c != NULL);
    conf_free(c);
}

static void test_bad_server_address(void)
{
    CHECK_ERR(DOC_BE(",\"servers\":[{\"name\":\"a\",\"address\":\"127.0.0.1:1\"},"
                     "{\"name\":\"b\",\"address\":\"x:y\"}]"),
              "t.json:1: $.backends[0].servers[1].address: bad address \"x:y\": "
              "port must be 1-65535");
    CHECK_ERR(DOC_BE(",\"servers\":[{\"address\":\"127.0.0.1\"}]"),
              "$.backends[0].servers[0].address: bad address \"127.0.0.1\": missing port");
    CHECK_ERR(DOC("", "{\"name\":\"f\",\"bind\":[\"::1:80\"],\"default_backend\":\"b\"}",
                  BE_X("")), "$.frontends[0].bind[0]: bad address \"::1:80\": IPv6 "
              "addresses must be written [addr]:port");
}

static void test_bad_duration_field(void)
{
    CHECK_ERR(DOC_TOP("\"global\":{\"grace\":\"10 s\"}"),
              "$.global.grace: bad duration \"10 s\": expected an integer with unit");
    CHECK_ERR(DOC_TOP("\"defaults\":{\"timeout\":{\"connect\":-5}}"),
              "$.defaults.timeout.connect: bad duration -5");
    CHECK_ERR(DOC_TOP("\"defaults\":{\"timeout\":{\"client\":true}}"),
              "$.defaults.timeout.client: expected a duration");
    CHECK_ERR(DOC_TOP("\"defaults\":{\"timeout\":{\"server\":\"0s\"}}"),
              "$.defaults.timeout.server: must be at least 1ms");
    CHECK_ERR(DOC_BE(",\"health\":{\"interval\":\"5d\"}"),
              "$.backends[0].health.interval: bad duration \"5d\"");
    CHECK_ERR(DOC_BE(",\"discovery\":{\"lxc\":{\"ip_timeout\":\"50d\"}}"),
              "$.backends[0].discovery.lxc.ip_timeout: bad duration");
}

static void test_ranges(void)
{
    CHECK_ERR(DOC_TOP("\"global\":{\"maxconn\":0}"), "$.global.maxconn: must be at least 1, got 0");
    CHECK_ERR(DOC_TOP("\"global\":{\"workers\":65}"), "$.global.workers: must be 1-64, got 65");
    CHECK_ERR(DOC_TOP("\"global\":{\"workers\":0}"), "$.global.workers: must be 1-64, got 0");
    CHECK_ERR(DOC_TOP("\"defaults\":{\"retries\":101}"), "$.defaults.retries: must be 0-100");
    CHECK_ERR(DOC_BE(",\"retries\":-1"), "$.backends[0].retries: must be 0-100, got -1");
    CHECK_ERR(DOC_BE(",\"servers\":[{\"address\":\"127.0.0.1:1\",\"weight\":257}]"),
              "$.backends[0].servers[0].weight: must be 0-256, got 257");
    CHECK_ERR(DOC_BE(",\"health\":{\"rise\":0}"), "$.backends[0].health.rise: must be 1-");
    CHECK_ERR(DOC_BE(",\"health\":{\"fall\":0}"), "$.backends[0].health.fall: must be 1-");
    CHECK_ERR(DOC_BE(",\"discovery\":{\"lxc\":{\"port\":65536}}"),
              "$.backends[0].discovery.lxc.port: must be 1-65535");
    CHECK_ERR(DOC_TOP("\"defaults\":{\"limits\":{\"request_line\":10}}"),
              "$.defaults.limits.request_line: must be 256-");
    CHECK_ERR(DOC_TOP("\"defaults\":{\"limits\":{\"header_size\":100}}"),
              "$.defaults.limits.header_size: must be 1024-");
    CHECK_ERR(DOC_TOP("\"defaults\":{\"limits\":{\"header_count\":0}}"),
              "$.defaults.limits.header_count: must be 1-");
}

static void test_enums(void)
{
    struct conf *c;

    CHECK_ERR(DOC_BE(",\"balance\":\"random\""),
              "$.backends[0].balance: unknown balance \"random\" (expected roundrobin or leastconn)");
    CHECK_ERR(DOC_BE(",\"cookie\":{\"mode\":\"passive\"}"),
              "$.backends[0].cookie.mode: unknown mode \"passive\"");
    CHECK_ERR(DOC_BE(",\"cookie\":{\"name\":\"a b\"}"),
              "$.backends[0].cookie.name: bad cookie name \"a b\"");
    c = load(DOC_BE(",\"cookie\":{\"mode\":\"rewrite\"}"));
    CHECK(c && c->backends[0].cookie.mode == CONF_COOKIE_REWRITE);
    conf_free(c);
    c = load(DOC_TOP("\"global\":{\"access_log\":\"off\"}"));
    CHECK(c != NULL);
    if (c)
        CHECK_STR(c->global.access_log, "off");
    conf_free(c);
}

static void test_admin(void)
{
    struct conf *c;

    CHECK_ERR(DOC_TOP("\"admin\":{\"bind\":\":19000\"}"),
              "t.json:1: $.admin.bind: \":19000\" is not loopback or unix: admin.token is required");
    CHECK_ERR(DOC_TOP("\"admin\":{\"bind\":\"0.0.0.0:19000\",\"token\":\"\"}"),
              "$.admin.token: must not be empty");
    c = load(DOC_TOP("\"admin\":{\"bind\":\":19000\",\"token\":\"s3cret\"}"));
    CHECK(c && c->admin.enabled);
    if (c)
        CHECK_STR(c->admin.token, "s3cret");
    conf_free(c);
    c = load(DOC_TOP("\"admin\":{\"bind\":\"unix:/tmp/lxlb-admin.sock\"}"));
    CHECK(c && c->admin.enabled && c->admin.bind.family == AF_UNIX);
    conf_free(c);
    c = load(DOC_TOP("\"admin\":{\"bind\":\"[::1]:19000\"}"));
    CHECK(c && c->admin.enabled);
    conf_free(c);
    c = load(DOC_TOP("\"admin\":{}"));
    CHECK(c && !c->admin.enabled);
    conf_free(c);
}

static void test_bind_twice(void)
{
    CHECK_ERR(DOC("", "{\"name\":\"f\",\"bind\":[\"127.0.0.1:18080\",\"127.0.0.1:18080\"],"
                  "\"default_backend\":\"b\"}", BE_X("")),
              "$.frontends[0].bind[1]: address \"127.0.0.1:18080\" already used by "
              "$.frontends[0].bind[0]");
    CHECK_ERR(DOC("", FE_X("") ",{\"name\":\"g\",\"bind\":[\"127.0.0.1:18080\"],"
                  "\"default_backend\":\"b\"}", BE_X("")),
              "$.frontends[1].bind[0]: address \"127.0.0.1:18080\" already used by "
              "$.frontends[0].bind[0]");
    CHECK_ERR(DOC("", FE_X("") ",{\"name\":\"g\",\"bind\":[\":18080\"],"
                  "\"default_backend\":\"b\"}", BE_X("")),
              "$.frontends[1].bind[0]: address \":18080\" already used by");
    CHECK_ERR(DOC_TOP("\"admin\":{\"bind\":\"127.0.0.1:18080\"}"),
              "$.admin.bind: address \"127.0.0.1:18080\" already used by $.frontends[0].bind[0]");
    CHECK_ERR(DOC("", "{\"name\":\"f\",\"bind\":[\"unix:/tmp/a\",\"unix:/tmp/a\"],"
                  "\"default_backend\":\"b\"}", BE_X("")), "$.frontends[0].bind[1]: address");
}

static void test_etcd(void)
{
    CHECK_ERR(DOC_BE(",\"discovery\":{\"etcd\":{\"endpoints\":[\"127.0.0.1:2379\"]}}"),
              "$.backends[0].discovery.etcd.endpoints[0]: bad endpoint \"127.0.0.1:2379\"");
    CHECK_ERR(DOC_BE(",\"discovery\":{\"etcd\":{\"endpoints\":[]}}"),
              "$.backends[0].discovery.etcd.endpoints: must not be empty");
    CHECK_ERR(DOC_BE(",\"discovery\":{\"etcd\":{\"prefix\":\"x/\"}}"),
              "$.backends[0].discovery.etcd.prefix: must start with '/'");
}

static void test_duration_table(void)
{
    static const struct { const char *s; int ok; uint32_t ms; } t[] = {
        { "0", 1, 0 }, { "500", 1, 500 }, { "500ms", 1, 500 }, { "5s", 1, 5000 },
        { "2m", 1, 120000 }, { "1h", 1, 3600000 }, { "4294967295ms", 1, 4294967295u },
        { "4294967s", 1, 4294967000u }, { "1193h", 1, 4294800000u },
        { "", 0, 0 }, { "s", 0, 0 }, { "-5s", 0, 0 }, { "+5s", 0, 0 }, { "5x", 0, 0 },
        { "5 s", 0, 0 }, { " 5s", 0, 0 }, { "5S", 0, 0 }, { "1.5s", 0, 0 }, { "5d", 0, 0 },
        { "4294967296", 0, 0 }, { "4294968s", 0, 0 }, { "1194h", 0, 0 },
        { "99999999999999999999999", 0, 0 }, { "5ms5", 0, 0 },
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint32_t ms = 12345;
        int rc = conf_parse_duration(t[i].s, &ms);

        if ((rc == 0) != t[i].ok || (t[i].ok && ms != t[i].ms)) {
            fprintf(stderr, "  duration \"%s\": rc %d ms %u\n", t[i].s, rc, ms);
            CHECK(0);
        }
    }
    CHECK(conf_parse_duration(NULL, &(uint32_t){0}) < 0);
}

static void test_addr_table(void)
{
    static const struct { const char *s; int family; const char *why; } t[] = {
        { "127.0.0.1:80", AF_INET, NULL },
        { ":8080", AF_INET, NULL },
        { "0.0.0.0:1", AF_INET, NULL },
        { "*:65535", AF_INET, NULL },
        { "[::1]:443", AF_INET6, NULL },
        { "[::]:443", AF_INET6, NULL },
        { "[fe80::1%lo]:443", AF_INET6, NULL },
        { "unix:/run/lxlb.sock", AF_UNIX, NULL },
        { "unix:rel.sock", AF_UNIX, NULL },
        { "127.0.0.1:0", 0, "port must be 1-65535" },
        { "127.0.0.1:65536", 0, "port must be 1-65535" },
        { "127.0.0.1:-1", 0, "port must be 1-65535" },
        { "127.0.0.1:+80", 0, "port must be 1-65535" },
        { "127.0.0.1:http", 0, "port must be 1-65535" },
        { "127.0.0.1", 0, "missing port" },
        { "127.0.0.1:", 0, "missing port" },
        { "[::1]", 0, "missing port" },
        { "[::1]:", 0, "missing port" },
        { "[::1]x:80", 0, "expected ':' after ']'" },
        { "[::1:80", 0, "missing ']'" },
        { "[zz::q]:80", 0, "bad IPv6 address \"zz::q\"" },
        { "[127.0.0.1]:80", 0, "bad IPv6 address" },
        { "::1:80", 0, "IPv6 addresses must be written [addr]:port" },
        { "", 0, "empty address" },
        { "unix:", 0, "empty unix socket path" },
        { "127.0.0.1 :80", 0, "white space" },
        { "garbage", 0, "missing port" },
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct conf_addr a;
        char why[256] = "";
        int rc = conf_parse_addr(t[i].s, &a, why, sizeof(why));

        if (t[i].family) {
            if (rc != 0 || a.family != t[i].family || strcmp(a.text, t[i].s) != 0) {
                fprintf(stderr, "  addr \"%s\": rc %d family %d (%s)\n", t[i].s, rc,
                        a.family, why);
                CHECK(0);
            }
        } else {
            CHECK(rc < 0);
            CHECK_CONTAINS(why, t[i].why);
        }
    }
}

static void test_addr_details(void)
{
    char why[256], longpath[200];
    struct conf_addr a;
    const struct sockaddr_in *sin = (const void *)&a.ss;
    const struct sockaddr_in6 *sin6 = (const void *)&a.ss;
    const struct sockaddr_un *sun = (const void *)&a.ss;

    CHECK(conf_parse_addr(":8080", &a, why, sizeof(why)) == 0);
    CHECK(sin->sin_addr.s_addr == htonl(INADDR_ANY) && ntohs(sin->sin_port) == 8080);
    CHECK(a.len == sizeof(struct sockaddr_in));
    CHECK(conf_parse_addr("10.1.2.3:81", &a, why, sizeof(why)) == 0);
    CHECK(sin->sin_addr.s_addr == htonl(0x0a010203) && ntohs(sin->sin_port) == 81);
    CHECK(conf_parse_addr("[::1]:82", &a, why, sizeof(why)) == 0);
    CHECK(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) && ntohs(sin6->sin6_port) == 82);
    CHECK(a.len == sizeof(struct sockaddr_in6));
    CHECK(conf_parse_addr("unix:/run/x.sock", &a, why, sizeof(why)) == 0);
    CHECK_STR(sun->sun_path, "/run/x.sock");
    /* Host names resolve (here through /etc/hosts, no network needed). */
    CHECK(conf_parse_addr("localhost:83", &a, why, sizeof(why)) == 0);
    CHECK(conf_addr_is_local(&a));
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    memcpy(longpath, "unix:/", 6);
    CHECK(conf_parse_addr(longpath, &a, why, sizeof(why)) < 0);
    CHECK_CONTAINS(why, "longer than 119 bytes");
    longpath[115] = '\0';
    CHECK(conf_parse_addr(longpath, &a, why, sizeof(why)) < 0);
    CHECK_CONTAINS(why, "unix socket path longer than 107 bytes");
}

static void test_addr_compare(void)
{
    struct conf_addr a, b, c, d;

    CHECK(conf_parse_addr(":80", &a, NULL, 0) == 0);
    CHECK(conf_parse_addr("127.0.0.1:80", &b, NULL, 0) == 0);
    CHECK(conf_parse_addr("127.0.0.1:81", &c, NULL, 0) == 0);
    CHECK(conf_parse_addr("0.0.0.0:80", &d, NULL, 0) == 0);
    CHECK(conf_addr_same(&a, &d) && !conf_addr_same(&a, &b));
    CHECK(conf_addr_overlap(&a, &b) && conf_addr_overlap(&b, &a));
    CHECK(!conf_addr_overlap(&b, &c) && !conf_addr_overlap(&a, &c));
    CHECK(!conf_addr_is_local(&a) && conf_addr_is_local(&b));
    CHECK(conf_parse_addr("[::ffff:127.0.0.2]:80", &a, NULL, 0) == 0);
    CHECK(conf_addr_is_local(&a));
    CHECK(conf_parse_addr("[::]:80", &a, NULL, 0) == 0);
    CHECK(!conf_addr_is_local(&a) && !conf_addr_overlap(&a, &d));
    CHECK(conf_parse_addr("10.0.0.1:80", &a, NULL, 0) == 0);
    CHECK(!conf_addr_is_local(&a));
}

static void test_expect_table(void)
{
    static const struct { const char *s; size_t n; uint16_t lo0, hi0, lolast, hilast; } ok[] = {
        { "2xx-3xx", 1, 200, 399, 200, 399 },
        { "200", 1, 200, 200, 200, 200 },
        { "200-299", 1, 200, 299, 200, 299 },
        { "2xx", 1, 200, 299, 200, 299 },
        { "200,301-302,4xx", 3, 200, 200, 400, 499 },
        { "100-599", 1, 100, 599, 100, 599 },
        { "200, 204", 2, 200, 200, 204, 204 },
        { "200-2xx", 1, 200, 299, 200, 299 },
    };
    static const char *const bad[] = {
        "", "99", "600", "6xx", "0xx", "2x", "20", "2000", "abc", "300-200", "200-",
        "-200", "200,", ",200", "2xx-1xx", "200--300",
        "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
        "200,201,202,203,204,205,206,207,208,209,210,211,212,213,214,215,216",
    };
    struct conf_status_range r[CONF_MAX_EXPECT];
    char why[256];
    size_t n;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        n = 0;
        if (conf_parse_expect(ok[i].s, r, &n, why, sizeof(why)) != 0 || n != ok[i].n ||
            r[0].lo != ok[i].lo0 || r[0].hi != ok[i].hi0 || r[n - 1].lo != ok[i].lolast ||
            r[n - 1].hi != ok[i].hilast) {
            fprintf(stderr, "  expect \"%s\" failed (n %zu, %s)\n", ok[i].s, n, why);
            CHECK(0);
        }
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (conf_parse_expect(bad[i], r, &n, why, sizeof(why)) == 0) {
            fprintf(stderr, "  expect \"%s\" accepted\n", bad[i]);
            CHECK(0);
        }
    }
    CHECK(conf_parse_expect("2xx,7", r, &n, why, sizeof(why)) < 0);
    CHECK_CONTAINS(why, "bad status range \"7\"");
}

static void test_expect_field(void)
{
    struct conf *c = load(DOC_BE(",\"health\":{\"expect\":\"200,301-302,4xx\"}"));

    CHECK(c && c->backends[0].health.nexpect == 3);
    if (c) {
        CHECK(conf_status_expected(&c->backends[0].health, 200));
        CHECK(conf_status_expected(&c->backends[0].health, 302));
        CHECK(conf_status_expected(&c->backends[0].health, 404));
        CHECK(!conf_status_expected(&c->backends[0].health, 201));
        CHECK(!conf_status_expected(&c->backends[0].health, 500));
    }
    conf_free(c);
    CHECK_ERR(DOC_BE(",\"health\":{\"expect\":\"2xx-9xx\"}"),
              "$.backends[0].health.expect: bad status range \"2xx-9xx\"");
    CHECK_ERR(DOC_BE(",\"health\":{\"path\":\"check\"}"),
              "$.backends[0].health.path: must start with '/'");
}

static void test_names_and_headers(void)
{
    CHECK_ERR(DOC_BE(",\"servers\":[{\"name\":\"a/b\",\"address\":\"127.0.0.1:1\"}]"),
              "$.backends[0].servers[0].name: bad name \"a/b\"");
    CHECK_ERR(DOC_BE(",\"servers\":[{\"address\":\"127.0.0.1:1\",\"cookie\":\"a;b\"}]"),
              "$.backends[0].servers[0].cookie: bad cookie value \"a;b\"");
    CHECK_ERR(DOC("", "{\"name\":\"my front\",\"bind\":[\":1\"],\"default_backend\":\"b\"}",
                  BE_X("")), "$.frontends[0].name: bad name \"my front\"");
    CHECK_ERR(DOC_FE(",\"set_headers\":{\"Bad Name\":\"x\"}"),
              "$.frontends[0].set_headers.Bad Name: bad header name");
    CHECK_ERR(DOC_FE(",\"set_headers\":{\"transfer-encoding\":\"chunked\"}"),
              "$.frontends[0].set_headers.transfer-encoding: lxlb manages this header");
    CHECK_ERR(DOC_FE(",\"set_headers\":{\"X-A\":\"a\\r\\nX-B: b\"}"),
              "$.frontends[0].set_headers.X-A: header value must not contain CR or LF");
    CHECK_ERR(DOC_FE(",\"set_headers\":{\"X-A\":1}"),
              "$.frontends[0].set_headers.X-A: expected a string, got an integer");
    CHECK_ERR(DOC_TOP("\"global\":{\"chroot\":\"var/empty\"}"),
              "$.global.chroot: must be an absolute path");
}

static void test_null_is_default(void)
{
    struct conf *c = load(DOC_TOP("\"global\":{\"user\":null,\"maxconn\":null,"
                                  "\"access_log\":null},\"admin\":null"));

    CHECK(c != NULL);
    if (c) {
        CHECK(c->global.user == NULL && c->global.maxconn == 20000);
        CHECK_STR(c->global.access_log, "stderr");
    }
    conf_free(c);
}

static void test_error_count(void)
{
    struct conf *c = load(DOC("\"global\":{\"workers\":0,\"bogus\":1},",
                              "{\"name\":\"f\",\"bind\":[\"x:y\"],\"default_backend\":\"zz\"}",
                              BE_X(",\"balance\":\"fair\",\"health\":{\"rise\":0}")));

    CHECK(c == NULL);
    CHECK(count_lines(err) == 6);
    CHECK_CONTAINS(err, "$.global.workers: must be 1-64");
    CHECK_CONTAINS(err, "$.global.bogus: unknown key");
    CHECK_CONTAINS(err, "$.frontends[0].bind[0]: bad address \"x:y\"");
    CHECK_CONTAINS(err, "$.frontends[0].default_backend: no backend named \"zz\"");
    CHECK_CONTAINS(err, "$.backends[0].balance: unknown balance");
    CHECK_CONTAINS(err, "$.backends[0].health.rise: must be 1-");
    /* Every line names the file. */
    for (const char *l = err; *l; l = strchr(l, '\n') + 1)
        CHECK(strncmp(l, "t.json", 6) == 0);
}

static void test_err_truncated(void)
{
    char small[40];
    struct conf *c;

    memset(small, 'Z', sizeof(small));
    c = conf_load_string("t.json", DOC_TOP("\"global\":{\"workers\":0,\"maxconn\":0}"),
                         small, sizeof(small));
    CHECK(c == NULL);
    CHECK(memchr(small, '\0', sizeof(small)) != NULL);
    CHECK(strncmp(small, "t.json", 6) == 0);
    c = conf_load_string("t.json", DOC_TOP("\"global\":{\"workers\":0}"), NULL, 0);
    CHECK(c == NULL);
}

static void test_syntax_error(void)
{
    CHECK_ERR("{\n  \"global\": {\n    \"maxconn\": 5,\n  }\n}\n",
              "t.json:4:3: syntax error: ");
    CHECK(count_lines(err) == 1);
    CHECK_ERR("{\"frontends\": [], \"frontends\": []}", "t.json:1:");
    CHECK_CONTAINS(err, "duplicate object key");
    CHECK_ERR("", "t.json");
    CHECK(count_lines(err) == 1);
}

static void test_line_numbers(void)
{
    CHECK_ERR("{\n"
              "  \"frontends\": [ {\n"
              "    \"name\": \"f\",\n"
              "    \"bind\": [\"127.0.0.1:18080\",\n"
              "             \"nope\"],\n"
              "    \"default_backend\": \"b\" } ],\n"
              "  \"backends\": [ { \"name\": \"b\", \"x\": {\"a\": [1, {\"b\": 2}]},\n"
              "                  \"retries\": 1000 } ]\n"
              "}\n", "t.json:5: $.frontends[0].bind[1]: bad address \"nope\"");
    CHECK_CONTAINS(err, "t.json:7: $.backends[0].x: unknown key");
    CHECK_CONTAINS(err, "t.json:8: $.backends[0].retries: must be 0-100");
}

static char *write_tmp(const char *text)
{
    static char path[64];
    int fd;

    strcpy(path, "/tmp/lxlb-conf-XXXXXX");
    fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        close(fd);
        return NULL;
    }
    close(fd);
    return path;
}

static void test_load_file(void)
{
    char *path = write_tmp(full_json), want[128];
    struct conf *c;

    CHECK(path != NULL);
    if (!path)
        return;
    c = conf_load(path, err, sizeof(err));
    CHECK(c != NULL);
    if (c)
        CHECK_STR(c->path, path);
    conf_free(c);
    unlink(path);
    path = write_tmp("{\"frontends\": [],\n \"backends\": 5}");
    CHECK(path && conf_load(path, err, sizeof(err)) == NULL);
    snprintf(want, sizeof(want), "%s:2: $.backends: expected an array", path ? path : "");
    CHECK_CONTAINS(err, want);
    if (path)
        unlink(path);
}

static void test_load_unreadable(void)
{
    CHECK(conf_load("/nonexistent/lxlb.json", err, sizeof(err)) == NULL);
    CHECK_STR(err, "/nonexistent/lxlb.json: cannot read: No such file or directory\n");
    CHECK(conf_load("/tmp", err, sizeof(err)) == NULL);
    CHECK_STR(err, "/tmp: cannot read: Is a directory\n");
}

/* The SPEC's example, byte for byte: it must stay valid. */
static const char spec_json[] =
    "{\n"
    "  \"global\":   { \"maxconn\": 20000, \"workers\": 1, \"grace\": \"10s\",\n"
    "                \"user\": null, \"group\": null, \"chroot\": null,\n"
    "                \"access_log\": \"stderr\" },\n"
    "  \"admin\":    { \"bind\": \"127.0.0.1:9000\", \"token\": null },\n"
    "  \"defaults\": { \"timeout\": { \"connect\": \"5s\", \"client\": \"50s\", \"server\": \"50s\",\n"
    "                             \"keepalive\": \"10s\", \"http_request\": \"10s\" },\n"
    "                \"retries\": 3 },\n"
    "  \"frontends\": [ {\n"
    "      \"name\": \"http\",\n"
    "      \"bind\": [\":80\"],\n"
    "      \"tls\": { \"cert\": \"/etc/lxlb/site.crt\", \"key\": \"/etc/lxlb/site.key\" },\n"
    "      \"default_backend\": \"http_nodes\",\n"
    "      \"forwardfor\": true,\n"
    "      \"set_headers\": { \"X-Forwarded-Proto\": \"http\" } } ],\n"
    "  \"backends\": [ {\n"
    "      \"name\": \"http_nodes\",\n"
    "      \"balance\": \"roundrobin\",\n"
    "      \"http_close\": false,\n"
    "      \"redispatch\": true,\n"
    "      \"retries\": 3,\n"
    "      \"health\": { \"path\": \"/\", \"interval\": \"5s\", \"timeout\": \"2s\",\n"
    "                  \"rise\": 2, \"fall\": 3, \"expect\": \"2xx-3xx\" },\n"
    "      \"cookie\": { \"name\": \"JSESSIONID\", \"mode\": \"prefix\",\n"
    "                  \"indirect\": false, \"nocache\": false,\n"
    "                  \"httponly\": false, \"secure\": false },\n"
    "      \"servers\": [ { \"name\": \"http1\", \"address\": \"192.168.122.216:80\",\n"
    "                     \"weight\": 1, \"cookie\": \"http1\" } ],\n"
    "      \"discovery\": {\n"
    "          \"lxc\":  { \"lxcpath\": \"/var/lib/lxc\", \"group\": \"web\", \"match\": \"*\",\n"
    "                    \"port\": 80, \"interface\": \"eth0\", \"ip_timeout\": \"30s\" },\n"
    "          \"etcd\": { \"endpoints\": [\"http://127.0.0.1:2379\"],\n"
    "                    \"prefix\": \"/lxlb/http_nodes/\" } } } ]\n"
    "}\n";

static void test_spec_example(void)
{
    struct conf *c = load(spec_json);

    CHECK_STR(err, "");
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(c->admin.enabled && c->frontends[0].tls.ncerts == 1);
    CHECK(c->backends[0].cookie.mode == CONF_COOKIE_PREFIX);
    CHECK(c->backends[0].health.nexpect == 1 && c->backends[0].health.expect[0].hi == 399);
    CHECK_STR(c->backends[0].lxc.group, "web");
    conf_free(c);
}

static void test_boundaries_ok(void)
{
    struct conf *c = load(DOC("\"global\":{\"workers\":64,\"maxconn\":1,\"grace\":0},"
                              "\"defaults\":{\"retries\":100,\"limits\":{\"request_line\":256,"
                              "\"header_size\":1024,\"header_count\":16}},",
                              FE_X(""),
                              BE_X(",\"retries\":0,\"health\":{\"rise\":1,\"fall\":1,"
                                   "\"interval\":1,\"expect\":\"100-599\"},"
                                   "\"servers\":[{\"address\":\"127.0.0.1:65535\",\"weight\":256}],"
                                   "\"discovery\":{\"lxc\":{\"port\":65535,"
                                   "\"ip_timeout\":\"1193h\"}}")));

    CHECK_STR(err, "");
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(c->global.workers == 64 && c->global.maxconn == 1 && c->global.grace_ms == 0);
    CHECK(c->retries == 100 && c->backends[0].retries == 0);
    CHECK(c->backends[0].servers[0].weight == 256 && c->backends[0].lxc.port == 65535);
    CHECK(c->backends[0].lxc.ip_timeout_ms == 1193u * 3600000u);
    conf_free(c);
}

static void test_line_of_absent_key(void)
{
    /* A missing key is reported at its object; a defaulted cookie at its server. */
    CHECK_ERR("{\"frontends\": [\n  {\"name\": \"f\", \"bind\": \":18080\"}],\n"
              " \"backends\": [{\"name\": \"f\"}]}",
              "t.json:2: $.frontends[0]: missing required key \"default_backend\"");
    CHECK_ERR(DOC_BE(",\"servers\":[\n{\"name\":\"a\",\"address\":\"127.0.0.1:1\"},\n"
                     "{\"name\":\"c\",\"address\":\"127.0.0.1:2\",\"cookie\":\"a\"},\n"
                     "{\"name\":\"a\",\"address\":\"127.0.0.1:3\"}]"),
              "t.json:3: $.backends[0].servers[1].cookie: duplicate server cookie \"a\"");
    /* servers[2] repeats servers[0]'s name: one error for that (not a second for
     * the cookie both take from it), but its cookie still clashes with servers[1]. */
    CHECK_CONTAINS(err, "t.json:4: $.backends[0].servers[2].name: duplicate server name");
    CHECK(count_lines(err) == 3);
    CHECK_CONTAINS(err, "t.json:4: $.backends[0].servers[2].cookie: duplicate server "
                   "cookie \"a\" (also servers[1])");
}

static void test_admin_hostname(void)
{
    struct conf *c = load(DOC_TOP("\"admin\":{\"bind\":\"localhost:19001\"}"));

    CHECK_STR(err, "");
    CHECK(c && c->admin.enabled && conf_addr_is_local(&c->admin.bind));
    if (c)
        CHECK_STR(c->admin.bind.text, "localhost:19001");
    conf_free(c);
}

static void test_free_null(void)
{
    conf_free(NULL);
    CHECK(1);
}

/* user/group/chroot are read as given, also with discovery.lxc: liblxc then
 * runs in the privileged helper (discovery/helper.c). */
static void test_privileges(void)
{
    struct conf *c = load(DOC_TOP("\"global\":{\"user\":\"www-data\",\"group\":\"www-data\","
                                  "\"chroot\":\"/var/empty\"}"));
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(c->global.user, "www-data");
        CHECK_STR(c->global.group, "www-data");
        CHECK_STR(c->global.chroot, "/var/empty");
    }
    conf_free(c);
    c = load("{\"global\":{\"user\":\"nobody\",\"chroot\":\"/var/empty\"},"
             "\"frontends\":[{\"name\":\"f\",\"bind\":[\":8080\"],\"default_backend\":\"b\"}],"
             "\"backends\":[{\"name\":\"b\",\"discovery\":{\"lxc\":{}}}]}");
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(c->global.user, "nobody");
        CHECK(c->backends[0].lxc.enabled);
    }
    conf_free(c);
}

UNIT_SUITE(conf_tests) = {
    { "conf_privileges", test_privileges },
    { "conf_valid_full", test_valid_full },
    { "conf_minimal_defaults", test_minimal_defaults },
    { "conf_empty_sections_defaults", test_empty_sections_defaults },
    { "conf_server_defaults", test_server_defaults },
    { "conf_bind_string", test_bind_string },
    { "conf_tls", test_tls },
    { "conf_unknown_keys", test_unknown_keys },
    { "conf_wrong_types", test_wrong_types },
    { "conf_missing_required", test_missing_required },
    { "conf_default_backend_missing", test_default_backend_missing },
    { "conf_duplicate_names", test_duplicate_names },
    { "conf_same_server_name_other_backend", test_same_server_name_other_backend },
    { "conf_bad_server_address", test_bad_server_address },
    { "conf_bad_duration_field", test_bad_duration_field },
    { "conf_ranges", test_ranges },
    { "conf_enums", test_enums },
    { "conf_admin", test_admin },
    { "conf_bind_twice", test_bind_twice },
    { "conf_etcd", test_etcd },
    { "conf_duration_table", test_duration_table },
    { "conf_addr_table", test_addr_table },
    { "conf_addr_details", test_addr_details },
    { "conf_addr_compare", test_addr_compare },
    { "conf_expect_table", test_expect_table },
    { "conf_expect_field", test_expect_field },
    { "conf_names_and_headers", test_names_and_headers },
    { "conf_null_is_default", test_null_is_default },
    { "conf_error_count", test_error_count },
    { "conf_err_truncated", test_err_truncated },
    { "conf_syntax_error", test_syntax_error },
    { "conf_line_numbers", test_line_numbers },
    { "conf_load_file", test_load_file },
    { "conf_load_unreadable", test_load_unreadable },
    { "conf_spec_example", test_spec_example },
    { "conf_boundaries_ok", test_boundaries_ok },
    { "conf_line_of_absent_key", test_line_of_absent_key },
    { "conf_admin_hostname", test_admin_hostname },
    { "conf_free_null", test_free_null },
    UNIT_END
};
