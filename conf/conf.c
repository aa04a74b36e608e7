/* conf/conf.c - JSON configuration -> validated struct conf (SPEC.md,
 * "Configuration").
 *
 * The walk never stops at the first problem: `lxlb -c` must list every error
 * at once, so each section fills in its defaults, reports what is wrong into
 * the context and carries on. Only at the end does a single error discard the
 * whole generation. Every allocation hangs off the struct conf as soon as it
 * is made, so conf_free() can release a half-built one. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <net/if.h>
#include <jansson.h>

#include "conf/conf.h"

#include "conf/conf-int.h"

#define CONF_MAXFILE (16u << 20) /* no sane config comes near this */

/* ---- sections ---- */

static void conf_parse_global(struct conf_ctx *x, struct conf *c, const json_t *root)
{
    static const char *const keys[] = { "maxconn", "workers", "grace", "user", "group",
                                        "chroot", "access_log", NULL };
    char path[CONF_PATHLEN];
    const json_t *o = conf_object(x, root, "$", "global", path, keys);
    struct conf_global *g = &c->global;

    conf_uint(x, o, path, "maxconn", 20000, 1, INT32_MAX, &g->maxconn);
    conf_uint(x, o, path, "workers", 1, 1, 64, &g->workers);
    conf_duration(x, o, path, "grace", 10000, 0, &g->grace_ms);
    conf_str(x, o, path, "user", NULL, &g->user);
    conf_str(x, o, path, "group", NULL, &g->group);
    conf_str(x, o, path, "chroot", NULL, &g->chroot);
    conf_str(x, o, path, "access_log", "stderr", &g->access_log);
    if (g->chroot && g->chroot[0] != '/')
        conf_err(x, "$.global.chroot", "must be an absolute path");
}

static void conf_parse_admin(struct conf_ctx *x, struct conf *c, const json_t *root)
{
    static const char *const keys[] = { "bind", "token", NULL };
    char path[CONF_PATHLEN];
    const json_t *o = conf_object(x, root, "$", "admin", path, keys);
    json_t *bind = conf_member(o, "bind");

    conf_str(x, o, path, "token", NULL, &c->admin.token);
    if (!bind)
        return;
    if (conf_addr_value(x, bind, "$.admin.bind", &c->admin.bind) < 0)
        return;
    c->admin.enabled = true;
    if (!c->admin.token && !conf_addr_is_local(&c->admin.bind))
        conf_err(x, "$.admin.bind", "\"%s\" is not loopback or unix: admin.token "
                 "is required", c->admin.bind.text);
}

static void conf_parse_defaults(struct conf_ctx *x, struct conf *c, const json_t *root)
{
    static const char *const keys[] = { "timeout", "retries", "limits", "h2", NULL };
    static const char *const tkeys[] = { "connect", "client", "server", "keepalive",
                                         "http_request", "tunnel", NULL };
    static const char *const lkeys[] = { "request_line", "header_size",
                                         "header_count", NULL };
    char path[CONF_PATHLEN], tpath[CONF_PATHLEN], lpath[CONF_PATHLEN];
    const json_t *o = conf_object(x, root, "$", "defaults", path, keys);
    const json_t *t = conf_object(x, o, path, "timeout", tpath, tkeys);
    const json_t *l = conf_object(x, o, path, "limits", lpath, lkeys);

    conf_uint(x, o, path, "retries", 3, 0, 100, &c->retries);
    conf_duration(x, t, tpath, "connect", 5000, 1, &c->timeout.connect_ms);
    conf_duration(x, t, tpath, "client", 50000, 1, &c->timeout.client_ms);
    conf_duration(x, t, tpath, "server", 50000, 1, &c->timeout.server_ms);
    conf_duration(x, t, tpath, "keepalive", 10000, 1, &c->timeout.keepalive_ms);
    conf_duration(x, t, tpath, "http_request", 10000, 1, &c->timeout.http_request_ms);
    conf_duration(x, t, tpath, "tunnel", 3600000, 1, &c->timeout.tunnel_ms);
    /* Below these minimums ordinary browsers' requests would be refused. */
    conf_uint(x, l, lpath, "request_line", 8192, 256, 1u << 20, &c->limits.request_line);
    conf_uint(x, l, lpath, "header_size", 32768, 1024, 1u << 24, &c->limits.header_size);
    conf_uint(x, l, lpath, "header_count", 100, 1, 10000, &c->limits.header_count);
    conf_parse_h2_defaults(x, c, o, path);
}

static void conf_parse_cert(struct conf_ctx *x, const json_t *o, const char *path,
                            struct conf_cert *out)
{
    conf_str(x, o, path, "cert", NULL, &out->cert);
    conf_str(x, o, path, "key", out->cert, &out->key);
}

/* "cert"/"key" is the default certificate; "certs" (an lxlb extension)
 * adds more, chosen by SNI. A missing key means the PEM holds both. */
static void conf_parse_tls(struct conf_ctx *x, struct conf_tls *tls, const json_t *fe,
                           const char *fepath)
{
    static const char *const keys[] = { "cert", "key", "certs", "acme", NULL };
    static const char *const ckeys[] = { "cert", "key", NULL };
    char path[CONF_PATHLEN], lpath[CONF_PATHLEN], ipath[CONF_PATHLEN];
    const json_t *o = conf_object(x, fe, fepath, "tls", path, keys);
    json_t *list = conf_member(o, "certs");
    bool has_default = conf_member(o, "cert") != NULL;
    size_t n = 0;

    if (!o)
        return;
    tls->enabled = true;
    conf_parse_tls_acme(x, tls, o, path);
    conf_key_path(lpath, path, "certs");
    if (list && conf_is(x, list, JSON_ARRAY, lpath, "an array of {\"cert\", \"key\"}"))
        n = json_array_size(list);
    if (!has_default && conf_member(o, "key"))
        conf_err(x, path, "\"key\" given without \"cert\"");
    /* With "acme" names lxlb makes its own certificates: files are optional. */
    if (!has_default && n == 0) {
        if (!conf_member(o, "acme"))
            conf_err(x, path, "needs \"cert\", a non-empty \"certs\" or \"acme\"");
        return;
    }
    tls->certs = conf_calloc(x, path, n + has_default, sizeof(*tls->certs));
    if (!tls->certs)
        return;
    if (has_default)
        conf_parse_cert(x, o, path, &tls->certs[tls->ncerts++]);
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(list, i);

        conf_idx_path(ipath, lpath, i);
        if (!conf_is(x, item, JSON_OBJECT, ipath, "an object"))
            continue;
        conf_keys(x, item, ipath, ckeys);
        conf_require(x, item, ipath, "cert");
        conf_parse_cert(x, item, ipath, &tls->certs[tls->ncerts++]);
    }
}

/* These define the message framing lxlb itself must control. */
static bool conf_header_forbidden(const char *name)
{
    static const char *const names[] = { "Content-Length", "Transfer-Encoding",
                                         "Connection", "Upgrade", "TE", NULL };

    for (const char *const *n = names; *n; n++)
        if (strcasecmp(*n, name) == 0)
            return true;
    return false;
}

static void conf_parse_set_headers(struct conf_ctx *x, struct conf_frontend *f,
                                   const json_t *fe, const char *fepath)
{
    char path[CONF_PATHLEN], hpath[CONF_PATHLEN];
    json_t *o = conf_member(fe, "set_headers"), *v;
    const char *name;

    conf_key_path(path, fepath, "set_headers");
    if (!o || !conf_is(x, o, JSON_OBJECT, path, "an object of header: value"))
        return;
    f->set_headers = conf_calloc(x, path, json_object_size(o), sizeof(*f->set_headers));
    if (!f->set_headers)
        return;
    json_object_foreach(o, name, v) {
        struct conf_header *h;

        conf_key_path(hpath, path, name);
        if (!conf_is(x, v, JSON_STRING, hpath, "a string"))
            continue;
        if (!conf_token_ok(name)) {
            conf_err(x, hpath, "bad header name");
            continue;
        }
        if (conf_header_forbidden(name)) {
            conf_err(x, hpath, "lxlb manages this header itself");
            continue;
        }
        if (strpbrk(json_string_value(v), "\r\n")) {
            conf_err(x, hpath, "header value must not contain CR or LF");
            continue;
        }
        h = &f->set_headers[f->nset_headers++];
        h->name = conf_strdup(x, hpath, name);
        h->value = conf_strdup(x, hpath, json_string_value(v));
    }
}

static void conf_parse_binds(struct conf_ctx *x, struct conf_frontend *f,
                             const json_t *fe, const char *fepath)
{
    char path[CONF_PATHLEN], ipath[CONF_PATHLEN];
    json_t *v = conf_member(fe, "bind");
    size_t n;

    conf_key_path(path, fepath, "bind");
    if (!v || !(n = conf_list(x, v, path)))
        return;
    f->binds = conf_calloc(x, path, n, sizeof(*f->binds));
    if (!f->binds)
        return;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = conf_list_item(v, i);

        if (conf_addr_value(x, item, conf_list_path(ipath, v, path, i),
                            &f->binds[f->nbinds]) == 0)
            f->nbinds++;
    }
}

static void conf_parse_frontend(struct conf_ctx *x, const struct conf *c,
                                struct conf_frontend *f, const json_t *fe, const char *path)
{
    static const char *const keys[] = { "name", "bind", "tls", "default_backend",
                                        "forwardfor", "set_headers", "accept_proxy",
                                        "http_close", "routes", "http2", "h2", NULL };
    const json_t *routes;

    if (!conf_is(x, fe, JSON_OBJECT, path, "an object"))
        return;
    conf_keys(x, fe, path, keys);
    conf_require(x, fe, path, "name");
    conf_require(x, fe, path, "bind");
    /* With routes, a request none of them matches gets 404 instead. */
    routes = conf_member(fe, "routes");
    if (!json_is_array(routes) || json_array_size(routes) == 0)
        conf_require(x, fe, path, "default_backend");
    conf_name(x, fe, path, "name", NULL, &f->name);
    conf_parse_binds(x, f, fe, path);
    conf_parse_tls(x, &f->tls, fe, path);
    conf_str(x, fe, path, "default_backend", NULL, &f->default_backend);
    /* SPEC: "everything else has the default shown", and it shows true. */
    conf_bool(x, fe, path, "forwardfor", true, &f->forwardfor);
    conf_parse_set_headers(x, f, fe, path);
    conf_bool(x, fe, path, "accept_proxy", false, &f->accept_proxy);
    conf_bool(x, fe, path, "http_close", false, &f->http_close);
    conf_parse_routes(x, f, fe, path);
    conf_parse_h2_frontend(x, c, f, fe, path);
}

static void conf_parse_health(struct conf_ctx *x, struct conf_health *h,
                              const json_t *be, const char *bepath)
{
    static const char *const keys[] = { "path", "interval", "timeout", "rise", "fall",
                                        "expect", NULL };
    char path[CONF_PATHLEN], p[CONF_PATHLEN], why[256];
    const json_t *o = conf_object(x, be, bepath, "health", path, keys);
    char *expect = NULL;

    if (!o)
        return;
    h->enabled = true;
    conf_str(x, o, path, "path", "/", &h->path);
    conf_duration(x, o, path, "interval", 5000, 1, &h->interval_ms);
    conf_duration(x, o, path, "timeout", 2000, 1, &h->timeout_ms);
    conf_uint(x, o, path, "rise", 2, 1, 1000, &h->rise);
    conf_uint(x, o, path, "fall", 3, 1, 1000, &h->fall);
    conf_str(x, o, path, "expect", "2xx-3xx", &expect);
    if (h->path && (h->path[0] != '/' || strpbrk(h->path, " \t\r\n")))
        conf_err(x, conf_key_path(p, path, "path"),
                 "must start with '/' and contain no white space");
    if (expect && conf_parse_expect(expect, h->expect, &h->nexpect, why, sizeof(why)) < 0)
        conf_err(x, conf_key_path(p, path, "expect"), "%s", why);
    if (!h->nexpect) { /* keep the invariant nexpect >= 1 even on error */
        h->expect[0] = (struct conf_status_range){ 200, 399 };
        h->nexpect = 1;
    }
    free(expect);
}

static void conf_parse_cookie(struct conf_ctx *x, struct conf_cookie *ck,
                              const json_t *be, const char *bepath)
{
    static const char *const keys[] = { "name", "mode", "indirect", "nocache",
                                        "httponly", "secure", NULL };
    static const char *const modes[] = { "", "insert", "prefix", "rewrite", NULL };
    char path[CONF_PATHLEN], p[CONF_PATHLEN];
    const json_t *o = conf_object(x, be, bepath, "cookie", path, keys);
    char *mode = NULL;

    if (!o)
        return;
    conf_str(x, o, path, "name", "JSESSIONID", &ck->name);
    conf_str(x, o, path, "mode", "prefix", &mode);
    conf_bool(x, o, path, "indirect", false, &ck->indirect);
    conf_bool(x, o, path, "nocache", false, &ck->nocache);
    conf_bool(x, o, path, "httponly", false, &ck->httponly);
    conf_bool(x, o, path, "secure", false, &ck->secure);
    if (ck->name && !conf_token_ok(ck->name))
        conf_err(x, conf_key_path(p, path, "name"), "bad cookie name \"%s\"", ck->name);
    ck->mode = CONF_COOKIE_PREFIX;
    for (int i = 1; mode && modes[i]; i++)
        if (strcmp(mode, modes[i]) == 0)
            ck->mode = (enum conf_cookie_mode)i;
    if (mode && strcmp(mode, modes[ck->mode]) != 0)
        conf_err(x, conf_key_path(p, path, "mode"), "unknown mode \"%s\" (expected "
                 "insert, prefix or rewrite)", mode);
    free(mode);
}

/* "v1" or "v2"; absent leaves *out (the default) alone. */
static void conf_send_proxy(struct conf_ctx *x, const json_t *o, const char *path,
                            enum conf_send_proxy *out)
{
    char p[CONF_PATHLEN];
    char *v = NULL;

    conf_str(x, o, path, "send_proxy", NULL, &v);
    if (v && strcmp(v, "v1") == 0)
        *out = CONF_SEND_PROXY_V1;
    else if (v && strcmp(v, "v2") == 0)
        *out = CONF_SEND_PROXY_V2;
    else if (v)
        conf_err(x, conf_key_path(p, path, "send_proxy"), "unknown PROXY protocol version "
                 "\"%s\" (expected \"v1\" or \"v2\")", v);
    free(v);
}

static void conf_parse_server(struct conf_ctx *x, const struct conf_backend *b,
                              struct conf_server *s, const json_t *o, const char *path,
                              size_t idx)
{
    static const char *const keys[] = { "name", "address", "weight", "cookie", "send_proxy",
                                        NULL };
    char p[CONF_PATHLEN], defname[32];
    json_t *addr;

    if (!conf_is(x, o, JSON_OBJECT, path, "an object"))
        return;
    conf_keys(x, o, path, keys);
    conf_require(x, o, path, "address");
    /* SPEC requires only frontend and backend names: an unnamed server is
     * named by its position, as srv1, srv2... */
    snprintf(defname, sizeof(defname), "srv%zu", idx + 1);
    conf_name(x, o, path, "name", defname, &s->name);
    /* Unix sockets are accepted: handy for tests and local upstreams. */
    if ((addr = conf_member(o, "address")))
        conf_addr_value(x, addr, conf_key_path(p, path, "address"), &s->addr);
    conf_uint(x, o, path, "weight", 1, 0, 256, &s->weight);
    conf_str(x, o, path, "cookie", s->name, &s->cookie);
    if (s->cookie && !conf_cookie_value_ok(s->cookie))
        conf_err(x, conf_key_path(p, path, "cookie"), "bad cookie value \"%s\"", s->cookie);
    s->send_proxy = b->send_proxy;
    conf_send_proxy(x, o, path, &s->send_proxy);
}

static void conf_parse_servers(struct conf_ctx *x, struct conf_backend *b,
                               const json_t *be, const char *bepath)
{
    char path[CONF_PATHLEN], ipath[CONF_PATHLEN];
    json_t *v = conf_member(be, "servers");
    size_t n;

    conf_key_path(path, bepath, "servers");
    if (!v || !conf_is(x, v, JSON_ARRAY, path, "an array"))
        return;
    n = json_array_size(v);
    b->servers = conf_calloc(x, path, n, sizeof(*b->servers));
    if (!b->servers)
        return;
    for (size_t i = 0; i < n; i++)
        conf_parse_server(x, b, &b->servers[b->nservers++], json_array_get(v, i),
                          conf_idx_path(ipath, path, i), i);
}

static void conf_parse_lxc(struct conf_ctx *x, struct conf_lxc *l, const json_t *d,
                           const char *dpath)
{
    static const char *const keys[] = { "lxcpath", "group", "match", "port",
                                        "interface", "ip_timeout", NULL };
    char path[CONF_PATHLEN], p[CONF_PATHLEN];
    const json_t *o = conf_object(x, d, dpath, "lxc", path, keys);
    uint32_t port;

    if (!o)
        return;
    l->enabled = true;
    conf_str(x, o, path, "lxcpath", "/var/lib/lxc", &l->lxcpath);
    conf_str(x, o, path, "group", NULL, &l->group);
    conf_str(x, o, path, "match", "*", &l->match);
    conf_uint(x, o, path, "port", 80, 1, 65535, &port);
    l->port = (uint16_t)port;
    conf_str(x, o, path, "interface", "eth0", &l->interface);
    conf_duration(x, o, path, "ip_timeout", 30000, 1, &l->ip_timeout_ms);
    if (l->interface && strlen(l->interface) >= IF_NAMESIZE)
        conf_err(x, conf_key_path(p, path, "interface"), "longer than %d bytes",
                 IF_NAMESIZE - 1);
}

static void conf_parse_endpoints(struct conf_ctx *x, struct conf_etcd *e,
                                 const json_t *o, const char *epath)
{
    char path[CONF_PATHLEN], ipath[CONF_PATHLEN];
    json_t *v = conf_member(o, "endpoints");
    size_t n = 0;

    conf_key_path(path, epath, "endpoints");
    if (v && !(n = conf_list(x, v, path)))
        return;
    e->endpoints = conf_calloc(x, path, v ? n : 1, sizeof(*e->endpoints));
    if (!e->endpoints)
        return;
    if (!v) {
        e->endpoints[e->nendpoints++] = conf_strdup(x, path, "http://127.0.0.1:2379");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = conf_string_value(x, conf_list_item(v, i),
                                          conf_list_path(ipath, v, path, i));

        if (!s)
            continue;
        if ((strncmp(s, "http://", 7) != 0 || !s[7]) &&
            (strncmp(s, "https://", 8) != 0 || !s[8])) {
            conf_err(x, ipath, "bad endpoint \"%s\": expected http://host:port", s);
            continue;
        }
        e->endpoints[e->nendpoints++] = conf_strdup(x, ipath, s);
    }
}

static void conf_parse_etcd(struct conf_ctx *x, struct conf_etcd *e, const json_t *d,
                            const char *dpath, const char *bename)
{
    static const char *const keys[] = { "endpoints", "prefix", NULL };
    char path[CONF_PATHLEN], p[CONF_PATHLEN], def[CONF_PATHLEN];
    const json_t *o = conf_object(x, d, dpath, "etcd", path, keys);

    if (!o)
        return;
    e->enabled = true;
    conf_parse_endpoints(x, e, o, path);
    snprintf(def, sizeof(def), "/lxlb/%s/", bename ? bename : "");
    conf_str(x, o, path, "prefix", def, &e->prefix);
    if (e->prefix && e->prefix[0] != '/')
        conf_err(x, conf_key_path(p, path, "prefix"), "must start with '/'");
}

static void conf_parse_backend(struct conf_ctx *x, struct conf *c, struct conf_backend *b,
                               const json_t *be, const char *path)
{
    static const char *const keys[] = { "name", "balance", "http_close", "redispatch",
                                        "retries", "health", "cookie", "servers",
                                        "discovery", "send_proxy", "autoscale", NULL };
    static const char *const dkeys[] = { "lxc", "etcd", NULL };
    char p[CONF_PATHLEN], dpath[CONF_PATHLEN];
    const json_t *d;
    char *balance = NULL;

    if (!conf_is(x, be, JSON_OBJECT, path, "an object"))
        return;
    conf_keys(x, be, path, keys);
    conf_require(x, be, path, "name");
    conf_name(x, be, path, "name", NULL, &b->name);
    conf_str(x, be, path, "balance", "roundrobin", &balance);
    if (balance && strcmp(balance, "leastconn") == 0)
        b->balance = CONF_BALANCE_LEASTCONN;
    else if (balance && strcmp(balance, "roundrobin") != 0)
        conf_err(x, conf_key_path(p, path, "balance"), "unknown balance \"%s\" "
                 "(expected roundrobin or leastconn)", balance);
    free(balance);
    conf_bool(x, be, path, "http_close", false, &b->http_close);
    conf_bool(x, be, path, "redispatch", true, &b->redispatch);
    conf_uint(x, be, path, "retries", c->retries, 0, 100, &b->retries);
    conf_parse_health(x, &b->health, be, path);
    conf_parse_cookie(x, &b->cookie, be, path);
    conf_send_proxy(x, be, path, &b->send_proxy); /* before the servers: their default */
    conf_parse_servers(x, b, be, path);
    d = conf_object(x, be, path, "discovery", dpath, dkeys);
    conf_parse_lxc(x, &b->lxc, d, dpath);
    conf_parse_etcd(x, &b->etcd, d, dpath, b->name);
    conf_parse_autoscale(x, b, be, path);
}

/* The top-level array of frontends or backends: present, an array, not empty. */
static const json_t *conf_section_array(struct conf_ctx *x, const json_t *root,
                                        const char *key, const char *what, size_t *n)
{
    char path[CONF_PATHLEN];
    json_t *v = conf_member(root, key);

    *n = 0;
    conf_key_path(path, "$", key);
    if (!v) {
        conf_err(x, "$", "missing required key \"%s\"", key);
        return NULL;
    }
    if (!conf_is(x, v, JSON_ARRAY, path, "an array"))
        return NULL;
    if (!(*n = json_array_size(v)))
        conf_err(x, path, "at least one %s is required", what);
    return v;
}

static void conf_parse_frontends(struct conf_ctx *x, struct conf *c, const json_t *root)
{
    char path[CONF_PATHLEN];
    size_t n;
    const json_t *v = conf_section_array(x, root, "frontends", "frontend", &n);

    if (!n || !(c->frontends = conf_calloc(x, "$.frontends", n, sizeof(*c->frontends))))
        return;
    for (size_t i = 0; i < n; i++)
        conf_parse_frontend(x, c, &c->frontends[c->nfrontends++], json_array_get(v, i),
                            conf_idx_path(path, "$.frontends", i));
}

static void conf_parse_backends(struct conf_ctx *x, struct conf *c, const json_t *root)
{
    char path[CONF_PATHLEN];
    size_t n;
    const json_t *v = conf_section_array(x, root, "backends", "backend", &n);

    if (!n || !(c->backends = conf_calloc(x, "$.backends", n, sizeof(*c->backends))))
        return;
    for (size_t i = 0; i < n; i++)
        conf_parse_backend(x, c, &c->backends[c->nbackends++], json_array_get(v, i),
                           conf_idx_path(path, "$.backends", i));
}

/* ---- checks across entries ---- */

static void conf_check_names(struct conf_ctx *x, const struct conf *c)
{
    char p[CONF_PATHLEN];

    for (size_t i = 0; i < c->nfrontends; i++)
        for (size_t j = 0; j < i; j++)
            if (c->frontends[i].name && c->frontends[j].name &&
                strcmp(c->frontends[i].name, c->frontends[j].name) == 0) {
                conf_path_fmt(p, "$.frontends[%zu].name", i);
                conf_err(x, p, "duplicate frontend name \"%s\" (also $.frontends[%zu])",
                         c->frontends[i].name, j);
                break;
            }
    for (size_t i = 0; i < c->nbackends; i++)
        for (size_t j = 0; j < i; j++)
            if (c->backends[i].name && c->backends[j].name &&
                strcmp(c->backends[i].name, c->backends[j].name) == 0) {
                conf_path_fmt(p, "$.backends[%zu].name", i);
                conf_err(x, p, "duplicate backend name \"%s\" (also $.backends[%zu])",
                         c->backends[i].name, j);
                break;
            }
}

static void conf_check_servers(struct conf_ctx *x, const struct conf_backend *b, size_t bi)
{
    char p[CONF_PATHLEN];

    for (size_t i = 0; i < b->nservers; i++) {
        const struct conf_server *s = &b->servers[i];

        for (size_t j = 0; j < i; j++) {
            const struct conf_server *t = &b->servers[j];

            if (s->name && t->name && strcmp(s->name, t->name) == 0) {
                conf_path_fmt(p, "$.backends[%zu].servers[%zu].name", bi, i);
                conf_err(x, p, "duplicate server name \"%s\" (also servers[%zu])",
                         s->name, j);
            }
            /* Equal names already said it when the cookie is the name. */
            if (s->cookie && t->cookie && strcmp(s->cookie, t->cookie) == 0 &&
                !(s->name && t->name && strcmp(s->name, t->name) == 0)) {
                conf_path_fmt(p, "$.backends[%zu].servers[%zu].cookie", bi, i);
                conf_err(x, p, "duplicate server cookie \"%s\" (also servers[%zu])",
                         s->cookie, j);
            }
        }
    }
}

static void conf_bind_path(char *buf, const struct conf *c, size_t fi, size_t bi)
{
    if (fi == c->nfrontends)
        conf_path_fmt(buf, "$.admin.bind");
    else
        conf_path_fmt(buf, "$.frontends[%zu].bind[%zu]", fi, bi);
}

/* Listener (fi, bi) against every listener before it; the admin bind counts
 * as frontend number nfrontends. Paths use the array index: a single-string
 * "bind" is reported as bind[0]. */
static void conf_check_bind(struct conf_ctx *x, const struct conf *c, size_t fi, size_t bi)
{
    const struct conf_addr *a = fi == c->nfrontends ? &c->admin.bind
                                                    : &c->frontends[fi].binds[bi];
    char p[CONF_PATHLEN], q[CONF_PATHLEN];

    for (size_t fj = 0; fj <= fi; fj++) {
        size_t n = fj == fi ? bi : c->frontends[fj].nbinds;

        for (size_t bj = 0; bj < n; bj++) {
            if (!conf_addr_overlap(a, &c->frontends[fj].binds[bj]))
                continue;
            conf_bind_path(p, c, fi, bi);
            conf_bind_path(q, c, fj, bj);
            conf_err(x, p, "address \"%s\" already used by %s (\"%s\")", a->text, q,
                     c->frontends[fj].binds[bj].text);
            return;
        }
    }
}

static void conf_check_binds(struct conf_ctx *x, const struct conf *c)
{
    for (size_t fi = 0; fi < c->nfrontends; fi++)
        for (size_t bi = 0; bi < c->frontends[fi].nbinds; bi++)
            conf_check_bind(x, c, fi, bi);
    if (c->admin.enabled)
        conf_check_bind(x, c, c->nfrontends, 0);
}

static void conf_resolve_backends(struct conf_ctx *x, struct conf *c)
{
    char p[CONF_PATHLEN];

    for (size_t i = 0; i < c->nfrontends; i++) {
        struct conf_frontend *f = &c->frontends[i];

        if (!f->default_backend)
            continue;
        f->backend = conf_find_backend(c, f->default_backend);
        if (!f->backend) {
            conf_path_fmt(p, "$.frontends[%zu].default_backend", i);
            conf_err(x, p, "no backend named \"%s\"", f->default_backend);
        }
    }
}

/* ---- entry points ---- */

static struct conf *conf_build(struct conf_ctx *x, const json_t *root)
{
    static const char *const keys[] = { "global", "admin", "defaults", "frontends",
                                        "backends", "acme", NULL };
    struct conf *c = calloc(1, sizeof(*c));

    if (!c) {
        conf_err(x, "$", "out of memory");
        return NULL;
    }
    c->refcnt = 1;
    c->path = conf_strdup(x, "$", x->name);
    conf_keys(x, root, "$", keys);
    conf_parse_global(x, c, root);
    conf_parse_admin(x, c, root);
    conf_parse_defaults(x, c, root);
    conf_parse_frontends(x, c, root);
    conf_parse_backends(x, c, root);
    conf_parse_acme(x, c, root);
    conf_check_names(x, c);
    conf_check_acme(x, c);
    for (size_t i = 0; i < c->nbackends; i++)
        conf_check_servers(x, &c->backends[i], i);
    conf_check_binds(x, c);
    conf_resolve_backends(x, c);
    conf_resolve_routes(x, c);
    if (x->nerr) {
        conf_free(c);
        return NULL;
    }
    return c;
}

/* jansson's own position, as compilers print it: "file:line:column: ...". */
static void conf_syntax_err(char *err, size_t errlen, const char *name,
                            const json_error_t *je)
{
    const char *what = json_error_code(je) == json_error_duplicate_key ? ""
                                                                       : "syntax error: ";

    if (!err || !errlen)
        return;
    if (je->line > 0)
        snprintf(err, errlen, "%s:%d:%d: %s%s\n", name, je->line, je->column, what,
                 je->text);
    else
        snprintf(err, errlen, "%s: %s%s\n", name, what, je->text);
}

static struct conf *conf_from_text(const char *name, const char *text, size_t len,
                                   char *err, size_t errlen)
{
    struct conf_ctx x = { .name = name, .text = text, .err = err, .errlen = errlen };
    struct conf *c = NULL;
    json_error_t je;
    json_t *root;

    if (err && errlen)
        err[0] = '\0';
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        conf_syntax_err(err, errlen, name, &je);
        return NULL;
    }
    if (conf_is(&x, root, JSON_OBJECT, "$", "an object"))
        c = conf_build(&x, root);
    json_decref(root);
    return c;
}

struct conf *conf_load_string(const char *name, const char *json, char *err, size_t errlen)
{
    return conf_from_text(name, json, strlen(json), err, errlen);
}

static void conf_file_err(char *err, size_t errlen, const char *path, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: cannot read: %s\n", path, what);
}

struct conf *conf_load(const char *path, char *err, size_t errlen)
{
    struct conf *c = NULL;
    FILE *f = fopen(path, "r");
    struct stat st;
    char *text = NULL;
    size_t len;

    if (!f) {
        conf_file_err(err, errlen, path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) < 0) {
        conf_file_err(err, errlen, path, strerror(errno));
        goto err;
    }
    if (S_ISDIR(st.st_mode)) { /* fopen() accepts a directory, read() does not */
        conf_file_err(err, errlen, path, strerror(EISDIR));
        goto err;
    }
    if (!(text = malloc(CONF_MAXFILE + 1))) {
        conf_file_err(err, errlen, path, strerror(ENOMEM));
        goto err;
    }
    errno = 0;
    len = fread(text, 1, CONF_MAXFILE + 1, f);
    if (ferror(f)) {
        conf_file_err(err, errlen, path, strerror(errno ? errno : EIO));
        goto err;
    }
    if (len > CONF_MAXFILE) {
        conf_file_err(err, errlen, path, "larger than 16 MiB");
        goto err;
    }
    text[len] = '\0';
    c = conf_from_text(path, text, len, err, errlen);
err:
    free(text);
    fclose(f);
    return c;
}

static void conf_free_frontend(struct conf_frontend *f)
{
    free(f->name);
    free(f->binds);
    for (size_t i = 0; i < f->tls.ncerts; i++) {
        free(f->tls.certs[i].cert);
        free(f->tls.certs[i].key);
    }
    free(f->tls.certs);
    conf_free_tls_acme(&f->tls);
    if (f->tls.loaded_free) /* set by lb/tls.c: conf itself links no OpenSSL */
        f->tls.loaded_free(f->tls.loaded);
    free(f->default_backend);
    for (size_t i = 0; i < f->nset_headers; i++) {
        free(f->set_headers[i].name);
        free(f->set_headers[i].value);
    }
    free(f->set_headers);
    conf_free_routes(f);
}

static void conf_free_backend(struct conf_backend *b)
{
    free(b->name);
    free(b->health.path);
    free(b->cookie.name);
    for (size_t i = 0; i < b->nservers; i++) {
        free(b->servers[i].name);
        free(b->servers[i].cookie);
    }
    free(b->servers);
    free(b->lxc.lxcpath);
    free(b->lxc.group);
    free(b->lxc.match);
    free(b->lxc.interface);
    for (size_t i = 0; i < b->etcd.nendpoints; i++)
        free(b->etcd.endpoints[i]);
    free(b->etcd.endpoints);
    free(b->etcd.prefix);
    conf_free_autoscale(&b->autoscale);
}

struct conf *conf_ref(struct conf *c)
{
    /* Atomic: worker threads hold generations too (lb/worker.h). */
    __atomic_add_fetch(&c->refcnt, 1, __ATOMIC_RELAXED);
    return c;
}

void conf_unref(struct conf *c)
{
    if (c && __atomic_sub_fetch(&c->refcnt, 1, __ATOMIC_ACQ_REL) == 0)
        conf_free(c);
}

void conf_free(struct conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nfrontends; i++)
        conf_free_frontend(&c->frontends[i]);
    free(c->frontends);
    for (size_t i = 0; i < c->nbackends; i++)
        conf_free_backend(&c->backends[i]);
    free(c->backends);
    conf_free_acme(c);
    free(c->global.user);
    free(c->global.group);
    free(c->global.chroot);
    free(c->global.access_log);
    free(c->admin.token);
    free(c->path);
    free(c);
}

struct conf_backend *conf_find_backend(const struct conf *c, const char *name)
{
    for (size_t i = 0; i < c->nbackends; i++)
        if (c->backends[i].name && strcmp(c->backends[i].name, name) == 0)
            return &c->backends[i];
    return NULL;
}
