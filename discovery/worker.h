/* discovery/worker.h - one thread for blocking work (liblxc), results handed
 * back to the event loop through a self-pipe. The proxy never waits on it. */
#ifndef LXLB_DISCOVERY_WORKER_H
#define LXLB_DISCOVERY_WORKER_H

#include <stddef.h>

#include "discovery/lxc-t.h"

/* Start the thread and watch the pipe on base. NULL with a reason in err. */
struct dworker *dw_start(struct event_base *base, char *err, size_t errlen);
/* Queue j: run() on the worker, then done() on the loop, in submission order. */
void dw_submit(struct dworker *w, struct dw_job *j);
/* Join the thread (after its current job) and drop() every job left. */
void dw_stop(struct dworker *w);

#endif
