/* lb/mem-t.h - the state of giving freed memory back after a burst (lb/mem.h). */
#ifndef LXLB_MEM_T_H
#define LXLB_MEM_T_H

#include <stdint.h>

struct event;
struct proxy;

struct mem_trim {
    struct event *tick;      /* persistent, every MEM_TICK_MS on the main loop */
    struct proxy *px;        /* the main loop's proxy: its frontends' counters */
    uint64_t closed;         /* client connections closed ever, at the last trim */
    uint64_t peak;           /* most client connections open at a tick since then */
    uint64_t trims;          /* malloc_trim calls made (debug log) */
};

#endif
