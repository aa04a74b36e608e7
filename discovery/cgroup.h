/* discovery/cgroup.h - a running container's CPU, memory and task figures,
 * read from its cgroup files. Runs in the LXC helper (root): the files of
 * another process's cgroup, found through /proc/PID/cgroup and the cgroup
 * mounts of /proc/self/mountinfo. cgroup v2 (unified) first, then the v1
 * controller of each figure (hybrid hosts have both). */
#ifndef LXLB_DISCOVERY_CGROUP_H
#define LXLB_DISCOVERY_CGROUP_H

#include <stddef.h>
#include <sys/types.h>

#include "discovery/lxc-t.h"

#define DCG_PATH_MAX 4096

/* Where a process's cgroup files are: "" when there is no such hierarchy. */
struct dcg_paths {
    char unified[DCG_PATH_MAX];    /* its cgroup v2 directory */
    char cpuacct[DCG_PATH_MAX];    /* its v1 cpuacct directory */
    char memory[DCG_PATH_MAX];     /* its v1 memory directory */
    char pids[DCG_PATH_MAX];       /* its v1 pids directory */
};

/* From the texts of /proc/PID/cgroup and /proc/self/mountinfo. */
void dcg_paths(const char *proc_cgroup, const char *mountinfo, struct dcg_paths *out);
/* The figures from the files under p (running is left alone); one that
 * cannot be read stays DLXC_RES_NONE. */
void dcg_read(const struct dcg_paths *p, struct dlxc_res *r);
/* Both, for process pid (a container's init). -1 with err when its cgroup
 * cannot be found at all. */
int dcg_of_pid(pid_t pid, struct dlxc_res *r, char *err, size_t errlen);

#endif
