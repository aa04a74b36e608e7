/* conf/route.c - frontends[].routes (SPEC.md "Routing, redirects, tunnels,
 * PROXY protocol"): host, path_prefix, methods, and a backend or a redirect.
 *
 * Everything a request could trip over is checked here, so the matcher
 * (lb/route.c) and the redirect builder (lb/redirect.c) never meet a pattern
 * or a Location they would have to refuse at run time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <llhttp.h>

#include "conf/conf.h"
#include "conf/conf-int.h"

/* The names llhttp knows: a request with any other method never gets as far
 * as routing, so a route naming one could never match. */
static int route_method_bit(const char *name)
{
#define XX(num, id, str) if (strcmp(name, #str) == 0) return num;
    HTTP_METHOD_MAP(XX)
#undef XX
    return -1;
}

static void route_parse_methods(struct conf_ctx *x, struct conf_route *r, const json_t *o,
                                const char *rpath)
{
    char path[CONF_PATHLEN], ipath[CONF_PATHLEN];
    json_t *v = conf_member(o, "methods");
    size_t n;

    conf_key_path(path, rpath, "methods");
    if (!v || !(n = conf_list(x, v, path)))
        return;
    for (size_t i = 0; i < n; i++) {
        const char *m = conf_string_value(x, conf_list_item(v, i),
                                          conf_list_path(ipath, v, path, i));
        int bit;

        if (!m)
            continue;
        bit = route_method_bit(m);
        if (bit < 0)
            conf_err(x, ipath, "unknown method \"%s\" (methods are case-sensitive: "
                     "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH...)", m);
        else if (bit == HTTP_CONNECT)
            conf_err(x, ipath, "lxlb refuses CONNECT (405): no route can match it");
        else
            r->methods |= 1ull << bit;
    }
}

static void route_parse_host(struct conf_ctx *x, struct conf_route *r, const json_t *o,
                             const char *rpath)
{
    char p[CONF_PATHLEN], key[CONF_HOST_MAX + 1], why[200];

    conf_str(x, o, rpath, "host", NULL, &r->host);
    if (!r->host)
        return;
    conf_key_path(p, rpath, "host");
    if (conf_parse_host_pattern(r->host, &r->host_match, key, &r->host_key_len, why,
                                sizeof(why)) < 0) {
        conf_err(x, p, "bad host \"%s\": %s", r->host, why);
        r->host_match = CONF_HOST_ANY;
        return;
    }
    r->host_key = conf_strdup(x, p, key);
}

static void route_parse_path(struct conf_ctx *x, struct conf_route *r, const json_t *o,
                             const char *rpath)
{
    char p[CONF_PATHLEN];
    const char *s;

    conf_str(x, o, rpath, "path_prefix", NULL, &r->path_prefix);
    if (!(s = r->path_prefix))
        return;
    r->path_prefix_len = strlen(s);
    conf_key_path(p, rpath, "path_prefix");
    if (s[0] != '/') {
        conf_err(x, p, "\"%s\" must start with '/'", s);
        return;
    }
    for (; *s; s++) {
        /* The request target never holds these (400 first), and the path
         * ends at '?': such a prefix could never match. */
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '?' ||
            *s == '#') {
            conf_err(x, p, "byte 0x%02x cannot be in a request path: no space, control, "
                     "'?', '#' or 8-bit byte (percent-encode it as clients send it)",
                     (unsigned char)*s);
            return;
        }
    }
}

static void route_parse_redirect(struct conf_ctx *x, struct conf_redirect *rd,
                                 const json_t *o, const char *rpath)
{
    static const char *const keys[] = { "scheme", "location", "code", "keep_path", NULL };
    char path[CONF_PATHLEN], p[CONF_PATHLEN], why[200];
    const json_t *v = conf_object(x, o, rpath, "redirect", path, keys);
    uint32_t code;

    if (!v)
        return;
    rd->enabled = true;
    conf_str(x, v, path, "scheme", NULL, &rd->scheme);
    conf_str(x, v, path, "location", NULL, &rd->location);
    conf_uint(x, v, path, "code", 301, 0, INT32_MAX, &code);
    rd->code = (uint16_t)code;
    conf_bool(x, v, path, "keep_path", true, &rd->keep_path);
    if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) {
        conf_err(x, conf_key_path(p, path, "code"), "bad code %u (expected 301, 302, 303, "
                 "307 or 308)", code);
        rd->code = 301;
    }
    if (!!rd->scheme == !!rd->location) {
        conf_err(x, path, "needs exactly one of \"scheme\" or \"location\"");
        return;
    }
    if (rd->scheme && strcmp(rd->scheme, "http") != 0 && strcmp(rd->scheme, "https") != 0)
        conf_err(x, conf_key_path(p, path, "scheme"), "unknown scheme \"%s\" (expected "
                 "http or https)", rd->scheme);
    if (rd->location && conf_parse_location(rd->location, rd->keep_path, &rd->base_len, why,
                                            sizeof(why)) < 0)
        conf_err(x, conf_key_path(p, path, "location"), "bad location \"%s\": %s",
                 rd->location, why);
}

static void route_parse(struct conf_ctx *x, struct conf_route *r, const json_t *o,
                        const char *path)
{
    static const char *const keys[] = { "host", "path_prefix", "methods", "backend",
                                        "redirect", NULL };
    bool has_backend = conf_member(o, "backend") != NULL;
    bool has_redirect = conf_member(o, "redirect") != NULL;

    if (!conf_is(x, o, JSON_OBJECT, path, "an object"))
        return;
    conf_keys(x, o, path, keys);
    if (has_backend && has_redirect)
        conf_err(x, path, "has both \"backend\" and \"redirect\": give one");
    else if (!has_backend && !has_redirect)
        conf_err(x, path, "needs \"backend\" or \"redirect\"");
    route_parse_host(x, r, o, path);
    route_parse_path(x, r, o, path);
    route_parse_methods(x, r, o, path);
    conf_str(x, o, path, "backend", NULL, &r->backend_name);
    route_parse_redirect(x, &r->redirect, o, path);
}

void conf_parse_routes(struct conf_ctx *x, struct conf_frontend *f, const json_t *fe,
                       const char *fepath)
{
    char path[CONF_PATHLEN], ipath[CONF_PATHLEN];
    json_t *v = conf_member(fe, "routes");
    size_t n;

    conf_key_path(path, fepath, "routes");
    if (!v || !conf_is(x, v, JSON_ARRAY, path, "an array of routes"))
        return;
    if (!(n = json_array_size(v)))
        return;
    if (!(f->routes = conf_calloc(x, path, n, sizeof(*f->routes))))
        return;
    for (size_t i = 0; i < n; i++) {
        struct conf_route *r = &f->routes[f->nroutes++];

        r->index = (uint32_t)i;
        route_parse(x, r, json_array_get(v, i), conf_idx_path(ipath, path, i));
    }
}

void conf_resolve_routes(struct conf_ctx *x, struct conf *c)
{
    char p[CONF_PATHLEN];

    for (size_t i = 0; i < c->nfrontends; i++) {
        struct conf_frontend *f = &c->frontends[i];

        for (size_t j = 0; j < f->nroutes; j++) {
            struct conf_route *r = &f->routes[j];

            if (!r->backend_name)
                continue;
            r->backend = conf_find_backend(c, r->backend_name);
            if (!r->backend) {
                conf_path_fmt(p, "$.frontends[%zu].routes[%zu].backend", i, j);
                conf_err(x, p, "no backend named \"%s\"", r->backend_name);
            }
        }
    }
}

void conf_free_routes(struct conf_frontend *f)
{
    if (f->route_table_free) /* set by lb/route.c: conf knows nothing of the index */
        f->route_table_free(f->route_table);
    for (size_t i = 0; i < f->nroutes; i++) {
        struct conf_route *r = &f->routes[i];

        free(r->host);
        free(r->host_key);
        free(r->path_prefix);
        free(r->backend_name);
        free(r->redirect.scheme);
        free(r->redirect.location);
    }
    free(f->routes);
}
