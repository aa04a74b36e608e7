/* admin/history.c - the last minutes of figures, for the dashboard's
 * graphs: per backend requests/s and p99 response time, per lxc container
 * CPU and memory, sampled on the loop every 2 s (a few counter sums and
 * the container figures discovery already holds: no I/O).
 *
 * Kept by lxlb rather than in the browser so that a page opened in the
 * middle of an incident (or a screenshot) shows what led up to it. A series
 * whose backend or container is gone stays until its values age out. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>

#include "admin/admin-int.h"
#include "discovery/discovery.h"
#include "lb/backend-t.h"
#include "lb/ctr.h"
#include "lb/proxy-t.h"
#include "lb/server.h"

_Static_assert(CTR_LAT_BUCKETS == 15, "ahist_series.last_lat holds the latency buckets");

double admin_p99_ms(const uint64_t *counts, size_t n)
{
    uint64_t total = 0, cum = 0;
    double rank;

    for (size_t i = 0; i < n; i++)
        total += counts[i];
    if (!total)
        return -1;
    rank = 0.99 * (double)total;
    for (size_t i = 0; i < n; i++) {
        double lo = i ? ctr_lat_bounds_us[i - 1] / 1000.0 : 0;
        if (cum + counts[i] < rank) {
            cum += counts[i];
            continue;
        }
        if (i == n - 1) /* no upper bound: say the last one */
            return lo;
        return lo + (ctr_lat_bounds_us[i] / 1000.0 - lo) * (rank - (double)cum) /
                    (double)counts[i];
    }
    return ctr_lat_bounds_us[n - 2] / 1000.0;
}

static struct ahist_series *hist_series(struct ahist *h, enum ahist_kind kind, const char *key)
{
    struct ahist_series *s;

    for (s = h->series; s; s = s->next)
        if (s->kind == kind && !strcmp(s->key, key))
            return s;
    if (!(s = calloc(1, sizeof(*s))) || !(s->key = strdup(key))) {
        free(s);
        return NULL;
    }
    s->kind = kind;
    for (size_t i = 0; i < AHIST_POINTS; i++)
        s->a[i] = s->b[i] = s->c[i] = NAN;
    s->next = h->series;
    h->series = s;
    return s;
}

/* Requests/s and p99 since the last sample; the first sample only counts. */
static void hist_backend(struct ahist *h, size_t at, double dt, const struct backend *be,
                         int64_t mono)
{
    struct ahist_series *s = hist_series(h, AHIST_BACKEND, be->name);
    uint64_t req = ctr_sum(be->ctr, CTR_REQUESTS), lat[CTR_LAT_BUCKETS], d[CTR_LAT_BUCKETS];
    bool known;

    if (!s)
        return;
    known = s->seen_ms && mono - s->seen_ms <= 2 * AHIST_STEP_MS;
    for (int i = 0; i < CTR_LAT_BUCKETS; i++) {
        lat[i] = ctr_sum(be->ctr, (enum ctr_idx)(CTR_LAT_0 + i));
        d[i] = lat[i] >= s->last_lat[i] ? lat[i] - s->last_lat[i] : 0;
        s->last_lat[i] = lat[i];
    }
    if (known && req >= s->last_count) {
        double p99 = admin_p99_ms(d, CTR_LAT_BUCKETS);
        s->a[at] = (double)(req - s->last_count) / dt;
        s->b[at] = p99 < 0 ? NAN : p99;
    }
    s->last_count = req;
    s->seen_ms = mono;
    s->c[at] = 0;
    for (size_t i = 0; i < be->nservers; i++)
        s->c[at] += srv_usable(be->servers[i]);
}

static void hist_container(struct ahist *h, size_t at, const struct backend *be,
                           const struct server *srv, int64_t mono)
{
    struct dlxc_figures f;
    struct ahist_series *s;
    char key[512];

    if (srv->source != SRV_SRC_LXC || !discovery_container(srv, &f))
        return;
    snprintf(key, sizeof(key), "%s/%s", be->name, srv->name);
    if (!(s = hist_series(h, AHIST_CONTAINER, key)))
        return;
    s->a[at] = f.cpu_percent < 0 ? NAN : f.cpu_percent;
    s->b[at] = f.mem_bytes == DLXC_RES_NONE ? NAN : (double)f.mem_bytes;
    s->seen_ms = mono;
}

/* Series with no value left in the window go. */
static void hist_forget(struct ahist *h, int64_t mono)
{
    for (struct ahist_series **pp = &h->series; *pp;) {
        struct ahist_series *s = *pp;
        if (mono - s->seen_ms < (int64_t)AHIST_POINTS * AHIST_STEP_MS) {
            pp = &s->next;
            continue;
        }
        *pp = s->next;
        free(s->key);
        free(s);
    }
}

static void hist_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct admin *a = arg;
    struct ahist *h = &a->hist;
    int64_t mono = admin_mono_ms();
    double dt = h->mono_last ? (mono - h->mono_last) / 1000.0 : AHIST_STEP_MS / 1000.0;
    size_t at;

    (void)fd; (void)what;
    if (!a->px)
        return;
    if (h->n < AHIST_POINTS)
        at = (h->head + h->n++) % AHIST_POINTS;
    else
        at = h->head, h->head = (h->head + 1) % AHIST_POINTS;
    h->t[at] = admin_now_ms();
    for (struct ahist_series *s = h->series; s; s = s->next)
        s->a[at] = s->b[at] = s->c[at] = NAN;
    for (size_t i = 0; i < a->px->nbackends; i++) {
        const struct backend *be = a->px->backends[i];
        hist_backend(h, at, dt > 0 ? dt : 1, be, mono);
        for (size_t j = 0; j < be->nservers; j++)
            hist_container(h, at, be, be->servers[j], mono);
    }
    h->mono_last = mono;
    hist_forget(h, mono);
}

int admin_history_start(struct admin *a, struct event_base *base)
{
    struct timeval every = { AHIST_STEP_MS / 1000, (AHIST_STEP_MS % 1000) * 1000 };

    if (a->hist.tick)
        return 0;
    a->hist.tick = event_new(base, -1, EV_PERSIST, hist_tick_cb, a);
    if (!a->hist.tick || event_add(a->hist.tick, &every) < 0)
        return -1;
    return 0;
}

void admin_history_stop(struct admin *a)
{
    struct ahist *h = &a->hist;

    if (h->tick)
        event_free(h->tick);
    while (h->series) {
        struct ahist_series *s = h->series;
        h->series = s->next;
        free(s->key);
        free(s);
    }
    memset(h, 0, sizeof(*h));
}

/* Oldest first; NaN is null. Values are never negative (no libm round()). */
static json_t *hist_values(const struct ahist *h, const double *v, double scale)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < h->n; i++) {
        double x = v[(h->head + i) % AHIST_POINTS];
        json_array_append_new(arr, isnan(x) ? json_null()
                                            : json_real((double)(int64_t)(x * scale + 0.5) / scale));
    }
    return arr;
}

json_t *admin_history_json(const struct admin *a)
{
    const struct ahist *h = &a->hist;
    json_t *o = json_object(), *t = json_array(), *bes = json_object(), *cts = json_object();

    if (!o || !t || !bes || !cts) {
        json_decref(t);
        json_decref(bes);
        json_decref(cts);
        json_decref(o);
        return NULL;
    }
    for (size_t i = 0; i < h->n; i++)
        json_array_append_new(t, json_integer(h->t[(h->head + i) % AHIST_POINTS]));
    for (const struct ahist_series *s = h->series; s; s = s->next) {
        bool be = s->kind == AHIST_BACKEND;
        json_t *one = json_pack("{s:o, s:o}", be ? "rps" : "cpu_percent",
                                hist_values(h, s->a, 10), be ? "p99_ms" : "memory_bytes",
                                hist_values(h, s->b, be ? 100 : 1));
        if (one && be)
            json_object_set_new(one, "servers_usable", hist_values(h, s->c, 1));
        json_object_set_new(be ? bes : cts, s->key, one);
    }
    json_object_set_new(o, "step_ms", json_integer(AHIST_STEP_MS));
    json_object_set_new(o, "t", t);
    json_object_set_new(o, "backends", bes);
    json_object_set_new(o, "containers", cts);
    return o;
}
