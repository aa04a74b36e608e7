/* discovery/monitor.h - lxc-monitor as a supervised child: the LXC helper
 * runs it, its state lines are read on the event loop; it is restarted with
 * backoff when it dies and ended with lxlb. */
#ifndef LXLB_DISCOVERY_MONITOR_H
#define LXLB_DISCOVERY_MONITOR_H

#include <stddef.h>

#include "discovery/lxc-t.h"

/* Start lxc-monitor for lxcpath through the helper, by a job on worker.
 * on_restart(arg, true) is called once it runs, on_restart(arg, false)
 * after each restart; a start that fails is logged and tried again with
 * backoff. -1 with err (out of memory). */
int dmon_start(struct dmon *m, struct event_base *base, struct dworker *worker,
               const char *lxcpath, dmon_line_cb on_line, dmon_restart_cb on_restart,
               void *arg, char *err, size_t errlen);
/* Close its output (the helper then ends it), free everything. The worker
 * must be stopped first. Safe on a zeroed dmon. */
void dmon_stop(struct dmon *m);

/* Parse one line of lxc-monitor: "'web1' changed state to [RUNNING]" or
 * "'web1' exited with status [0]" (state "EXITED"). Writes NUL-terminated
 * name and state; 0, or -1 when it is no such line. */
int dmon_parse_line(const char *line, char *name, size_t namelen,
                    char *state, size_t statelen);

#endif
