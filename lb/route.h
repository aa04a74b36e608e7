/* lb/route.h - which route a request takes (SPEC.md "Routing, redirects,
 * tunnels, PROXY protocol"): first match in config order, found without a
 * linear scan (lb/route-t.h). No sockets, no libevent: the stream calls it
 * once per request, after the head is parsed and checked.
 *
 *   struct route_target tg;
 *   route_target_split(target, tlen, &tg);
 *   host = tg.authority ? tg.authority : <Host field value>;   (RFC 9112 3.2.2)
 *   r = route_match(fe_conf->route_table, host, hostlen, tg.path, tg.path_len, method);
 *   r == NULL: fe_conf->backend, or 404 when it is NULL;
 *   else route_count(fe_conf->route_table, r), then r->backend or r->redirect.
 */
#ifndef LXLB_ROUTE_H
#define LXLB_ROUTE_H

#include <stdint.h>

#include "lb/route-t.h"

#define ROUTE_HOST_MAX 256 /* bytes of a normalised host; longer ones match no
                            * route with a host */

/* Index the routes of every frontend of c that has some, taking their
 * counters (lb/ctr.h: call after ctr_init). The table lives and dies with c.
 * 0, or -1 with "out of memory" in err. Pure memory work: any thread. */
int route_conf_load(struct conf *c, char *err, size_t errlen);

/* The same for one frontend (tests, benchmarks). NULL: out of memory. */
struct route_table *route_table_new(const struct conf_frontend *f);
void route_table_free(struct route_table *t);

/* The first route of t (config order) that matches, or NULL (none; t NULL).
 * host: the Host field value or the target's authority, as received: the
 * port is ignored, letters are compared case-insensitively, one trailing
 * dot is ignored (as nginx does); an absent host (len 0) matches only routes
 * without one. path: compared byte for byte with path_prefix, up to '?' (no
 * percent-decoding, no dot-segment removal: a prefix is not access control).
 * method: enum llhttp_method. */
const struct conf_route *route_match(const struct route_table *t, const char *host,
                                     size_t hostlen, const char *path, size_t pathlen,
                                     int method);

/* One more request taken by r (a route of t), for /stats and /metrics. */
void route_count(const struct route_table *t, const struct conf_route *r);
/* Requests route i took, over every loop and generation. */
uint64_t route_requests(const struct route_table *t, size_t i);

/* The host as routes compare it, into out (ROUTE_HOST_MAX bytes): port
 * removed ("[v6]:p" keeps "[v6]"), one trailing dot removed, lowercased.
 * Its length; 0 when empty or too long. */
size_t route_host_norm(const char *host, size_t len, char *out);

/* Cut a request target into what routing and redirects read (lb/route-t.h). */
void route_target_split(const char *target, size_t len, struct route_target *out);

#endif
