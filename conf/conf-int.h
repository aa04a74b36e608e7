/* conf/conf-int.h - inside conf/ only: the context a configuration walk
 * reports into, and the typed getters every section uses (conf/json.c).
 *
 * Getters never stop the walk: a wrong value is reported (file, line, JSON
 * path) and the default stands, so later checks see a whole struct and
 * `lxlb -c` lists every error at once. A section with much of its own
 * (routes, autoscale, acme...) lives in its own file and is called from
 * conf_build() in conf.c. */
#ifndef LXLB_CONF_INT_H
#define LXLB_CONF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "conf/conf-t.h"

#define CONF_PATHLEN 256 /* bytes of a JSON path in messages ("$.backends[0]...") */

struct conf_ctx {
    const char *name; /* file name for messages */
    const char *text; /* the JSON source, to find the line of a path */
    char *err;        /* caller's buffer */
    size_t errlen;    /* bytes in err */
    size_t used;      /* bytes of err written so far */
    int nerr;         /* errors reported (also those that did not fit in err) */
};

/* Report one error at path (its line is found in the source). */
void conf_err(struct conf_ctx *x, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "an object", "a string"...: for "expected X, got Y". */
const char *conf_type(const json_t *v);

/* Paths are built in caller buffers of CONF_PATHLEN bytes. */
const char *conf_path_fmt(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *conf_key_path(char *buf, const char *parent, const char *key);
const char *conf_idx_path(char *buf, const char *parent, size_t i);

/* Allocation that reports "out of memory" at path. */
char *conf_strdup(struct conf_ctx *x, const char *path, const char *s);
void *conf_calloc(struct conf_ctx *x, const char *path, size_t n, size_t size);

/* obj[key], NULL when absent or null. */
json_t *conf_member(const json_t *obj, const char *key);
/* Is v of type t (JSON_TRUE: any boolean)? Reports "expected what" if not. */
bool conf_is(struct conf_ctx *x, const json_t *v, json_type t, const char *path,
             const char *what);
/* Every key of obj must be in allowed (NULL-terminated). */
void conf_keys(struct conf_ctx *x, const json_t *obj, const char *path,
               const char *const *allowed);
/* An optional sub-object obj[key] (childpath gets its path): NULL when absent,
 * null or of the wrong type; its keys are checked against allowed. */
json_t *conf_object(struct conf_ctx *x, const json_t *obj, const char *path, const char *key,
                    char *childpath, const char *const *allowed);
void conf_require(struct conf_ctx *x, const json_t *obj, const char *path, const char *key);

/* Typed members: absent or null leaves the default (def). */
const char *conf_string_value(struct conf_ctx *x, const json_t *v, const char *path);
void conf_str(struct conf_ctx *x, const json_t *obj, const char *path, const char *key,
              const char *def, char **out);
void conf_bool(struct conf_ctx *x, const json_t *obj, const char *path, const char *key,
               bool def, bool *out);
void conf_uint(struct conf_ctx *x, const json_t *obj, const char *path, const char *key,
               uint32_t def, uint32_t lo, uint32_t hi, uint32_t *out);
/* "500ms", "5s", "2m", "1h" or integer ms; at least min. */
void conf_duration(struct conf_ctx *x, const json_t *obj, const char *path, const char *key,
                   uint32_t def, uint32_t min, uint32_t *out);
int conf_addr_value(struct conf_ctx *x, const json_t *v, const char *path,
                    struct conf_addr *out);

/* Names (frontends, backends, servers): letters, digits, - _ . : */
bool conf_name_ok(const char *s);
void conf_name(struct conf_ctx *x, const json_t *obj, const char *path, const char *key,
               const char *def, char **out);
/* RFC 9110 token (header and cookie names). */
bool conf_token_ok(const char *s);
/* RFC 6265 cookie-octet less '~'. */
bool conf_cookie_value_ok(const char *s);

/* A string or an array of strings: its length (0 after an error), and item
 * i with its path. */
size_t conf_list(struct conf_ctx *x, const json_t *v, const char *path);
const json_t *conf_list_item(const json_t *v, size_t i);
const char *conf_list_path(char *buf, const json_t *v, const char *path, size_t i);

/* route.c: frontends[].routes (parsed with the frontend), their backends
 * (resolved once every backend is known), and their memory. */
void conf_parse_routes(struct conf_ctx *x, struct conf_frontend *f, const json_t *fe,
                       const char *fepath);
void conf_resolve_routes(struct conf_ctx *x, struct conf *c);
void conf_free_routes(struct conf_frontend *f);
/* Sections in files of their own. */
/* defaults.h2 into c->h2 (o: the defaults object, NULL when absent). */
void conf_parse_h2_defaults(struct conf_ctx *x, struct conf *c, const json_t *o,
                            const char *path);
/* frontends[].http2 and .h2 (after its tls and c->h2 are parsed). */
void conf_parse_h2_frontend(struct conf_ctx *x, const struct conf *c, struct conf_frontend *f,
                            const json_t *fe, const char *path);

/* conf/acme.c: the "acme" section, a TLS frontend's "acme" names, the checks
 * across both, and freeing them. */
void conf_parse_acme(struct conf_ctx *x, struct conf *c, const json_t *root);
void conf_parse_tls_acme(struct conf_ctx *x, struct conf_tls *tls, const json_t *o,
                         const char *tlspath);
void conf_check_acme(struct conf_ctx *x, const struct conf *c);
void conf_free_tls_acme(struct conf_tls *tls);
void conf_free_acme(struct conf *c);

/* ---- sections in their own files ---- */

/* conf/autoscale.c: backends[].autoscale of b (at path, the backend's),
 * after its discovery was read. */
void conf_parse_autoscale(struct conf_ctx *x, struct conf_backend *b, const json_t *be,
                          const char *path);
void conf_free_autoscale(struct conf_autoscale *a);

#endif
