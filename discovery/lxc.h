/* discovery/lxc.h - discovery.lxc for one backend: containers of an lxcpath
 * become servers (lxc-monitor events, liblxc in the LXC helper asked from
 * the worker thread). */
#ifndef LXLB_DISCOVERY_LXC_H
#define LXLB_DISCOVERY_LXC_H

#include <stdbool.h>
#include <stddef.h>

#include "discovery/lxc-t.h"

struct proxy;
struct conf_lxc;
struct server;

/* Start watching be->conf->lxc; servers change only on the loop thread.
 * NULL with a reason in err. */
struct dlxc *dlxc_start(struct backend *be, struct event_base *base, struct dworker *worker,
                        char *err, size_t errlen);
/* The same watching with no backend: containers of cf are reported to sink
 * (lxlb agent). NULL with a reason in err. */
struct dlxc *dlxc_start_sink(const struct conf_lxc *cf, struct event_base *base,
                             struct dworker *worker, const struct dlxc_sink *sink,
                             char *err, size_t errlen);
/* Stop the monitor and free the watcher. The worker must be stopped first
 * (no job may still point here). Servers stay in the backend. */
void dlxc_stop(struct dlxc *w);

/* Backend mode: the cgroup figures of server s's container, when known. */
bool dlxc_figures(const struct dlxc *w, const struct server *s, struct dlxc_figures *out);

#endif
