/* tests/unit/failalloc.h - a failing allocator for the unit binary.
 *
 * build/unit is linked with -Wl,--wrap for malloc, calloc, realloc, strdup,
 * strndup and aligned_alloc (Makefile: UNIT_WRAP), so every allocation made
 * by lxlb's own objects goes through a countdown. Allocations that libevent,
 * jansson or OpenSSL make inside their own shared objects are not wrapped:
 * the point is lxlb's handling of its own failures. Single-threaded use. */
#ifndef LXLB_FAILALLOC_H
#define LXLB_FAILALLOC_H

#include <stdbool.h>

/* The nth allocation from now (1: the next one) fails, once. */
void failalloc_arm(unsigned long n);
/* Stop counting. True when the failure was injected since failalloc_arm. */
bool failalloc_disarm(void);

#endif
