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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
/* Worker thread. The cgroup figures of names[0..n) into res[0..n), in
 * order (one not running: running false). -1 with err. */
int dhc_stats(const char *lxcpath, char *const *names, size_t n, struct dlxc_res *res,
              char *err, size_t errlen);

/* The autoscaler's operations (worker thread; at start, the loop thread
 * before privileges are dropped, for dhc_scale_allow). -1 with err. */
int dhc_scale_allow(const struct dlxc_scale *sc, char *err, size_t errlen);
/* The clones of sc (calloc'ed into *out, *n of them). */
int dhc_clones(const struct dlxc_scale *sc, struct dlxc_clone **out, size_t *n, char *err,
               size_t errlen);
/* Clone the template into name (group, address: NULL keeps the template's);
 * *snapshot in: asked, out: made. *ms: how long it took. */
int dhc_clone(const struct dlxc_scale *sc, const char *name, const char *group,
              const char *address, bool *snapshot, uint32_t *ms, char *err, size_t errlen);
/* Start, stop (at once) or destroy the clone name; *ms: how long it took. */
int dhc_clone_start(const struct dlxc_scale *sc, const char *name, uint32_t *ms, char *err,
                    size_t errlen);
int dhc_clone_stop(const struct dlxc_scale *sc, const char *name, uint32_t *ms, char *err,
                   size_t errlen);
int dhc_clone_destroy(const struct dlxc_scale *sc, const char *name, uint32_t *ms, char *err,
                      size_t errlen);

#endif
