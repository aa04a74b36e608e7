/* lb/mem.c - malloc_trim(0) once a burst of connections is over (see mem.h). */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <event2/event.h>

#include "lb/ctr.h"
#include "lb/log.h"
#include "lb/mem-t.h"
#include "lb/mem.h"
#include "lb/proxy-t.h"

#define MEM_TICK_MS 1000

static struct mem_trim mt;

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Client connections closed ever and open now, over all workers. */
static void mem_conns(uint64_t *closed, uint64_t *open)
{
    const struct proxy *px = mt.px;
    uint64_t accepted = 0;

    for (size_t i = 0; i < px->nfrontends; i++)
        accepted += ctr_sum(px->frontends[i]->ctr, CTR_CONNS_TOTAL);
    *open = ctr_sum(px->ctr, CTR_CONNS);
    *closed = accepted > *open ? accepted - *open : 0;
}

static void mem_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    uint64_t closed, open, t0;
    int released;

    (void)fd; (void)what; (void)arg;
    mem_conns(&closed, &open);
    if (open > mt.peak)
        mt.peak = open;
    /* A reload that drops a frontend lowers the sum: start again from there. */
    if (closed < mt.closed)
        mt.closed = closed;
    /* Closes since the last trim, not accepts: a tick in the middle of a
     * burst's teardown trims what was freed so far, the next one the rest. */
    if (closed == mt.closed || open > mt.peak / 2)
        return; /* nothing freed, or the load is still there */
    t0 = now_us();
#ifdef __GLIBC__
    released = malloc_trim(0);
#else
    released = 0;
#endif
    mt.trims++;
    log_event(LOG_LVL_DEBUG, "memory: trim #%llu after %llu connections closed (peak %llu "
              "open, %llu now): %s in %lluus", (unsigned long long)mt.trims,
              (unsigned long long)(closed - mt.closed), (unsigned long long)mt.peak,
              (unsigned long long)open, released ? "pages released" : "nothing to release",
              (unsigned long long)(now_us() - t0));
    mt.closed = closed;
    mt.peak = open;
}

int mem_attach(struct event_base *base, struct proxy *px, char *err, size_t errlen)
{
    struct timeval tv = { MEM_TICK_MS / 1000, (MEM_TICK_MS % 1000) * 1000 };

    mt.px = px;
    mem_conns(&mt.closed, &mt.peak);
    mt.tick = event_new(base, -1, EV_PERSIST, mem_tick_cb, NULL);
    if (!mt.tick || event_add(mt.tick, &tv) < 0) {
        snprintf(err, errlen, "cannot arm the memory trim timer: out of memory");
        mem_detach();
        return -1;
    }
    return 0;
}

void mem_detach(void)
{
    if (mt.tick)
        event_free(mt.tick);
    mt.tick = NULL;
    mt.px = NULL;
}
