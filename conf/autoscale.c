/* conf/autoscale.c - backends[].autoscale: clones of a template container
 * join and leave the backend with its load (SPEC "Autoscaling and container
 * resources").
 *
 *   "autoscale": { "template": "web-tpl", "prefix": "web-auto-", "min": 1, "max": 4,
 *                  "up":   { "active_per_server": 20, "cpu_percent": 80, "for": "10s" },
 *                  "down": { "active_per_server": 2, "cpu_percent": 20, "for": "60s" },
 *                  "cooldown": "30s", "addresses": "10.0.3.100-10.0.3.119/24",
 *                  "clone": "snapshot", "drain_timeout": "60s", "enabled": true }
 *
 * Checks beyond each value: discovery.lxc on the same backend (the clones
 * join through it), clone names its match and group accept, down figures
 * below up figures (else it would flap), an address range inside one
 * network. */
#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf-int.h"

#define AS_PREFIX_MAX 56     /* bytes of a prefix: with 6 digits, under 64 */
#define AS_MAX_SERVERS 1000  /* max at most */
#define AS_MAX_ADDRESSES 65536

/* A non-negative number (integer or real) obj[key], at most hi. */
static void as_number(struct conf_ctx *x, const json_t *obj, const char *path, const char *key,
                      double hi, bool *has, double *out)
{
    char p[CONF_PATHLEN];
    json_t *v = conf_member(obj, key);

    if (!v)
        return;
    conf_key_path(p, path, key);
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > hi) {
        conf_err(x, p, "expected a number from 0 to %g", hi);
        return;
    }
    *has = true;
    *out = json_number_value(v);
}

static void as_rule(struct conf_ctx *x, const json_t *as, const char *path, const char *key,
                    struct conf_scale_rule *r, double active, uint32_t for_ms)
{
    static const char *const keys[] = { "active_per_server", "cpu_percent", "for", NULL };
    char rpath[CONF_PATHLEN];
    const json_t *o = conf_object(x, as, path, key, rpath, keys);

    r->for_ms = for_ms;
    if (!o) {
        r->has_active = true; /* absent: the default rule */
        r->active_per_server = active;
        return;
    }
    as_number(x, o, rpath, "active_per_server", 1e6, &r->has_active, &r->active_per_server);
    as_number(x, o, rpath, "cpu_percent", 1e5, &r->has_cpu, &r->cpu_percent);
    conf_duration(x, o, rpath, "for", for_ms, 0, &r->for_ms);
    if (!r->has_active && !r->has_cpu)
        conf_err(x, rpath, "needs \"active_per_server\" or \"cpu_percent\"");
}

/* "A.B.C.D" into host order. */
static bool as_ipv4(const char *s, size_t n, uint32_t *out)
{
    char buf[16];
    struct in_addr a;

    if (n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, &a) != 1)
        return false;
    *out = ntohl(a.s_addr);
    return true;
}

/* "A.B.C.D-A.B.C.E/LEN" or "A.B.C.D/LEN": both ends in one LEN network. */
static void as_addresses(struct conf_ctx *x, struct conf_autoscale *a, const json_t *as,
                         const char *path)
{
    char p[CONF_PATHLEN];
    json_t *v = conf_member(as, "addresses");
    const char *s, *dash, *slash;
    char *end;
    unsigned long len;
    uint32_t mask;

    if (!v)
        return;
    conf_key_path(p, path, "addresses");
    if (!(s = conf_string_value(x, v, p)))
        return;
    slash = strchr(s, '/');
    dash = strchr(s, '-');
    len = slash ? strtoul(slash + 1, &end, 10) : 0;
    if (!slash || !slash[1] || *end || len < 1 || len > 32 || (dash && dash > slash) ||
        !as_ipv4(s, (size_t)((dash ? dash : slash) - s), &a->addr_first) ||
        !as_ipv4(dash ? dash + 1 : s, (size_t)(slash - (dash ? dash + 1 : s)), &a->addr_last)) {
        conf_err(x, p, "bad address range \"%s\": expected \"A.B.C.D-A.B.C.E/LEN\"", s);
        return;
    }
    mask = len == 32 ? 0xffffffffu : ~(0xffffffffu >> len);
    if (a->addr_last < a->addr_first || (a->addr_first & mask) != (a->addr_last & mask))
        conf_err(x, p, "bad address range \"%s\": the last address must follow the first, "
                 "in the same /%lu network", s, len);
    else if (a->addr_last - a->addr_first >= AS_MAX_ADDRESSES)
        conf_err(x, p, "more than %d addresses", AS_MAX_ADDRESSES);
    a->addr_len = (uint32_t)len;
    a->has_addresses = true;
}

/* Clone names: the helper's rule (letters, digits, - _ .), and discovery
 * must see them. */
static void as_prefix(struct conf_ctx *x, struct conf_autoscale *a, const struct conf_backend *b,
                      const char *path)
{
    char p[CONF_PATHLEN], one[AS_PREFIX_MAX + 8];
    size_t n;

    conf_key_path(p, path, "prefix");
    if (!a->prefix)
        return;
    n = strlen(a->prefix);
    if (!n || n > AS_PREFIX_MAX || a->prefix[0] == '.' ||
        a->prefix[strspn(a->prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789-_.")]) {
        conf_err(x, p, "bad prefix \"%s\": 1 to %d letters, digits, '-', '_' or '.'",
                 a->prefix, AS_PREFIX_MAX);
        return;
    }
    snprintf(one, sizeof(one), "%s1", a->prefix);
    if (b->lxc.match && fnmatch(b->lxc.match, one, 0))
        conf_err(x, p, "clones named \"%s\" would not match discovery.lxc.match \"%s\"", one,
                 b->lxc.match);
}

static void as_template(struct conf_ctx *x, struct conf_autoscale *a, const char *path)
{
    char p[CONF_PATHLEN];
    size_t n;

    conf_key_path(p, path, "template");
    if (!a->tmpl)
        return;
    n = strlen(a->tmpl);
    if (!n || n > 255 || strchr(a->tmpl, '/') || !strcmp(a->tmpl, ".") ||
        !strcmp(a->tmpl, "..") || strpbrk(a->tmpl, " \t\r\n"))
        conf_err(x, p, "bad container name \"%s\"", a->tmpl);
    else if (a->prefix && !strncmp(a->tmpl, a->prefix, strlen(a->prefix)) &&
             a->tmpl[strlen(a->prefix)] >= '0' && a->tmpl[strlen(a->prefix)] <= '9')
        conf_err(x, p, "the template \"%s\" is named like a clone (prefix \"%s\")", a->tmpl,
                 a->prefix);
}

static void as_check_rules(struct conf_ctx *x, const struct conf_autoscale *a, const char *path)
{
    char p[CONF_PATHLEN];

    conf_key_path(p, path, "down");
    if (a->up.has_active && a->down.has_active &&
        a->down.active_per_server >= a->up.active_per_server)
        conf_err(x, p, "active_per_server %g must be below up's %g (else it flaps)",
                 a->down.active_per_server, a->up.active_per_server);
    if (a->up.has_cpu && a->down.has_cpu && a->down.cpu_percent >= a->up.cpu_percent)
        conf_err(x, p, "cpu_percent %g must be below up's %g (else it flaps)",
                 a->down.cpu_percent, a->up.cpu_percent);
    conf_key_path(p, path, "min");
    if (a->min > a->max)
        conf_err(x, p, "min %u is above max %u", a->min, a->max);
}

static void as_clone_kind(struct conf_ctx *x, struct conf_autoscale *a, const json_t *as,
                          const char *path)
{
    char p[CONF_PATHLEN], *kind = NULL;

    conf_str(x, as, path, "clone", "snapshot", &kind);
    a->snapshot = true;
    if (kind && !strcmp(kind, "copy"))
        a->snapshot = false;
    else if (kind && strcmp(kind, "snapshot"))
        conf_err(x, conf_key_path(p, path, "clone"),
                 "unknown clone \"%s\" (expected snapshot or copy)", kind);
    free(kind);
}

void conf_parse_autoscale(struct conf_ctx *x, struct conf_backend *b, const json_t *be,
                          const char *path)
{
    static const char *const keys[] = { "template", "prefix", "min", "max", "up", "down",
                                        "cooldown", "addresses", "clone", "drain_timeout",
                                        "enabled", NULL };
    struct conf_autoscale *a = &b->autoscale;
    char apath[CONF_PATHLEN], def[CONF_PATHLEN];
    const json_t *as = conf_object(x, be, path, "autoscale", apath, keys);
    bool on;

    if (!as)
        return;
    a->enabled = true;
    if (!b->lxc.enabled)
        conf_err(x, apath, "needs discovery.lxc on the same backend (its clones join "
                 "through it)");
    conf_require(x, as, apath, "template");
    conf_str(x, as, apath, "template", NULL, &a->tmpl);
    snprintf(def, sizeof(def), "%.*s-auto-", AS_PREFIX_MAX - 6, b->name ? b->name : "lxlb");
    conf_str(x, as, apath, "prefix", def, &a->prefix);
    conf_uint(x, as, apath, "min", 1, 0, AS_MAX_SERVERS, &a->min);
    conf_uint(x, as, apath, "max", 4, 1, AS_MAX_SERVERS, &a->max);
    as_rule(x, as, apath, "up", &a->up, 20, 10000);
    as_rule(x, as, apath, "down", &a->down, 2, 60000);
    conf_duration(x, as, apath, "cooldown", 30000, 0, &a->cooldown_ms);
    conf_duration(x, as, apath, "drain_timeout", 60000, 0, &a->drain_timeout_ms);
    conf_bool(x, as, apath, "enabled", true, &on);
    a->paused = !on;
    as_clone_kind(x, a, as, apath);
    as_addresses(x, a, as, apath);
    as_prefix(x, a, b, apath);
    as_template(x, a, apath);
    as_check_rules(x, a, apath);
}

void conf_free_autoscale(struct conf_autoscale *a)
{
    free(a->tmpl);
    free(a->prefix);
}
