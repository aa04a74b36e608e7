/* discovery/helper-client.h - lxlb's side of the privileged LXC helper
 * (discovery/helper.h): one helper per process, started before privileges
 * are dropped and kept across reloads. The requests block: they are made
 * from the discovery worker thread (discovery/worker.h), never the loop.
 *
 * A helper that dies or stops answering is reaped and logged; the request
 * is then asked again of a new helper when lxlb may still start one (it has
 * the identity it started with), else it fails until lxlb is restarted. */
#ifndef LXLB_DISCOVERY_HELPER_CLIENT_H
#define LXLB_DISCOVERY_HELPER_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

#include "discovery/lxc-t.h"

/* Loop thread, before privileges are dropped: make sure a helper runs.
 * -1 with a reason in err. */
int dhc_start(char *err, size_t errlen);

/* Worker thread. Every container of cf->lxcpath whose name matches
 * cf->match: *infos (calloc'ed, names strdup'ed) and *n. -1 with err. */
int dhc_list(const struct dlxc_conf *cf, struct dlxc_info **infos, size_t *n, char *err,
             size_t errlen);
/* Worker thread. The container info->name: everything but the name is
 * filled. -1 with err. */
int dhc_probe(const struct dlxc_conf *cf, struct dlxc_info *info, char *err, size_t errlen);
/* Worker thread. lxc-monitor started for lxcpath: *fd reads its output
 * (closing it ends the monitor), *pid is its pid. -1 with err. */
int dhc_monitor(const char *lxcpath, int *fd, pid_t *pid, char *err, size_t errlen);

#endif
