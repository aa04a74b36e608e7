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
 *   {"op":"stats", "lxcpath":P, "names":[N...]}
 * and the autoscaler's, each naming the template T and the clone prefix X:
 *   {"op":"scale-allow", "lxcpath":P, "template":T, "prefix":X}
 *   {"op":"clones", "lxcpath":P, "template":T, "prefix":X}
 *   {"op":"clone", "lxcpath":P, "template":T, "prefix":X, "name":N,
 *    "group":G|null, "address":"A.B.C.D/LEN"|null, "snapshot":BOOL}
 *   {"op":"start"|"stop"|"destroy", "lxcpath":P, "template":T, "prefix":X, "name":N}
 * Answers: {"ok":false, "error":TEXT}, or {"ok":true, ...}: "containers":
 * [INFO...] for list, "container": INFO for probe, "pid": N for monitor, whose
 * frame also carries (SCM_RIGHTS) the read end of lxc-monitor's stdout. INFO
 * is {"name","defined","state","selected","ip"} (struct dlxc_info). stats:
 * "containers": [{"name","running","cpu_ns","memory","memory_limit","pids"}]
 * (a figure the host does not give is null); clones: "clones": [{"name",
 * "state", "address"}]; clone: "snapshot" (what was made), "ms".
 *
 * The autoscaler's operations are the only ones that change anything, so
 * they are held to what the configuration allows: scale-allow registers a
 * (lxcpath, template, prefix) while lxlb still runs as root (at start,
 * before it drops to global.user; any time when it never does), and every
 * other scale operation must match a registered one. A clone's name is the
 * prefix and a number; the helper marks each clone it makes (a file in the
 * container's directory naming the template) and starts, stops, destroys or
 * lists only containers that carry that mark. */
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
#define DHP_PREFIX_MAX 64            /* autoscale clone prefix, NUL included */
#define DHP_ADDR_MAX 20              /* "255.255.255.255/32", NUL included */
#define DHP_MAX_NAMES 128            /* containers in one stats request */
#define DHP_CLONE_DIGITS 6           /* a clone's number: 1 to 6 digits */
#define DHP_CLONE_MARK "lxlb-autoscale" /* the mark: a file in the clone's directory */

/* The helper's socket in its own process: fd 3, set up by the client. */
#define DH_FD 3

enum dhp_op {
    DHP_OP_LIST,                   /* every container of lxcpath matching match */
    DHP_OP_PROBE,                  /* one container: state, group, address */
    DHP_OP_MONITOR,                /* start lxc-monitor for lxcpath, pass its stdout */
    DHP_OP_STATS,                  /* cgroup figures of running containers */
    DHP_OP_SCALE_ALLOW,            /* register what the autoscaler may do */
    DHP_OP_CLONES,                 /* the clones made for a template and prefix */
    DHP_OP_CLONE,                  /* copy the template into a new clone */
    DHP_OP_START,                  /* start a clone */
    DHP_OP_STOP,                   /* stop a clone (at once: it was drained) */
    DHP_OP_DESTROY,                /* destroy a stopped clone */
};

/* One request, decoded and checked: fixed buffers, nothing to free. */
struct dhp_req {
    enum dhp_op op;
    char lxcpath[DHP_PATH_MAX];    /* as configured (it names lxc-monitord's socket) */
    bool has_group;                /* group given (else: every container) */
    char group[DHP_STR_MAX];       /* lxc.group to select (list, probe) */
    char match[DHP_STR_MAX];       /* fnmatch glob on names (list) */
    char interface[DHP_IF_MAX];    /* take the first IPv4 of this (list, probe) */
    char name[DHP_NAME_MAX];       /* the container (probe, clone...destroy) */
    char tmpl[DHP_NAME_MAX];       /* the autoscale template (scale operations) */
    char prefix[DHP_PREFIX_MAX];   /* the clones' name prefix (scale operations) */
    char address[DHP_ADDR_MAX];    /* clone: static IPv4/len, "": keep the template's */
    bool snapshot;                 /* clone: snapshot (overlay) rather than copy */
    size_t nnames;                 /* stats: entries in names */
    char names[DHP_MAX_NAMES][DHP_NAME_MAX]; /* stats: the containers */
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
#define DH_MAX_GRANTS 64           /* autoscaled backends: more than any needs */

/* What the autoscaler of one backend may do (scale-allow). */
struct dh_grant {
    char lxcpath[DHP_PATH_MAX];    /* as configured */
    char tmpl[DHP_NAME_MAX];       /* the only container it may clone */
    char prefix[DHP_PREFIX_MAX];   /* its clones are prefix + number */
};

struct dh {
    int fd;                        /* the request socket (DH_FD), blocking */
    int sigfd;                     /* signalfd for SIGCHLD: a monitor (or a clone's
                                    * lxc-start, re-parented to us) ended */
    struct dh_mon mons[DH_MAX_MONITORS];
    size_t nmons;
    struct dh_grant grants[DH_MAX_GRANTS];
    size_t ngrants;
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
