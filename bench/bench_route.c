/* bench/bench_route.c - `make bench-route`: nanoseconds per routing decision
 * (lb/route.c's route_match, with the stream's route_target_split before it)
 * for a frontend of 1,000 routes: 500 exact hosts and 500 path prefixes, in
 * config order alternating, built through the real config loader. Requests
 * are a shuffled mix of exact-host hits, prefix hits and misses, with ports
 * and capitals in Host, so the normalisation is paid too. A plain linear
 * scan in config order over the same requests is the reference.
 *
 * Times are this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so a shared
 * machine's preemption is left out; each figure is the best of 7 rounds,
 * the median shown too (other work still evicts caches).
 *
 * Usage: build/bench_route [decisions per round]   (default 1,000,000) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <llhttp.h>

#include "conf/conf.h"
#include "lb/route.h"

#define NREQ 4096 /* distinct requests, cycled: more than the caches keep hot */

struct req {
    char host[64];   /* Host field value */
    char target[64]; /* request target */
    int kind;        /* 0 exact-host hit, 1 prefix hit, 2 no route */
};

/* This thread's CPU time: time spent preempted by the machine's other
 * work is not routing. */
static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* 1,000 routes: host i and prefix i alternate; nwild of the hosts are
 * "*.zone<i>.example.net" wildcards instead. */
static struct conf *build(int nwild)
{
    size_t cap = 256 * 1024, n = 0;
    char *doc = malloc(cap), err[CONF_ERRLEN];
    struct conf *c;

    n += (size_t)snprintf(doc + n, cap - n, "{\"frontends\":[{\"name\":\"bench\",\"bind\":"
                          "\":18080\",\"default_backend\":\"b\",\"routes\":[");
    for (int i = 0; i < 500; i++) {
        if (i < nwild)
            n += (size_t)snprintf(doc + n, cap - n, "%s{\"host\":\"*.zone%d.example.net\","
                                  "\"backend\":\"b\"}", i ? "," : "", i);
        else
            n += (size_t)snprintf(doc + n, cap - n, "%s{\"host\":\"host%d.example.com\","
                                  "\"backend\":\"b\"}", i ? "," : "", i);
        n += (size_t)snprintf(doc + n, cap - n, ",{\"path_prefix\":\"/svc%d/\","
                              "\"backend\":\"b\"}", i);
    }
    snprintf(doc + n, cap - n, "]}],\"backends\":[{\"name\":\"b\"}]}");
    c = conf_load_string("bench", doc, err, sizeof(err));
    free(doc);
    if (!c || route_conf_load(c, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_route: %s", err);
        exit(1);
    }
    return c;
}

static void requests(struct req *r, int nwild)
{
    unsigned x = 7;

    for (int i = 0; i < NREQ; i++) {
        x = x * 1103515245u + 12345u;
        int k = (int)((x >> 8) % 500), kind = i % 3;
        r[i].kind = kind;
        if (kind == 0 && k < nwild)
            snprintf(r[i].host, sizeof(r[i].host), "www.Zone%d.example.net:8080", k);
        else if (kind == 0)
            snprintf(r[i].host, sizeof(r[i].host), "Host%d.Example.com:8080", k);
        else
            snprintf(r[i].host, sizeof(r[i].host), "unknown%d.example.org", k);
        if (kind == 1)
            snprintf(r[i].target, sizeof(r[i].target), "/svc%d/items/42?page=2", k);
        else
            snprintf(r[i].target, sizeof(r[i].target), "/catalog/items/%d?page=2", k);
    }
    for (int i = NREQ - 1; i > 0; i--) { /* no pattern for the branch predictor */
        x = x * 1103515245u + 12345u;
        int j = (int)((x >> 8) % (unsigned)(i + 1));
        struct req t = r[i];
        r[i] = r[j];
        r[j] = t;
    }
}

static const struct conf_route *decide(const struct route_table *t, const struct req *q)
{
    struct route_target tg;

    route_target_split(q->target, strlen(q->target), &tg);
    return route_match(t, q->host, strlen(q->host), tg.path, tg.path_len, HTTP_GET);
}

/* The reference: every route in config order, first match wins. */
static const struct conf_route *linear(const struct conf_frontend *f, const struct req *q)
{
    char key[ROUTE_HOST_MAX];
    size_t klen = route_host_norm(q->host, strlen(q->host), key);
    size_t plen = strcspn(q->target, "?");

    for (size_t i = 0; i < f->nroutes; i++) {
        const struct conf_route *r = &f->routes[i];
        if (r->host_match == CONF_HOST_EXACT &&
            (klen != r->host_key_len || memcmp(key, r->host_key, klen) != 0))
            continue;
        if (r->host_match == CONF_HOST_SUFFIX &&
            (klen <= r->host_key_len ||
             memcmp(key + klen - r->host_key_len, r->host_key, r->host_key_len) != 0))
            continue;
        if (r->path_prefix && (plen < r->path_prefix_len ||
                               memcmp(q->target, r->path_prefix, r->path_prefix_len) != 0))
            continue;
        return r;
    }
    return NULL;
}

#define ROUNDS 7 /* timed rounds: the best is the least disturbed */

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static long sink; /* keeps the work from being optimised away */

/* ns per decision over reqs[0..m), n decisions per round: best and median. */
static void timed(const struct conf_frontend *f, const struct req *const *reqs, long m,
                  long n, bool lin, double *best, double *median)
{
    double ns[ROUNDS];

    for (int k = 0; k < ROUNDS; k++) {
        double t0 = now_ns();
        for (long i = 0; i < n; i++) {
            const struct req *q = reqs[i % m];
            const struct conf_route *x = lin ? linear(f, q) : decide(f->route_table, q);
            sink += x ? (long)x->index : -1;
        }
        ns[k] = (now_ns() - t0) / (double)n;
    }
    qsort(ns, ROUNDS, sizeof(ns[0]), dcmp);
    *best = ns[0];
    *median = ns[ROUNDS / 2];
}

static void run(const char *title, int nwild, long n)
{
    struct conf *c = build(nwild);
    const struct conf_frontend *f = &c->frontends[0];
    struct req *r = calloc(NREQ, sizeof(*r));
    const struct req *all[NREQ], *kind[3][NREQ];
    long nk[3] = { 0 };
    double best, med, kb[3], km[3], lb, lm;

    requests(r, nwild);
    for (int i = 0; i < NREQ; i++) { /* same answers as the linear scan, or no figure */
        if (decide(f->route_table, &r[i]) != linear(f, &r[i])) {
            fprintf(stderr, "bench_route: %s %s: index and linear scan differ\n", r[i].host,
                    r[i].target);
            exit(1);
        }
        all[i] = &r[i];
        kind[r[i].kind][nk[r[i].kind]++] = &r[i];
    }
    timed(f, all, NREQ, n, false, &best, &med);
    for (int k = 0; k < 3; k++)
        timed(f, kind[k], nk[k], n / 3, false, &kb[k], &km[k]);
    timed(f, all, NREQ, n / 50 > NREQ ? n / 50 : NREQ, true, &lb, &lm);
    printf("%s:\n  %.0f ns per decision (median of %d rounds %.0f); exact host %.0f, "
           "prefix %.0f, no route %.0f; a linear scan: %.0f ns\n", title, best, ROUNDS, med,
           kb[0], kb[1], kb[2], lb);
    free(r);
    conf_free(c);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;

    run("1,000 routes (500 exact hosts, 500 prefixes)", 0, n);
    run("1,000 routes (400 exact hosts, 100 wildcards, 500 prefixes)", 100, n);
    return 0;
}
