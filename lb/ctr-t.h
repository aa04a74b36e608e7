/* lb/ctr-t.h - traffic counters, one slot per worker thread.
 *
 * With global.workers > 1 every worker has its own copy (replica) of each
 * frontend, backend and server; their counters must still add up to one
 * figure in /stats. A counter block is shared by an object and its replicas:
 * each worker writes only its own slot (no lock, no atomic read-modify-write,
 * no cache line shared between writers) and the admin thread sums the slots. */
#ifndef LXLB_CTR_T_H
#define LXLB_CTR_T_H

#include <stdint.h>

enum ctr_idx {
    CTR_REQUESTS,    /* frontend: received; backend: routed; server: sent (requests) */
    CTR_FAILURES,    /* server: connect failures and bad or aborted responses */
    CTR_ERRORS,      /* frontend: requests answered with an lxlb error page */
    CTR_NO_SERVER,   /* backend: requests answered 503 for want of a server */
    CTR_BYTES_IN,    /* frontend: from clients; server: from it (bytes) */
    CTR_BYTES_OUT,   /* frontend: to clients; server: to it (bytes) */
    CTR_CONNS,       /* frontend, proxy: client connections open now (gauge) */
    CTR_CONNS_TOTAL, /* frontend: client connections accepted, ever */
    CTR_ACTIVE,      /* server: requests in flight to it now (gauge) */
    CTR_IDLE,        /* server: idle pooled connections to it now (gauge) */
    CTR_PROXY_ERRORS, /* frontend: connections closed for a missing, malformed or
                       * late PROXY protocol header (accept_proxy) */
    /* backend: response times, a fixed-bucket histogram (lb/ctr.h
     * ctr_observe_us): responses that took at most ctr_lat_bounds_us[i],
     * per bucket (not cumulative); the last bucket has no bound. */
    CTR_LAT_0,
    CTR_LAT_LAST = CTR_LAT_0 + 14,
    CTR_LAT_SUM_US,  /* backend: the sum of those response times (us) */
    CTR_H2_CONNS,    /* frontend: HTTP/2 client connections open now (gauge) */
    CTR_H2_CONNS_TOTAL, /* frontend: HTTP/2 client connections, ever */
    CTR_H2_STREAMS,  /* frontend: HTTP/2 streams open now (gauge) */
    CTR_H2_STREAMS_TOTAL, /* frontend: HTTP/2 streams opened, ever */
    CTR_H2_ABUSE,    /* frontend: HTTP/2 connections ended for a protocol error or
                      * a flood (GOAWAY with an error code) */
    CTR_N
};

#define CTR_LAT_BUCKETS (CTR_LAT_LAST - CTR_LAT_0 + 1)

/* One worker's counters, alone on its cache lines. A gauge is kept as
 * increments and decrements modulo 2^64, so the sum over slots is exact. */
struct ctr_slot {
    uint64_t v[CTR_N];
} __attribute__((aligned(64)));

struct ctr_block {
    uint32_t refcnt;         /* holders: an object and its replicas (registry lock) */
    char *key;               /* identity, e.g. "s:web/app1" (registry) */
    struct ctr_block *next;  /* registry list */
    struct ctr_slot slot[];  /* one per worker, indexed by lb_worker_id */
};

#endif
