/* lb/mem.h - gives the memory a burst of connections used back to the system.
 *
 * glibc keeps freed chunks in its arenas (one per worker thread) and returns
 * only a free top of the heap: after a burst of connections the process stays
 * at the burst's high-water mark, and with every new, higher peak it grows a
 * step, which looks like a leak (issue 16: +3 MB RSS over 50,000 connections
 * with 0.6 MB of the heap in use). Once a second the main loop looks at the
 * client connections: when some were closed since the last trim and fewer
 * than half of the most seen since then are still open (the burst is over),
 * it calls malloc_trim(0), which releases the free pages of every arena. Under
 * a steady load it never trims: that load needs its memory again at once. */
#ifndef LXLB_MEM_H
#define LXLB_MEM_H

struct event_base;
struct proxy;

#include <stddef.h>

/* Starts the checks on the main loop (px: its proxy). 0, or -1 with err set. */
int mem_attach(struct event_base *base, struct proxy *px, char *err, size_t errlen);
/* Stops them (before the loop or px is freed). */
void mem_detach(void);

#endif
