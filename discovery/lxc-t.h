/* discovery/lxc-t.h - LXC discovery: the worker thread, the lxc-monitor child
 * and the per-backend watcher. Types only; functions are in worker.h,
 * monitor.h and lxc.h. liblxc itself runs in the LXC helper process
 * (helper-t.h): the worker's jobs ask it.
 *
 * Threads: the loop thread owns everything here except what a job's run()
 * touches on the worker thread: the job's own fields and the watcher's
 * immutable configuration copies (struct dlxc_conf). */
#ifndef LXLB_DISCOVERY_LXC_T_H
#define LXLB_DISCOVERY_LXC_T_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct event;
struct bufferevent;
struct backend;
struct server;

/* ------------------------------------------------------------ worker ---- */

/* One unit of blocking work. run() executes on the worker thread and may only
 * touch the job itself and immutable data; done() then runs on the loop
 * thread and frees the job. A job never started or finished at stop is freed
 * with drop() instead (loop thread, at exit). */
struct dw_job {
    void (*run)(struct dw_job *j);  /* worker thread: the blocking part */
    void (*done)(struct dw_job *j); /* loop thread: apply the result, free j */
    void (*drop)(struct dw_job *j); /* loop thread, at stop: just free j */
    struct dw_job *next;            /* queue link */
};

struct dw_queue {
    struct dw_job *head;            /* oldest first */
    struct dw_job *tail;
};

struct dworker {
    pthread_t thread;               /* runs the jobs one at a time, in order */
    bool started;                   /* thread was created (join at stop) */
    pthread_mutex_t lock;           /* guards todo, finished, quit */
    pthread_cond_t wake;            /* signalled when todo gains a job or quit */
    struct dw_queue todo;           /* waiting for the worker */
    struct dw_queue finished;       /* run, waiting for done() on the loop */
    bool quit;                      /* the worker must exit */
    int pipe_rd;                    /* loop side of the self-pipe (non-blocking) */
    int pipe_wr;                    /* worker side: one byte per batch of results */
    struct event *ev;               /* EV_READ on pipe_rd, in the loop */
};

/* ------------------------------------------------------- lxc-monitor ---- */

/* Called for each state line: name and state ("RUNNING", "STOPPED",
 * "FROZEN"...; "EXITED" for "exited with status"). */
typedef void (*dmon_line_cb)(void *arg, const char *name, const char *state);
/* Called after the child was (re)started: events may have been missed. */
typedef void (*dmon_restart_cb)(void *arg, bool first);

struct dmon {
    struct event_base *base;       /* the loop */
    struct dworker *worker;        /* asks the LXC helper to start the child */
    char *lxcpath;                 /* -P argument, owned */
    pid_t pid;                     /* running child (the helper's), 0: none */
    bool spawning;                 /* a dmon_spawn job is queued or running */
    bool ran;                      /* it ran once: a start now is a restart */
    struct bufferevent *bev;       /* reads the child's stdout */
    struct event *restart;         /* timer: spawn again after a death */
    uint32_t backoff_ms;           /* next restart delay: 100ms doubling to 10s */
    int64_t started_ms;            /* monotonic ms of the last spawn */
    uint32_t restarts;             /* times it was restarted, ever */
    dmon_line_cb on_line;
    dmon_restart_cb on_restart;
    void *arg;                     /* for the callbacks */
};

/* Have the LXC helper start lxc-monitor (worker thread). */
struct dmon_spawn {
    struct dw_job job;
    struct dmon *m;                /* asker (outlives the job: stop joins the worker) */
    int fd;                        /* the answer: reads the child's stdout, -1: none */
    pid_t pid;                     /* the child */
    char err[256];                 /* why not, when fd is -1 */
};

/* ----------------------------------------------------------- watcher ---- */

#define DLXC_STATE_LEN 16
#define DLXC_IP_LEN 16   /* "255.255.255.255" */

/* The watcher's copy of discovery.lxc: immutable once started, so the worker
 * may read it while the loop runs. */
struct dlxc_conf {
    char *lxcpath;                 /* where the containers live */
    char *group;                   /* lxc.group to select, NULL: any */
    char *match;                   /* fnmatch glob on the name */
    char *interface;               /* take the first IPv4 of this */
    uint16_t port;                 /* server port */
    uint32_t ip_timeout_ms;        /* how long to wait for an address */
};

/* One container's resources, from its cgroup (discovery/cgroup.h). A
 * figure the host does not give is DLXC_RES_NONE. */
#define DLXC_RES_NONE UINT64_MAX
struct dlxc_res {
    bool running;                  /* it runs: the figures are of now */
    uint64_t cpu_ns;               /* CPU time used since it started (ns) */
    uint64_t mem_bytes;            /* memory charged to it now (bytes) */
    uint64_t mem_limit;            /* its memory limit (bytes); NONE: no limit */
    uint64_t pids;                 /* tasks now */
};

/* What discovery knows of one container (only those matching `match`). The
 * watcher's part is the same in both modes; the rest belongs to its ops
 * (struct dlxc_ops): a server in backend mode, an address in sink mode. */
struct dlxc_ct {
    char *name;                    /* container name = server name = cookie */
    char state[DLXC_STATE_LEN];    /* last state seen ("RUNNING"...) */
    uint64_t seq;                  /* watcher evseq at its last event */
    bool waiting;                  /* RUNNING, waiting for its address */
    bool ignored;                  /* not in group (or name clash): never a server */
    int64_t running_ms;            /* monotonic ms when RUNNING was seen (join latency) */
    int64_t deadline_ms;           /* monotonic ms: give up waiting for the address */
    uint32_t backoff_ms;           /* next address poll delay: 50ms doubling to 1s */
    struct event *retry;           /* timer: probe again for the address */
    bool seen;                     /* listed by the resync being applied */
    /* Backend mode (discovery/lxc-server.c). */
    struct server *srv;            /* its server in the backend, ref held; NULL: none */
    struct event *drain;           /* timer: is the retiring server drained yet? */
    /* While its server is "checking": connect to the port now and then, and
     * have it checked again the moment the port opens, rather than one whole
     * health interval after a first check that came before Apache listened. */
    struct event *kick;            /* port probe: connect in progress on its fd */
    struct event *kick_wait;       /* timer: next port probe */
    uint32_t kick_backoff_ms;      /* next port probe delay: 50ms doubling to 500ms */
    int64_t kick_deadline_ms;      /* monotonic ms: stop probing the port */
    struct dlxc_res res;           /* its cgroup figures at res_ms */
    int64_t res_ms;                /* monotonic ms of those, 0: none yet */
    double cpu_pct;                /* CPU over the last interval (% of one CPU), < 0: not
                                    * known yet */
    bool leaving;                  /* the autoscaler removes it: it stays retiring */
    /* Sink mode (discovery/lxc-sink.c). */
    char pub_ip[DLXC_IP_LEN];      /* the address reported up, "": none */
    struct dlxc *w;                /* owner */
    struct dlxc_ct *next;          /* next container of the watcher */
};

/* Worker results: what the helper answered, decoded. Strings and fixed
 * arrays only. */

/* What the helper learnt of one container. */
struct dlxc_info {
    char *name;                    /* owned */
    bool defined;                  /* it exists in the lxcpath */
    char state[DLXC_STATE_LEN];    /* "RUNNING", "STOPPED"... */
    bool selected;                 /* lxc.group holds conf.group (or no group asked) */
    char ip[DLXC_IP_LEN];          /* first IPv4 of conf.interface, "": none yet */
};

#define DLXC_NAME_LEN 256  /* a container name, NUL included */

/* What one backend's autoscaler works on: the helper's scale operations
 * name all three, and it checks them against what it was allowed. */
struct dlxc_scale {
    const char *lxcpath;           /* the backend's discovery.lxc lxcpath */
    const char *tmpl;              /* autoscale.template */
    const char *prefix;            /* autoscale.prefix: clones are prefix + number */
};

/* One clone, as the helper lists it. */
struct dlxc_clone {
    char name[DLXC_NAME_LEN];      /* prefix + number */
    char state[DLXC_STATE_LEN];    /* "RUNNING", "STOPPED"... */
    char address[24];              /* its lxc.net.0.ipv4.address ("A.B.C.D/LEN"), "": none */
};

/* Look at one container (after a monitor event, or to poll for its address). */
struct dlxc_probe {
    struct dw_job job;
    struct dlxc *w;                /* asker (outlives the job: stop joins the worker) */
    uint64_t seq;                  /* ct->seq when asked: stale when it moved on */
    struct dlxc_info info;         /* the answer */
    bool failed;                   /* no answer: the helper said err */
    char err[256];
};

/* Look at every container of the lxcpath (start, monitor restart, every 30 s). */
struct dlxc_resync {
    struct dw_job job;
    struct dlxc *w;
    uint64_t evseq;                /* w->evseq when asked: later events win */
    bool failed;                   /* no list: the helper said err */
    char err[256];
    struct dlxc_info *infos;       /* containers matching conf.match */
    size_t ninfos;
};

/* Ask the helper for the cgroup figures of the backend's containers. */
struct dlxc_stats {
    struct dw_job job;
    struct dlxc *w;                /* asker (outlives the job: stop joins the worker) */
    char **names;                  /* the containers (strdup'ed) */
    size_t n;                      /* entries in names and res */
    struct dlxc_res *res;          /* the answer */
    int64_t at_ms;                 /* monotonic ms when the helper answered */
    bool failed;
    char err[256];
};

/* A container's figures as /stats and /metrics show them. */
struct dlxc_figures {
    double cpu_seconds;            /* CPU time since it started (s), < 0: not known */
    double cpu_percent;            /* over the last interval (% of one CPU), < 0: not known */
    uint64_t mem_bytes;            /* memory used (bytes), DLXC_RES_NONE: not known */
    uint64_t mem_limit;            /* memory limit (bytes), DLXC_RES_NONE: none or not known */
    uint64_t pids;                 /* tasks, DLXC_RES_NONE: not known */
    int64_t age_ms;                /* how long ago they were read (ms) */
};

/* Where a watcher with no backend reports (lxlb agent): a container runs at
 * ip (first time, again, or at a new address), or it left (stopping, frozen,
 * stopped, out of the group). Called on the loop thread, once per change. */
struct dlxc_sink {
    void (*up)(void *arg, const char *name, const char *ip);
    void (*down)(void *arg, const char *name, const char *why);
    void *arg;                     /* for the callbacks */
};

/* What a watcher does with what it learns. The watcher (discovery/lxc.c)
 * decides when a container runs, leaves or is gone; its ops decide what
 * that means: a backend's servers (discovery/lxc-server.c) or a sink's
 * up/down (discovery/lxc-sink.c, lxlb agent). Loop thread only. */
struct dlxc_ops {
    /* Per-container state of the mode: set up (-1: out of memory) and
     * freed (the container is forgotten; gone() was called when needed). */
    int (*ct_init)(struct dlxc_ct *ct);
    void (*ct_free)(struct dlxc_ct *ct);
    /* It runs at ip: first time, again, or at a new address. */
    void (*at)(struct dlxc_ct *ct, const char *ip);
    /* Stopping, freezing or frozen: no new request. */
    void (*leaving)(struct dlxc_ct *ct);
    /* Thawed (it may take requests again). */
    void (*thawed)(struct dlxc_ct *ct);
    /* Stopped, out of the group, or moving: whatever it had goes. */
    void (*gone)(struct dlxc_ct *ct, const char *why);
    /* Does the mode hold something for it (a server)? A sink holds nothing
     * it must keep: it is told again and ignores a repeat. */
    bool (*holds)(const struct dlxc_ct *ct);
    /* Does it take new requests (a server neither removed nor retiring)? */
    bool (*live)(const struct dlxc_ct *ct);
    /* Is ip news (logged when the probe finds it)? */
    bool (*new_addr)(const struct dlxc_ct *ct, const char *ip);
    /* A container we do not track that an earlier watcher served (before a
     * reload): tracked again and returned, or NULL. */
    struct dlxc_ct *(*adopt)(struct dlxc *w, const char *name);
    /* After a resync was applied: drop what earlier watchers left behind. */
    void (*sweep)(struct dlxc *w);
    /* The mode's own work beside the watching (container figures, the
     * autoscaler): started once the watcher is (-1 with err), stopped
     * before it is freed (the worker is stopped already). */
    int (*start)(struct dlxc *w, char *err, size_t errlen);
    void (*stop)(struct dlxc *w);
};

/* One backend with discovery.lxc, or one sink. */
struct das;

struct dlxc {
    const struct dlxc_ops *ops;    /* backend or sink mode */
    char *label;                   /* for messages: the backend's name, or "agent" */
    struct backend *be;            /* backend mode: whose servers we manage */
    struct event *res_poll;        /* backend mode: ask for the containers' figures */
    bool res_busy;                 /* backend mode: a stats job is queued or running */
    struct das *as;                /* backend mode: its autoscaler, NULL: none */
    struct dlxc_sink sink;         /* sink mode: who hears of containers */
    struct event_base *base;       /* the loop */
    struct dlxc_conf conf;         /* immutable copy */
    struct dmon mon;               /* lxc-monitor -P lxcpath */
    struct dworker *worker;        /* shared worker thread */
    struct dlxc_ct *cts;           /* containers seen */
    uint64_t evseq;                /* monitor events received, ever */
    bool resync_busy;              /* a resync job is queued or running */
    bool resync_again;             /* another one was asked for meanwhile */
    struct event *resync;          /* periodic full resync (30 s) */
    struct event *settle;          /* one more resync shortly after a monitor start */
    struct dlxc *next;             /* next watcher */
};

#endif
