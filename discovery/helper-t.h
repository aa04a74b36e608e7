/* discovery/helper-t.h - the privileged LXC helper: a small process, forked
 * and exec'ed before lxlb drops to global.user/group/chroot, that keeps root
 * and does the liblxc work (and runs lxc-monitor) for lxlb. Types only;
 * functions are in helper-proto.h (messages), helper.h (the helper process)
 * and helper-client.h (lxlb's side).
 *
 * Protocol: a socketpair; lxlb asks, the helper answers, one request at a
 * time. Every message is a frame: a 4-byte big-endian length, then that many
 * bytes of one JSON object (jansson). Requests:
 *   {"op":"list", "lxcpath":P, "group":G|null, "match":GLOB, "interface":IF}
 *   {"op":"probe", "lxcpath":P, "group":G|null, "interface":IF, "name":N}
 *   {"op":"monitor", "lxcpath":P}
 * Answers: {"ok":false, "error":TEXT}, or {"ok":true, ...}: "containers":
 * [INFO...] for list, "container": INFO for probe, "pid": N for monitor, whose
 * frame also carries (SCM_RIGHTS) the read end of lxc-monitor's stdout. INFO
 * is {"name","defined","state","selected","ip"} (struct dlxc_info). */
#ifndef LXLB_DISCOVERY_HELPER_T_H
#define LXLB_DISCOVERY_HELPER_T_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DHP_MAX_REQUEST  (64u << 10) /* a longer request frame breaks the channel */
#define DHP_MAX_RESPONSE (16u << 20) /* a longer answer frame breaks the channel */
#define DHP_PATH_MAX 4096            /* lxcpath, NUL included */
#define DHP_NAME_MAX 256             /* container name, NUL included (a path component) */
#define DHP_STR_MAX 1024             /* group and match globs, NUL included */
#define DHP_IF_MAX 16                /* interface name, NUL included (IF_NAMESIZE) */
#define DHP_ERR_MAX 512              /* error text in an answer */

/* The helper's socket in its own process: fd 3, set up by the client. */
#define DH_FD 3

enum dhp_op {
    DHP_OP_LIST,                   /* every container of lxcpath matching match */
    DHP_OP_PROBE,                  /* one container: state, group, address */
    DHP_OP_MONITOR,                /* start lxc-monitor for lxcpath, pass its stdout */
};

/* One request, decoded and checked: fixed buffers, nothing to free. */
struct dhp_req {
    enum dhp_op op;
    char lxcpath[DHP_PATH_MAX];    /* as configured (it names lxc-monitord's socket) */
    bool has_group;                /* group given (else: every container) */
    char group[DHP_STR_MAX];       /* lxc.group to select (list, probe) */
    char match[DHP_STR_MAX];       /* fnmatch glob on names (list) */
    char interface[DHP_IF_MAX];    /* take the first IPv4 of this (list, probe) */
    char name[DHP_NAME_MAX];       /* the container (probe) */
};

/* ------------------------------------------------------- helper side ---- */

/* One lxc-monitor child. Its stdout is one end of a socketpair whose other
 * end went to lxlb; the helper keeps a copy of the child's end so that it
 * hears lxlb close its end (POLLHUP), and closes it when the child dies so
 * that lxlb reads end of file. */
struct dh_mon {
    pid_t pid;                     /* the lxc-monitor child */
    int fd;                        /* our copy of its stdout socket */
};

#define DH_MAX_MONITORS 64         /* more than any configuration needs */

struct dh {
    int fd;                        /* the request socket (DH_FD), blocking */
    int sigfd;                     /* signalfd for SIGCHLD: a monitor died */
    struct dh_mon mons[DH_MAX_MONITORS];
    size_t nmons;
};

/* ------------------------------------------------------- client side ---- */

/* lxlb's end, one per process. Requests come from the discovery worker
 * thread (they block); the helper is started from the loop thread before
 * privileges are dropped. The lock orders both. */
struct dhc {
    pthread_mutex_t lock;
    int fd;                        /* socket to the helper, -1: none */
    pid_t pid;                     /* the helper, 0: none */
    bool exit_hook;                /* atexit(dhc_exit) registered */
};

#endif
