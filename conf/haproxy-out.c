/* conf/haproxy-out.c - `lxlb import-haproxy`, part 4: struct hap_cfg ->
 * lxlb JSON (SPEC.md "Configuration" and "Routing, redirects, tunnels, PROXY
 * protocol"), the conversion's entry point and the subcommand.
 *
 * Where HAProxy and lxlb differ in defaults, the value HAProxy would use is
 * written out (redispatch false, health interval 2s, forwardfor false, a
 * 302 for redirects...), so the output behaves as the input did. Where lxlb
 * keeps one value for what HAProxy sets per proxy (timeouts, the access
 * log), the first proxy's value is used and every proxy that differs gets a
 * warning. Keys are inserted in the order SPEC.md shows them, and jansson
 * keeps insertion order: the same input gives the same bytes. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "conf/conf-int.h"
#include "conf/conf.h"
#include "conf/haproxy-int.h"
#include "conf/haproxy.h"

#define HAP_MAXFILE (16u << 20) /* as conf.c's limit for JSON */

/* What the mapping learns about one backend from the frontends using it. */
struct hap_be {
    const struct hap_proxy *p; /* the backend or listen section */
    const char *name;          /* its name */
    bool kept;                 /* written out (mode http, not disabled) */
    bool fe_close;             /* a frontend with option http-server-close reaches it */
};

struct hap_map {
    struct hap_cfg *c;
    struct hap_be *be;         /* every backend and listen section */
    size_t nbe;
    json_t *fe_names;          /* names of frontends written so far (object as a set) */
};

/* ------------------------------------------------------------- helpers */

/* A JSON string, or NULL and an error when s is not UTF-8 (JSON strings
 * must be). */
static json_t *jstr(struct hap_cfg *c, const char *s, int line)
{
    json_t *v = s ? json_string(s) : NULL;

    if (!v)
        hap_error(c, line, "'%s' is not valid UTF-8: lxlb's configuration is JSON", s ? s : "");
    return v;
}

static void put_str(struct hap_cfg *c, json_t *obj, const char *key, const char *s, int line)
{
    json_t *v = jstr(c, s, line);

    if (v)
        json_object_set_new(obj, key, v);
}

/* A duration as lxlb writes it: the largest unit that divides it. */
static json_t *duration(uint32_t ms)
{
    char buf[32];

    if (ms && ms % 3600000 == 0)
        snprintf(buf, sizeof(buf), "%uh", ms / 3600000);
    else if (ms && ms % 60000 == 0)
        snprintf(buf, sizeof(buf), "%um", ms / 60000);
    else if (ms && ms % 1000 == 0)
        snprintf(buf, sizeof(buf), "%us", ms / 1000);
    else
        snprintf(buf, sizeof(buf), "%ums", ms);
    return json_string(buf);
}

static const char *dur_text(struct hap_cfg *c, uint32_t ms)
{
    json_t *d = duration(ms);
    const char *s = hap_strdup(&c->arena, json_string_value(d));

    json_decref(d);
    return s ? s : "?";
}

static struct hap_be *find_be(struct hap_map *m, const char *name)
{
    for (size_t i = 0; i < m->nbe; i++)
        if (!strcmp(m->be[i].name, name))
            return &m->be[i];
    return NULL;
}

/* Is proxy p written out? Warns once (at its line) when not. */
static bool proxy_kept(struct hap_cfg *c, const struct hap_proxy *p)
{
    if (p->disabled.on) {
        hap_warn(c, p->disabled.line, "'disabled': HAProxy does not start '%s'; left out",
                 p->name);
        return false;
    }
    if (p->mode == HAP_MODE_TCP || p->mode == HAP_MODE_OTHER) {
        hap_unsupported(c, p->mode_line, p->mode == HAP_MODE_TCP ? "mode tcp" : "mode",
                        hap_printf(&c->arena, "lxlb proxies HTTP only; '%s' is left out",
                                   p->name));
        return false;
    }
    if (p->mode == HAP_MODE_UNSET)
        hap_warn(c, p->line, "'%s' has no 'mode http' (HAProxy's default mode is tcp): "
                 "converted as HTTP, the only mode lxlb has", p->name);
    return true;
}

/* ------------------------------------------------------------ timeouts */

struct hap_global_t {
    uint32_t ms;   /* the value lxlb uses */
    int line;      /* where it was set, 0: not set anywhere */
};

/* A proxy's effective timeout of kind t (HAProxy's fallbacks:
 * http-keep-alive -> http-request -> client). */
static struct hap_time eff_timeout(const struct hap_proxy *p, enum hap_tmo t)
{
    struct hap_time v = p->timeout[t];

    if (!v.line && t == HAP_T_KEEPALIVE)
        return eff_timeout(p, HAP_T_HTTP_REQUEST);
    if (!v.line && t == HAP_T_HTTP_REQUEST)
        return p->timeout[HAP_T_CLIENT];
    return v;
}

static const char *const tmo_key[HAP_T_N] = {
    "connect", "client", "server", "keepalive", "http_request", "tunnel", NULL,
};
static const char *const tmo_hap[HAP_T_N] = {
    "connect", "client", "server", "http-keep-alive", "http-request", "tunnel", "check",
};

static void global_timeout(struct hap_map *m, enum hap_tmo t, struct hap_global_t *g)
{
    bool frontend_side = t == HAP_T_CLIENT || t == HAP_T_KEEPALIVE || t == HAP_T_HTTP_REQUEST;
    struct hap_cfg *c = m->c;

    for (size_t i = 0; i < c->nproxies; i++) {
        const struct hap_proxy *p = c->proxies[i];
        struct hap_time v;

        if (frontend_side ? p->kind == HAP_BACKEND || !p->nbinds : p->kind == HAP_FRONTEND)
            continue;
        if (p->disabled.on || p->mode == HAP_MODE_TCP || p->mode == HAP_MODE_OTHER)
            continue;
        v = eff_timeout(p, t);
        if (!v.line)
            continue;
        if (!g->line) {
            *g = (struct hap_global_t){ v.ms, v.line };
            continue;
        }
        if (v.ms != g->ms)
            hap_warn(c, v.line, "timeout %s %s (for '%s') differs from the %s lxlb uses "
                     "everywhere (defaults.timeout.%s, from line %d): lxlb has one value "
                     "per timeout", tmo_hap[t], dur_text(c, v.ms), p->name,
                     dur_text(c, g->ms), tmo_key[t], g->line);
    }
}

static json_t *defaults_json(struct hap_map *m)
{
    json_t *d = json_object(), *t = json_object();

    for (int k = 0; k < HAP_T_CHECK; k++) {
        struct hap_global_t g = { 0 };
        global_timeout(m, (enum hap_tmo)k, &g);
        if (g.line)
            json_object_set_new(t, tmo_key[k], duration(g.ms));
    }
    if (json_object_size(t))
        json_object_set(d, "timeout", t);
    json_decref(t);
    if (!json_object_size(d)) {
        json_decref(d);
        return NULL;
    }
    return d;
}

/* --------------------------------------------------------------- global */

static const char *access_log(struct hap_map *m)
{
    struct hap_cfg *c = m->c;
    bool some = false, all = true, own = false;
    int quiet = 0;

    for (size_t i = 0; i < c->nproxies; i++) {
        const struct hap_proxy *p = c->proxies[i];
        if (p->kind == HAP_BACKEND || !p->nbinds || p->disabled.on ||
            p->mode == HAP_MODE_TCP || p->mode == HAP_MODE_OTHER)
            continue;
        some |= p->log.on;
        own |= p->log_own;
        all &= p->log.on;
        if (!p->log.on && !quiet)
            quiet = p->line;
    }
    if (some && !all)
        hap_warn(c, quiet, "this frontend does not log but others do: lxlb logs every "
                 "frontend's requests (global.access_log)");
    if (!some)
        return "off";
    if (c->log.s)
        return c->log.s;
    return own ? "syslog" : "off"; /* "log global" without a global log logs nothing */
}

static json_t *global_json(struct hap_map *m)
{
    struct hap_cfg *c = m->c;
    json_t *g = json_object();

    if (c->maxconn.line)
        json_object_set_new(g, "maxconn", json_integer(c->maxconn.v));
    if (c->nbthread.line)
        json_object_set_new(g, "workers", json_integer(c->nbthread.v));
    if (c->grace.line)
        json_object_set_new(g, "grace", duration(c->grace.ms));
    if (c->user.line)
        put_str(c, g, "user", c->user.s, c->user.line);
    if (c->group.line)
        put_str(c, g, "group", c->group.s, c->group.line);
    if (c->chroot.line)
        put_str(c, g, "chroot", c->chroot.s, c->chroot.line);
    json_object_set_new(g, "access_log", json_string(access_log(m)));
    return g;
}

/* -------------------------------------------------------------- health */

/* Status codes a regex (http-check expect rstatus) matches, as lxlb ranges. */
static const char *rstatus_ranges(struct hap_cfg *c, const char *re, int line)
{
    char pat[160], out[256], num[16];
    size_t n = 0, o = 0;
    int nranges = 0, rc;
    regex_t rx;

    /* "\d" is PCRE's; status codes are short, so bounded repeats beyond 3
     * are pointless and only cost regcomp time. */
    for (const char *p = re; *p; p++) {
        if (n + 6 >= sizeof(pat))
            goto bad;
        if (p[0] == '\\' && p[1] == 'd') {
            memcpy(pat + n, "[0-9]", 5);
            n += 5;
            p++;
            continue;
        }
        if (*p == '{' && strspn(p + 1, "0123456789,") > 0 &&
            (p[1] > '3' || strspn(p + 1, "0123456789") > 1))
            goto bad;
        pat[n++] = *p;
    }
    pat[n] = '\0';
    if ((rc = regcomp(&rx, pat, REG_EXTENDED | REG_NOSUB)) != 0)
        goto bad;
    out[0] = '\0';
    for (int s = 100; s <= 599; s++) {
        int e = s;
        snprintf(num, sizeof(num), "%d", s);
        if (regexec(&rx, num, 0, NULL, 0) != 0)
            continue;
        while (e < 599) {
            snprintf(num, sizeof(num), "%d", e + 1);
            if (regexec(&rx, num, 0, NULL, 0) != 0)
                break;
            e++;
        }
        if (++nranges > CONF_MAX_EXPECT)
            break;
        if (s % 100 == 0 && e % 100 == 99 && s / 100 == e / 100)
            o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%dxx", o ? "," : "", s / 100);
        else if (s % 100 == 0 && e % 100 == 99)
            o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%dxx-%dxx", o ? "," : "",
                                  s / 100, e / 100);
        else if (s == e)
            o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%d", o ? "," : "", s);
        else
            o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%d-%d", o ? "," : "", s, e);
        s = e;
    }
    regfree(&rx);
    if (nranges == 0 || nranges > CONF_MAX_EXPECT)
        goto bad;
    return hap_strdup(&c->arena, out);
bad:
    hap_warn(c, line, "'http-check expect rstatus %s': not a list of statuses lxlb can take "
             "(at most %d ranges); lxlb expects 2xx-3xx", re, CONF_MAX_EXPECT);
    return NULL;
}

static const char *health_expect(struct hap_cfg *c, const struct hap_proxy *p)
{
    struct conf_status_range r[CONF_MAX_EXPECT];
    size_t n;
    char why[256];

    if (!p->expect.line)
        return "2xx-3xx";
    if (p->expect.s[0] == '~') {
        const char *s = rstatus_ranges(c, p->expect.s + 1, p->expect.line);
        return s ? s : "2xx-3xx";
    }
    if (strchr(p->expect.s, 'x') ||
        conf_parse_expect(p->expect.s, r, &n, why, sizeof(why)) < 0) {
        hap_warn(c, p->expect.line, "'http-check expect status %s': not a status list lxlb "
                 "can take; lxlb expects 2xx-3xx", p->expect.s);
        return "2xx-3xx";
    }
    return p->expect.s;
}

/* Health of backend p from its servers' check options. */
static json_t *health_json(struct hap_cfg *c, const struct hap_proxy *p,
                           const struct hap_server *const *srv, size_t n)
{
    const struct hap_server *first = NULL;
    json_t *h;
    uint32_t inter, tmo;

    for (size_t i = 0; i < n && !first; i++)
        if (srv[i]->o.check.on)
            first = srv[i];
    if (!first)
        return NULL;
    inter = first->o.inter.line ? first->o.inter.ms : 2000;
    for (size_t i = 0; i < n; i++) {
        const struct hap_srvopt *o = &srv[i]->o;
        if (!o->check.on)
            hap_warn(c, srv[i]->line, "server '%s' has no 'check': lxlb checks every server "
                     "of a backend that has checks, this one too", srv[i]->name);
        else if ((o->inter.line ? o->inter.ms : 2000) != inter ||
                 (o->rise.line ? o->rise.v : 2) != (first->o.rise.line ? first->o.rise.v : 2) ||
                 (o->fall.line ? o->fall.v : 3) != (first->o.fall.line ? first->o.fall.v : 3))
            hap_warn(c, srv[i]->line, "server '%s' has its own inter/rise/fall: lxlb checks "
                     "all servers of a backend alike, as server '%s' (line %d)", srv[i]->name,
                     first->name, first->line);
    }
    if (p->httpchk.on && p->chk_meth.s && strcmp(p->chk_meth.s, "GET") != 0)
        hap_warn(c, p->chk_meth.line, "health checks with method %s: lxlb checks with GET",
                 p->chk_meth.s);
    h = json_object();
    put_str(c, h, "path", p->httpchk.on && p->chk_path ? p->chk_path : "/", p->httpchk.line);
    json_object_set_new(h, "interval", duration(inter ? inter : 1));
    /* Without "timeout check" HAProxy waits up to 'inter' for an answer. */
    tmo = p->timeout[HAP_T_CHECK].line ? p->timeout[HAP_T_CHECK].ms : inter;
    json_object_set_new(h, "timeout", duration(tmo ? tmo : 1));
    json_object_set_new(h, "rise", json_integer(first->o.rise.line ? first->o.rise.v : 2));
    json_object_set_new(h, "fall", json_integer(first->o.fall.line ? first->o.fall.v : 3));
    if (p->httpchk.on) {
        json_object_set_new(h, "expect", json_string(health_expect(c, p)));
    } else {
        hap_warn(c, first->line, "'check' without 'option httpchk' is a TCP connect check in "
                 "HAProxy: lxlb checks with GET / and takes any HTTP answer as passing "
                 "(expect 1xx-5xx)");
        json_object_set_new(h, "expect", json_string("1xx-5xx"));
    }
    return h;
}

/* ------------------------------------------------------------- servers */

/* Servers that lxlb takes (not disabled, not backup), in order. */
static size_t kept_servers(struct hap_cfg *c, const struct hap_proxy *p,
                           const struct hap_server **out)
{
    size_t n = 0;

    for (size_t i = 0; i < p->nservers; i++) {
        const struct hap_server *s = &p->servers[i];
        if (s->o.disabled.on)
            hap_warn(c, s->line, "server '%s' is 'disabled': lxlb has no maintenance state in "
                     "its configuration, so it is left out; add it back and reload (SIGHUP) "
                     "when it should take traffic, or set it to \"maint\" through the admin "
                     "endpoint", s->name);
        else if (s->o.backup.on)
            hap_warn(c, s->line, "server '%s' is a 'backup' server: lxlb has none (every "
                     "server takes traffic), so it is left out", s->name);
        else
            out[n++] = s;
    }
    return n;
}

/* A name not yet taken in names (a JSON object used as a set). */
static const char *unique_name(struct hap_cfg *c, json_t *names, const char *name)
{
    const char *u = name;

    for (int k = 2; u && json_object_get(names, u); k++)
        u = hap_printf(&c->arena, "%s-%d", name, k);
    if (u)
        json_object_set_new(names, u, json_integer(0));
    return u;
}

static const char *proxy_v(uint32_t v)
{
    return v == 2 ? "v2" : "v1";
}

static json_t *servers_json(struct hap_cfg *c, const struct hap_server *const *srv, size_t n,
                            bool sticky, uint32_t be_proxy)
{
    json_t *arr = json_array(), *names = json_object();

    for (size_t i = 0; i < n; i++) {
        const struct hap_server *s = srv[i];
        const char *name = unique_name(c, names, s->name);
        json_t *o = json_object();

        if (name && strcmp(name, s->name) != 0) {
            int first = 0;
            for (size_t k = 0; k < i && !first; k++)
                first = !strcmp(srv[k]->name, s->name) ? srv[k]->line : 0;
            hap_warn(c, s->line, "server name '%s' is already used at line %d (HAProxy 2.6 "
                     "refuses this): this one becomes '%s'", s->name, first, name);
        }
        put_str(c, o, "name", name ? name : s->name, s->line);
        put_str(c, o, "address", s->addr, s->line);
        json_object_set_new(o, "weight", json_integer(s->o.weight.line ? s->o.weight.v : 1));
        if (sticky && s->o.cookie.line) {
            if (conf_cookie_value_ok(s->o.cookie.s))
                put_str(c, o, "cookie", s->o.cookie.s, s->line);
            else
                hap_warn(c, s->line, "server '%s': cookie value '%s' is not a cookie value "
                         "lxlb can send; lxlb uses the server's name", s->name, s->o.cookie.s);
        }
        if (s->o.send_proxy.v != be_proxy && s->o.send_proxy.v)
            json_object_set_new(o, "send_proxy", json_string(proxy_v(s->o.send_proxy.v)));
        json_array_append_new(arr, o);
    }
    json_decref(names);
    return arr;
}

/* The cookie section when at least one server has a cookie value: without
 * any, HAProxy sticks to nothing and neither must lxlb. */
static json_t *cookie_json(struct hap_cfg *c, const struct hap_proxy *p,
                           const struct hap_server *const *srv, size_t n)
{
    size_t with = 0;
    json_t *ck;

    if (!p->cookie.line)
        return NULL;
    for (size_t i = 0; i < n; i++)
        with += srv[i]->o.cookie.line != 0;
    if (!with) {
        hap_warn(c, p->cookie.line, "'cookie %s': no server has a 'cookie' value, so HAProxy "
                 "sticks clients to none and passes the cookie through; left out (give each "
                 "server a 'cookie VALUE' for stickiness)", p->cookie.s);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!srv[i]->o.cookie.line)
            hap_warn(c, srv[i]->line, "server '%s' has no 'cookie' value: HAProxy never sticks "
                     "clients to it, lxlb sticks them with its name", srv[i]->name);
    if (!conf_token_ok(p->cookie.s)) {
        hap_error(c, p->cookie.line, "bad cookie name '%s'", p->cookie.s);
        return NULL;
    }
    ck = json_object();
    put_str(c, ck, "name", p->cookie.s, p->cookie.line);
    json_object_set_new(ck, "mode", json_string(p->cookie_mode));
    json_object_set_new(ck, "indirect", json_boolean(p->ck_indirect));
    json_object_set_new(ck, "nocache", json_boolean(p->ck_nocache));
    json_object_set_new(ck, "httponly", json_boolean(p->ck_httponly));
    json_object_set_new(ck, "secure", json_boolean(p->ck_secure));
    return ck;
}

static json_t *backend_json(struct hap_map *m, const struct hap_be *b)
{
    struct hap_cfg *c = m->c;
    const struct hap_proxy *p = b->p;
    const struct hap_server **srv = calloc(p->nservers + 1, sizeof(*srv));
    json_t *o = json_object(), *v;
    uint32_t sp = 0;
    size_t n;

    if (!srv || !o) {
        free(srv);
        json_decref(o);
        c->arena.oom = true;
        return NULL;
    }
    n = kept_servers(c, p, srv);
    for (size_t i = 0; i < n; i++) /* one PROXY version for all: on the backend */
        sp = i == 0 || srv[i]->o.send_proxy.v == sp ? srv[i]->o.send_proxy.v : UINT32_MAX;
    if (sp == UINT32_MAX)
        sp = 0;
    put_str(c, o, "name", b->name, p->line);
    json_object_set_new(o, "balance", json_string(p->balance.s ? p->balance.s : "roundrobin"));
    /* HAProxy 2.6 closes the server side after each response with either
     * option in the backend, or http-server-close in a frontend that uses
     * it: lxlb's backend http_close (httpclose in a frontend closes both
     * sides: the frontend's http_close). */
    json_object_set_new(o, "http_close",
                        json_boolean(p->httpclose.on || p->server_close.on || b->fe_close));
    json_object_set_new(o, "redispatch", json_boolean(p->redispatch.on));
    json_object_set_new(o, "retries", json_integer(p->retries.line ? p->retries.v : 3));
    if (sp)
        json_object_set_new(o, "send_proxy", json_string(proxy_v(sp)));
    if ((v = health_json(c, p, srv, n)))
        json_object_set_new(o, "health", v);
    v = cookie_json(c, p, srv, n);
    if (v)
        json_object_set_new(o, "cookie", v);
    json_object_set_new(o, "servers", servers_json(c, srv, n, v != NULL, sp));
    for (size_t i = 0; i < p->nrules; i++)
        if ((p->rules[i].kind == HAP_R_REDIRECT || p->rules[i].kind == HAP_R_HTTPREQ_REDIRECT) &&
            p->kind == HAP_BACKEND)
            hap_unsupported(c, p->rules[i].line, p->rules[i].keyword, "redirects in a backend "
                            "section: lxlb redirects in frontend routes; left out");
    free(srv);
    return o;
}

/* ------------------------------------------------------------ frontends */

/* The frontend's binds that go into one lxlb frontend: same TLS, same
 * accept-proxy. */
struct hap_group {
    bool ssl;
    bool accept_proxy;
    const struct hap_bind **binds;
    size_t nbinds;
};

static json_t *tls_json(struct hap_cfg *c, const struct hap_group *g)
{
    json_t *tls = json_object(), *more = json_array(), *seen = json_object();
    bool differ = false;

    for (size_t i = 0; i < g->nbinds; i++) {
        const struct hap_bind *b = g->binds[i];
        differ |= b->ncrts != g->binds[0]->ncrts;
        for (size_t k = 0; k < b->ncrts; k++) {
            differ |= k < g->binds[0]->ncrts && strcmp(b->crts[k], g->binds[0]->crts[k]);
            if (!b->crts[k] || json_object_get(seen, b->crts[k]))
                continue;
            json_object_set_new(seen, b->crts[k], json_true());
            if (!json_object_get(tls, "cert")) {
                put_str(c, tls, "cert", b->crts[k], b->line);
            } else {
                json_t *one = json_object();
                put_str(c, one, "cert", b->crts[k], b->line);
                json_array_append_new(more, one);
            }
        }
    }
    if (differ)
        hap_warn(c, g->binds[0]->line, "these TLS binds name different certificates: lxlb "
                 "serves all of them (chosen by SNI) on each address");
    if (json_array_size(more))
        json_object_set(tls, "certs", more);
    json_decref(more);
    json_decref(seen);
    return tls;
}

/* The backends a frontend can send requests to. */
struct hap_reach {
    const char *names[256];
    size_t n;
};

static void reach_add(struct hap_reach *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->names[i], name))
            return;
    if (r->n < sizeof(r->names) / sizeof(r->names[0]))
        r->names[r->n++] = name;
}

static json_t *redirect_json(struct hap_cfg *c, const struct hap_rule *r)
{
    const struct hap_redirect *d = &r->redir;
    json_t *o = json_object();
    const char *to = d->to;

    if (d->kind == HAP_REDIR_LOCATION && strchr(to, '%')) {
        /* The usual log-format spelling of "same host and path, https". */
        static const char *const same[] = {
            "https://%[hdr(host)]%[capture.req.uri]", "https://%[req.hdr(host)]%[capture.req.uri]",
            "https://%[hdr(Host)]%[capture.req.uri]", "https://%[req.hdr(Host)]%[capture.req.uri]",
            "https://%[hdr(host)]%[url]", "https://%[req.hdr(host)]%[url]", NULL,
        };
        for (int i = 0; same[i]; i++)
            if (!strcmp(to, same[i])) {
                json_object_set_new(o, "scheme", json_string("https"));
                json_object_set_new(o, "code", json_integer(d->code));
                return o;
            }
        hap_unsupported(c, r->line, hap_printf(&c->arena, "%s location %s", r->keyword, to),
                        "lxlb's redirect locations are fixed URLs; left out");
        json_decref(o);
        return NULL;
    }
    if (d->kind == HAP_REDIR_SCHEME) {
        if (strcasecmp(to, "http") != 0 && strcasecmp(to, "https") != 0) {
            hap_unsupported(c, r->line, hap_printf(&c->arena, "%s scheme %s", r->keyword, to),
                            "lxlb redirects to http or https; left out");
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "scheme", json_string(strcasecmp(to, "http") ? "https" : "http"));
    } else if (d->kind == HAP_REDIR_PREFIX && !strcmp(to, "/")) {
        hap_unsupported(c, r->line, hap_printf(&c->arena, "%s prefix /", r->keyword),
                        "lxlb's redirects go to a base URL; left out");
        json_decref(o);
        return NULL;
    } else {
        put_str(c, o, "location", to, r->line);
    }
    json_object_set_new(o, "code", json_integer(d->code));
    if (d->kind == HAP_REDIR_LOCATION) /* HAProxy's location is the whole target */
        json_object_set_new(o, "keep_path", json_false());
    return o;
}

/* The routes of frontend p as seen by group g, in HAProxy's order:
 * http-request redirects, redirects, then use_backend. */
static json_t *routes_json(struct hap_map *m, const struct hap_proxy *p, bool tls,
                           struct hap_reach *reach)
{
    static const enum hap_rule_kind order[] = { HAP_R_HTTPREQ_REDIRECT, HAP_R_REDIRECT,
                                                HAP_R_USE_BACKEND };
    struct hap_cfg *c = m->c;
    json_t *routes = json_array();

    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < p->nrules; i++) {
            const struct hap_rule *r = &p->rules[i];
            json_t *target = NULL, *mine;
            const struct hap_be *b = NULL;

            if (r->kind != order[k])
                continue;
            if (r->kind == HAP_R_USE_BACKEND) {
                if (!(b = find_be(m, r->backend))) {
                    hap_error(c, r->line, "use_backend: no backend named '%s'", r->backend);
                    continue;
                }
                if (!b->kept) {
                    hap_warn(c, r->line, "use_backend %s: that backend is left out, so is "
                             "this rule", r->backend);
                    continue;
                }
            } else if (!(target = redirect_json(c, r))) {
                continue;
            }
            mine = json_array();
            hap_rule_routes(c, p, r, tls, mine);
            for (size_t j = 0; j < json_array_size(mine); j++) {
                json_t *route = json_array_get(mine, j);
                if (b)
                    json_object_set_new(route, "backend", json_string(b->name));
                else
                    json_object_set(route, "redirect", target);
                json_array_append(routes, route);
            }
            if (b && json_array_size(mine))
                reach_add(reach, b->name);
            json_decref(mine);
            json_decref(target);
        }
    return routes;
}

/* set_headers of one group: the frontend's rules, then those of the backend
 * when it is the only one this frontend reaches. */
static void headers_from(struct hap_cfg *c, const struct hap_proxy *p, bool tls, json_t *h)
{
    for (size_t i = 0; i < p->nrules; i++) {
        const struct hap_rule *r = &p->rules[i];
        const char *why;
        int v;

        if (r->kind != HAP_R_SET_HEADER)
            continue;
        v = hap_cond_static(c, p, &r->cond, r->line, tls, &why);
        if (v == 1)
            put_str(c, h, r->hname, r->hvalue, r->line);
        else if (v == -1)
            hap_warn(c, r->line, "'%s %s' depends on '%s': lxlb's set_headers apply to every "
                     "request of a frontend; left out", r->keyword, r->hname, why);
    }
}

static json_t *set_headers_json(struct hap_map *m, const struct hap_proxy *p, bool tls,
                                const struct hap_reach *reach)
{
    struct hap_cfg *c = m->c;
    json_t *h = json_object();

    headers_from(c, p, tls, h);
    for (size_t i = 0; i < m->nbe; i++) {
        const struct hap_proxy *b = m->be[i].p;
        bool has = false, only;

        if (b == p || !m->be[i].kept)
            continue;
        for (size_t k = 0; k < b->nrules; k++)
            has |= b->rules[k].kind == HAP_R_SET_HEADER;
        if (!has)
            continue;
        only = reach->n == 1 && !strcmp(reach->names[0], m->be[i].name);
        for (size_t k = 0; !only && k < reach->n; k++)
            if (!strcmp(reach->names[k], m->be[i].name))
                for (size_t j = 0; j < b->nrules; j++)
                    if (b->rules[j].kind == HAP_R_SET_HEADER)
                        hap_warn(c, b->rules[j].line, "'%s %s' in backend '%s': lxlb sets "
                                 "headers per frontend, and frontend '%s' reaches other "
                                 "backends too; left out there", b->rules[j].keyword,
                                 b->rules[j].hname, b->name, p->name);
        if (only)
            headers_from(c, b, tls, h);
    }
    return h;
}

/* forwardfor: the frontend's, or its backends' (HAProxy adds the header
 * when either side asks). */
static bool group_forwardfor(struct hap_map *m, const struct hap_proxy *p,
                             const struct hap_reach *reach)
{
    size_t with = 0;

    if (p->forwardfor.on)
        return true;
    for (size_t i = 0; i < reach->n; i++) {
        const struct hap_be *b = find_be(m, reach->names[i]);
        with += b && b->p->forwardfor.on;
    }
    if (with && with < reach->n)
        hap_warn(m->c, p->line, "some of the backends of '%s' have 'option forwardfor' and "
                 "some do not: lxlb adds X-Forwarded-For per frontend, so it adds it for all",
                 p->name);
    return with > 0;
}

static json_t *group_json(struct hap_map *m, const struct hap_proxy *p, const struct hap_group *g,
                          const char *name)
{
    struct hap_cfg *c = m->c;
    struct hap_reach reach = { .n = 0 };
    json_t *o = json_object(), *binds = json_array(), *routes, *h;
    const struct hap_be *def = NULL;

    put_str(c, o, "name", name, p->line);
    for (size_t i = 0; i < g->nbinds; i++) {
        json_t *a = jstr(c, g->binds[i]->addr, g->binds[i]->line);
        if (a)
            json_array_append_new(binds, a);
    }
    json_object_set_new(o, "bind", binds);
    if (g->ssl)
        json_object_set_new(o, "tls", tls_json(c, g));
    if (p->default_backend.line) {
        def = find_be(m, p->default_backend.s);
        if (!def)
            hap_error(c, p->default_backend.line, "default_backend: no backend named '%s'",
                      p->default_backend.s);
        else if (!def->kept) {
            hap_warn(c, p->default_backend.line, "default_backend %s: that backend is left "
                     "out", def->name);
            def = NULL;
        }
    } else if (p->kind == HAP_LISTEN) {
        def = find_be(m, p->name);
    }
    if (def)
        put_str(c, o, "default_backend", def->name, p->line);
    if (g->accept_proxy)
        json_object_set_new(o, "accept_proxy", json_true());
    routes = routes_json(m, p, g->ssl, &reach);
    if (json_array_size(routes))
        json_object_set(o, "routes", routes);
    else if (!def) {
        hap_warn(c, p->line, "frontend '%s' has no default_backend and no rule lxlb can carry "
                 "over (HAProxy answers 503 to every request): left out", p->name);
        json_decref(routes);
        json_decref(o);
        return NULL;
    }
    if (json_array_size(routes) && !def)
        hap_warn(c, p->line, "frontend '%s' has no default_backend: HAProxy answers 503 when "
                 "no rule matches, lxlb 404", name);
    json_decref(routes);
    if (def)
        reach_add(&reach, def->name);
    json_object_set_new(o, "forwardfor", json_boolean(group_forwardfor(m, p, &reach)));
    h = set_headers_json(m, p, g->ssl, &reach);
    if (json_object_size(h))
        json_object_set(o, "set_headers", h);
    json_decref(h);
    if (p->httpclose.on) /* the client side, and the server side of every request */
        json_object_set_new(o, "http_close", json_true());
    if (p->server_close.on) /* the server side only: every backend this frontend reaches */
        for (size_t i = 0; i < reach.n; i++) {
            struct hap_be *b = find_be(m, reach.names[i]);
            if (b)
                b->fe_close = true;
        }
    return o;
}

/* Split p's binds by (TLS, accept-proxy): lxlb has these per frontend. */
static size_t bind_groups(struct hap_cfg *c, const struct hap_proxy *p, struct hap_group *g)
{
    size_t n = 0;

    for (size_t i = 0; i < p->nbinds; i++) {
        const struct hap_bind *b = &p->binds[i];
        size_t k = 0;

        while (k < n && (g[k].ssl != b->ssl || g[k].accept_proxy != b->accept_proxy))
            k++;
        if (k == n) {
            g[n] = (struct hap_group){ .ssl = b->ssl, .accept_proxy = b->accept_proxy };
            g[n].binds = hap_alloc(&c->arena, p->nbinds * sizeof(*g[n].binds));
            if (!g[n].binds)
                return 0;
            n++;
        }
        g[k].binds[g[k].nbinds++] = b;
    }
    return n;
}

static void frontends_json(struct hap_map *m, json_t *out)
{
    struct hap_cfg *c = m->c;

    for (size_t i = 0; i < c->nproxies; i++) {
        const struct hap_proxy *p = c->proxies[i];
        struct hap_group g[4];
        size_t n;

        if (p->kind == HAP_BACKEND)
            continue;
        if (!p->nbinds) {
            if (p->kind == HAP_FRONTEND)
                hap_warn(c, p->line, "frontend '%s' has no 'bind': it accepts nothing; "
                         "left out", p->name);
            continue;
        }
        if (!proxy_kept(c, p))
            continue;
        n = bind_groups(c, p, g);
        for (size_t k = 0; k < n; k++) {
            const char *name = p->name;
            json_t *fe;

            if (k > 0)
                name = hap_printf(&c->arena, "%s%s%s", p->name,
                                  g[k].ssl == g[0].ssl ? "" : g[k].ssl ? "-tls" : "-plain",
                                  g[k].accept_proxy == g[0].accept_proxy ? ""
                                  : g[k].accept_proxy ? "-proxy" : "-noproxy");
            name = unique_name(c, m->fe_names, name ? name : p->name);
            if (k > 0)
                hap_warn(c, g[k].binds[0]->line, "frontend '%s': binds with %s become their "
                         "own lxlb frontend '%s' (lxlb sets TLS and PROXY protocol per "
                         "frontend)", p->name, g[k].ssl != g[0].ssl ? "other TLS settings"
                         : "another accept-proxy", name);
            if ((fe = group_json(m, p, &g[k], name ? name : p->name)))
                json_array_append_new(out, fe);
        }
    }
}

/* ------------------------------------------------------------ the whole */

static json_t *hap_map_all(struct hap_cfg *c)
{
    struct hap_map m = { .c = c };
    json_t *root = json_object(), *fes = json_array(), *bes = json_array(), *d;

    m.fe_names = json_object();
    m.be = hap_alloc(&c->arena, (c->nproxies + 1) * sizeof(*m.be));
    for (size_t i = 0; m.be && i < c->nproxies; i++) {
        const struct hap_proxy *p = c->proxies[i];
        if (p->kind == HAP_FRONTEND)
            continue;
        m.be[m.nbe++] = (struct hap_be){ .p = p, .name = p->name, .kept = proxy_kept(c, p) };
    }
    frontends_json(&m, fes);
    for (size_t i = 0; i < m.nbe; i++)
        if (m.be[i].kept)
            json_array_append_new(bes, backend_json(&m, &m.be[i]));
    json_object_set_new(root, "global", global_json(&m));
    if ((d = defaults_json(&m)))
        json_object_set_new(root, "defaults", d);
    if (!json_array_size(fes))
        hap_error(c, 0, "no frontend or listen section with a bind lxlb can carry over "
                  "(lxlb needs at least one)");
    if (!json_array_size(bes))
        hap_error(c, 0, "no backend or listen section lxlb can carry over (lxlb needs at "
                  "least one)");
    json_object_set_new(root, "frontends", fes);
    json_object_set_new(root, "backends", bes);
    json_decref(m.fe_names);
    return root;
}

static int msg_cmp(const void *a, const void *b)
{
    const struct hap_msg *x = a, *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static char *msgs_text(struct hap_cfg *c)
{
    size_t len = 1;
    char *out, *o;

    if (c->nmsgs) /* qsort wants an array, even of nothing */
        qsort(c->msgs, c->nmsgs, sizeof(*c->msgs), msg_cmp);
    for (size_t i = 0; i < c->nmsgs; i++)
        len += strlen(c->file) + strlen(c->msgs[i].text ? c->msgs[i].text : "") + 32;
    if (!(out = malloc(len)))
        return NULL;
    o = out;
    *o = '\0';
    for (size_t i = 0; i < c->nmsgs; i++) {
        const struct hap_msg *m = &c->msgs[i];
        int n = m->line ? sprintf(o, "%s:%d: %s%s\n", c->file, m->line,
                                  m->error ? "error: " : "", m->text ? m->text : "")
                        : sprintf(o, "%s: %s%s\n", c->file, m->error ? "error: " : "",
                                  m->text ? m->text : "");
        o += n;
    }
    return out;
}

int hap_convert(const char *name, const char *text, size_t len, struct hap_result *out)
{
    struct hap_cfg *c = calloc(1, sizeof(*c));
    json_t *json = NULL;

    memset(out, 0, sizeof(*out));
    if (!c)
        goto oom;
    c->file = name;
    hap_read(c, text, len);
    if (!c->nerr && !c->arena.oom)
        json = hap_map_all(c);
    if (c->arena.oom)
        hap_error(c, 0, "out of memory");
    if (c->nerr) {
        json_decref(json);
        json = NULL;
    }
    out->json = json;
    out->nwarn = c->nwarn;
    out->nerr = c->nerr;
    out->msgs = msgs_text(c);
    hap_arena_free(&c->arena);
    free(c);
    if (!out->msgs) {
        json_decref(out->json);
        goto oom;
    }
    return out->json ? 0 : -1;
oom:
    free(c);
    out->json = NULL;
    out->msgs = strdup("out of memory\n");
    out->nerr = 1;
    return -1;
}

void hap_result_free(struct hap_result *r)
{
    json_decref(r->json);
    free(r->msgs);
    memset(r, 0, sizeof(*r));
}

char *hap_dump(const json_t *json)
{
    char *s = json_dumps(json, JSON_INDENT(2)), *t;
    size_t n;

    if (!s)
        return NULL;
    n = strlen(s);
    if (!(t = realloc(s, n + 2))) {
        free(s);
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    return t;
}

/* ------------------------------------------------------------ command */

/* The whole of f, at most HAP_MAXFILE bytes (malloc'ed), or NULL with errno. */
static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap), *p;

    if (!buf)
        return NULL;
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            if (ferror(f)) {
                free(buf);
                errno = errno ? errno : EIO;
                return NULL;
            }
            break;
        }
        if (cap >= HAP_MAXFILE + 1) {
            free(buf);
            errno = EFBIG;
            return NULL;
        }
        cap *= 2;
        if (cap > HAP_MAXFILE + 1)
            cap = HAP_MAXFILE + 1;
        if (!(p = realloc(buf, cap))) {
            free(buf);
            return NULL;
        }
        buf = p;
    }
    *len = n;
    return buf;
}

static void hap_usage(FILE *out)
{
    fprintf(out, "usage: lxlb import-haproxy FILE   convert a haproxy.cfg to lxlb JSON on "
                 "stdout\n"
                 "       lxlb import-haproxy -      the same from stdin\n"
                 "Warnings (what lxlb cannot carry over) go to stderr as FILE:LINE: ...\n");
}

int hap_main(int argc, char **argv)
{
    const char *file = NULL, *name;
    struct hap_result r;
    struct stat st;
    size_t len = 0;
    char *text, *json;
    FILE *f;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            hap_usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "lxlb import-haproxy: unknown option '%s'\n", argv[i]);
            return 2;
        }
        if (file) {
            fprintf(stderr, "lxlb import-haproxy: one file only ('%s' and '%s')\n", file,
                    argv[i]);
            return 2;
        }
        file = argv[i];
    }
    if (!file) {
        hap_usage(stderr);
        return 2;
    }
    name = strcmp(file, "-") ? file : "<stdin>";
    f = strcmp(file, "-") ? fopen(file, "r") : stdin;
    if (f && f != stdin && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        f = NULL;
        errno = EISDIR;
    }
    if (!f || !(text = read_all(f, &len))) {
        fprintf(stderr, "lxlb import-haproxy: cannot read %s: %s\n", name, strerror(errno));
        if (f && f != stdin)
            fclose(f);
        return 1;
    }
    if (f != stdin)
        fclose(f);
    rc = hap_convert(name, text, len, &r);
    free(text);
    fputs(r.msgs, stderr);
    if (rc == 0) {
        if (!(json = hap_dump(r.json))) {
            fprintf(stderr, "lxlb import-haproxy: out of memory\n");
            rc = -1;
        } else {
            fputs(json, stdout);
            free(json);
        }
    }
    hap_result_free(&r);
    if (fflush(stdout) != 0)
        return 1;
    return rc == 0 ? 0 : 1;
}
