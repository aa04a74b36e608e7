/* discovery/autoscale.h - the autoscaler of one discovery.lxc backend: it
 * samples the backend's load, lets the state machine (autoscale-fsm.h)
 * decide, and carries the decision out: clones of the template started
 * through the LXC helper (on the discovery worker) join through discovery;
 * the newest clone drains, then is stopped and destroyed. Loop thread. */
#ifndef LXLB_DISCOVERY_AUTOSCALE_H
#define LXLB_DISCOVERY_AUTOSCALE_H

#include <stdbool.h>
#include <stddef.h>

#include "discovery/autoscale-t.h"

/* Start with watcher w (backend mode, w->be->conf->autoscale enabled).
 * The helper is told what it may do at once (it is idle: the worker has
 * just started); when it refuses (lxlb dropped its privileges and the
 * template or prefix is new), the autoscaler stays off and says why. NULL
 * with err when out of memory. */
struct das *das_start(struct dlxc *w, char *err, size_t errlen);
/* Free it; the worker was stopped first. Safe with NULL. */
void das_stop(struct das *as);
/* Pause (on false) or resume: the admin API. */
void das_enable(struct das *as, bool on);

/* "idle", "listing", "cloning", "joining", "draining", "removing". */
const char *das_phase_name(enum das_phase p);

#endif
