/* lb/backend.c - server lists and the balancing algorithms. */
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "lb/ctr.h"
#include "lb/backend.h"
#include "lb/log.h"
#include "lb/pool.h"
#include "lb/server.h"
#include "lb/stream.h"
#include "lb/worker.h"

struct backend *be_new(struct proxy *px, struct conf *gen, const struct conf_backend *cb)
{
    struct backend *be = calloc(1, sizeof(*be));

    if (!be)
        return NULL;
    be->name = strdup(cb->name);
    if (!be->name || !(be->ctr = ctr_get('b', cb->name, NULL))) {
        free(be->name);
        free(be);
        return NULL;
    }
    be->px = px;
    be->refcnt = 1;
    be_update(be, gen, cb);
    return be;
}

void be_update(struct backend *be, struct conf *gen, const struct conf_backend *cb)
{
    if (gen)
        conf_ref(gen);
    conf_unref(be->gen);
    be->gen = gen;
    be->conf = cb;
    be->algo = cb->balance == CONF_BALANCE_LEASTCONN ? &lb_algo_leastconn : &lb_algo_roundrobin;
}

void be_ref(struct backend *be) { be->refcnt++; }

void be_unref(struct backend *be)
{
    if (!be || --be->refcnt > 0)
        return;
    conf_unref(be->gen);
    ctr_put(be->ctr);
    free(be->servers);
    free(be->name);
    free(be);
}

void be_retire(struct backend *be)
{
    if (!be)
        return;
    while (be->nservers)
        be_remove_server(be, be->servers[be->nservers - 1]);
    be_unref(be);
}

int be_reserve(struct backend *be, size_t n)
{
    size_t cap = be->cap ? be->cap : 8;

    if (n <= be->cap)
        return 0;
    while (cap < n)
        cap *= 2;
    struct server **p = realloc(be->servers, cap * sizeof(*p));
    if (!p)
        return -1;
    be->servers = p;
    be->cap = cap;
    return 0;
}

int be_add_server(struct backend *be, struct server *s)
{
    if (be_find_server(be, s->name))
        return -1;
    if (!s->ctr && !(s->ctr = ctr_get('s', be->name, s->name)))
        return -1;
    if (be_reserve(be, be->nservers + 1) < 0)
        return -1;
    srv_ref(s);
    if (s->backend != be) {
        /* A server keeps its backend alive: logs and checks read its name and conf. */
        be_ref(be);
        be_unref(s->backend);
        s->backend = be;
    }
    s->removed = false;
    be->servers[be->nservers++] = s;
    workers_server_changed(s);
    srv_health_event(s, SRV_HEV_ADDED, NULL); /* checks start: removal stops them */
    return 0;
}

void be_remove_server(struct backend *be, struct server *s)
{
    for (size_t i = 0; i < be->nservers; i++) {
        if (be->servers[i] != s)
            continue;
        memmove(&be->servers[i], &be->servers[i + 1], (be->nservers - i - 1) * sizeof(s));
        be->nservers--;
        workers_server_removed(s);
        s->removed = true;
        srv_health_event(s, SRV_HEV_REMOVED, NULL);
        pool_flush(s);
        srv_unref(s);
        return;
    }
}

void be_remove_gone(struct backend *be, struct server *s)
{
    srv_set_retiring(s, true);
    stream_server_gone(s); /* its tunnels close: nothing will answer on them */
    be_remove_server(be, s);
}

struct server *be_find_server(const struct backend *be, const char *name)
{
    for (size_t i = 0; i < be->nservers; i++)
        if (!strcmp(be->servers[i]->name, name))
            return be->servers[i];
    return NULL;
}

struct server *be_find_cookie(const struct backend *be, const char *cookie, size_t len)
{
    for (size_t i = 0; i < be->nservers; i++) {
        const char *c = be->servers[i]->cookie;
        if (strlen(c) == len && !memcmp(c, cookie, len))
            return be->servers[i];
    }
    return NULL;
}

bool srv_set_has(const struct srv_set *set, const struct server *s)
{
    for (uint8_t i = 0; set && i < set->n; i++)
        if (set->s[i] == s)
            return true;
    return false;
}

void srv_set_add(struct srv_set *set, struct server *s)
{
    if (srv_set_has(set, s))
        return;
    srv_ref(s);
    if (set->n < SRV_SET_MAX) {
        set->s[set->n++] = s;
        return;
    }
    srv_unref(set->s[set->next]);
    set->s[set->next] = s;
    set->next = (uint8_t)((set->next + 1) % SRV_SET_MAX);
}

void srv_set_clear(struct srv_set *set)
{
    for (uint8_t i = 0; i < set->n; i++)
        srv_unref(set->s[i]);
    set->n = set->next = 0;
}

static bool pickable(const struct server *s, const struct srv_set *avoid)
{
    return srv_usable(s) && s->weight && !srv_set_has(avoid, s);
}

bool be_has_usable_outside(const struct backend *be, const struct srv_set *avoid)
{
    for (size_t i = 0; i < be->nservers; i++)
        if (pickable(be->servers[i], avoid))
            return true;
    return false;
}

struct server *be_pick(struct backend *be, const struct srv_set *avoid)
{
    return be->algo->pick(be, avoid);
}

/* Smooth weighted round robin (as nginx): every pick adds each candidate's
 * weight to its current weight, takes the largest, and charges it the
 * total. Weights 5,1,1 give a a b a c a a, never a burst of five. */
static struct server *rr_pick(struct backend *be, const struct srv_set *avoid)
{
    struct server *best = NULL;
    int64_t total = 0;

    for (size_t i = 0; i < be->nservers; i++) {
        struct server *s = be->servers[i];
        if (!pickable(s, avoid))
            continue;
        s->cur_weight += s->weight;
        total += s->weight;
        if (!best || s->cur_weight > best->cur_weight)
            best = s;
    }
    if (best)
        best->cur_weight -= total;
    return best;
}

/* Fewest requests in flight per unit of weight; ties go round robin by index
 * so an idle backend still spreads load. */
static struct server *lc_pick(struct backend *be, const struct srv_set *avoid)
{
    struct server *best = NULL;
    uint64_t best_active = 0;
    size_t rot = ++be->rot;

    for (size_t k = 0; k < be->nservers; k++) {
        struct server *s = be->servers[(k + rot) % be->nservers];
        if (!pickable(s, avoid))
            continue;
        /* a/wa < b/wb  <=>  a*wb < b*wa, in integers */
        uint64_t a = ctr_local(s->ctr, CTR_ACTIVE);
        if (!best || a * best->weight < best_active * s->weight) {
            best = s;
            best_active = a;
        }
    }
    return best;
}

const struct lb_algo lb_algo_roundrobin = { "roundrobin", rr_pick };
const struct lb_algo lb_algo_leastconn = { "leastconn", lc_pick };
