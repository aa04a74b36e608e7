/* conf/haproxy.c - `lxlb import-haproxy`, part 2: haproxy.cfg lines ->
 * struct hap_cfg. Sections (global, defaults with names and "from",
 * frontend, backend, listen, and the ones lxlb has nothing for), then each
 * keyword: what lxlb can carry over is stored with its line; everything else
 * gets exactly one message saying what lxlb does instead.
 *
 * Semantics are HAProxy 2.6's (the version Debian 12 ships), plus the
 * keywords of older versions that configurations still carry (reqadd,
 * contimeout...). What HAProxy itself refuses (a keyword outside a section,
 * a proxy without a name, two servers or backends of one name...) is an
 * error, except where lxlb can do better (duplicate server names are made
 * unique, with a warning). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf-int.h"
#include "conf/haproxy-int.h"

enum hap_section { HAP_S_NONE, HAP_S_GLOBAL, HAP_S_PROXY, HAP_S_OTHER };

/* What lxlb does instead of some common keywords; everything unknown gets
 * HAP_NONE. */
#define HAP_NONE "lxlb has no equivalent; left out"
#define HAP_ADMIN "use lxlb's admin endpoint (admin.bind): GET / (dashboard), /stats, " \
                  "/metrics, POST /backends/B/servers/S/state"
#define HAP_TLS "lxlb's TLS policy is fixed: TLS 1.2 and 1.3, ECDHE with AES-GCM or " \
                "ChaCha20, its own session tickets (README, \"TLS\")"
#define HAP_LOGFMT "lxlb's access-log line has one fixed format (README, \"Logs\")"
#define HAP_CHECKS "lxlb checks servers with HTTP GET (backends[].health)"

struct hap_note {
    const char *kw;      /* keyword, with its first argument for "option" and the like */
    const char *instead; /* what lxlb does */
};

static const struct hap_note notes[] = {
    { "daemon", "run lxlb -D -p PIDFILE, or under systemd (Type=notify), which needs neither" },
    { "master-worker", "lxlb reloads in-process on SIGHUP and has no master process" },
    { "pidfile", "use lxlb -D -p PIDFILE" },
    { "stats", HAP_ADMIN },
    { "nbproc", "lxlb is one process; its threads are global.workers (from 'nbthread')" },
    { "cpu-map", "lxlb does not pin its threads to CPUs" },
    { "uid", "name the user (global.user)" },
    { "gid", "name the group (global.group)" },
    { "lua-load", "lxlb has no Lua" },
    { "lua-prepend-path", "lxlb has no Lua" },
    { "lua-load-per-thread", "lxlb has no Lua" },
    { "ca-base", "lxlb does not verify client certificates" },
    { "ssl-default-bind-ciphers", HAP_TLS },
    { "ssl-default-bind-ciphersuites", HAP_TLS },
    { "ssl-default-bind-options", HAP_TLS },
    { "ssl-default-bind-curves", HAP_TLS },
    { "ssl-default-server-ciphers", "lxlb connects to servers in plain HTTP/1.1" },
    { "ssl-default-server-ciphersuites", "lxlb connects to servers in plain HTTP/1.1" },
    { "ssl-default-server-options", "lxlb connects to servers in plain HTTP/1.1" },
    { "ssl-dh-param-file", HAP_TLS },
    { "ssl-server-verify", "lxlb connects to servers in plain HTTP/1.1" },
    { "setenv", "environment variables are expanded from lxlb's own environment" },
    { "presetenv", "environment variables are expanded from lxlb's own environment" },
    { "resetenv", "environment variables are expanded from lxlb's own environment" },
    { "unsetenv", "environment variables are expanded from lxlb's own environment" },
    { "spread-checks", "lxlb runs each backend's checks on their own timer" },
    { "server-state-file", "lxlb keeps server state across reloads in-process (SIGHUP)" },
    { "server-state-base", "lxlb keeps server state across reloads in-process (SIGHUP)" },
    { "load-server-state-from-file", "lxlb keeps server state across reloads in-process (SIGHUP)" },
    { "server-state-file-name", "lxlb keeps server state across reloads in-process (SIGHUP)" },
    { "maxconn", "lxlb has one connection limit for all frontends (global.maxconn)" },
    { "errorfile", "lxlb answers errors with its own short HTML pages" },
    { "errorfiles", "lxlb answers errors with its own short HTML pages" },
    { "errorloc", "lxlb answers errors with its own short HTML pages" },
    { "errorloc302", "lxlb answers errors with its own short HTML pages" },
    { "errorloc303", "lxlb answers errors with its own short HTML pages" },
    { "http-error", "lxlb answers errors with its own short HTML pages" },
    { "capture", HAP_LOGFMT },
    { "declare", HAP_LOGFMT },
    { "log-format", HAP_LOGFMT },
    { "log-format-sd", HAP_LOGFMT },
    { "error-log-format", HAP_LOGFMT },
    { "log-tag", HAP_LOGFMT },
    { "log-send-hostname", HAP_LOGFMT },
    { "unique-id-format", HAP_LOGFMT },
    { "unique-id-header", HAP_LOGFMT },
    { "compression", "lxlb passes bodies through unchanged" },
    { "stick-table", "use cookie stickiness (backends[].cookie): it needs no shared table" },
    { "stick", "use cookie stickiness (backends[].cookie): it needs no shared table" },
    { "tcp-request", "lxlb has no TCP-level rules" },
    { "tcp-response", "lxlb has no TCP-level rules" },
    { "http-response", "lxlb rewrites responses only for persistence cookies" },
    { "http-after-response", "lxlb rewrites responses only for persistence cookies" },
    { "monitor-uri", HAP_ADMIN },
    { "monitor", HAP_ADMIN },
    { "hash-type", "lxlb balances with roundrobin or leastconn" },
    { "source", "lxlb connects from the system's default source address" },
    { "http-reuse", "lxlb pools idle server connections per server on its own" },
    { "retry-on", "lxlb retries failed connections, and idempotent requests that got "
                  "nothing back" },
    { "tcp-check", HAP_CHECKS },
    { "external-check", HAP_CHECKS },
    { "email-alert", "lxlb logs server state changes to stderr" },
    { "server-template", "use discovery (backends[].discovery: lxc or etcd) for servers "
                         "that come and go" },
    { "use-fcgi-app", "lxlb speaks HTTP/1.1 to its servers" },
    { "filter", HAP_NONE },
    { "rspadd", "lxlb does not add response headers" },
    { "rspdel", "lxlb does not rewrite response headers" },
    { "rspidel", "lxlb does not rewrite response headers" },
    { "rsprep", "lxlb does not rewrite response headers" },
    { "rspirep", "lxlb does not rewrite response headers" },
    { "rspdeny", "lxlb does not filter responses" },
    { "rspideny", "lxlb does not filter responses" },
    { "reqrep", "lxlb does not rewrite request headers (set_headers sets whole fields)" },
    { "reqirep", "lxlb does not rewrite request headers (set_headers sets whole fields)" },
    { "reqdel", "lxlb does not delete request headers" },
    { "reqidel", "lxlb does not delete request headers" },
    { "reqdeny", "lxlb has no access rules" },
    { "reqideny", "lxlb has no access rules" },
    { "reqallow", "lxlb has no access rules" },
    { "reqiallow", "lxlb has no access rules" },
    { "reqtarpit", "lxlb has no access rules" },
    { "reqitarpit", "lxlb has no access rules" },
    { "reqpass", "lxlb has no access rules" },
    { "reqipass", "lxlb has no access rules" },
    { "reqsetbe", "use routes (frontends[].routes)" },
    { "reqisetbe", "use routes (frontends[].routes)" },
    { "rate-limit", "lxlb limits connections with global.maxconn only" },
    { "option dontlog-normal", "lxlb logs every request" },
    { "option log-separate-errors", "lxlb logs every request at the same level" },
    { "option logasap", "lxlb logs a request when it ends" },
    { "option log-health-checks", "lxlb logs server state changes to stderr" },
    { "option tcplog", "lxlb logs one line per HTTP request" },
    { "option http-pretend-keepalive", "lxlb keeps server connections alive and pools them" },
    { "option http-tunnel", "lxlb parses every request of a connection" },
    { "option ssl-hello-chk", HAP_CHECKS },
    { "option tcp-check", HAP_CHECKS },
    { "option mysql-check", HAP_CHECKS },
    { "option pgsql-check", HAP_CHECKS },
    { "option redis-check", HAP_CHECKS },
    { "option smtpchk", HAP_CHECKS },
    { "option ldap-check", HAP_CHECKS },
    { "option spop-check", HAP_CHECKS },
    { "option external-check", HAP_CHECKS },
    { "option originalto", "lxlb adds X-Forwarded-For only" },
    { "option abortonclose", "lxlb stops a request whose client has gone" },
    { "option accept-invalid-http-request", "lxlb parses requests strictly (llhttp)" },
    { "option accept-invalid-http-response", "lxlb parses responses strictly (llhttp)" },
    { "option allbackups", "lxlb has no backup servers" },
    { "option persist", "a sticky client of a down server goes elsewhere (redispatch)" },
    { "option prefer-last-server", "lxlb balances every request (cookie stickiness aside)" },
    { "option http-buffer-request", "lxlb streams request bodies" },
    { "option checkcache", HAP_NONE },
    { NULL, NULL },
};

/* The note for "stats socket" is that of "stats" unless it has its own. */
static const char *note_for(const char *kw)
{
    size_t first = strcspn(kw, " ");

    for (const struct hap_note *n = notes; n->kw; n++)
        if (!strcmp(n->kw, kw))
            return n->instead;
    for (const struct hap_note *n = notes; n->kw; n++)
        if (strlen(n->kw) == first && !strncmp(n->kw, kw, first) && strncmp(kw, "option ", 7))
            return n->instead;
    return HAP_NONE;
}

static void unsupported(struct hap_cfg *c, const struct hap_words *w, int nwords)
{
    char kw[256];
    size_t n = 0;

    kw[0] = '\0';
    for (int i = 0; i < nwords && i < w->argc; i++)
        n += (size_t)snprintf(kw + n, n < sizeof(kw) ? sizeof(kw) - n : 0, "%s%s",
                              i ? " " : "", w->argv[i]);
    hap_unsupported(c, w->line, kw, note_for(kw));
}

/* ------------------------------------------------------------- sections */

/* Sections lxlb has nothing for, and what it does instead. */
static const struct hap_note other_sections[] = {
    { "userlist", "lxlb has no HTTP authentication" },
    { "peers", "lxlb has no stick tables; cookie stickiness needs no shared state" },
    { "resolvers", "lxlb resolves server names at start and on reload (SIGHUP)" },
    { "mailers", "lxlb logs server state changes to stderr" },
    { "program", "run it as its own service" },
    { "http-errors", "lxlb answers errors with its own short HTML pages" },
    { "ring", "lxlb logs to stderr, a file or syslog (global.access_log)" },
    { "log-forward", "lxlb logs to stderr, a file or syslog (global.access_log)" },
    { "cache", "lxlb has no cache" },
    { "fcgi-app", "lxlb speaks HTTP/1.1 to its servers" },
    { "crt-store", "name certificate files in frontends[].tls" },
    { "traces", HAP_NONE },
    { NULL, NULL },
};

static void bind_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w);

static struct hap_proxy *new_proxy(struct hap_cfg *c, const struct hap_proxy *from)
{
    struct hap_proxy *p = hap_alloc(&c->arena, sizeof(*p));

    if (!p)
        return NULL;
    if (from)
        *p = *from;
    /* Lists belong to the section that wrote them. */
    p->binds = NULL, p->nbinds = p->cbinds = 0;
    p->acls = NULL, p->nacls = p->cacls = 0;
    p->rules = NULL, p->nrules = p->crules = 0;
    p->servers = NULL, p->nservers = p->cservers = 0;
    return p;
}

static const struct hap_proxy *find_named(const struct hap_cfg *c, const char *name)
{
    for (size_t i = c->nnamed; i-- > 0;)
        if (c->named[i]->name && !strcmp(c->named[i]->name, name))
            return c->named[i];
    return NULL;
}

static bool overlaps(enum hap_kind a, enum hap_kind b)
{
    bool fa = a != HAP_BACKEND, fb = b != HAP_BACKEND;
    bool ba = a != HAP_FRONTEND, bb = b != HAP_FRONTEND;

    return (fa && fb) || (ba && bb);
}

static void check_proxy_name(struct hap_cfg *c, const struct hap_proxy *p)
{
    if (!conf_name_ok(p->name)) {
        hap_error(c, p->line, "bad name '%s': HAProxy and lxlb take letters, digits, "
                  "'-', '_', '.' and ':'", p->name);
        return;
    }
    for (size_t i = 0; i < c->nproxies; i++) {
        const struct hap_proxy *q = c->proxies[i];
        if (!strcmp(q->name, p->name) && overlaps(q->kind, p->kind))
            hap_error(c, p->line, "'%s' is already defined at line %d", p->name, q->line);
    }
}

/* "defaults [NAME] [from NAME]", "frontend NAME [from NAME]"... A proxy
 * starts from the defaults section in effect, or the one named by "from"; a
 * defaults section starts from HAProxy's own defaults unless it has "from". */
static void open_proxy(struct hap_cfg *c, const struct hap_words *w, enum hap_kind kind)
{
    const struct hap_proxy *from = kind == HAP_DEFAULTS ? NULL : c->defaults;
    const char *name = NULL, *addr = NULL;
    int i = 1;
    struct hap_proxy *p;

    if (i < w->argc && strcmp(w->argv[i], "from") != 0)
        name = w->argv[i++];
    /* HAProxy 1.x: "listen NAME ADDR", "frontend NAME ADDR" (2.x wants "bind"). */
    if (kind != HAP_DEFAULTS && kind != HAP_BACKEND && name && i < w->argc &&
        strcmp(w->argv[i], "from") != 0)
        addr = w->argv[i++];
    if (i < w->argc && !strcmp(w->argv[i], "from")) {
        if (i + 1 >= w->argc)
            hap_error(c, w->line, "'from' needs the name of a defaults section");
        else if (!(from = find_named(c, w->argv[i + 1])))
            hap_error(c, w->line, "no defaults section named '%s'", w->argv[i + 1]);
        i += 2;
    }
    if (i < w->argc)
        hap_error(c, w->line, "unexpected '%s' after the section name", w->argv[i]);
    if (kind != HAP_DEFAULTS && !name) {
        hap_error(c, w->line, "'%s' needs a name", w->argv[0]);
        name = "unnamed";
    }
    if (!(p = new_proxy(c, from)))
        return;
    p->kind = kind;
    p->name = name ? hap_strdup(&c->arena, name) : NULL;
    p->line = w->line;
    c->cur = p;
    c->section = HAP_S_PROXY;
    c->section_name = p->name ? p->name : "defaults";
    if (kind == HAP_DEFAULTS) {
        struct hap_proxy **slot;

        c->defaults = p;
        if (p->name && (slot = hap_push(&c->arena, (void **)&c->named, &c->nnamed,
                                        &c->cnamed, sizeof(*slot))))
            *slot = p;
        return;
    }
    check_proxy_name(c, p);
    struct hap_proxy **slot = hap_push(&c->arena, (void **)&c->proxies, &c->nproxies,
                                       &c->cproxies, sizeof(*slot));
    if (slot)
        *slot = p;
    if (addr) {
        struct hap_words b = { .line = w->line, .argc = 2,
                               .argv = (char *[]){ "bind", (char *)addr, NULL } };
        hap_warn(c, w->line, "'%s %s %s' (HAProxy 1.x; 2.x wants 'bind') becomes "
                 "'bind %s'", w->argv[0], name, addr, addr);
        bind_kw(c, p, &b);
    }
}

/* True when w opens a section (handled here). */
static bool open_section(struct hap_cfg *c, const struct hap_words *w)
{
    const char *kw = w->argv[0];

    if (!strcmp(kw, "global")) {
        c->cur = NULL;
        c->section = HAP_S_GLOBAL;
        c->section_name = "global";
        if (w->argc > 1)
            hap_error(c, w->line, "'global' takes no argument");
        return true;
    }
    if (!strcmp(kw, "defaults") || !strcmp(kw, "frontend") || !strcmp(kw, "backend") ||
        !strcmp(kw, "listen")) {
        open_proxy(c, w, kw[0] == 'd' ? HAP_DEFAULTS : kw[0] == 'f' ? HAP_FRONTEND
                                       : kw[0] == 'b' ? HAP_BACKEND : HAP_LISTEN);
        return true;
    }
    for (const struct hap_note *n = other_sections; n->kw; n++) {
        if (strcmp(n->kw, kw) != 0)
            continue;
        c->cur = NULL;
        c->section = HAP_S_OTHER;
        c->section_name = n->kw;
        hap_warn(c, w->line, "'%s' section is not supported: %s; its lines are left out",
                 kw, n->instead);
        return true;
    }
    return false;
}

/* ----------------------------------------------------------------- global */

static bool want_args(struct hap_cfg *c, const struct hap_words *w, int n)
{
    if (w->argc > n)
        return true;
    hap_error(c, w->line, "'%s' needs %s", w->argv[0], n == 1 ? "an argument"
                                                              : "more arguments");
    return false;
}

static void set_uint(struct hap_cfg *c, const struct hap_words *w, int i, uint32_t lo,
                     uint32_t hi, struct hap_uint *out)
{
    char *end;
    unsigned long v;

    if (!want_args(c, w, i))
        return;
    v = strtoul(w->argv[i], &end, 10);
    if (!isdigit((unsigned char)w->argv[i][0]) || *end || v < lo || v > hi) {
        hap_error(c, w->line, "'%s': expected a number from %u to %u, got '%s'",
                  w->argv[0], lo, hi, w->argv[i]);
        return;
    }
    out->v = (uint32_t)v;
    out->line = w->line;
}

static void set_str(struct hap_cfg *c, const struct hap_words *w, struct hap_str *out)
{
    if (!want_args(c, w, 1))
        return;
    out->s = hap_strdup(&c->arena, w->argv[1]);
    out->line = w->line;
}

static bool set_time(struct hap_cfg *c, const struct hap_words *w, int i, struct hap_time *out)
{
    bool rounded;
    uint32_t ms;

    if (!want_args(c, w, i))
        return false;
    if (hap_parse_time(w->argv[i], &ms, &rounded) < 0) {
        hap_error(c, w->line, "'%s': bad time '%s' (a number with us, ms, s, m, h or d; "
                  "ms when none)", w->argv[0], w->argv[i]);
        return false;
    }
    if (rounded)
        hap_warn(c, w->line, "'%s' rounded up to %ums: lxlb counts whole milliseconds",
                 w->argv[i], ms);
    out->ms = ms;
    out->line = w->line;
    return true;
}

/* "log TARGET [len N] [format F] [sample R:S] FACILITY [LEVEL [MINLEVEL]]". */
static void global_log(struct hap_cfg *c, const struct hap_words *w)
{
    const char *target, *facility = NULL;
    int i = 2;

    if (!want_args(c, w, 2))
        return;
    target = w->argv[1];
    while (i + 1 < w->argc && (!strcmp(w->argv[i], "len") || !strcmp(w->argv[i], "format") ||
                               !strcmp(w->argv[i], "sample")))
        i += 2;
    if (i < w->argc)
        facility = w->argv[i];
    if (c->log.line) {
        hap_warn(c, w->line, "'log %s%s%s%s%s' is not supported: lxlb has one access log "
                 "(global.access_log, from line %d); its events go to stderr (the journal "
                 "under systemd)", target, facility ? " " : "", facility ? facility : "",
                 facility && i + 1 < w->argc ? " " : "",
                 facility && i + 1 < w->argc ? w->argv[i + 1] : "", c->log.line);
        return;
    }
    c->log.line = w->line;
    if (!strcmp(target, "stdout") || !strcmp(target, "stderr")) {
        c->log.s = "stderr";
        if (target[3] == 'o')
            hap_warn(c, w->line, "'log stdout' becomes \"stderr\": lxlb writes its access "
                     "log to stderr, a file or syslog");
        return;
    }
    c->log.s = "syslog";
    if (strcmp(target, "/dev/log") != 0)
        hap_warn(c, w->line, "'log %s': lxlb sends syslog lines to the unix socket /dev/log "
                 "(or $LXLB_SYSLOG_SOCKET), not to %s", target, target);
    if (facility && strcmp(facility, "local0") != 0)
        hap_warn(c, w->line, "'log ... %s': lxlb logs with facility local0", facility);
}

static void global_kw(struct hap_cfg *c, const struct hap_words *w)
{
    const char *kw = w->argv[0];

    if (!strcmp(kw, "maxconn"))
        set_uint(c, w, 1, 1, INT32_MAX, &c->maxconn);
    else if (!strcmp(kw, "nbthread")) {
        set_uint(c, w, 1, 1, 4096, &c->nbthread);
        if (c->nbthread.line == w->line && c->nbthread.v > 64) {
            hap_warn(c, w->line, "'nbthread %u': lxlb runs at most 64 event loops; "
                     "global.workers is 64", c->nbthread.v);
            c->nbthread.v = 64;
        }
    } else if (!strcmp(kw, "user"))
        set_str(c, w, &c->user);
    else if (!strcmp(kw, "group"))
        set_str(c, w, &c->group);
    else if (!strcmp(kw, "chroot")) {
        set_str(c, w, &c->chroot);
        if (c->chroot.s && c->chroot.s[0] != '/')
            hap_error(c, w->line, "'chroot %s': must be an absolute path", c->chroot.s);
    } else if (!strcmp(kw, "hard-stop-after"))
        set_time(c, w, 1, &c->grace);
    else if (!strcmp(kw, "log"))
        global_log(c, w);
    else if (!strcmp(kw, "crt-base")) {
        if (want_args(c, w, 1))
            c->crt_base = hap_strdup(&c->arena, w->argv[1]);
    } else if (!strcmp(kw, "stats") && w->argc > 1)
        unsupported(c, w, 2);
    else
        unsupported(c, w, 1);
}

/* --------------------------------------------------------------- options */

static void set_flag(struct hap_flag *f, bool on, int line)
{
    f->on = on;
    f->line = line;
}

/* "option httpchk [[METH] URI [VER]]" */
static void opt_httpchk(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w, int i)
{
    const char *meth = "OPTIONS", *uri = "/";
    int n = w->argc - i;

    if (n == 1)
        uri = w->argv[i];
    else if (n >= 2)
        meth = w->argv[i], uri = w->argv[i + 1];
    set_flag(&p->httpchk, true, w->line);
    p->chk_path = "/";
    p->chk_meth = (struct hap_str){ hap_strdup(&c->arena, meth), w->line };
    if (n >= 3 && strpbrk(w->argv[i + 2], "\r\n"))
        hap_warn(c, w->line, "'option httpchk' headers after the version are not supported: "
                 "lxlb sends Host (the server's address) and User-Agent");
    if (uri[0] != '/' || strpbrk(uri, " \t\r\n")) {
        hap_warn(c, w->line, "'option httpchk' URI '%s': lxlb checks a path starting with "
                 "'/'; it checks \"/\"", uri);
        return;
    }
    p->chk_path = hap_strdup(&c->arena, uri);
}

static void opt_forwardfor(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w,
                           int i)
{
    set_flag(&p->forwardfor, true, w->line);
    for (; i < w->argc; i++) {
        const char *a = w->argv[i];
        if ((!strcmp(a, "except") || !strcmp(a, "header")) && i + 1 < w->argc) {
            hap_unsupported(c, w->line, hap_printf(&c->arena, "option forwardfor %s", a),
                            a[0] == 'e' ? "lxlb appends every client's address"
                                        : "lxlb appends to X-Forwarded-For");
            i++;
        } else if (!strcmp(a, "if-none")) {
            hap_unsupported(c, w->line, "option forwardfor if-none",
                            "lxlb always appends the client's address to X-Forwarded-For");
        } else {
            hap_error(c, w->line, "'option forwardfor': unexpected '%s'", a);
        }
    }
}

static void option_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w, bool no)
{
    int i = no ? 2 : 1;
    const char *o;
    static const char *const same[] = { "httplog", "httpslog", "dontlognull",
                                        "http-keep-alive", "http-use-htx", NULL };

    if (!want_args(c, w, i))
        return;
    o = w->argv[i];
    if (!strcmp(o, "redispatch"))
        set_flag(&p->redispatch, !no, w->line);
    else if (!strcmp(o, "httpclose") || !strcmp(o, "forceclose")) {
        set_flag(&p->httpclose, !no, w->line);
        if (!no) /* one connection mode per proxy: the last one set */
            set_flag(&p->server_close, false, w->line);
    } else if (!strcmp(o, "http-server-close")) {
        set_flag(&p->server_close, !no, w->line);
        if (!no)
            set_flag(&p->httpclose, false, w->line);
    }
    else if (!strcmp(o, "forwardfor") && !no)
        opt_forwardfor(c, p, w, i + 1);
    else if (!strcmp(o, "forwardfor"))
        set_flag(&p->forwardfor, false, w->line);
    else if (!strcmp(o, "httpchk") && !no)
        opt_httpchk(c, p, w, i + 1);
    else if (no)
        return; /* turning off what lxlb does not do anyway */
    else {
        for (int k = 0; same[k]; k++)
            if (!strcmp(o, same[k]))
                return; /* lxlb behaves this way already */
        unsupported(c, w, 2);
    }
}

static void timeout_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    static const struct { const char *name; enum hap_tmo t; } names[] = {
        { "connect", HAP_T_CONNECT }, { "client", HAP_T_CLIENT }, { "server", HAP_T_SERVER },
        { "http-keep-alive", HAP_T_KEEPALIVE }, { "http-request", HAP_T_HTTP_REQUEST },
        { "tunnel", HAP_T_TUNNEL }, { "check", HAP_T_CHECK },
    };
    static const char *const old[] = { "contimeout", "clitimeout", "srvtimeout" };

    for (int k = 0; k < 3; k++) /* HAProxy < 2.1: "contimeout 5000" */
        if (!strcmp(w->argv[0], old[k])) {
            set_time(c, w, 1, &p->timeout[k]);
            return;
        }
    if (!want_args(c, w, 2))
        return;
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
        if (!strcmp(w->argv[1], names[k].name)) {
            set_time(c, w, 2, &p->timeout[names[k].t]);
            return;
        }
    if (!strcmp(w->argv[1], "queue"))
        hap_unsupported(c, w->line, "timeout queue", "lxlb does not queue requests: without "
                        "a usable server they get 503 at once");
    else if (!strcmp(w->argv[1], "client-fin") || !strcmp(w->argv[1], "server-fin"))
        hap_unsupported(c, w->line, hap_printf(&c->arena, "timeout %s", w->argv[1]),
                        "lxlb closes half-closed connections with timeout.client / server");
    else
        unsupported(c, w, 2);
}

/* --------------------------------------------------------------- cookie */

static void cookie_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    if (!want_args(c, w, 1))
        return;
    p->cookie.s = hap_strdup(&c->arena, w->argv[1]);
    p->cookie.line = w->line;
    p->cookie_mode = NULL;
    p->ck_indirect = p->ck_nocache = p->ck_httponly = p->ck_secure = false;
    for (int i = 2; i < w->argc; i++) {
        const char *a = w->argv[i];

        if (!strcmp(a, "insert") || !strcmp(a, "prefix") || !strcmp(a, "rewrite"))
            p->cookie_mode = hap_strdup(&c->arena, a);
        else if (!strcmp(a, "indirect"))
            p->ck_indirect = true;
        else if (!strcmp(a, "nocache"))
            p->ck_nocache = true;
        else if (!strcmp(a, "httponly"))
            p->ck_httponly = true;
        else if (!strcmp(a, "secure"))
            p->ck_secure = true;
        else if ((!strcmp(a, "domain") || !strcmp(a, "maxidle") || !strcmp(a, "maxlife") ||
                  !strcmp(a, "attr")) && i + 1 < w->argc) {
            hap_unsupported(c, w->line, hap_printf(&c->arena, "cookie ... %s", a),
                            "lxlb's inserted cookie has Path=/ and the flags httponly and "
                            "secure only");
            i++;
        } else if (!strcmp(a, "postonly") || !strcmp(a, "preserve") || !strcmp(a, "dynamic"))
            hap_unsupported(c, w->line, hap_printf(&c->arena, "cookie ... %s", a),
                            a[1] == 'o' ? "lxlb inserts the cookie on any response (use "
                            "nocache for caches)" : a[1] == 'r' ? "lxlb manages the "
                            "persistence cookie itself" : "give servers a cookie value");
        else
            hap_error(c, w->line, "'cookie': unknown option '%s'", a);
    }
    if (!p->cookie_mode) {
        hap_warn(c, w->line, "'cookie %s' without insert, prefix or rewrite (HAProxy only "
                 "reads the cookie the application sets) becomes \"rewrite\": lxlb sets the "
                 "server's value in the cookie the application sends", p->cookie.s);
        p->cookie_mode = "rewrite";
    }
}

/* ---------------------------------------------------------------- servers */

/* Server options and how many arguments each takes. */
struct hap_opt {
    const char *name;
    int nargs;
    const char *instead; /* NULL: handled by server_opt() */
};

static const struct hap_opt server_opts[] = {
    { "check", 0, NULL }, { "no-check", 0, NULL }, { "inter", 1, NULL }, { "rise", 1, NULL },
    { "fall", 1, NULL }, { "weight", 1, NULL }, { "cookie", 1, NULL },
    { "send-proxy", 0, NULL }, { "send-proxy-v2", 0, NULL }, { "no-send-proxy", 0, NULL },
    { "no-send-proxy-v2", 0, NULL }, { "disabled", 0, NULL }, { "enabled", 0, NULL },
    { "backup", 0, NULL }, { "no-backup", 0, NULL },
    { "fastinter", 1, "lxlb checks every 'inter', whatever the server's state" },
    { "downinter", 1, "lxlb checks every 'inter', whatever the server's state" },
    { "port", 1, "lxlb checks the server's own address and port" },
    { "addr", 1, "lxlb checks the server's own address and port" },
    { "maxconn", 1, "lxlb has no per-server connection limit or queue" },
    { "maxqueue", 1, "lxlb has no per-server connection limit or queue" },
    { "minconn", 1, "lxlb has no per-server connection limit or queue" },
    { "slowstart", 1, HAP_NONE }, { "track", 1, HAP_NONE }, { "id", 1, HAP_NONE },
    { "observe", 1, "lxlb counts failed connections in a row as down ('fall')" },
    { "error-limit", 1, "lxlb counts failed connections in a row as down ('fall')" },
    { "on-error", 1, "lxlb counts failed connections in a row as down ('fall')" },
    { "on-marked-down", 1, HAP_NONE }, { "on-marked-up", 1, HAP_NONE },
    { "resolvers", 1, "lxlb resolves server names at start and on reload (SIGHUP)" },
    { "resolve-prefer", 1, "lxlb resolves server names at start and on reload (SIGHUP)" },
    { "resolve-net", 1, "lxlb resolves server names at start and on reload (SIGHUP)" },
    { "resolve-opts", 1, "lxlb resolves server names at start and on reload (SIGHUP)" },
    { "init-addr", 1, "lxlb resolves server names at start and on reload (SIGHUP)" },
    { "ssl", 0, "lxlb connects to servers in plain HTTP/1.1" },
    { "check-ssl", 0, "lxlb connects to servers in plain HTTP/1.1" },
    { "no-ssl", 0, NULL }, { "no-check-ssl", 0, NULL },
    { "verify", 1, "lxlb connects to servers in plain HTTP/1.1" },
    { "verifyhost", 1, "lxlb connects to servers in plain HTTP/1.1" },
    { "no-verifyhost", 0, "lxlb connects to servers in plain HTTP/1.1" },
    { "ca-file", 1, "lxlb connects to servers in plain HTTP/1.1" },
    { "crl-file", 1, "lxlb connects to servers in plain HTTP/1.1" },
    { "crt", 1, "lxlb connects to servers in plain HTTP/1.1" },
    { "sni", 1, "lxlb connects to servers in plain HTTP/1.1" },
    { "alpn", 1, "lxlb speaks HTTP/1.1 to its servers" },
    { "npn", 1, "lxlb speaks HTTP/1.1 to its servers" },
    { "proto", 1, "lxlb speaks HTTP/1.1 to its servers" },
    { "check-alpn", 1, HAP_CHECKS }, { "check-proto", 1, HAP_CHECKS },
    { "check-sni", 1, HAP_CHECKS }, { "check-send-proxy", 0, HAP_CHECKS },
    { "agent-check", 0, HAP_CHECKS }, { "no-agent-check", 0, NULL },
    { "agent-addr", 1, HAP_CHECKS }, { "agent-inter", 1, HAP_CHECKS },
    { "agent-port", 1, HAP_CHECKS }, { "agent-send", 1, HAP_CHECKS },
    { "ciphers", 1, "lxlb connects to servers in plain HTTP/1.1" },
    { "ciphersuites", 1, "lxlb connects to servers in plain HTTP/1.1" },
    { "ssl-min-ver", 1, "lxlb connects to servers in plain HTTP/1.1" },
    { "ssl-max-ver", 1, "lxlb connects to servers in plain HTTP/1.1" },
    { "send-proxy-v2-ssl", 0, "lxlb sends PROXY v1 or v2 headers without TLS fields" },
    { "send-proxy-v2-ssl-cn", 0, "lxlb sends PROXY v1 or v2 headers without TLS fields" },
    { "proxy-v2-options", 1, "lxlb sends PROXY v1 or v2 headers without TLS fields" },
    { "tfo", 0, HAP_NONE }, { "no-tfo", 0, NULL }, { "non-stick", 0, HAP_NONE },
    { "stick", 0, NULL }, { "namespace", 1, HAP_NONE }, { "socks4", 1, HAP_NONE },
    { "redir", 1, HAP_NONE }, { "tcp-ut", 1, HAP_NONE }, { "ws", 1, HAP_NONE },
    { "pool-low-conn", 1, "lxlb pools idle server connections on its own" },
    { "pool-max-conn", 1, "lxlb pools idle server connections on its own" },
    { "pool-purge-delay", 1, "lxlb pools idle server connections on its own" },
    { "max-reuse", 1, "lxlb pools idle server connections on its own" },
    { "log-proto", 1, HAP_NONE }, { "allow-0rtt", 0, HAP_NONE },
    { NULL, 0, NULL },
};

static void server_flag(struct hap_srvopt *o, const char *a, int line)
{
    if (!strcmp(a, "check") || !strcmp(a, "no-check"))
        set_flag(&o->check, a[0] == 'c', line);
    else if (!strcmp(a, "send-proxy"))
        o->send_proxy = (struct hap_uint){ 1, line };
    else if (!strcmp(a, "send-proxy-v2"))
        o->send_proxy = (struct hap_uint){ 2, line };
    else if (!strncmp(a, "no-send-proxy", 13))
        o->send_proxy = (struct hap_uint){ 0, line };
    else if (!strcmp(a, "disabled") || !strcmp(a, "enabled"))
        set_flag(&o->disabled, a[0] == 'd', line);
    else if (!strcmp(a, "backup") || !strcmp(a, "no-backup"))
        set_flag(&o->backup, a[0] == 'b', line);
}

static void server_arg(struct hap_cfg *c, struct hap_srvopt *o, const struct hap_words *w,
                       int i)
{
    const char *a = w->argv[i];
    struct hap_words one = { .line = w->line, .argc = 2, .argv = (char *[]){ w->argv[i],
                                                                           w->argv[i + 1] } };

    if (!strcmp(a, "inter"))
        set_time(c, &one, 1, &o->inter);
    else if (!strcmp(a, "rise"))
        set_uint(c, &one, 1, 1, 1000, &o->rise);
    else if (!strcmp(a, "fall"))
        set_uint(c, &one, 1, 1, 1000, &o->fall);
    else if (!strcmp(a, "weight"))
        set_uint(c, &one, 1, 0, 256, &o->weight);
    else if (!strcmp(a, "cookie")) {
        o->cookie.s = hap_strdup(&c->arena, w->argv[i + 1]);
        o->cookie.line = w->line;
    }
}

/* Options from words[i] on. "source" takes a variable number of words. */
static void server_opts_parse(struct hap_cfg *c, struct hap_srvopt *o, const struct hap_words *w,
                              int i)
{
    while (i < w->argc) {
        const char *a = w->argv[i];
        const struct hap_opt *k = server_opts;

        if (!strcmp(a, "source")) {
            hap_unsupported(c, w->line, "source", note_for("source"));
            for (i += 2; i + 1 < w->argc && (!strcmp(w->argv[i], "usesrc") ||
                                             !strcmp(w->argv[i], "interface"));)
                i += 2;
            continue;
        }
        while (k->name && strcmp(k->name, a) != 0)
            k++;
        if (!k->name) {
            hap_unsupported(c, w->line, a, "lxlb does not know this server option; left out");
            i++;
            continue;
        }
        if (i + k->nargs >= w->argc) {
            hap_error(c, w->line, "server option '%s' needs an argument", a);
            return;
        }
        if (k->instead)
            hap_unsupported(c, w->line, a, k->instead);
        else if (k->nargs == 0)
            server_flag(o, a, w->line);
        else
            server_arg(c, o, w, i);
        i += 1 + k->nargs;
    }
}

/* An address with a port for a server or a bind (default_port 0: required). */
static const char *addr_one(struct hap_cfg *c, const struct hap_words *w, const char *in,
                            unsigned default_port)
{
    struct hap_addr a;
    const char *why = NULL;

    if (hap_split_addr(c, in, &a, &why) < 0) {
        if (why)
            hap_error(c, w->line, "'%s': address '%s': %s", w->argv[0], in, why);
        return NULL;
    }
    if (a.unix_path)
        return hap_addr_text(c, &a, 0);
    if (a.port_lo != a.port_hi) {
        hap_error(c, w->line, "'%s': address '%s': a port range is only for bind",
                  w->argv[0], in);
        return NULL;
    }
    if (!a.port_lo) {
        hap_warn(c, w->line, "'%s' address '%s' has no port: HAProxy connects to the port the "
                 "client came in on; lxlb needs a fixed one and uses %u", w->argv[0], in,
                 default_port);
        a.port_lo = default_port;
    }
    return hap_addr_text(c, &a, a.port_lo);
}

static void server_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    struct hap_server *s;

    if (!want_args(c, w, 2))
        return;
    if (!conf_name_ok(w->argv[1])) {
        hap_error(c, w->line, "bad server name '%s': HAProxy and lxlb take letters, "
                  "digits, '-', '_', '.' and ':'", w->argv[1]);
        return;
    }
    s = hap_push(&c->arena, (void **)&p->servers, &p->nservers, &p->cservers, sizeof(*s));
    if (!s)
        return;
    s->name = hap_strdup(&c->arena, w->argv[1]);
    s->line = w->line;
    s->o = p->defsrv;
    s->addr = addr_one(c, w, w->argv[2], 80);
    server_opts_parse(c, &s->o, w, 3);
    if (!s->addr)
        p->nservers--;
}

/* ---------------------------------------------------------------- binds */

static const struct hap_opt bind_opts[] = {
    { "ssl", 0, NULL }, { "accept-proxy", 0, NULL }, { "crt", 1, NULL },
    { "crt-list", 1, "name each certificate in frontends[].tls.certs" },
    { "alpn", 1, "lxlb offers ALPN http/1.1 only" }, { "npn", 1, "lxlb offers ALPN http/1.1 only" },
    { "ciphers", 1, HAP_TLS }, { "ciphersuites", 1, HAP_TLS }, { "curves", 1, HAP_TLS },
    { "ecdhe", 1, HAP_TLS }, { "ssl-min-ver", 1, HAP_TLS }, { "ssl-max-ver", 1, HAP_TLS },
    { "no-sslv3", 0, HAP_TLS }, { "no-tlsv10", 0, HAP_TLS }, { "no-tlsv11", 0, HAP_TLS },
    { "no-tlsv12", 0, HAP_TLS }, { "no-tlsv13", 0, HAP_TLS }, { "force-sslv3", 0, HAP_TLS },
    { "force-tlsv10", 0, HAP_TLS }, { "force-tlsv11", 0, HAP_TLS },
    { "force-tlsv12", 0, HAP_TLS }, { "force-tlsv13", 0, HAP_TLS },
    { "no-tls-tickets", 0, HAP_TLS }, { "tls-ticket-keys", 1, HAP_TLS },
    { "prefer-client-ciphers", 0, HAP_TLS }, { "sigalgs", 1, HAP_TLS },
    { "client-sigalgs", 1, HAP_TLS }, { "allow-0rtt", 0, HAP_TLS },
    { "strict-sni", 0, "lxlb serves its default certificate to unknown names" },
    { "ca-file", 1, "lxlb does not verify client certificates" },
    { "verify", 1, "lxlb does not verify client certificates" },
    { "crl-file", 1, "lxlb does not verify client certificates" },
    { "ca-ignore-err", 1, "lxlb does not verify client certificates" },
    { "crt-ignore-err", 1, "lxlb does not verify client certificates" },
    { "no-ca-names", 0, "lxlb does not verify client certificates" },
    { "ca-sign-file", 1, HAP_NONE }, { "ca-sign-pass", 1, HAP_NONE },
    { "generate-certificates", 0, HAP_NONE },
    { "v4v6", 0, "lxlb binds each address as written" },
    { "v6only", 0, "lxlb binds each address as written" },
    { "transparent", 0, HAP_NONE }, { "defer-accept", 0, HAP_NONE }, { "tfo", 0, HAP_NONE },
    { "interface", 1, "lxlb binds each address as written" },
    { "name", 1, HAP_NONE }, { "id", 1, HAP_NONE }, { "nice", 1, HAP_NONE },
    { "process", 1, HAP_NONE }, { "thread", 1, HAP_NONE }, { "mss", 1, HAP_NONE },
    { "maxconn", 1, "lxlb has one connection limit for all frontends (global.maxconn)" },
    { "backlog", 1, HAP_NONE }, { "tcp-ut", 1, HAP_NONE }, { "namespace", 1, HAP_NONE },
    { "proto", 1, "lxlb speaks HTTP/1.1 to clients" },
    { "accept-netscaler-cip", 1, HAP_NONE },
    { "level", 1, HAP_NONE }, { "severity-output", 1, HAP_NONE },
    { "expose-fd", 1, HAP_NONE },
    { "user", 1, "lxlb creates unix sockets with its own user and mode" },
    { "group", 1, "lxlb creates unix sockets with its own user and mode" },
    { "uid", 1, "lxlb creates unix sockets with its own user and mode" },
    { "gid", 1, "lxlb creates unix sockets with its own user and mode" },
    { "mode", 1, "lxlb creates unix sockets with its own user and mode" },
    { NULL, 0, NULL },
};

static const char *crt_path(struct hap_cfg *c, const char *file)
{
    if (file[0] == '/' || !c->crt_base)
        return hap_strdup(&c->arena, file);
    return hap_printf(&c->arena, "%s%s%s", c->crt_base,
                      c->crt_base[0] && c->crt_base[strlen(c->crt_base) - 1] == '/' ? "" : "/",
                      file);
}

/* The options of a bind line into proto (copied to each of its addresses). */
static void bind_opts_parse(struct hap_cfg *c, struct hap_bind *b, const struct hap_words *w)
{
    size_t ccrts = 0;

    for (int i = 2; i < w->argc;) {
        const char *a = w->argv[i];
        const struct hap_opt *k = bind_opts;

        while (k->name && strcmp(k->name, a) != 0)
            k++;
        if (!k->name) {
            hap_unsupported(c, w->line, a, "lxlb does not know this bind option; left out");
            i++;
            continue;
        }
        if (i + k->nargs >= w->argc) {
            hap_error(c, w->line, "bind option '%s' needs an argument", a);
            return;
        }
        if (k->instead && !(!strcmp(a, "alpn") && !strstr(w->argv[i + 1], "h2")))
            hap_unsupported(c, w->line, a, k->instead);
        else if (!strcmp(a, "ssl"))
            b->ssl = true;
        else if (!strcmp(a, "accept-proxy"))
            b->accept_proxy = true;
        else if (!strcmp(a, "crt")) {
            const char **slot = hap_push(&c->arena, (void **)&b->crts, &b->ncrts, &ccrts,
                                         sizeof(*b->crts));
            if (slot)
                *slot = crt_path(c, w->argv[i + 1]);
        }
        i += 1 + k->nargs;
    }
}

static void bind_add(struct hap_cfg *c, struct hap_proxy *p, const struct hap_bind *proto,
                     const char *addr)
{
    struct hap_bind *b = hap_push(&c->arena, (void **)&p->binds, &p->nbinds, &p->cbinds,
                                  sizeof(*b));
    if (b) {
        *b = *proto;
        b->addr = addr;
    }
}

/* "bind ADDR[,ADDR...] [options]"; a port range becomes one address per port. */
static void bind_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    struct hap_bind proto = { .line = w->line };
    char *list, *save = NULL;

    if (!want_args(c, w, 1))
        return;
    bind_opts_parse(c, &proto, w);
    if (proto.ssl && !proto.ncrts) {
        hap_error(c, w->line, "'bind ... ssl' needs 'crt FILE'");
        return;
    }
    if (!proto.ssl && proto.ncrts)
        hap_warn(c, w->line, "'crt' without 'ssl': HAProxy and lxlb serve plain HTTP there");
    if (!(list = hap_strdup(&c->arena, w->argv[1])))
        return;
    for (char *one = strtok_r(list, ",", &save); one; one = strtok_r(NULL, ",", &save)) {
        struct hap_addr a;
        const char *why = NULL;

        if (hap_split_addr(c, one, &a, &why) < 0) {
            hap_error(c, w->line, "'bind %s': %s", one, why ? why : "out of memory");
            continue;
        }
        if (a.unix_path) {
            bind_add(c, p, &proto, hap_addr_text(c, &a, 0));
            continue;
        }
        if (!a.port_lo) {
            hap_error(c, w->line, "'bind %s': missing port", one);
            continue;
        }
        if (a.port_hi - a.port_lo >= 64) {
            hap_error(c, w->line, "'bind %s': lxlb takes port ranges of at most 64 ports "
                      "(one listener each)", one);
            continue;
        }
        for (unsigned port = a.port_lo; port <= a.port_hi; port++)
            bind_add(c, p, &proto, hap_addr_text(c, &a, port));
    }
}

/* ------------------------------------------------------------------ rules */

/* A new rule; its keyword for messages is "http-request redirect" etc. */
static struct hap_rule *new_rule(struct hap_cfg *c, struct hap_proxy *p,
                                 const struct hap_words *w, enum hap_rule_kind kind)
{
    struct hap_rule *r = hap_push(&c->arena, (void **)&p->rules, &p->nrules, &p->crules,
                                  sizeof(*r));
    if (!r)
        return NULL;
    r->kind = kind;
    r->line = w->line;
    r->keyword = !strcmp(w->argv[0], "http-request") && w->argc > 1
                 ? hap_printf(&c->arena, "http-request %s", w->argv[1])
                 : hap_strdup(&c->arena, w->argv[0]);
    if (!r->keyword)
        r->keyword = "?";
    return r;
}

static void drop_rule(struct hap_proxy *p, const struct hap_rule *r)
{
    if (r && p->nrules && r == &p->rules[p->nrules - 1])
        p->nrules--;
}

/* "%[...]" or "%x" makes a value a log-format expression lxlb cannot evaluate;
 * "%%" is a plain '%'. Returns the literal (arena) or NULL. */
static const char *literal_value(struct hap_cfg *c, const char *v)
{
    char *out = hap_alloc(&c->arena, strlen(v) + 1), *o = out;

    if (!out)
        return NULL;
    for (; *v; v++) {
        if (*v == '%' && v[1] == '%')
            *o++ = *v++;
        else if (*v == '%')
            return NULL;
        else
            *o++ = *v;
    }
    return out;
}

static void set_header_rule(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w,
                            const char *name, const char *value, int cond_at)
{
    struct hap_rule *r;
    const char *lit = literal_value(c, value);

    if (!lit) {
        hap_unsupported(c, w->line, hap_printf(&c->arena, "%s %s %s", w->argv[0],
                        w->argc > 1 ? w->argv[1] : "", name),
                        "the value is a log-format expression; lxlb's set_headers take "
                        "fixed values");
        return;
    }
    if (!conf_token_ok(name) || strpbrk(lit, "\r\n")) {
        hap_error(c, w->line, "'%s': bad header '%s'", w->argv[0], name);
        return;
    }
    if (!(r = new_rule(c, p, w, HAP_R_SET_HEADER)))
        return;
    r->hname = hap_strdup(&c->arena, name);
    r->hvalue = lit;
    if (cond_at < w->argc && hap_cond_parse(c, p, w, cond_at, &r->cond) < 0)
        drop_rule(p, r);
}

/* HAProxy < 2.1: "reqadd Name:\ value [if|unless COND]". */
static void reqadd_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    const char *line, *colon;
    char *name;

    if (!want_args(c, w, 1))
        return;
    line = w->argv[1];
    colon = strchr(line, ':');
    if (!colon || colon == line) {
        hap_error(c, w->line, "'reqadd %s': expected 'Name: value'", line);
        return;
    }
    if (!(name = hap_strndup(&c->arena, line, (size_t)(colon - line))))
        return;
    for (colon++; *colon == ' ' || *colon == '\t'; colon++)
        ;
    set_header_rule(c, p, w, name, colon, 2);
}

/* "redirect location|prefix|scheme TO [code N] [options] [if|unless COND]", from
 * words[i]. */
static void redirect_rule(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w,
                          int i, enum hap_rule_kind kind)
{
    struct hap_rule *r;
    const char *type;

    if (i + 1 >= w->argc) {
        hap_error(c, w->line, "'%s' needs location, prefix or scheme and a value",
                  w->argv[0]);
        return;
    }
    if (!(r = new_rule(c, p, w, kind)))
        return;
    type = w->argv[i];
    if (!strcmp(type, "location"))
        r->redir.kind = HAP_REDIR_LOCATION;
    else if (!strcmp(type, "prefix"))
        r->redir.kind = HAP_REDIR_PREFIX;
    else if (!strcmp(type, "scheme"))
        r->redir.kind = HAP_REDIR_SCHEME;
    else {
        hap_error(c, w->line, "'%s %s': expected location, prefix or scheme", w->argv[0], type);
        drop_rule(p, r);
        return;
    }
    r->redir.to = hap_strdup(&c->arena, w->argv[i + 1]);
    r->redir.code = 302;
    for (i += 2; i < w->argc; i++) {
        const char *a = w->argv[i];

        if (!strcmp(a, "if") || !strcmp(a, "unless")) {
            if (hap_cond_parse(c, p, w, i, &r->cond) < 0)
                drop_rule(p, r);
            return;
        }
        if (!strcmp(a, "code") && i + 1 < w->argc) {
            int code = atoi(w->argv[++i]);
            if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) {
                hap_error(c, w->line, "'%s': code must be 301, 302, 303, 307 or 308",
                          w->argv[0]);
                drop_rule(p, r);
                return;
            }
            r->redir.code = code;
        } else if ((!strcmp(a, "set-cookie") || !strcmp(a, "clear-cookie")) &&
                   i + 1 < w->argc) {
            hap_unsupported(c, w->line, hap_printf(&c->arena, "redirect ... %s", a),
                            "lxlb's redirects set no cookie");
            i++;
        } else if (!strcmp(a, "drop-query") || !strcmp(a, "append-slash") ||
                   !strcmp(a, "ignore-empty")) {
            hap_unsupported(c, w->line, hap_printf(&c->arena, "redirect ... %s", a),
                            "lxlb keeps the path and query as they are (or drops both: "
                            "\"keep_path\": false)");
        } else {
            hap_error(c, w->line, "'%s': unexpected '%s'", w->argv[0], a);
            drop_rule(p, r);
            return;
        }
    }
}

static void use_backend_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    struct hap_rule *r;

    if (!want_args(c, w, 1))
        return;
    if (strchr(w->argv[1], '%')) {
        hap_unsupported(c, w->line, "use_backend %[...]", "lxlb routes name their backend; "
                        "write one route per backend");
        return;
    }
    if (!(r = new_rule(c, p, w, HAP_R_USE_BACKEND)))
        return;
    r->backend = hap_strdup(&c->arena, w->argv[1]);
    if (w->argc > 2 && hap_cond_parse(c, p, w, 2, &r->cond) < 0)
        drop_rule(p, r);
}

static void http_request_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    const char *a;

    if (!want_args(c, w, 1))
        return;
    a = w->argv[1];
    if (!strcmp(a, "redirect")) {
        redirect_rule(c, p, w, 2, HAP_R_HTTPREQ_REDIRECT);
    } else if (!strcmp(a, "set-header") || !strcmp(a, "add-header")) {
        if (!want_args(c, w, 3))
            return;
        if (a[0] == 'a')
            hap_warn(c, w->line, "'http-request add-header %s' becomes set_headers: lxlb "
                     "replaces the field instead of adding one more", w->argv[2]);
        set_header_rule(c, p, w, w->argv[2], w->argv[3], 4);
    } else {
        hap_unsupported(c, w->line, hap_printf(&c->arena, "http-request %s", a),
                        "lxlb's request rules are routes, redirects and set_headers");
    }
}

/* --------------------------------------------------------- health checks */

/* "http-check expect [options] [!] status|rstatus PATTERN". */
static void check_expect(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    static const char *const opts[] = { "min-recv", "comment", "ok-status", "error-status",
                                        "tout-status", "on-success", "on-error",
                                        "status-code", NULL };
    int i = 2;

    for (bool more = true; more && i + 1 < w->argc;) {
        more = false;
        for (int k = 0; opts[k]; k++)
            if (!strcmp(w->argv[i], opts[k])) {
                hap_unsupported(c, w->line, hap_printf(&c->arena, "http-check expect %s",
                                opts[k]), "lxlb checks pass or fail on the status alone");
                i += 2;
                more = true;
                break;
            }
    }
    if (i + 1 >= w->argc) {
        hap_error(c, w->line, "'http-check expect' needs a match and a pattern");
        return;
    }
    if (w->argv[i][0] == '!' || (strcmp(w->argv[i], "status") && strcmp(w->argv[i], "rstatus"))) {
        hap_unsupported(c, w->line, hap_printf(&c->arena, "http-check expect %s",
                        w->argv[i]), "lxlb checks pass on a list of statuses "
                        "(health.expect)");
        return;
    }
    if (p->expect.line)
        hap_warn(c, w->line, "a second 'http-check expect': lxlb checks one status list, "
                 "this one (line %d's is replaced)", p->expect.line);
    p->expect.s = hap_strdup(&c->arena, w->argv[i + 1]);
    p->expect.line = w->line;
    if (w->argv[i][0] == 'r') /* marked for haproxy-out.c to turn the regex into ranges */
        p->expect.s = hap_printf(&c->arena, "~%s", w->argv[i + 1]);
}

/* "http-check send [meth M] [uri U] [ver V] [hdr N V]* [body B] [comment C]". */
static void check_send(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    for (int i = 2; i + 1 < w->argc; i += 2) {
        const char *a = w->argv[i], *v = w->argv[i + 1];

        if (!strcmp(a, "meth"))
            p->chk_meth = (struct hap_str){ hap_strdup(&c->arena, v), w->line };
        else if (!strcmp(a, "uri")) {
            if (v[0] != '/' || strpbrk(v, " \t\r\n"))
                hap_warn(c, w->line, "'http-check send uri %s': lxlb checks a path "
                         "starting with '/'; left as before", v);
            else
                p->chk_path = hap_strdup(&c->arena, v);
        } else if (!strcmp(a, "hdr") && i + 2 < w->argc) {
            hap_unsupported(c, w->line, hap_printf(&c->arena, "http-check send hdr %s", v),
                            "lxlb's checks send Host (the server's address) and User-Agent");
            i++;
        } else if (strcmp(a, "meth") && strcmp(a, "ver"))
            hap_unsupported(c, w->line, hap_printf(&c->arena, "http-check send %s", a),
                            "lxlb's checks are GET requests without a body");
    }
}

static void http_check_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    if (!want_args(c, w, 1))
        return;
    if (!strcmp(w->argv[1], "expect"))
        check_expect(c, p, w);
    else if (!strcmp(w->argv[1], "send"))
        check_send(c, p, w);
    else if (!strcmp(w->argv[1], "disable-on-404"))
        hap_unsupported(c, w->line, "http-check disable-on-404", "drain a server through "
                        "the admin endpoint (POST .../state {\"state\": \"drain\"})");
    else
        unsupported(c, w, 2);
}

/* ---------------------------------------------------------------- proxies */

static void balance_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    if (!want_args(c, w, 1))
        return;
    p->balance.line = w->line;
    if (!strcmp(w->argv[1], "roundrobin") || !strcmp(w->argv[1], "leastconn")) {
        p->balance.s = hap_strdup(&c->arena, w->argv[1]);
        return;
    }
    p->balance.s = "roundrobin";
    hap_unsupported(c, w->line, hap_printf(&c->arena, "balance %s", w->argv[1]),
                    "lxlb balances with roundrobin (smooth, weighted) or leastconn; "
                    "roundrobin is used");
}

static void mode_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    if (!want_args(c, w, 1))
        return;
    p->mode_line = w->line;
    p->mode = !strcmp(w->argv[1], "http") ? HAP_MODE_HTTP
            : !strcmp(w->argv[1], "tcp") ? HAP_MODE_TCP : HAP_MODE_OTHER;
}

static void log_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w, bool no)
{
    set_flag(&p->log, !no, w->line);
    p->log_own = false;
    if (no || (w->argc > 1 && !strcmp(w->argv[1], "global")))
        return;
    p->log_own = true;
    hap_warn(c, w->line, "'log %s' in a %s section: lxlb has one access log for all "
             "frontends (global.access_log); this proxy's lines go there",
             w->argc > 1 ? w->argv[1] : "", p->kind == HAP_DEFAULTS ? "defaults" : "proxy");
}

/* Keywords a section kind takes (HAProxy's matrix): others are ignored
 * with a warning, as HAProxy does. */
static bool allowed(struct hap_cfg *c, const struct hap_proxy *p, const struct hap_words *w,
                    bool fe, bool be, bool def)
{
    bool ok = p->kind == HAP_DEFAULTS ? def : p->kind == HAP_FRONTEND ? fe
            : p->kind == HAP_BACKEND ? be : (fe || be);

    if (!ok)
        hap_warn(c, w->line, "'%s' is not allowed in a %s section; ignored, as HAProxy does",
                 w->argv[0], p->kind == HAP_DEFAULTS ? "defaults" : p->kind == HAP_FRONTEND
                 ? "frontend" : "backend");
    return ok;
}

static void proxy_kw(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    const char *kw = w->argv[0];
    bool no = !strcmp(kw, "no") && w->argc > 1;

    if (no && !strcmp(w->argv[1], "option"))
        option_kw(c, p, w, true);
    else if (no && !strcmp(w->argv[1], "log"))
        log_kw(c, p, w, true);
    else if (!strcmp(kw, "mode"))
        mode_kw(c, p, w);
    else if (!strcmp(kw, "option"))
        option_kw(c, p, w, false);
    else if (!strcmp(kw, "timeout") || !strcmp(kw, "contimeout") ||
             !strcmp(kw, "clitimeout") || !strcmp(kw, "srvtimeout"))
        timeout_kw(c, p, w);
    else if (!strcmp(kw, "log"))
        log_kw(c, p, w, false);
    else if (!strcmp(kw, "disabled") || !strcmp(kw, "enabled"))
        set_flag(&p->disabled, kw[0] == 'd', w->line);
    else if (!strcmp(kw, "bind") && allowed(c, p, w, true, false, false))
        bind_kw(c, p, w);
    else if (!strcmp(kw, "default_backend") && allowed(c, p, w, true, false, true))
        set_str(c, w, &p->default_backend);
    else if (!strcmp(kw, "use_backend") && allowed(c, p, w, true, false, false))
        use_backend_kw(c, p, w);
    else if (!strcmp(kw, "acl") && allowed(c, p, w, true, true, false))
        hap_acl_parse(c, p, w);
    else if (!strcmp(kw, "redirect") && allowed(c, p, w, true, true, false))
        redirect_rule(c, p, w, 1, HAP_R_REDIRECT);
    else if (!strcmp(kw, "http-request") && allowed(c, p, w, true, true, false))
        http_request_kw(c, p, w);
    else if (!strcmp(kw, "reqadd") && allowed(c, p, w, true, true, false))
        reqadd_kw(c, p, w);
    else if (!strcmp(kw, "server") && allowed(c, p, w, false, true, false))
        server_kw(c, p, w);
    else if (!strcmp(kw, "default-server") && allowed(c, p, w, false, true, true))
        server_opts_parse(c, &p->defsrv, w, 1);
    else if (!strcmp(kw, "balance") && allowed(c, p, w, false, true, true))
        balance_kw(c, p, w);
    else if (!strcmp(kw, "cookie") && allowed(c, p, w, false, true, true))
        cookie_kw(c, p, w);
    else if (!strcmp(kw, "retries") && allowed(c, p, w, false, true, true))
        set_uint(c, w, 1, 0, 100, &p->retries);
    else if (!strcmp(kw, "http-check") && allowed(c, p, w, false, true, true))
        http_check_kw(c, p, w);
    else if (!strcmp(kw, "bind") || !strcmp(kw, "default_backend") ||
             !strcmp(kw, "use_backend") || !strcmp(kw, "acl") || !strcmp(kw, "redirect") ||
             !strcmp(kw, "http-request") || !strcmp(kw, "reqadd") || !strcmp(kw, "server") ||
             !strcmp(kw, "default-server") || !strcmp(kw, "balance") ||
             !strcmp(kw, "cookie") || !strcmp(kw, "retries") || !strcmp(kw, "http-check"))
        return; /* warned by allowed() */
    else if ((!strcmp(kw, "stats") || !strcmp(kw, "stick") || !strcmp(kw, "monitor") ||
              !strcmp(kw, "capture") || !strcmp(kw, "tcp-request") ||
              !strcmp(kw, "tcp-response") || !strcmp(kw, "http-response") ||
              !strcmp(kw, "http-after-response") || !strcmp(kw, "email-alert") ||
              !strcmp(kw, "tcp-check") || !strcmp(kw, "external-check")) && w->argc > 1)
        hap_unsupported(c, w->line, hap_printf(&c->arena, "%s %s", kw, w->argv[1]),
                        note_for(kw));
    else
        unsupported(c, w, 1);
}

/* ------------------------------------------------------------------ lines */

static void hap_line(struct hap_cfg *c, const struct hap_words *w)
{
    if (open_section(c, w))
        return;
    switch (c->section) {
    case HAP_S_GLOBAL:
        global_kw(c, w);
        break;
    case HAP_S_PROXY:
        proxy_kw(c, c->cur, w);
        break;
    case HAP_S_OTHER:
        break; /* the section was warned about as a whole */
    default:
        hap_error(c, w->line, "'%s' outside of any section", w->argv[0]);
    }
}

/* Does the raw line start (after blanks) with a '.' directive? */
static bool raw_directive(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p < end && *p == '.';
}

void hap_read(struct hap_cfg *c, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    int lineno = 0;
    char err[256];

    c->defaults = new_proxy(c, NULL);
    if (!c->defaults)
        return;
    c->defaults->kind = HAP_DEFAULTS;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        struct hap_words w;

        lineno++;
        if (memchr(p, '\0', (size_t)(eol - p)))
            hap_error(c, lineno, "the line contains a NUL byte");
        else if (eol - p > HAP_MAX_LINE)
            hap_error(c, lineno, "line longer than %d bytes", HAP_MAX_LINE);
        else if (hap_skipping(c) && !raw_directive(p, eol))
            ; /* in a skipped .if block: not even tokenized */
        else if (hap_tokenize(c, p, (size_t)(eol - p), lineno, &w, err, sizeof(err)) < 0)
            hap_error(c, lineno, "%s", err);
        else if (w.argc > 0 && !hap_directive(c, &w))
            hap_line(c, &w);
        p = nl ? nl + 1 : end;
    }
    if (c->nest > 0)
        hap_error(c, lineno, "'.if' without '.endif' at the end of the file");
}
