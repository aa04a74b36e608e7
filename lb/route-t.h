/* lb/route-t.h - a frontend's routes indexed for matching (lb/route.h).
 *
 * First match wins, but no request walks the list: the routes that could
 * match are found by host (a hash of exact names, a hash of wildcard
 * suffixes, and the routes with no host), each group indexed by path
 * prefix, and the answer is the lowest route index among the candidates
 * whose remaining conditions hold. That is exactly the route a linear scan
 * in config order would find. Built once per generation, then read-only:
 * every event loop matches on the same table. */
#ifndef LXLB_ROUTE_T_H
#define LXLB_ROUTE_T_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf-t.h"

struct ctr_block;

/* One distinct path prefix of a route set. */
struct route_prefix {
    uint64_t head;     /* its first 8 bytes, big-endian, zero-padded: most
                        * comparisons of the binary search end here */
    const char *bytes; /* the prefix (the route's path_prefix, "" for none) */
    uint32_t len;      /* bytes */
    int32_t parent;    /* index of the longest shorter prefix of this one in the
                        * set, -1: none */
    uint32_t first;    /* its routes: set->idx[first .. first + n), ascending */
    uint32_t n;        /* routes with this prefix (>= 1) */
};

/* Routes that share one host condition, by path prefix. Prefixes are sorted
 * as byte strings (a prefix before its extensions), so the prefixes of a path
 * are the greatest one not above it and that one's chain of parents. */
struct route_set {
    struct route_prefix *prefixes; /* sorted */
    uint32_t nprefixes;            /* entries in prefixes, 0: empty set */
    uint32_t *idx;                 /* route indices, grouped by prefix */
    uint32_t min;                  /* lowest route index in the set: skipped when
                                    * a lower one has already matched */
};

/* Open addressing, linear probing: host key -> its route set. */
struct route_slot {
    uint32_t hash;         /* of key (route_hash_key) */
    uint32_t len;          /* bytes of key */
    const char *key;       /* lowercased name, or ".suffix"; NULL: empty slot */
    struct route_set set;  /* routes with this host condition */
};

struct route_hash {
    struct route_slot *slots; /* a power of two of them, at most half used */
    uint32_t mask;            /* slots - 1 */
    uint32_t n;               /* keys */
    uint32_t max_dots;        /* most dots in a key: deeper suffixes of a request's
                               * host are not looked up */
};

/* What routing and redirects read of a request target. */
struct route_target {
    const char *authority; /* absolute-form "http://host:port/...": host:port;
                            * NULL for origin-form */
    size_t authority_len;  /* bytes */
    const char *path;      /* from its '/' up to '?' or the end ("*" for
                            * asterisk-form; "" for "http://host") */
    size_t path_len;       /* bytes */
    const char *query;     /* after '?' (without it), NULL: no '?' */
    size_t query_len;      /* bytes */
};

struct route_table {
    const struct conf_route *routes; /* the frontend's, in config order */
    uint32_t nroutes;                /* entries in routes */
    struct route_hash exact;         /* "shop.example.com" routes */
    struct route_hash suffix;        /* "*.example.com" routes, by ".example.com" */
    struct route_set any;            /* routes without a host */
    struct ctr_block **ctr;          /* per route: requests it took (CTR_REQUESTS),
                                      * shared with every generation and loop */
};

#endif
