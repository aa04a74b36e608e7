/* discovery/agent-t.h - `lxlb agent`: this host's containers published in
 * etcd for balancers on other hosts. Types only; see agent.h.
 *
 * Loop thread only (liblxc runs on the LXC watcher's worker thread, which
 * never touches these). */
#ifndef LXLB_DISCOVERY_AGENT_T_H
#define LXLB_DISCOVERY_AGENT_T_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf-t.h"
#include "discovery/etcd-t.h"
#include "discovery/lxc-t.h"

#define AGENT_HOST_LEN 256
#define AGENT_OLD_MAX 8            /* leases from before breaks, still to revoke */

/* One container the watcher reported up at least once. */
struct agent_ct {
    char *name;                    /* container name (the key's last part) */
    char ip[DLXC_IP_LEN];          /* where it runs now, "": it left */
    char pub[DLXC_IP_LEN];         /* what the current lease holds for it, "": nothing */
    int64_t since_ms;              /* monotonic ms of the last up/down (publish latency) */
    struct agent_ct *next;
};

/* The one etcd call in flight: calls run one at a time, in order, so a
 * container's PUT and DELETE cannot overtake each other. */
enum agent_op {
    AGENT_OP_NONE = 0,
    AGENT_OP_GRANT,                /* LeaseGrant: a new lease */
    AGENT_OP_KEEPALIVE,            /* LeaseKeepAlive on the lease */
    AGENT_OP_PUT,                  /* key of op_ct = its address, on the lease */
    AGENT_OP_DELETE,               /* key of op_ct removed */
    AGENT_OP_REVOKE_OLD,           /* old[0] revoked: stale keys of a broken lease go */
    AGENT_OP_REVOKE,               /* stopping: the lease revoked, every key gone */
};

struct agent {
    struct event_base *base;       /* the loop */
    struct ecl cl;                 /* the etcd cluster */
    struct dworker *worker;        /* liblxc thread */
    struct dlxc *watch;            /* this host's containers (sink mode) */
    struct conf_lxc lxc;           /* what to watch; strings point into argv */
    const char *prefix;            /* key prefix (argv) */
    char host[AGENT_HOST_LEN];     /* --host or gethostname() */
    uint32_t ttl_ms;               /* lease TTL, whole seconds */
    struct agent_ct *cts;          /* containers, up or going */
    int64_t lease;                 /* current lease ID, 0: none (grant first) */
    int64_t old[AGENT_OLD_MAX];    /* leases abandoned at a break, oldest first */
    uint32_t nold;                 /* entries in old */
    struct ecall *call;            /* the call in flight, NULL: none */
    enum agent_op op;              /* what call is */
    struct agent_ct *op_ct;        /* PUT/DELETE: the container (kept while in flight) */
    char op_ip[DLXC_IP_LEN];       /* PUT: the address sent */
    bool ka_due;                   /* keepalive timer fired, not sent yet */
    bool broken;                   /* a call failed: waiting for the retry timer */
    uint32_t backoff_ms;           /* next retry delay: 100 ms doubling to 3 s */
    int64_t lost_ms;               /* monotonic ms of the first failure, 0: fine */
    bool stopping;                 /* SIGTERM/SIGINT: revoke, then exit */
    struct event *ka;              /* persistent timer: every ttl/3 */
    struct event *retry;           /* timer: after a failure */
    struct event *stop_deadline;   /* timer: exit even if etcd does not answer */
    struct event *sigs[2];         /* SIGTERM, SIGINT */
};

#endif
