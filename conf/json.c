/* conf/json.c - the walk's tools: typed getters over jansson values that
 * report into a struct conf_ctx (every error at once, with file, line and
 * JSON path) and fill in defaults after an error. The sections live in
 * conf.c and in one file per large section; they use only conf/conf-int.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "conf/conf.h"
#include "conf/conf-int.h"

/* ---- where in the source: jansson 2.14 keeps no positions for values, so
 * re-scan the (already valid) text along the JSON path. ---- */

struct conf_scan {
    const char *p;
    int line;
};

static void scan_ws(struct conf_scan *s)
{
    while (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n') {
        if (*s->p == '\n')
            s->line++;
        s->p++;
    }
}

/* At a '"': copy the raw (still escaped) text into out, truncating. */
static void scan_string(struct conf_scan *s, char *out, size_t outlen)
{
    size_t n = 0;

    s->p++;
    while (*s->p && *s->p != '"') {
        if (*s->p == '\\' && s->p[1]) {
            if (n + 1 < outlen)
                out[n++] = *s->p;
            s->p++;
        }
        if (n + 1 < outlen)
            out[n++] = *s->p;
        s->p++;
    }
    if (*s->p)
        s->p++;
    if (outlen)
        out[n] = '\0';
}

static void scan_skip(struct conf_scan *s)
{
    int depth = 0;
    char tmp[1];

    scan_ws(s);
    do {
        if (!*s->p)
            return;
        if (*s->p == '"') {
            scan_string(s, tmp, sizeof(tmp));
            continue;
        }
        if (*s->p == '{' || *s->p == '[')
            depth++;
        else if (*s->p == '}' || *s->p == ']')
            depth--;
        else if (*s->p == '\n')
            s->line++;
        else if (depth == 0 && strchr(", \t\r", *s->p))
            return;
        s->p++;
    } while (depth > 0 || (*s->p && !strchr(",}] \t\r\n", *s->p)));
}

static int scan_find(struct conf_scan *s, const char *path);

static int scan_member(struct conf_scan *s, const char *path)
{
    size_t klen = strcspn(path + 1, ".[");
    char key[CONF_PATHLEN];

    if (*s->p != '{')
        return 0;
    s->p++;
    for (;;) {
        scan_ws(s);
        if (*s->p != '"')
            return 0;
        scan_string(s, key, sizeof(key));
        scan_ws(s);
        if (*s->p++ != ':')
            return 0;
        if (strlen(key) == klen && strncmp(key, path + 1, klen) == 0)
            return scan_find(s, path + 1 + klen);
        scan_skip(s);
        scan_ws(s);
        if (*s->p++ != ',')
            return 0;
    }
}

static int scan_element(struct conf_scan *s, const char *path)
{
    char *end;
    unsigned long idx = strtoul(path + 1, &end, 10);

    if (*end != ']' || *s->p != '[')
        return 0;
    s->p++;
    for (unsigned long i = 0;; i++) {
        scan_ws(s);
        if (*s->p == ']' || !*s->p)
            return 0;
        if (i == idx)
            return scan_find(s, end + 1);
        scan_skip(s);
        scan_ws(s);
        if (*s->p++ != ',')
            return 0;
    }
}

static int scan_find(struct conf_scan *s, const char *path)
{
    scan_ws(s);
    if (!*path)
        return s->line;
    if (*path == '.')
        return scan_member(s, path);
    if (*path == '[')
        return scan_element(s, path);
    return 0;
}

/* A path that names an absent key (a defaulted value, a missing one) gets
 * the line of the nearest enclosing value that is written. */
static int conf_line_of(const char *text, const char *path)
{
    char p[CONF_PATHLEN];
    int line = 0;

    if (!text || !path || *path != '$')
        return 0;
    snprintf(p, sizeof(p), "%s", path);
    while (!line) {
        struct conf_scan s = { text, 1 };
        char *cut = strrchr(p, '.'), *br = strrchr(p, '[');

        line = scan_find(&s, p + 1);
        if (br > cut)
            cut = br;
        if (!cut)
            break;
        *cut = '\0';
    }
    return line;
}

/* ---- errors ---- */

void conf_err(struct conf_ctx *x, const char *path, const char *fmt, ...)
{
    char msg[600];
    size_t room;
    int line, n;
    va_list ap;

    x->nerr++;
    if (!x->err || x->used + 1 >= x->errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Values from the file end up in msg: keep one error per line. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    line = conf_line_of(x->text, path);
    room = x->errlen - x->used;
    if (line > 0)
        n = snprintf(x->err + x->used, room, "%s:%d: %s: %s\n", x->name, line, path, msg);
    else
        n = snprintf(x->err + x->used, room, "%s: %s: %s\n", x->name, path, msg);
    x->used += (n < 0 || (size_t)n >= room) ? room - 1 : (size_t)n;
}

const char *conf_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* Paths deeper than CONF_PATHLEN are only cut short in messages. */
const char *conf_path_fmt(char *buf, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, CONF_PATHLEN, fmt, ap);
    va_end(ap);
    return buf;
}

const char *conf_key_path(char *buf, const char *parent, const char *key)
{
    return conf_path_fmt(buf, "%s.%s", parent, key);
}

const char *conf_idx_path(char *buf, const char *parent, size_t i)
{
    return conf_path_fmt(buf, "%s[%zu]", parent, i);
}

char *conf_strdup(struct conf_ctx *x, const char *path, const char *s)
{
    char *d = strdup(s);

    if (!d)
        conf_err(x, path, "out of memory");
    return d;
}

void *conf_calloc(struct conf_ctx *x, const char *path, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);

    if (!p)
        conf_err(x, path, "out of memory");
    return p;
}

/* ---- typed getters: absent or null means "the default" ---- */

json_t *conf_member(const json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;

    return json_is_null(v) ? NULL : v;
}

bool conf_is(struct conf_ctx *x, const json_t *v, json_type t,
                    const char *path, const char *what)
{
    if (json_typeof(v) == t || (t == JSON_TRUE && json_is_boolean(v)))
        return true;
    conf_err(x, path, "expected %s, got %s", what, conf_type(v));
    return false;
}

void conf_keys(struct conf_ctx *x, const json_t *obj, const char *path,
                      const char *const *allowed)
{
    char p[CONF_PATHLEN], list[256] = "";
    const char *key;
    json_t *v;

    for (const char *const *a = allowed; *a; a++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                 a == allowed ? "" : ", ", *a);
    json_object_foreach((json_t *)obj, key, v) {
        const char *const *a = allowed;

        while (*a && strcmp(*a, key) != 0)
            a++;
        if (!*a)
            conf_err(x, conf_key_path(p, path, key), "unknown key (expected one of: %s)",
                     list);
    }
}

/* An optional sub-object: NULL when absent, null or of the wrong type. */
json_t *conf_object(struct conf_ctx *x, const json_t *obj, const char *path,
                           const char *key, char *childpath, const char *const *allowed)
{
    json_t *v = conf_member(obj, key);

    conf_key_path(childpath, path, key);
    if (!v || !conf_is(x, v, JSON_OBJECT, childpath, "an object"))
        return NULL;
    conf_keys(x, v, childpath, allowed);
    return v;
}

void conf_require(struct conf_ctx *x, const json_t *obj, const char *path,
                         const char *key)
{
    if (obj && !conf_member(obj, key))
        conf_err(x, path, "missing required key \"%s\"", key);
}

/* A non-empty string from v, or NULL after reporting why not. */
const char *conf_string_value(struct conf_ctx *x, const json_t *v, const char *path)
{
    const char *s;

    if (!conf_is(x, v, JSON_STRING, path, "a string"))
        return NULL;
    s = json_string_value(v);
    if (!*s) {
        conf_err(x, path, "must not be empty");
        return NULL;
    }
    return s;
}

/* *out gets a copy of the value, else of def (which may be NULL): after an
 * error the default stands, so later checks do not trip over a hole. */
void conf_str(struct conf_ctx *x, const json_t *obj, const char *path,
                     const char *key, const char *def, char **out)
{
    char p[CONF_PATHLEN];
    json_t *v = conf_member(obj, key);
    const char *s = v ? conf_string_value(x, v, conf_key_path(p, path, key)) : NULL;

    if (!s)
        s = def;
    *out = s ? conf_strdup(x, path, s) : NULL;
}

void conf_bool(struct conf_ctx *x, const json_t *obj, const char *path,
                      const char *key, bool def, bool *out)
{
    char p[CONF_PATHLEN];
    json_t *v = conf_member(obj, key);

    *out = def;
    if (v && conf_is(x, v, JSON_TRUE, conf_key_path(p, path, key), "true or false"))
        *out = json_is_true(v);
}

void conf_uint(struct conf_ctx *x, const json_t *obj, const char *path,
                      const char *key, uint32_t def, uint32_t lo, uint32_t hi,
                      uint32_t *out)
{
    char p[CONF_PATHLEN];
    json_t *v = conf_member(obj, key);
    json_int_t n;

    *out = def;
    if (!v || !conf_is(x, v, JSON_INTEGER, conf_key_path(p, path, key), "an integer"))
        return;
    n = json_integer_value(v);
    if (n < lo || n > hi) {
        if (hi == INT32_MAX)
            conf_err(x, p, "must be at least %u, got %lld", lo, (long long)n);
        else
            conf_err(x, p, "must be %u-%u, got %lld", lo, hi, (long long)n);
    }
    else
        *out = (uint32_t)n;
}

void conf_duration(struct conf_ctx *x, const json_t *obj, const char *path,
                          const char *key, uint32_t def, uint32_t min, uint32_t *out)
{
    char p[CONF_PATHLEN];
    json_t *v = conf_member(obj, key);
    uint32_t ms;

    *out = def;
    if (!v)
        return;
    conf_key_path(p, path, key);
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX) {
            conf_err(x, p, "bad duration %lld: must be 0-%u ms",
                     (long long)json_integer_value(v), UINT32_MAX);
            return;
        }
        ms = (uint32_t)json_integer_value(v);
    } else if (json_is_string(v)) {
        if (conf_parse_duration(json_string_value(v), &ms) < 0) {
            conf_err(x, p, "bad duration \"%s\": expected an integer with unit "
                     "ms, s, m or h (e.g. \"500ms\", \"5s\"), at most %u ms",
                     json_string_value(v), UINT32_MAX);
            return;
        }
    } else {
        conf_err(x, p, "expected a duration (\"5s\" or milliseconds), got %s",
                 conf_type(v));
        return;
    }
    if (ms < min)
        conf_err(x, p, "must be at least %ums", min);
    else
        *out = ms;
}

int conf_addr_value(struct conf_ctx *x, const json_t *v, const char *path,
                           struct conf_addr *out)
{
    const char *s = conf_string_value(x, v, path);
    char why[256];

    if (!s)
        return -1;
    if (conf_parse_addr(s, out, why, sizeof(why)) < 0) {
        conf_err(x, path, "bad address \"%s\": %s", s, why);
        return -1;
    }
    return 0;
}

/* Names appear in admin URLs (/backends/NAME/servers/NAME), in stats and,
 * by default, as cookie values: keep them to HAProxy's identifier set. */
bool conf_name_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("-_.:", *s)))
            return false;
    return true;
}

void conf_name(struct conf_ctx *x, const json_t *obj, const char *path,
                      const char *key, const char *def, char **out)
{
    char p[CONF_PATHLEN];

    conf_str(x, obj, path, key, def, out);
    if (*out && !conf_name_ok(*out)) {
        conf_err(x, conf_key_path(p, path, key), "bad name \"%s\": use only "
                 "letters, digits, '-', '_', '.' and ':'", *out);
    }
}

/* RFC 7230 tchar: header and cookie names. */
bool conf_token_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
            strchr("\"(),/:;<=>?@[\\]{}", *s))
            return false;
    return true;
}

/* RFC 6265 cookie-octet, less '~', which separates the prefix mode's
 * server cookie from the application's value. */
bool conf_cookie_value_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
            strchr("\",;\\~", *s))
            return false;
    return true;
}

/* A string or an array of strings: binds and etcd endpoints. Returns the
 * array (or the string itself) and its length, 0 after an error. */
size_t conf_list(struct conf_ctx *x, const json_t *v, const char *path)
{
    size_t n;

    if (json_is_string(v))
        return 1;
    if (!conf_is(x, v, JSON_ARRAY, path, "a string or an array of strings"))
        return 0;
    n = json_array_size(v);
    if (n == 0)
        conf_err(x, path, "must not be empty");
    return n;
}

const json_t *conf_list_item(const json_t *v, size_t i)
{
    return json_is_string(v) ? v : json_array_get(v, i);
}

const char *conf_list_path(char *buf, const json_t *v, const char *path, size_t i)
{
    if (json_is_string(v)) {
        conf_path_fmt(buf, "%s", path);
        return buf;
    }
    return conf_idx_path(buf, path, i);
}
