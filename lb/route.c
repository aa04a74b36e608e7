/* lb/route.c - the route index (lb/route-t.h) and the match.
 *
 * A request's candidates are: the routes of its exact host, those of each
 * of its suffixes that a wildcard names, and those without a host. In each
 * group the path prefixes are one binary search and a short walk up a
 * parent chain away. The lowest index among candidates whose method also
 * matches is the answer, so the result is the linear scan's, at a cost that
 * depends on the request (host labels, prefix nesting), not on the number
 * of routes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb/ctr.h"
#include "lb/route.h"

/* FNV-1a, fed from the last byte to the first: the hash of every suffix of
 * a host is a step of the hash of the whole, so one pass over the request's
 * host yields the keys of all its wildcard levels and of the exact name. */
#define ROUTE_HASH_SEED 2166136261u

static inline uint32_t route_hash_step(uint32_t h, unsigned char c)
{
    return (h ^ c) * 16777619u;
}

static uint32_t route_hash_key(const char *k, size_t n)
{
    uint32_t h = ROUTE_HASH_SEED;

    while (n-- > 0)
        h = route_hash_step(h, (unsigned char)k[n]);
    return h;
}

/* ------------------------------------------------------------ route sets */

struct route_ent {
    const char *bytes; /* path prefix */
    uint32_t len;      /* bytes */
    uint32_t idx;      /* route index */
};

static int prefix_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c)
        return c;
    return (alen > blen) - (alen < blen);
}

/* The first 8 bytes of s as a big-endian number, zero-padded: numbers
 * order as the byte strings do (a shorter string, padded, never sorts after
 * a longer one it begins), so equal heads alone need a full compare. */
static inline uint64_t head8(const char *s, size_t n)
{
    uint64_t v = 0;

    if (n >= 8) {
        memcpy(&v, s, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        v = __builtin_bswap64(v);
#endif
        return v;
    }
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (i < n ? (unsigned char)s[i] : 0);
    return v;
}

static int ent_cmp(const void *pa, const void *pb)
{
    const struct route_ent *a = pa, *b = pb;
    int c = prefix_cmp(a->bytes, a->len, b->bytes, b->len);

    if (c)
        return c;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static bool is_prefix(const struct route_prefix *p, const struct route_prefix *of)
{
    return p->len <= of->len && memcmp(p->bytes, of->bytes, p->len) == 0;
}

/* Each prefix's parent is the nearest shorter prefix of it in the set: in
 * sorted order those are exactly the entries still on the stack. */
static int set_parents(struct route_set *s)
{
    int32_t *stack = malloc(s->nprefixes * sizeof(*stack));
    uint32_t depth = 0;

    if (!stack)
        return -1;
    for (uint32_t i = 0; i < s->nprefixes; i++) {
        while (depth && !is_prefix(&s->prefixes[stack[depth - 1]], &s->prefixes[i]))
            depth--;
        s->prefixes[i].parent = depth ? stack[depth - 1] : -1;
        stack[depth++] = (int32_t)i;
    }
    free(stack);
    return 0;
}

/* The set of routes idx[0..n) (ascending). */
static int set_build(struct route_set *s, const struct conf_route *routes,
                     const uint32_t *idx, uint32_t n)
{
    struct route_ent *e = calloc(n, sizeof(*e));

    if (!e || !(s->idx = calloc(n, sizeof(*s->idx))) ||
        !(s->prefixes = calloc(n, sizeof(*s->prefixes))))
        goto err;
    s->min = idx[0];
    for (uint32_t i = 0; i < n; i++) {
        const struct conf_route *r = &routes[idx[i]];

        e[i].bytes = r->path_prefix ? r->path_prefix : "";
        e[i].len = (uint32_t)r->path_prefix_len;
        e[i].idx = idx[i];
    }
    qsort(e, n, sizeof(*e), ent_cmp);
    for (uint32_t i = 0; i < n; i++) {
        struct route_prefix *p = &s->prefixes[s->nprefixes ? s->nprefixes - 1 : 0];

        if (!s->nprefixes || prefix_cmp(p->bytes, p->len, e[i].bytes, e[i].len) != 0) {
            p = &s->prefixes[s->nprefixes++];
            p->head = head8(e[i].bytes, e[i].len);
            p->bytes = e[i].bytes;
            p->len = e[i].len;
            p->first = i;
        }
        p->n++;
        s->idx[i] = e[i].idx;
    }
    free(e);
    return set_parents(s);
err:
    free(e);
    return -1;
}

static void set_free(struct route_set *s)
{
    free(s->prefixes);
    free(s->idx);
}

/* The request's side of a match: computed once, used on every set. */
struct route_req {
    const char *path; /* up to '?' */
    size_t plen;      /* bytes */
    uint64_t phead;   /* head8 of path */
    uint64_t bit;     /* the method's bit in conf_route.methods, 0: none */
};

static int head_cmp(const struct route_prefix *p, const struct route_req *q)
{
    if (p->head != q->phead)
        return p->head < q->phead ? -1 : 1;
    if (p->len <= 8 && q->plen <= 8)
        return (p->len > q->plen) - (p->len < q->plen);
    return prefix_cmp(p->bytes, p->len, q->path, q->plen);
}

/* Lowers *best to the lowest route of s that matches path and method. */
static void set_match(const struct route_set *s, const struct conf_route *routes,
                      const struct route_req *q, uint32_t *best)
{
    const char *path = q->path;
    size_t plen = q->plen;
    uint32_t lo = 0, hi = s->nprefixes;
    size_t common = 0;

    if (!s->nprefixes || s->min >= *best)
        return;
    while (lo < hi) { /* the first prefix above path */
        uint32_t mid = lo + (hi - lo) / 2;
        const struct route_prefix *p = &s->prefixes[mid];

        if (head_cmp(p, q) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return;
    const struct route_prefix *p = &s->prefixes[lo - 1];
    while (common < p->len && common < plen && p->bytes[common] == path[common])
        common++;
    /* Every prefix of path is p or one of p's parents; those no longer
     * than what p and path share are prefixes of path. */
    for (int32_t i = (int32_t)lo - 1; i >= 0; i = s->prefixes[i].parent) {
        p = &s->prefixes[i];
        if (p->len > common)
            continue;
        for (uint32_t k = p->first; k < p->first + p->n; k++) {
            uint32_t r = s->idx[k];

            if (r >= *best)
                break;
            if (!routes[r].methods || (routes[r].methods & q->bit)) {
                *best = r;
                break;
            }
        }
    }
}

/* ------------------------------------------------------------ host hashes */

static const struct route_set *hash_get(const struct route_hash *h, uint32_t hash,
                                        const char *key, size_t len)
{
    if (!h->n)
        return NULL;
    for (uint32_t i = hash & h->mask;; i = (i + 1) & h->mask) {
        const struct route_slot *s = &h->slots[i];

        if (!s->key)
            return NULL;
        if (s->hash == hash && s->len == len && memcmp(s->key, key, len) == 0)
            return &s->set;
    }
}

struct host_ent {
    const char *key; /* route's host_key */
    uint32_t len;    /* bytes */
    uint32_t idx;    /* route index */
};

static int host_ent_cmp(const void *pa, const void *pb)
{
    const struct host_ent *a = pa, *b = pb;
    int c = prefix_cmp(a->key, a->len, b->key, b->len);

    return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

static int hash_insert(struct route_hash *h, const struct conf_route *routes,
                       const struct host_ent *e, uint32_t n, uint32_t *idx)
{
    uint32_t hash = route_hash_key(e->key, e->len), dots = 0, i;

    for (i = 0; i < n; i++)
        idx[i] = e[i].idx;
    for (i = hash & h->mask; h->slots[i].key; i = (i + 1) & h->mask)
        ;
    h->slots[i].hash = hash;
    h->slots[i].len = e->len;
    h->slots[i].key = e->key;
    h->n++;
    for (uint32_t k = 0; k < e->len; k++)
        dots += e->key[k] == '.';
    if (dots > h->max_dots)
        h->max_dots = dots;
    return set_build(&h->slots[i].set, routes, idx, n);
}

/* The hash of the routes whose host_match is kind. */
static int hash_build(struct route_hash *h, const struct conf_route *routes, uint32_t nroutes,
                      enum conf_host_match kind, uint32_t *idx)
{
    struct host_ent *e = calloc(nroutes ? nroutes : 1, sizeof(*e));
    uint32_t n = 0, cap = 4;
    int rc = 0;

    if (!e)
        return -1;
    for (uint32_t i = 0; i < nroutes; i++)
        if (routes[i].host_match == kind)
            e[n++] = (struct host_ent){ routes[i].host_key, (uint32_t)routes[i].host_key_len, i };
    qsort(e, n, sizeof(*e), host_ent_cmp);
    while (cap < 2 * n)
        cap *= 2;
    if (n && !(h->slots = calloc(cap, sizeof(*h->slots)))) {
        free(e);
        return -1;
    }
    h->mask = cap - 1;
    for (uint32_t i = 0, j; i < n && rc == 0; i = j) {
        for (j = i + 1; j < n && prefix_cmp(e[i].key, e[i].len, e[j].key, e[j].len) == 0; j++)
            ;
        rc = hash_insert(h, routes, &e[i], j - i, idx);
    }
    free(e);
    return rc;
}

static void hash_free(struct route_hash *h)
{
    for (uint32_t i = 0; h->slots && i <= h->mask; i++)
        if (h->slots[i].key)
            set_free(&h->slots[i].set);
    free(h->slots);
}

/* ------------------------------------------------------------ the table */

void route_table_free(struct route_table *t)
{
    if (!t)
        return;
    hash_free(&t->exact);
    hash_free(&t->suffix);
    set_free(&t->any);
    for (uint32_t i = 0; t->ctr && i < t->nroutes; i++)
        ctr_put(t->ctr[i]);
    free(t->ctr);
    free(t);
}

static int table_counters(struct route_table *t, const char *fename)
{
    char sub[16];

    if (!(t->ctr = calloc(t->nroutes ? t->nroutes : 1, sizeof(*t->ctr))))
        return -1;
    /* By frontend and position: a reload that keeps the routes keeps the figures. */
    for (uint32_t i = 0; i < t->nroutes; i++) {
        snprintf(sub, sizeof(sub), "%u", i);
        if (!(t->ctr[i] = ctr_get('r', fename ? fename : "", sub)))
            return -1;
    }
    return 0;
}

struct route_table *route_table_new(const struct conf_frontend *f)
{
    struct route_table *t = calloc(1, sizeof(*t));
    uint32_t *idx = calloc(f->nroutes ? f->nroutes : 1, sizeof(*idx)), n = 0;

    if (!t || !idx)
        goto err;
    t->routes = f->routes;
    t->nroutes = (uint32_t)f->nroutes;
    if (hash_build(&t->exact, t->routes, t->nroutes, CONF_HOST_EXACT, idx) < 0 ||
        hash_build(&t->suffix, t->routes, t->nroutes, CONF_HOST_SUFFIX, idx) < 0)
        goto err;
    for (uint32_t i = 0; i < t->nroutes; i++)
        if (t->routes[i].host_match == CONF_HOST_ANY)
            idx[n++] = i;
    if ((n && set_build(&t->any, t->routes, idx, n) < 0) || table_counters(t, f->name) < 0)
        goto err;
    free(idx);
    return t;
err:
    free(idx);
    route_table_free(t);
    return NULL;
}

int route_conf_load(struct conf *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->nfrontends; i++) {
        struct conf_frontend *f = &c->frontends[i];

        if (!f->nroutes || f->route_table)
            continue;
        if (!(f->route_table = route_table_new(f))) {
            snprintf(err, errlen, "%s: frontend %s: routes: out of memory\n", c->path,
                     f->name);
            return -1;
        }
        f->route_table_free = route_table_free;
    }
    return 0;
}

/* ------------------------------------------------------------ matching */

/* The bytes of host that are compared: no port, no trailing dot. 0 when
 * empty or too long for any route. */
static size_t host_len(const char *host, size_t len)
{
    const char *end;
    size_t n;

    if (!host || !len)
        return 0;
    if (host[0] == '[')
        end = memchr(host, ']', len), n = end ? (size_t)(end - host) + 1 : len;
    else
        end = memchr(host, ':', len), n = end ? (size_t)(end - host) : len;
    if (n && host[n - 1] == '.')
        n--;
    return n < ROUTE_HOST_MAX ? n : 0;
}

static inline unsigned char lower(unsigned char c)
{
    return (unsigned char)(c + ((unsigned char)(c - 'A') < 26 ? 'a' - 'A' : 0));
}

size_t route_host_norm(const char *host, size_t len, char *out)
{
    size_t n = host_len(host, len);

    for (size_t i = 0; i < n; i++)
        out[i] = (char)lower((unsigned char)host[i]);
    return n;
}

/* The exact name's routes and those of each wildcard level of the host:
 * lowercased and hashed in one pass from its end. */
static void match_host(const struct route_table *t, const char *host, size_t hostlen,
                       const struct route_req *q, uint32_t *best)
{
    char key[ROUTE_HOST_MAX];
    size_t n = host_len(host, hostlen);
    uint32_t h = ROUTE_HASH_SEED, dots = 0;
    bool wild = t->suffix.n > 0;
    const struct route_set *s;

    if (!n)
        return;
    for (size_t i = n; !wild && i-- > 0;) { /* no wildcard routes: the short loop */
        unsigned char c = lower((unsigned char)host[i]);
        key[i] = (char)c;
        h = route_hash_step(h, c);
    }
    for (size_t i = n; wild && i-- > 0;) {
        unsigned char c = lower((unsigned char)host[i]);

        key[i] = (char)c;
        h = route_hash_step(h, c);
        /* ".example.com" of "a.example.com"; a leading dot is no label. */
        if (c != '.' || i == 0 || dots > t->suffix.max_dots)
            continue;
        if (++dots <= t->suffix.max_dots && (s = hash_get(&t->suffix, h, key + i, n - i)))
            set_match(s, t->routes, q, best);
    }
    if ((s = hash_get(&t->exact, h, key, n)))
        set_match(s, t->routes, q, best);
}

const struct conf_route *route_match(const struct route_table *t, const char *host,
                                     size_t hostlen, const char *path, size_t pathlen,
                                     int method)
{
    uint32_t best = UINT32_MAX;
    struct route_req q = { path ? path : "", path ? pathlen : 0, 0,
                           method >= 0 && method < 64 ? 1ull << method : 0 };
    const char *qm;

    if (!t)
        return NULL;
    if ((qm = memchr(q.path, '?', q.plen)))
        q.plen = (size_t)(qm - q.path);
    q.phead = head8(q.path, q.plen);
    if (t->exact.n || t->suffix.n)
        match_host(t, host, hostlen, &q, &best);
    set_match(&t->any, t->routes, &q, &best);
    return best == UINT32_MAX ? NULL : &t->routes[best];
}

void route_count(const struct route_table *t, const struct conf_route *r)
{
    ctr_inc(t->ctr[r->index], CTR_REQUESTS);
}

uint64_t route_requests(const struct route_table *t, size_t i)
{
    return i < t->nroutes ? ctr_sum(t->ctr[i], CTR_REQUESTS) : 0;
}

/* ------------------------------------------------------------ targets */

/* "scheme://" at the start of an absolute-form target: its length, or 0. */
static size_t scheme_len(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                       (i > 0 && ((s[i] >= '0' && s[i] <= '9') || (s[i] && strchr("+-.", s[i]))))))
        i++;
    if (i == 0 || len - i < 3 || memcmp(s + i, "://", 3) != 0)
        return 0;
    return i + 3;
}

void route_target_split(const char *target, size_t len, struct route_target *out)
{
    size_t skip;
    const char *p, *end, *q;

    memset(out, 0, sizeof(*out));
    if (!target || !len) {
        out->path = target ? target : "";
        return;
    }
    skip = target[0] != '/' ? scheme_len(target, len) : 0;
    p = target + skip;
    end = target + len;
    if (skip) {
        const char *a = p, *at;

        while (p < end && *p != '/' && *p != '?' && *p != '#')
            p++;
        /* "http://user@host/": the host is what follows the userinfo, as
         * the server will read it. */
        for (at = a; (q = memchr(at, '@', (size_t)(p - at))); at = q + 1)
            ;
        out->authority = at;
        out->authority_len = (size_t)(p - at);
    }
    out->path = p;
    q = memchr(p, '?', (size_t)(end - p));
    out->path_len = (size_t)((q ? q : end) - p);
    if (q) {
        out->query = q + 1;
        out->query_len = (size_t)(end - q - 1);
    }
}
