/* lb/reload.h - SIGHUP: read the file off the loop, apply it on the loop. */
#ifndef LXLB_RELOAD_H
#define LXLB_RELOAD_H

#include <stddef.h>

struct proxy;
struct conf;
struct reload;

struct reload *reload_new(struct proxy *px);
void reload_free(struct reload *r);

/* Read and validate the file (same code as -c) on a worker thread; the
 * result comes back to the loop and is applied there. A request made while
 * one is running is queued (the last one wins). */
void reload_request(struct proxy *px);

/* Apply a validated generation on the loop: build all of it, then swap it
 * in at once. On success the proxy owns nc and 0 is returned; on failure (an
 * address in use, out of memory, the proxy stopping) nothing live changed,
 * nc is untouched and err says why. */
int proxy_reload(struct proxy *px, struct conf *nc, char *err, size_t errlen);

#endif
