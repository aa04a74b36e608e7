/* discovery/helper-int.h - inside the LXC helper process only: what
 * helper.c (requests, monitors) shares with helper-scale.c (the
 * autoscaler's operations). */
#ifndef LXLB_DISCOVERY_HELPER_INT_H
#define LXLB_DISCOVERY_HELPER_INT_H

#include <jansson.h>
#include <sys/types.h>

#include "discovery/helper-t.h"

/* The path of exe found in PATH (malloc'ed), NULL: not found. The helper
 * looks itself: lxlb may be in a chroot without lxc. */
char *dh_find_exe(const char *exe);
/* Fork and exec exe with argv, its stdout on out_fd and stderr on err_fd
 * (-1: /dev/null), signals and mask reset, no other descriptor of ours, and
 * dying with the helper. Its pid, or -1 with errno. */
pid_t dh_spawn(const char *exe, char *const argv[], int out_fd, int err_fd);

/* helper-scale.c: answer one scale operation (rq->op from scale-allow to
 * destroy; its lxcpath was checked). NULL when out of memory. */
json_t *dh_scale(struct dh *h, const struct dhp_req *rq);

#endif
