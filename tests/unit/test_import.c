/* tests/unit/test_import.c - `lxlb import-haproxy` (conf/haproxy*.c): the
 * tokenizer, the sections, and each keyword family's mapping to lxlb JSON,
 * its warnings and its errors. Every converted configuration that lxlb can
 * already load is also loaded by conf_load_string(), so "the output passes
 * lxlb -c" is checked for each of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "conf/conf.h"
#include "conf/haproxy-int.h"
#include "conf/haproxy.h"
#include "tests/unit/unit.h"

/* ------------------------------------------------------------ helpers */

static struct hap_result res;

/* Convert text; the result stays in res until the next call. */
static json_t *conv(const char *text)
{
    hap_result_free(&res);
    hap_convert("t.cfg", text, strlen(text), &res);
    return res.json;
}

/* The value at a path like "frontends[0].bind[1]" or "global.maxconn". */
static json_t *at(json_t *j, const char *path)
{
    char key[128];

    while (j && *path) {
        size_t n = strcspn(path, ".[");
        if (n) {
            if (n >= sizeof(key))
                return NULL;
            memcpy(key, path, n);
            key[n] = '\0';
            j = json_object_get(j, key);
            path += n;
        } else if (*path == '[') {
            j = json_array_get(j, strtoul(path + 1, NULL, 10));
            path = strchr(path, ']');
            if (!path)
                return NULL;
            path++;
        } else {
            path++; /* '.' */
        }
    }
    return j;
}

static const char *str_at(json_t *j, const char *path)
{
    return json_string_value(at(j, path));
}

static long long int_at(json_t *j, const char *path)
{
    json_t *v = at(j, path);
    return json_is_integer(v) ? json_integer_value(v) : -999;
}

static int bool_at(json_t *j, const char *path)
{
    json_t *v = at(j, path);
    return json_is_boolean(v) ? json_is_true(v) : -1;
}

#define CHECK_MSG(frag) CHECK_CONTAINS(res.msgs, frag)
#define CHECK_NO_MSG(frag) do { if (res.msgs && strstr(res.msgs, frag)) { \
    fprintf(stderr, "  %s:%d: unexpected \"%s\" in:\n%s", __FILE__, __LINE__, frag, res.msgs); \
    unit_failed_checks++; } } while (0)

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The converted JSON loads in lxlb (what `lxlb -c` checks). */
static void check_loads(json_t *j)
{
    char err[CONF_ERRLEN], *text = j ? hap_dump(j) : NULL;
    struct conf *c = text ? conf_load_string("out.json", text, err, sizeof(err)) : NULL;

    if (!c)
        fprintf(stderr, "  output does not load: %s\n%s", text ? err : "(no JSON)",
                text ? text : "");
    CHECK(c != NULL);
    conf_free(c);
    free(text);
}

#define FE0(rest) "frontend f\n bind 127.0.0.1:18080\n" rest
#define FE(rest) "defaults\n mode http\n" FE0(rest)
#define BE(rest) "backend b\n" rest
#define BASIC(fe, be) FE(" default_backend b\n" fe) BE(" server s1 127.0.0.1:8081\n" be)
/* The same after the caller's own defaults section. */
#define BASIC0(fe, be) FE0(" default_backend b\n" fe) BE(" server s1 127.0.0.1:8081\n" be)

/* ------------------------------------------------------------ tokenizer */

static struct hap_cfg tcfg;

static int tok(const char *line, struct hap_words *w, char *err, size_t errlen)
{
    tcfg.file = "t.cfg";
    return hap_tokenize(&tcfg, line, strlen(line), 1, w, err, errlen);
}

static void test_tokenizer_words_quotes_escapes(void)
{
    struct hap_words w;
    char err[128];

    CHECK(tok("  reqadd X-Forwarded-Proto:\\ http   # comment", &w, err, sizeof(err)) == 0);
    CHECK(w.argc == 2);
    CHECK_STR(w.argv[0], "reqadd");
    CHECK_STR(w.argv[1], "X-Forwarded-Proto: http");
    CHECK(w.argv[2] == NULL);
    /* Weak and strong quotes, glued parts, escapes in and out of quotes. */
    CHECK(tok("a \"b c\"'d e'f \\#g \\\\ \\'\\\" 'x\\y' \"p\\tq\"", &w, err, sizeof(err)) == 0);
    CHECK(w.argc == 7);
    CHECK_STR(w.argv[1], "b cd ef");
    CHECK_STR(w.argv[2], "#g");
    CHECK_STR(w.argv[3], "\\");
    CHECK_STR(w.argv[4], "'\"");
    CHECK_STR(w.argv[5], "x\\y");
    CHECK_STR(w.argv[6], "p\tq");
    /* Unknown escapes keep their backslash; \xHH is a byte; '#' in quotes is no comment. */
    CHECK(tok("s \\1 \\x41\\x62 \"#x\" a#b", &w, err, sizeof(err)) == 0);
    CHECK(w.argc == 5);
    CHECK_STR(w.argv[1], "\\1");
    CHECK_STR(w.argv[2], "Ab");
    CHECK_STR(w.argv[3], "#x");
    CHECK_STR(w.argv[4], "a");
    /* An empty quoted word counts in the middle, not at the end (as HAProxy). */
    CHECK(tok("a \"\" b \"\"", &w, err, sizeof(err)) == 0);
    CHECK(w.argc == 3);
    CHECK_STR(w.argv[1], "");
    /* CRLF line ends. */
    CHECK(tok("mode http\r", &w, err, sizeof(err)) == 0);
    CHECK(w.argc == 2 && !strcmp(w.argv[1], "http"));
    hap_arena_free(&tcfg.arena);
}

static void test_tokenizer_env_and_errors(void)
{
    struct hap_words w;
    char err[128];

    setenv("LXLB_T_HOST", "10.0.0.9", 1);
    setenv("LXLB_T_LIST", "a  b c", 1);
    unsetenv("LXLB_T_NONE");
    /* Variables only inside double quotes; \$ escapes there. */
    CHECK(tok("x \"$LXLB_T_HOST:80\" $LXLB_T_HOST \"${LXLB_T_NONE-def}\" \"\\$y\" '$z'",
              &w, err, sizeof(err)) == 0);
    CHECK(w.argc == 6);
    CHECK_STR(w.argv[1], "10.0.0.9:80");
    CHECK_STR(w.argv[2], "$LXLB_T_HOST");
    CHECK_STR(w.argv[3], "def");
    CHECK_STR(w.argv[4], "$y");
    CHECK_STR(w.argv[5], "$z");
    CHECK(tok("x \"${LXLB_T_LIST[*]}\" y", &w, err, sizeof(err)) == 0);
    CHECK(w.argc == 5);
    CHECK_STR(w.argv[1], "a");
    CHECK_STR(w.argv[3], "c");
    CHECK(tok("x \"${.LINE}\"", &w, err, sizeof(err)) == 0 && !strcmp(w.argv[1], "1"));
    /* Errors: the line cannot be parsed. */
    CHECK(tok("x \"open", &w, err, sizeof(err)) < 0);
    CHECK_CONTAINS(err, "unmatched quote");
    CHECK(tok("x 'open", &w, err, sizeof(err)) < 0);
    CHECK(tok("x \\xZ1", &w, err, sizeof(err)) < 0);
    CHECK_CONTAINS(err, "hexadecimal");
    CHECK(tok("x \"${A\"", &w, err, sizeof(err)) < 0);
    CHECK(tok("x \"$1\"", &w, err, sizeof(err)) < 0);
    char many[400] = "x";
    for (int i = 0; i < 64; i++)
        strcat(many, " w");
    CHECK(tok(many, &w, err, sizeof(err)) < 0);
    CHECK_CONTAINS(err, "too many words");
    hap_arena_free(&tcfg.arena);
}

static void test_conditional_blocks(void)
{
    setenv("LXLB_T_SSL", "yes", 1);
    json_t *j = conv(".if streq(\"$LXLB_T_SSL\",yes) && version_atleast(2.4)\n"
                     "global\n maxconn 100\n"
                     ".elif 1\n"
                     "global\n maxconn 200\n"
                     ".else\n"
                     "global\n maxconn 300\n"
                     ".endif\n"
                     ".if defined(LXLB_T_NOT_SET) || !1\n"
                     " this is not even read \"\n"
                     ".else\n"
                     BASIC("", "")
                     ".endif\n"
                     ".warning \"about to end\"\n");
    CHECK(j != NULL);
    CHECK(int_at(j, "global.maxconn") == 100);
    CHECK_MSG("t.cfg:22: .warning: about to end");
    CHECK(conv(".if 1\nglobal\n") == NULL);
    CHECK_MSG("'.if' without '.endif'");
    CHECK(conv(".endif\n" BASIC("", "")) == NULL);
    CHECK(conv(".alert \"no\"\n" BASIC("", "")) == NULL);
    CHECK(conv(".if bogus(\n.endif\n" BASIC("", "")) == NULL);
    CHECK_MSG("cannot parse the condition");
}

static void test_time_and_address_formats(void)
{
    uint32_t ms;
    bool r;
    struct hap_addr a;
    const char *why;

    CHECK(hap_parse_time("5000", &ms, &r) == 0 && ms == 5000 && !r);
    CHECK(hap_parse_time("50s", &ms, &r) == 0 && ms == 50000);
    CHECK(hap_parse_time("2m", &ms, &r) == 0 && ms == 120000);
    CHECK(hap_parse_time("1h", &ms, &r) == 0 && ms == 3600000);
    CHECK(hap_parse_time("1d", &ms, &r) == 0 && ms == 86400000);
    CHECK(hap_parse_time("1500us", &ms, &r) == 0 && ms == 2 && r);
    CHECK(hap_parse_time("2000us", &ms, &r) == 0 && ms == 2 && !r);
    CHECK(hap_parse_time("5 s", &ms, &r) < 0);
    CHECK(hap_parse_time("30d", &ms, &r) < 0); /* beyond HAProxy's 2^31 ms */
    CHECK(hap_parse_time("s", &ms, &r) < 0);

    tcfg.file = "t.cfg";
    CHECK(hap_split_addr(&tcfg, "*:80", &a, &why) == 0);
    CHECK_STR(hap_addr_text(&tcfg, &a, a.port_lo), ":80");
    CHECK(hap_split_addr(&tcfg, ":8080", &a, &why) == 0 && a.port_lo == 8080);
    CHECK_STR(hap_addr_text(&tcfg, &a, a.port_lo), ":8080");
    CHECK(hap_split_addr(&tcfg, ":::443", &a, &why) == 0);
    CHECK_STR(hap_addr_text(&tcfg, &a, a.port_lo), "[::]:443");
    CHECK(hap_split_addr(&tcfg, "ipv6@::1:80", &a, &why) == 0);
    CHECK_STR(hap_addr_text(&tcfg, &a, a.port_lo), "[::1]:80");
    CHECK(hap_split_addr(&tcfg, "[2001:db8::1]:81", &a, &why) == 0);
    CHECK_STR(hap_addr_text(&tcfg, &a, a.port_lo), "[2001:db8::1]:81");
    CHECK(hap_split_addr(&tcfg, "ipv4@10.0.0.1:80", &a, &why) == 0);
    CHECK_STR(hap_addr_text(&tcfg, &a, a.port_lo), "10.0.0.1:80");
    CHECK(hap_split_addr(&tcfg, "/run/web.sock", &a, &why) == 0);
    CHECK_STR(hap_addr_text(&tcfg, &a, 0), "unix:/run/web.sock");
    CHECK(hap_split_addr(&tcfg, "unix@/run/x", &a, &why) == 0 && a.unix_path);
    CHECK(hap_split_addr(&tcfg, "web1.lan", &a, &why) == 0 && a.port_lo == 0);
    CHECK(hap_split_addr(&tcfg, ":8000-8003", &a, &why) == 0 && a.port_lo == 8000 &&
          a.port_hi == 8003);
    CHECK(hap_split_addr(&tcfg, "abns@x", &a, &why) < 0);
    CHECK(hap_split_addr(&tcfg, "h:+1", &a, &why) < 0);
    CHECK(hap_split_addr(&tcfg, "h:70000", &a, &why) < 0);
    CHECK(hap_split_addr(&tcfg, "[zz]:80", &a, &why) < 0);
    hap_arena_free(&tcfg.arena);
}

/* --------------------------------------------------------- the seed */

static const char seed[] =
    "global\n"
    " log /dev/log local0\n"
    " log /dev/log local1 notice\n"
    " chroot /var/lib/haproxy\n"
    " stats socket /run/haproxy/admin.sock mode 660 level admin\n"
    " stats timeout 30s\n"
    " user haproxy\n"
    " group haproxy\n"
    " daemon\n"
    "defaults\n"
    " log global\n"
    " mode http\n"
    " option httplog\n"
    " option dontlognull\n"
    " timeout connect 5000\n"
    " timeout client 50000\n"
    " timeout server 50000\n"
    "frontend http\n"
    " bind :80\n"
    " reqadd X-Forwarded-Proto:\\ http\n"
    " default_backend http_nodes\n"
    "backend http_nodes\n"
    " mode http\n"
    " balance roundrobin\n"
    " option httpclose\n"
    " option forwardfor\n"
    " option redispatch\n"
    " option httpchk GET /\n"
    " cookie JSESSIONID prefix\n"
    " server http1 192.168.122.216:80 check inter 5000\n"
    " server http1 192.168.122.242:80 check inter 5000\n";

static void test_seed_converts(void)
{
    json_t *j = conv(seed);
    char *a, *b;

    CHECK(j != NULL);
    CHECK(res.nerr == 0);
    CHECK_STR(str_at(j, "global.user"), "haproxy");
    CHECK_STR(str_at(j, "global.group"), "haproxy");
    CHECK_STR(str_at(j, "global.chroot"), "/var/lib/haproxy");
    CHECK_STR(str_at(j, "global.access_log"), "syslog");
    CHECK_STR(str_at(j, "defaults.timeout.connect"), "5s");
    CHECK_STR(str_at(j, "defaults.timeout.client"), "50s");
    CHECK_STR(str_at(j, "defaults.timeout.server"), "50s");
    /* HAProxy's fallbacks: http-request and keep-alive wait as long as client. */
    CHECK_STR(str_at(j, "defaults.timeout.http_request"), "50s");
    CHECK_STR(str_at(j, "defaults.timeout.keepalive"), "50s");
    CHECK_STR(str_at(j, "frontends[0].name"), "http");
    CHECK_STR(str_at(j, "frontends[0].bind[0]"), ":80");
    CHECK_STR(str_at(j, "frontends[0].default_backend"), "http_nodes");
    CHECK(bool_at(j, "frontends[0].forwardfor") == 1);
    CHECK_STR(str_at(j, "frontends[0].set_headers.X-Forwarded-Proto"), "http");
    CHECK_STR(str_at(j, "backends[0].balance"), "roundrobin");
    CHECK(bool_at(j, "backends[0].http_close") == 1);
    CHECK(bool_at(j, "backends[0].redispatch") == 1);
    CHECK_STR(str_at(j, "backends[0].health.path"), "/");
    CHECK_STR(str_at(j, "backends[0].health.interval"), "5s");
    CHECK(at(j, "backends[0].cookie") == NULL); /* no server cookie: sticks to nothing */
    CHECK_STR(str_at(j, "backends[0].servers[0].name"), "http1");
    CHECK_STR(str_at(j, "backends[0].servers[1].name"), "http1-2");
    CHECK_STR(str_at(j, "backends[0].servers[1].address"), "192.168.122.242:80");
    CHECK_MSG("t.cfg:31: server name 'http1' is already used at line 30");
    CHECK_MSG("t.cfg:5: 'stats socket' is not supported: use lxlb's admin endpoint");
    CHECK_MSG("t.cfg:9: 'daemon' is not supported");
    CHECK_MSG("t.cfg:3: 'log /dev/log local1 notice' is not supported");
    CHECK_MSG("t.cfg:29: 'cookie JSESSIONID': no server has a 'cookie' value");
    CHECK(res.nwarn == 6);
    check_loads(j);
    /* Stable: the same input gives the same bytes; keys in SPEC's order. */
    a = hap_dump(j);
    b = hap_dump(conv(seed));
    CHECK(a && b && !strcmp(a, b));
    CHECK(a && strstr(a, "\"global\"") < strstr(a, "\"defaults\"") &&
          strstr(a, "\"defaults\"") < strstr(a, "\"frontends\"") &&
          strstr(a, "\"frontends\"") < strstr(a, "\"backends\""));
    CHECK(a && strstr(a, "\"name\": \"http_nodes\"") < strstr(a, "\"balance\"") &&
          strstr(a, "\"balance\"") < strstr(a, "\"http_close\"") &&
          strstr(a, "\"redispatch\"") < strstr(a, "\"health\"") &&
          strstr(a, "\"health\"") < strstr(a, "\"servers\""));
    free(a);
    free(b);
    /* The modern spelling HAProxy 2.6 needs gives the same JSON. */
    char modern[sizeof(seed) + 64];
    const char *at_reqadd = strstr(seed, " reqadd");
    snprintf(modern, sizeof(modern), "%.*s http-request set-header X-Forwarded-Proto http\n%s",
             (int)(at_reqadd - seed), seed, strchr(at_reqadd, '\n') + 1);
    a = hap_dump(conv(seed));
    b = hap_dump(conv(modern));
    CHECK(a && b && !strcmp(a, b));
    free(a);
    free(b);
}

/* ------------------------------------------------------------- global */

static void test_global_keywords(void)
{
    json_t *j = conv("global\n maxconn 4096\n nbthread 4\n hard-stop-after 30s\n"
                     " user www\n group www\n chroot /srv/empty\n log stdout format raw local0\n"
                     " pidfile /run/h.pid\n lua-load /etc/x.lua\n tune.bufsize 32768\n"
                     " ssl-default-bind-ciphers ECDHE\n uid 33\n"
                     "defaults\n mode http\n log global\n" BASIC0("", ""));
    CHECK(j != NULL);
    CHECK(int_at(j, "global.maxconn") == 4096);
    CHECK(int_at(j, "global.workers") == 4);
    CHECK_STR(str_at(j, "global.grace"), "30s");
    CHECK_STR(str_at(j, "global.user"), "www");
    CHECK_STR(str_at(j, "global.chroot"), "/srv/empty");
    CHECK_STR(str_at(j, "global.access_log"), "stderr");
    CHECK_MSG("t.cfg:8: 'log stdout' becomes \"stderr\"");
    CHECK_MSG("t.cfg:9: 'pidfile' is not supported: use lxlb -D -p PIDFILE");
    CHECK_MSG("t.cfg:10: 'lua-load' is not supported: lxlb has no Lua");
    CHECK_MSG("t.cfg:11: 'tune.bufsize' is not supported");
    CHECK_MSG("t.cfg:12: 'ssl-default-bind-ciphers' is not supported: lxlb's TLS policy");
    CHECK_MSG("t.cfg:13: 'uid' is not supported: name the user");
    /* Without a global log (or without "log global"), nothing is logged. */
    j = conv("global\n log 10.0.0.1:514 local2\n" BASIC("", ""));
    CHECK_STR(str_at(j, "global.access_log"), "off");
    CHECK_MSG("lxlb sends syslog lines to the unix socket /dev/log");
    CHECK_MSG("'log ... local2': lxlb logs with facility local0");
    j = conv("global\n nbthread 200\n" BASIC("", ""));
    CHECK(int_at(j, "global.workers") == 64);
    check_loads(j);
    CHECK(conv("global\n maxconn lots\n" BASIC("", "")) == NULL);
    CHECK_MSG("t.cfg:2: error: 'maxconn': expected a number");
    CHECK(conv("global\n chroot relative\n" BASIC("", "")) == NULL);
}

/* ------------------------------------------------------------ defaults */

static void test_defaults_timeouts_and_inheritance(void)
{
    json_t *j = conv("defaults base\n mode http\n timeout connect 3s\n timeout client 1m\n"
                     " timeout http-request 5s\n timeout http-keep-alive 2s\n"
                     " timeout server 40000\n timeout tunnel 1h\n timeout queue 5s\n"
                     " retries 5\n option redispatch\n option forwardfor\n"
                     "defaults other\n timeout connect 9s\n"
                     "frontend f from base\n bind 127.0.0.1:18080\n default_backend b\n"
                     "backend b from base\n server s1 127.0.0.1:8081\n"
                     "backend c\n mode http\n timeout server 20s\n server s1 127.0.0.1:8082\n");
    CHECK(j != NULL);
    CHECK_STR(str_at(j, "defaults.timeout.connect"), "3s");
    CHECK_STR(str_at(j, "defaults.timeout.client"), "1m");
    CHECK_STR(str_at(j, "defaults.timeout.server"), "40s");
    CHECK_STR(str_at(j, "defaults.timeout.http_request"), "5s");
    CHECK_STR(str_at(j, "defaults.timeout.keepalive"), "2s");
    CHECK_STR(str_at(j, "defaults.timeout.tunnel"), "1h");
    CHECK_MSG("t.cfg:9: 'timeout queue' is not supported: lxlb does not queue");
    CHECK(int_at(j, "backends[0].retries") == 5);
    CHECK(bool_at(j, "backends[0].redispatch") == 1);
    CHECK(bool_at(j, "frontends[0].forwardfor") == 1);
    /* Backend c starts from "other" (the latest defaults): HAProxy's own defaults. */
    CHECK(int_at(j, "backends[1].retries") == 3);
    CHECK(bool_at(j, "backends[1].redispatch") == 0);
    /* c's server timeout differs from the one lxlb uses everywhere. */
    CHECK_MSG("t.cfg:22: timeout server 20s (for 'c') differs from the 40s lxlb uses");
    /* Durations: the largest unit that divides; unitless is ms. */
    j = conv("defaults\n mode http\n timeout client 1500\n timeout connect 2d\n"
             " timeout server 500us\n" BASIC0("", ""));
    CHECK_STR(str_at(j, "defaults.timeout.client"), "1500ms");
    CHECK_STR(str_at(j, "defaults.timeout.connect"), "48h");
    CHECK_STR(str_at(j, "defaults.timeout.server"), "1ms");
    CHECK_MSG("'500us' rounded up to 1ms");
    check_loads(j);
    /* Old spellings. */
    j = conv("defaults\n mode http\n contimeout 4000\n srvtimeout 30s\n" BASIC0("", ""));
    CHECK_STR(str_at(j, "defaults.timeout.connect"), "4s");
    CHECK_STR(str_at(j, "defaults.timeout.server"), "30s");
    CHECK(conv("frontend f from nowhere\n bind :80\n") == NULL);
    CHECK_MSG("no defaults section named 'nowhere'");
    CHECK(conv("defaults\n timeout client soon\n" BASIC0("", "")) == NULL);
}

static void test_modes_and_left_out_proxies(void)
{
    json_t *j = conv("defaults\n mode tcp\n"
                     "frontend db\n bind :3306\n default_backend mysql\n"
                     "backend mysql\n server m1 127.0.0.1:3307\n"
                     "frontend f\n mode http\n bind 127.0.0.1:18080\n default_backend b\n"
                     "backend b\n mode http\n server s1 127.0.0.1:8081\n"
                     "backend off\n mode http\n disabled\n server s 127.0.0.1:1\n");
    CHECK(j != NULL);
    CHECK(json_array_size(at(j, "frontends")) == 1);
    CHECK(json_array_size(at(j, "backends")) == 1);
    CHECK_STR(str_at(j, "backends[0].name"), "b");
    CHECK_MSG("t.cfg:2: 'mode tcp' is not supported: lxlb proxies HTTP only; 'db' is left out");
    CHECK_MSG("t.cfg:17: 'disabled': HAProxy does not start 'off'; left out");
    check_loads(j);
    j = conv("frontend f\n bind 127.0.0.1:18080\n default_backend b\n"
             "backend b\n server s1 127.0.0.1:8081\n");
    CHECK(j != NULL);
    CHECK_MSG("t.cfg:1: 'f' has no 'mode http' (HAProxy's default mode is tcp)");
    CHECK(conv("defaults\n mode tcp\n" BASIC0("", "")) == NULL);
    CHECK_MSG("no frontend or listen section");
}

/* ------------------------------------------------- frontend, listen, bind */

static void test_listen_and_binds(void)
{
    json_t *j = conv("global\n crt-base /etc/ssl/private\n"
                     "defaults\n mode http\n"
                     "listen web\n bind :80,127.0.0.1:8080\n bind :::81 v4v6\n"
                     " bind :443 ssl crt site.pem crt /abs/other.pem alpn h2,http/1.1\n"
                     " bind :8443 ssl crt site.pem\n"
                     " bind 127.0.0.1:9000-9002 accept-proxy\n"
                     " bind /run/web.sock\n"
                     " server s1 127.0.0.1:8081\n");
    CHECK(j != NULL);
    CHECK(json_array_size(at(j, "frontends")) == 3);
    CHECK_STR(str_at(j, "frontends[0].name"), "web");
    CHECK_STR(str_at(j, "frontends[0].bind[0]"), ":80");
    CHECK_STR(str_at(j, "frontends[0].bind[1]"), "127.0.0.1:8080");
    CHECK_STR(str_at(j, "frontends[0].bind[2]"), "[::]:81");
    CHECK_STR(str_at(j, "frontends[0].bind[3]"), "unix:/run/web.sock");
    CHECK_STR(str_at(j, "frontends[0].default_backend"), "web");
    CHECK(at(j, "frontends[0].tls") == NULL);
    CHECK_STR(str_at(j, "frontends[1].name"), "web-tls");
    CHECK_STR(str_at(j, "frontends[1].bind[0]"), ":443");
    CHECK_STR(str_at(j, "frontends[1].bind[1]"), ":8443");
    CHECK_STR(str_at(j, "frontends[1].tls.cert"), "/etc/ssl/private/site.pem");
    CHECK_STR(str_at(j, "frontends[1].tls.certs[0].cert"), "/abs/other.pem");
    CHECK_STR(str_at(j, "frontends[2].name"), "web-proxy");
    CHECK(json_array_size(at(j, "frontends[2].bind")) == 3);
    CHECK_STR(str_at(j, "frontends[2].bind[2]"), "127.0.0.1:9002");
    CHECK(bool_at(j, "frontends[2].accept_proxy") == 1);
    CHECK(at(j, "frontends[0].accept_proxy") == NULL);
    CHECK_STR(str_at(j, "backends[0].name"), "web");
    CHECK_MSG("t.cfg:7: 'v4v6' is not supported");
    CHECK_MSG("t.cfg:8: 'alpn' is not supported: lxlb offers ALPN http/1.1 only");
    CHECK_MSG("become their own lxlb frontend 'web-tls'");
    CHECK_MSG("these TLS binds name different certificates");
    /* Errors HAProxy makes too. */
    CHECK(conv("defaults\n mode http\nfrontend f\n bind :443 ssl\n") == NULL);
    CHECK_MSG("'bind ... ssl' needs 'crt FILE'");
    CHECK(conv(FE(" default_backend nope\n") BE(" server s 127.0.0.1:1\n")) == NULL);
    CHECK_MSG("default_backend: no backend named 'nope'");
    CHECK(conv(BASIC("", "") "backend b\n") == NULL);
    CHECK_MSG("t.cfg:8: error: 'b' is already defined at line 6");
    CHECK(conv("frontend\n") == NULL);
    CHECK(conv("bind :80\n") == NULL);
    CHECK_MSG("t.cfg:1: error: 'bind' outside of any section");
    /* A frontend without default_backend or routes answers 503: left out. */
    j = conv(FE("") BE(" server s 127.0.0.1:1\n") "frontend g\n bind 127.0.0.1:18081\n"
             " default_backend b\n");
    CHECK(json_array_size(at(j, "frontends")) == 1);
    CHECK_STR(str_at(j, "frontends[0].name"), "g");
    CHECK_MSG("frontend 'f' has no default_backend and no rule");
    check_loads(j);
    /* bind in a backend is ignored, as HAProxy does. */
    j = conv(BASIC("", " bind :81\n"));
    CHECK_MSG("'bind' is not allowed in a backend section");
}

/* -------------------------------------------------------------- routes */

static void test_routes_host_path_method(void)
{
    json_t *j = conv(FE(" acl api path_beg /api/ /v2/\n"
                        " acl shop hdr(host) -i shop.example.com\n"
                        " acl shop hdr(Host) -i www.shop.example.com\n"
                        " acl wild hdr_dom(host) example.org\n"
                        " acl dotted hdr_end(host) .example.net\n"
                        " acl post method POST PUT\n"
                        " use_backend api if shop api\n"
                        " use_backend web if wild || dotted or { path_beg /static/ }\n"
                        " use_backend api if METH_GET post\n"
                        " use_backend web if post { path_beg /upload }\n"
                        " default_backend web\n")
                     BE(" server s 127.0.0.1:1\n") "backend api\n server a 127.0.0.1:2\n"
                     "backend web\n server w 127.0.0.1:3\n");
    json_t *r = at(j, "frontends[0].routes");

    CHECK(j != NULL);
    /* shop AND api: 2 hosts x 2 prefixes. */
    CHECK(json_array_size(r) == 9);
    CHECK_STR(str_at(r, "[0].host"), "shop.example.com");
    CHECK_STR(str_at(r, "[0].path_prefix"), "/api/");
    CHECK_STR(str_at(r, "[0].backend"), "api");
    CHECK_STR(str_at(r, "[1].host"), "shop.example.com");
    CHECK_STR(str_at(r, "[1].path_prefix"), "/v2/");
    CHECK_STR(str_at(r, "[2].host"), "www.shop.example.com");
    CHECK_STR(str_at(r, "[3].path_prefix"), "/v2/");
    /* hdr_dom: the name and its subdomains; hdr_end with a dot: a suffix. */
    CHECK_STR(str_at(r, "[4].host"), "example.org");
    CHECK_STR(str_at(r, "[5].host"), "*.example.org");
    CHECK_STR(str_at(r, "[6].host"), "*.example.net");
    CHECK_STR(str_at(r, "[7].path_prefix"), "/static/");
    CHECK_STR(str_at(r, "[7].backend"), "web");
    /* METH_GET (GET HEAD) AND POST/PUT can never hold: no route. The last
     * rule: methods and a prefix. */
    CHECK_STR(str_at(r, "[8].methods[0]"), "POST");
    CHECK_STR(str_at(r, "[8].methods[1]"), "PUT");
    CHECK_STR(str_at(r, "[8].path_prefix"), "/upload");
    CHECK(at(r, "[8].host") == NULL);
    CHECK(res.nerr == 0);
    CHECK(conv(FE(" use_backend b if nosuchacl\n default_backend b\n")
               BE(" server s 127.0.0.1:1\n")) == NULL);
    CHECK_MSG("no ACL named 'nosuchacl' declared before this line");
    CHECK(conv(FE(" use_backend x\n default_backend b\n") BE(" server s 127.0.0.1:1\n")) == NULL);
    CHECK_MSG("use_backend: no backend named 'x'");
}

static void test_routes_what_cannot_be_expressed(void)
{
    json_t *j = conv(FE(" acl exact path /login\n"
                        " acl beg hdr_beg(host) www.\n"
                        " acl net src 10.0.0.0/8\n"
                        " acl h hdr(host) a.example.com\n"
                        " use_backend b if exact\n"
                        " use_backend b if beg || h\n"
                        " use_backend b if !h\n"
                        " use_backend b unless h\n"
                        " use_backend b if h net\n"
                        " use_backend b if { path_beg -i /Docs }\n"
                        " default_backend b\n") BE(" server s 127.0.0.1:1\n"));
    json_t *r = at(j, "frontends[0].routes");

    CHECK(j != NULL);
    /* Only "h" of line 10 and the prefix of line 14 survive. */
    CHECK(json_array_size(r) == 2);
    CHECK_STR(str_at(r, "[0].host"), "a.example.com");
    CHECK_STR(str_at(r, "[1].path_prefix"), "/Docs");
    CHECK_MSG("t.cfg:9: 'use_backend': 'path' cannot be expressed as an lxlb route (lxlb "
              "routes match path prefixes, not whole paths)");
    CHECK_MSG("t.cfg:10: 'use_backend': 'hdr_beg(host)' cannot be expressed");
    CHECK_MSG("t.cfg:11: 'use_backend': '!h' cannot be expressed as an lxlb route "
              "(lxlb routes cannot negate");
    CHECK_MSG("t.cfg:12: 'use_backend ... unless ...' cannot be expressed");
    CHECK_MSG("t.cfg:13: 'use_backend': 'src' cannot be expressed");
    CHECK_MSG("'path_beg -i /Docs': lxlb compares path prefixes case-sensitively");
    /* Too many combinations. */
    char big[2048] = FE(" acl a path_beg /1 /2 /3 /4 /5 /6 /7 /8 /9\n"
                        " acl c hdr(host) a b c d e f g h i\n"
                        " use_backend b if a c\n default_backend b\n") BE(" server s 127.0.0.1:1\n");
    j = conv(big);
    CHECK(at(j, "frontends[0].routes") == NULL);
    CHECK_MSG("expands to more than 64 routes");
}

static void test_ssl_fc_is_known_per_frontend(void)
{
    json_t *j = conv(FE(" bind :443 ssl crt /etc/site.pem\n"
                        " http-request redirect scheme https code 301 unless { ssl_fc }\n"
                        " http-request set-header X-Forwarded-Proto https if { ssl_fc }\n"
                        " http-request set-header X-Forwarded-Proto http if !{ ssl_fc }\n"
                        " http-request set-header X-Host-Copy %[req.hdr(host)]\n"
                        " http-request set-header X-Mobile 1 if { hdr(host) m.example.com }\n"
                        " default_backend b\n") BE(" server s 127.0.0.1:1\n"));

    CHECK(j != NULL);
    CHECK_STR(str_at(j, "frontends[0].name"), "f");
    CHECK_STR(str_at(j, "frontends[0].routes[0].redirect.scheme"), "https");
    CHECK(int_at(j, "frontends[0].routes[0].redirect.code") == 301);
    CHECK(at(j, "frontends[0].routes[0].host") == NULL);
    CHECK_STR(str_at(j, "frontends[0].set_headers.X-Forwarded-Proto"), "http");
    CHECK_STR(str_at(j, "frontends[1].name"), "f-tls");
    CHECK(at(j, "frontends[1].routes") == NULL);
    CHECK_STR(str_at(j, "frontends[1].set_headers.X-Forwarded-Proto"), "https");
    CHECK(at(j, "frontends[1].set_headers.X-Mobile") == NULL);
    CHECK_MSG("t.cfg:9: 'http-request set-header X-Host-Copy' is not supported: the value is a "
              "log-format expression");
    CHECK_MSG("t.cfg:10: 'http-request set-header X-Mobile' depends on 'hdr(host)'");
    /* The reason names a negated test (its words outlive the evaluation). */
    j = conv(BASIC(" http-request set-header X-Desk 1 if !{ hdr(host) m.example.com }\n", ""));
    CHECK_MSG("t.cfg:6: 'http-request set-header X-Desk' depends on '!hdr(host)'");
}

static void test_redirects(void)
{
    json_t *j = conv(FE(" use_backend b if { path_beg /b }\n"
                        " redirect scheme https if { hdr(host) -i secure.example.com }\n"
                        " redirect location https://new.example.com/ code 308 if "
                        "{ hdr(host) old.example.com }\n"
                        " redirect prefix https://www.example.com drop-query if "
                        "{ hdr(host) example.com }\n"
                        " http-request redirect location https://%[hdr(host)]%[capture.req.uri] "
                        "if { path_beg /secure }\n"
                        " http-request redirect location /x/%[path]\n"
                        " default_backend b\n") BE(" server s 127.0.0.1:1\n"));
    json_t *r = at(j, "frontends[0].routes");

    CHECK(j != NULL);
    /* http-request redirects first, then redirects, then use_backend. */
    CHECK(json_array_size(r) == 5);
    CHECK_STR(str_at(r, "[0].path_prefix"), "/secure");
    CHECK_STR(str_at(r, "[0].redirect.scheme"), "https");
    CHECK(int_at(r, "[0].redirect.code") == 302); /* HAProxy's default code */
    CHECK_STR(str_at(r, "[1].host"), "secure.example.com");
    CHECK_STR(str_at(r, "[1].redirect.scheme"), "https");
    CHECK_STR(str_at(r, "[2].redirect.location"), "https://new.example.com/");
    CHECK(int_at(r, "[2].redirect.code") == 308);
    CHECK(bool_at(r, "[2].redirect.keep_path") == 0); /* HAProxy's location is the whole URL */
    CHECK_STR(str_at(r, "[3].redirect.location"), "https://www.example.com");
    CHECK(at(r, "[3].redirect.keep_path") == NULL);   /* prefix: the path follows */
    CHECK_STR(str_at(r, "[4].backend"), "b");
    CHECK_MSG("t.cfg:8: 'redirect ... drop-query' is not supported");
    CHECK_MSG("t.cfg:10: 'http-request redirect location /x/%[path]' is not supported");
    CHECK(conv(FE(" redirect scheme https code 399\n default_backend b\n")
               BE(" server s 127.0.0.1:1\n")) == NULL);
    CHECK_MSG("code must be 301, 302, 303, 307 or 308");
    j = conv(BASIC("", " redirect scheme https\n"));
    CHECK_MSG("redirects in a backend section");
}

/* ----------------------------------------------------- backend keywords */

static void test_balance_and_options(void)
{
    json_t *j = conv("defaults\n mode http\n option httpclose\n"
                     "frontend f\n bind 127.0.0.1:18080\n default_backend a\n"
                     " use_backend c if { path_beg /c }\n"
                     "backend a\n balance leastconn\n option forwardfor\n server s 127.0.0.1:1\n"
                     "backend c\n balance source\n no option httpclose\n"
                     " option http-server-close\n server s 127.0.0.1:2\n"
                     "backend d\n balance uri\n no option httpclose\n server s 127.0.0.1:3\n");
    CHECK(j != NULL);
    CHECK_STR(str_at(j, "backends[0].balance"), "leastconn");
    CHECK_STR(str_at(j, "backends[1].balance"), "roundrobin");
    CHECK_MSG("t.cfg:13: 'balance source' is not supported");
    /* As HAProxy 2.6: the frontend's httpclose (from defaults) closes the
     * client side and every server side; a backend's httpclose or
     * http-server-close closes its server side only. */
    CHECK(bool_at(j, "frontends[0].http_close") == 1);
    CHECK(bool_at(j, "backends[0].http_close") == 1);
    CHECK(bool_at(j, "backends[1].http_close") == 1);
    CHECK(bool_at(j, "backends[2].http_close") == 0);
    CHECK_NO_MSG("http-server-close");
    /* One of two backends has forwardfor: lxlb adds it for the frontend. */
    CHECK(bool_at(j, "frontends[0].forwardfor") == 1);
    CHECK_MSG("some of the backends of 'f' have 'option forwardfor'");
    /* http-server-close in a frontend: the server side of every backend it
     * reaches, the client side kept alive. */
    j = conv("defaults\n mode http\n"
             "frontend f\n bind 127.0.0.1:18080\n option http-server-close\n"
             " default_backend a\n use_backend c if { path_beg /c }\n"
             "backend a\n server s 127.0.0.1:1\n"
             "backend c\n server s 127.0.0.1:2\n"
             "backend d\n server s 127.0.0.1:3\n");
    CHECK(j != NULL);
    CHECK(at(j, "frontends[0].http_close") == NULL);
    CHECK(bool_at(j, "backends[0].http_close") == 1);
    CHECK(bool_at(j, "backends[1].http_close") == 1);
    CHECK(bool_at(j, "backends[2].http_close") == 0);
    /* The last of the two options set wins, as in HAProxy. */
    j = conv(BASIC(" option http-server-close\n option httpclose\n", ""));
    CHECK(bool_at(j, "frontends[0].http_close") == 1);
    j = conv(BASIC(" option httpclose\n option http-server-close\n", ""));
    CHECK(at(j, "frontends[0].http_close") == NULL);
    CHECK(bool_at(j, "backends[0].http_close") == 1);
    /* HAProxy's defaults where lxlb's differ. */
    j = conv(BASIC("", ""));
    CHECK(bool_at(j, "frontends[0].forwardfor") == 0);
    CHECK(bool_at(j, "backends[0].redispatch") == 0);
    CHECK(bool_at(j, "backends[0].http_close") == 0);
    CHECK(int_at(j, "backends[0].retries") == 3);
    check_loads(j);
    j = conv(BASIC(" option forwardfor except 127.0.0.0/8 header X-Client if-none\n", ""));
    CHECK(bool_at(j, "frontends[0].forwardfor") == 1);
    CHECK_MSG("'option forwardfor except' is not supported");
    CHECK_MSG("'option forwardfor header' is not supported");
    CHECK_MSG("'option forwardfor if-none' is not supported");
}

static void test_cookie_modes_and_flags(void)
{
    json_t *j = conv(BASIC("", " cookie SRV insert indirect nocache httponly secure "
                           "domain .example.com\n"
                           " server s2 127.0.0.1:8082 cookie b2\n server s3 127.0.0.1:8083\n"));
    CHECK(j != NULL);
    CHECK_STR(str_at(j, "backends[0].cookie.name"), "SRV");
    CHECK_STR(str_at(j, "backends[0].cookie.mode"), "insert");
    CHECK(bool_at(j, "backends[0].cookie.indirect") == 1);
    CHECK(bool_at(j, "backends[0].cookie.nocache") == 1);
    CHECK(bool_at(j, "backends[0].cookie.httponly") == 1);
    CHECK(bool_at(j, "backends[0].cookie.secure") == 1);
    CHECK_STR(str_at(j, "backends[0].servers[1].cookie"), "b2");
    CHECK(at(j, "backends[0].servers[2].cookie") == NULL);
    CHECK_MSG("'cookie ... domain' is not supported");
    CHECK_MSG("server 's3' has no 'cookie' value: HAProxy never sticks clients to it, lxlb "
              "sticks them with its name");
    check_loads(j);
    j = conv(BASIC("", " cookie SRV prefix\n server s2 127.0.0.1:8082 cookie x\n"));
    CHECK_STR(str_at(j, "backends[0].cookie.mode"), "prefix");
    CHECK(bool_at(j, "backends[0].cookie.indirect") == 0);
    j = conv(BASIC("", " cookie SRV rewrite\n server s2 127.0.0.1:8082 cookie x\n"));
    CHECK_STR(str_at(j, "backends[0].cookie.mode"), "rewrite");
    j = conv(BASIC("", " cookie SRV\n server s2 127.0.0.1:8082 cookie x\n"));
    CHECK_STR(str_at(j, "backends[0].cookie.mode"), "rewrite");
    CHECK_MSG("without insert, prefix or rewrite");
    CHECK(conv(BASIC("", " cookie SRV insert bogus\n")) == NULL);
    /* Cookie in defaults applies to backends. */
    j = conv("defaults\n mode http\n cookie SID insert\n"
             "frontend f\n bind 127.0.0.1:18080\n default_backend b\n"
             "backend b\n server s1 127.0.0.1:1 cookie one\n");
    CHECK_STR(str_at(j, "backends[0].cookie.name"), "SID");
}

static void test_health_checks(void)
{
    json_t *j = conv(BASIC("", " option httpchk HEAD /health HTTP/1.1\n"
                           " default-server inter 3s rise 4 fall 5\n"
                           " timeout check 1500ms\n"
                           " http-check expect status 200,204\n"
                           " server s2 127.0.0.1:8082 check\n"
                           " server s3 127.0.0.1:8083 check inter 9s\n"));
    CHECK(j != NULL);
    CHECK_STR(str_at(j, "backends[0].health.path"), "/health");
    CHECK_STR(str_at(j, "backends[0].health.interval"), "3s");
    CHECK_STR(str_at(j, "backends[0].health.timeout"), "1500ms");
    CHECK(int_at(j, "backends[0].health.rise") == 4);
    CHECK(int_at(j, "backends[0].health.fall") == 5);
    CHECK_STR(str_at(j, "backends[0].health.expect"), "200,204");
    CHECK_MSG("t.cfg:8: health checks with method HEAD: lxlb checks with GET");
    CHECK_MSG("t.cfg:7: server 's1' has no 'check'");
    CHECK_MSG("t.cfg:13: server 's3' has its own inter/rise/fall");
    check_loads(j);
    /* The 2.2+ form; regex statuses become ranges; no timeout check: inter. */
    j = conv(BASIC("", " option httpchk\n http-check send meth GET uri /ready ver HTTP/1.1 "
                   "hdr Host www\n http-check expect rstatus ^(2|3)[0-9][0-9]$\n"
                   " server s2 127.0.0.1:8082 check\n"));
    CHECK_STR(str_at(j, "backends[0].health.path"), "/ready");
    CHECK_STR(str_at(j, "backends[0].health.expect"), "2xx-3xx");
    CHECK_STR(str_at(j, "backends[0].health.interval"), "2s"); /* HAProxy's default inter */
    CHECK_STR(str_at(j, "backends[0].health.timeout"), "2s");
    CHECK_MSG("'http-check send hdr Host' is not supported");
    check_loads(j);
    j = conv(BASIC("", " option httpchk GET /\n http-check expect rstatus ^20[04]\n"
                   " server s2 127.0.0.1:8082 check\n"));
    CHECK_STR(str_at(j, "backends[0].health.expect"), "200,204");
    j = conv(BASIC("", " option httpchk GET /\n http-check expect string OK\n"
                   " server s2 127.0.0.1:8082 check\n"));
    CHECK_STR(str_at(j, "backends[0].health.expect"), "2xx-3xx");
    CHECK_MSG("'http-check expect string' is not supported");
    /* A TCP check in HAProxy: any HTTP answer passes in lxlb. */
    j = conv(BASIC("", " server s2 127.0.0.1:8082 check\n"));
    CHECK_STR(str_at(j, "backends[0].health.expect"), "1xx-5xx");
    CHECK_MSG("'check' without 'option httpchk' is a TCP connect check");
    check_loads(j);
    /* No server checked: no health, as HAProxy. */
    j = conv(BASIC("", " option httpchk GET /\n"));
    CHECK(at(j, "backends[0].health") == NULL);
}

static void test_server_options(void)
{
    json_t *j = conv(BASIC("", " server s2 127.0.0.1:8082 weight 10 send-proxy-v2 maxconn 50\n"
                           " server s3 127.0.0.1:8083 disabled\n"
                           " server s4 127.0.0.1:8084 backup\n"
                           " server s5 web5.lan ssl verify none\n"
                           " server s6 127.0.0.1:8086 frobnicate\n"
                           " server s7 ipv6@::1:8087 weight 0\n"));
    json_t *s = at(j, "backends[0].servers");

    CHECK(j != NULL);
    CHECK(json_array_size(s) == 5);
    CHECK(int_at(s, "[0].weight") == 1);
    CHECK(int_at(s, "[1].weight") == 10);
    CHECK_STR(str_at(s, "[1].send_proxy"), "v2");
    CHECK(at(j, "backends[0].send_proxy") == NULL);
    CHECK_STR(str_at(s, "[2].name"), "s5");
    CHECK_STR(str_at(s, "[2].address"), "web5.lan:80");
    CHECK_STR(str_at(s, "[4].address"), "[::1]:8087");
    CHECK(int_at(s, "[4].weight") == 0);
    CHECK_MSG("t.cfg:8: 'maxconn' is not supported: lxlb has no per-server connection limit");
    CHECK_MSG("t.cfg:9: server 's3' is 'disabled': lxlb has no maintenance state in its "
              "configuration, so it is left out");
    CHECK_MSG("t.cfg:10: server 's4' is a 'backup' server");
    CHECK_MSG("t.cfg:11: 'ssl' is not supported: lxlb connects to servers in plain HTTP/1.1");
    CHECK_MSG("t.cfg:11: 'verify' is not supported");
    CHECK_MSG("t.cfg:11: 'server' address 'web5.lan' has no port");
    CHECK_MSG("t.cfg:12: 'frobnicate' is not supported");
    /* One PROXY version for all servers goes on the backend. */
    j = conv("defaults\n mode http\n default-server send-proxy\n"
             "frontend f\n bind 127.0.0.1:18080\n default_backend b\n"
             "backend b\n server s1 127.0.0.1:1\n server s2 127.0.0.1:2\n");
    CHECK_STR(str_at(j, "backends[0].send_proxy"), "v1");
    CHECK(at(j, "backends[0].servers[0].send_proxy") == NULL);
    CHECK(conv(BASIC("", " server bad/name 127.0.0.1:1\n")) == NULL);
    CHECK(conv(BASIC("", " server s9 127.0.0.1:1 weight 300\n")) == NULL);
    CHECK(conv(BASIC("", " server s9 127.0.0.1:1 inter\n")) == NULL);
    CHECK_MSG("server option 'inter' needs an argument");
}

static void test_request_headers(void)
{
    json_t *j = conv(BASIC(" reqadd X-Proto:\\ http\n"
                           " http-request set-header X-Site \"main site\"\n"
                           " http-request add-header X-Added yes\n"
                           " http-request set-header X-Pct 100%%\n"
                           " http-request del-header X-Secret\n"
                           " rspadd X-Served-By:\\ lb\n"
                           " reqrep ^Host:\\ (.*) Host:\\ \\1\n",
                           " http-request set-header X-Backend-Side b\n"));
    json_t *h = at(j, "frontends[0].set_headers");

    CHECK(j != NULL);
    CHECK_STR(str_at(h, "X-Proto"), "http");
    CHECK_STR(str_at(h, "X-Site"), "main site");
    CHECK_STR(str_at(h, "X-Added"), "yes");
    CHECK_STR(str_at(h, "X-Pct"), "100%");
    /* The backend is the only one this frontend reaches: its headers apply. */
    CHECK_STR(str_at(h, "X-Backend-Side"), "b");
    CHECK_MSG("'http-request add-header X-Added' becomes set_headers");
    CHECK_MSG("t.cfg:10: 'http-request del-header' is not supported");
    CHECK_MSG("t.cfg:11: 'rspadd' is not supported: lxlb does not add response headers");
    CHECK_MSG("t.cfg:12: 'reqrep' is not supported");
    check_loads(j);
    CHECK(conv(BASIC(" reqadd NoColon\n", "")) == NULL);
    CHECK(conv(BASIC(" http-request set-header Bad\\ Name x\n", "")) == NULL);
}

/* ------------------------------------------------ everything else, errors */

static void test_unsupported_keywords_one_warning_each(void)
{
    json_t *j = conv("global\n stats socket /run/a.sock\n"
                     "userlist admins\n user bob insecure-password x\n group g users bob\n"
                     "peers mine\n peer a 127.0.0.1:1024\n"
                     BASIC(" stick-table type ip size 1m\n tcp-request connection reject\n"
                           " capture request header Host len 32\n errorfile 503 /e/503.http\n"
                           " errorfile 504 /e/504.http\n option http-buffer-request\n"
                           " compression algo gzip\n option httplog\n option dontlognull\n"
                           " monitor-uri /up\n stats enable\n",
                           " stick on src\n option tcp-check\n retry-on all-retryable-errors\n"));
    CHECK(j != NULL);
    CHECK_MSG("t.cfg:3: 'userlist' section is not supported: lxlb has no HTTP authentication");
    CHECK_MSG("t.cfg:6: 'peers' section is not supported");
    CHECK_NO_MSG("t.cfg:4:");
    CHECK_MSG("t.cfg:13: 'stick-table' is not supported: use cookie stickiness");
    CHECK_MSG("t.cfg:14: 'tcp-request connection' is not supported");
    CHECK_MSG("t.cfg:15: 'capture request' is not supported");
    CHECK_MSG("t.cfg:16: 'errorfile' is not supported");
    CHECK_MSG("t.cfg:17: 'errorfile' is not supported");
    CHECK_MSG("t.cfg:18: 'option http-buffer-request' is not supported");
    CHECK_MSG("t.cfg:19: 'compression' is not supported");
    CHECK_NO_MSG("httplog");
    CHECK_NO_MSG("dontlognull");
    CHECK_MSG("t.cfg:22: 'monitor-uri' is not supported: use lxlb's admin endpoint");
    CHECK_MSG("t.cfg:23: 'stats enable' is not supported: use lxlb's admin endpoint");
    CHECK_MSG("t.cfg:26: 'stick on' is not supported");
    CHECK_MSG("t.cfg:27: 'option tcp-check' is not supported");
    CHECK_MSG("t.cfg:28: 'retry-on' is not supported");
    /* One line per message, each "FILE:LINE: ", none repeated. */
    for (const char *p = res.msgs; *p;) {
        const char *nl = strchr(p, '\n');
        CHECK(nl != NULL && !strncmp(p, "t.cfg:", 6));
        if (!nl)
            break;
        char line[512];
        snprintf(line, sizeof(line), "%.*s", (int)(nl - p + 1), p);
        CHECK(count(res.msgs, line) == 1);
        p = nl + 1;
    }
    check_loads(j);
}

static void test_errors_and_limits(void)
{
    char big[HAP_MAX_LINE + 64];

    CHECK(conv(BASIC(" acl x hdr(host) \"unterminated\n", "")) == NULL);
    CHECK_MSG("t.cfg:6: error: unmatched quote");
    CHECK(res.nerr == 1);
    CHECK(conv("global\n maxconn 1\0 2\n") == NULL);
    hap_result_free(&res);
    CHECK(hap_convert("t.cfg", "global\n maxconn 1\0 2\n", 20, &res) < 0);
    CHECK_MSG("NUL byte");
    hap_result_free(&res);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK(conv(big) == NULL);
    CHECK_MSG("line longer than");
    CHECK(conv("") == NULL);
    CHECK_MSG("no frontend");
    /* Control characters in a quoted word stay inside one message line. */
    conv(BASIC(" frob\\nnicate \"a\\rb\\x01\"\n", ""));
    CHECK_MSG("t.cfg:6: 'frob\\nnicate' is not supported");
    CHECK(count(res.msgs, "\n") == 1);
    /* Not UTF-8: JSON cannot carry it. */
    CHECK(conv(BASIC(" http-request set-header X-A \"\\xff\"\n", "")) == NULL);
    CHECK_MSG("not valid UTF-8");
    hap_result_free(&res);
}

/* A rule taken back after an error leaves its slot to the next rule, which
 * must start empty (found by fuzz_import: the old terms were written over). */
static void test_reused_slots_start_empty(void)
{
    struct hap_arena a = { 0 };
    struct hap_rule *rules = NULL, *r;
    size_t n = 0, cap = 0;

    r = hap_push(&a, (void **)&rules, &n, &cap, sizeof(*rules));
    CHECK(r != NULL);
    r->line = 7;
    r->cond.nterms = 5;
    n--; /* taken back */
    r = hap_push(&a, (void **)&rules, &n, &cap, sizeof(*rules));
    CHECK(r != NULL && r->line == 0 && r->cond.nterms == 0 && n == 1);
    hap_arena_free(&a);
    /* The same through the reader: a failed rule, then one with many terms. */
    CHECK(conv(FE(" use_backend b if { path_beg /a } { path_beg /b } { path_beg /c } "
                  "{ path_beg /d } nosuch\n"
                  " use_backend b if { path_beg /a } { path_beg /b } { path_beg /c } "
                  "{ path_beg /d } { path_beg /e } { path_beg /f } { path_beg /g }\n"
                  " default_backend b\n") BE(" server s 127.0.0.1:1\n")) == NULL);
    CHECK(res.nerr == 1 && res.nwarn == 0);
    CHECK(count(res.msgs, "\n") == 1);
    CHECK_MSG("t.cfg:5: error: no ACL named 'nosuch'");
}

UNIT_SUITE(import_tests) = {
    { "import: a slot taken back starts empty", test_reused_slots_start_empty },
    { "import: tokenizer words, quotes, escapes", test_tokenizer_words_quotes_escapes },
    { "import: tokenizer environment and errors", test_tokenizer_env_and_errors },
    { "import: .if/.elif/.else/.endif blocks", test_conditional_blocks },
    { "import: time and address formats", test_time_and_address_formats },
    { "import: the seed's haproxy.cfg", test_seed_converts },
    { "import: global keywords", test_global_keywords },
    { "import: defaults, timeouts, inheritance", test_defaults_timeouts_and_inheritance },
    { "import: modes and left-out proxies", test_modes_and_left_out_proxies },
    { "import: listen and bind", test_listen_and_binds },
    { "import: routes from host/path/method ACLs", test_routes_host_path_method },
    { "import: ACLs routes cannot express", test_routes_what_cannot_be_expressed },
    { "import: ssl_fc known per frontend", test_ssl_fc_is_known_per_frontend },
    { "import: redirects", test_redirects },
    { "import: balance and options", test_balance_and_options },
    { "import: cookie modes and flags", test_cookie_modes_and_flags },
    { "import: health checks", test_health_checks },
    { "import: server options", test_server_options },
    { "import: request headers", test_request_headers },
    { "import: unsupported keywords, one warning each", test_unsupported_keywords_one_warning_each },
    { "import: errors and limits", test_errors_and_limits },
    UNIT_END
};
