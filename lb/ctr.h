/* lb/ctr.h - per-worker traffic counters shared by an object and its replicas
 * (see lb/ctr-t.h). Blocks are found by identity, so a worker building its own
 * copy of a frontend, backend or server finds the counters of the others. */
#ifndef LXLB_CTR_H
#define LXLB_CTR_H

#include <stdbool.h>
#include <time.h>

#include "lb/ctr-t.h"

/* The worker this thread is: 0 for the main loop, 1.. for the others. */
extern __thread unsigned lb_worker_id;

/* Slots per block; set once, before any block exists (global.workers). */
void ctr_init(unsigned nworkers);
unsigned ctr_nworkers(void);
/* The block of kind ('f' frontend, 'b' backend, 's' server, 'p' proxy) and
 * name (a server: its backend's name and its own), created at zero the first
 * time; one reference each. NULL: out of memory. */
struct ctr_block *ctr_get(char kind, const char *name, const char *sub);
void ctr_put(struct ctr_block *b);

/* Only this thread writes its slot: a plain add, stored atomically so the
 * admin's reads are never torn. */
static inline void ctr_add(struct ctr_block *b, enum ctr_idx i, int64_t n)
{
    uint64_t *p = &b->slot[lb_worker_id].v[i];
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + (uint64_t)n, __ATOMIC_RELAXED);
}

static inline void ctr_inc(struct ctr_block *b, enum ctr_idx i) { ctr_add(b, i, 1); }
static inline void ctr_dec(struct ctr_block *b, enum ctr_idx i) { ctr_add(b, i, -1); }

/* This worker's own figure (the balancer's view of requests in flight). */
static inline uint64_t ctr_local(const struct ctr_block *b, enum ctr_idx i)
{
    return b->slot[lb_worker_id].v[i];
}

/* CLOCK_MONOTONIC in us, precise (a vDSO call): response times are often
 * below the loop's cached clock's millisecond ticks. */
static inline int64_t ctr_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Upper bounds (us) of the response time buckets, 1-2-5 from 0.5 ms to
 * 10 s; the last bucket (CTR_LAT_LAST) takes everything slower. */
extern const uint32_t ctr_lat_bounds_us[CTR_LAT_BUCKETS - 1];

/* One response time into the histogram of b: a short scan and two adds. */
static inline void ctr_observe_us(struct ctr_block *b, int64_t us)
{
    unsigned i = 0;

    if (us < 0)
        us = 0;
    while (i < CTR_LAT_BUCKETS - 1 && (uint64_t)us > ctr_lat_bounds_us[i])
        i++;
    ctr_inc(b, (enum ctr_idx)(CTR_LAT_0 + i));
    ctr_add(b, CTR_LAT_SUM_US, us);
}

/* The figure over every worker (stats). */
uint64_t ctr_sum(const struct ctr_block *b, enum ctr_idx i);

#endif
