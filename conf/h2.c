/* conf/h2.c - HTTP/2 to clients: defaults.h2, frontends[].http2 and
 * frontends[].h2 (SPEC.md "HTTP/2 to clients").
 *
 * The limits live in defaults.h2 for every frontend; a frontend's own "h2"
 * object overrides them key by key. "http2" is per frontend: on a TLS one
 * it offers ALPN h2 (default true), on a plain one it accepts HTTP/2 with
 * prior knowledge next to HTTP/1.1 (default false). */
#include "conf/conf-int.h"

static const char *const h2_keys[] = { "max_concurrent_streams", "initial_window",
                                       "max_header_list", NULL };

/* The RFC's bounds, narrowed to what makes sense for a front end: at least
 * one stream, a window a frame fits in, a header list a browser's fits in. */
static void parse_h2(struct conf_ctx *x, const json_t *o, const char *path,
                     const struct conf_h2 *def, struct conf_h2 *out)
{
    conf_uint(x, o, path, "max_concurrent_streams", def->max_concurrent_streams, 1, 10000,
              &out->max_concurrent_streams);
    conf_uint(x, o, path, "initial_window", def->initial_window, 1024, 0x7fffffff,
              &out->initial_window);
    conf_uint(x, o, path, "max_header_list", def->max_header_list, 1024, 1u << 24,
              &out->max_header_list);
}

void conf_parse_h2_defaults(struct conf_ctx *x, struct conf *c, const json_t *o,
                            const char *path)
{
    static const struct conf_h2 builtin = { 100, 65535, 32768 };
    char hpath[CONF_PATHLEN];
    const json_t *h = conf_object(x, o, path, "h2", hpath, h2_keys);

    parse_h2(x, h, hpath, &builtin, &c->h2);
}

void conf_parse_h2_frontend(struct conf_ctx *x, const struct conf *c, struct conf_frontend *f,
                            const json_t *fe, const char *path)
{
    char hpath[CONF_PATHLEN];
    const json_t *h = conf_object(x, fe, path, "h2", hpath, h2_keys);

    conf_bool(x, fe, path, "http2", f->tls.enabled, &f->http2);
    parse_h2(x, h, hpath, &c->h2, &f->h2);
}
