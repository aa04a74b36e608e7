/* discovery/autoscale-t.h - the autoscaler of one backend: clones of a
 * template container join and leave with the load. Types only; the pure
 * decision logic is in autoscale-fsm.h, the driver (containers, servers)
 * in autoscale.h.
 *
 * Threads: the loop thread owns everything here except what a job's run()
 * touches on the discovery worker thread: the job's own fields and the
 * autoscaler's immutable strings (struct das_target). */
#ifndef LXLB_DISCOVERY_AUTOSCALE_T_H
#define LXLB_DISCOVERY_AUTOSCALE_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf-t.h"
#include "discovery/lxc-t.h"

struct event;
struct server;

/* ------------------------------------------------------------ the FSM ---- */

enum asf_action {
    ASF_NONE = 0,                  /* nothing to do (or not allowed now) */
    ASF_UP,                        /* add a clone */
    ASF_DOWN,                      /* remove the newest clone */
};

/* What the autoscaler sees at one tick. */
struct asf_figures {
    uint32_t usable;               /* servers taking new requests */
    uint32_t servers;              /* servers of the backend not leaving */
    uint32_t clones;               /* running clones lxlb made (may be removed) */
    double active;                 /* mean requests in flight per usable server */
    double cpu;                    /* mean CPU % (of one CPU) of the usable
                                    * containers, < 0: not known */
};

/* The decision logic: fed with figures and the time, it says when to act
 * and why. No sockets, no timers, no containers: unit-tested alone. */
struct asf {
    const struct conf_autoscale *cf; /* min, max, rules, cooldown (the live generation's) */
    bool paused;                   /* decides nothing until resumed */
    bool busy;                     /* an action is under way: until asf_done() */
    enum asf_action doing;         /* that action */
    int64_t up_since_ms;           /* monotonic ms since the up figures hold, -1: not */
    int64_t down_since_ms;         /* monotonic ms since the down figures hold, -1: not */
    int64_t next_ms;               /* monotonic ms: no action before (cooldown) */
    uint32_t servers;              /* servers at the last tick */
    uint32_t target;               /* servers wanted (servers, +1 or -1 while acting) */
    enum asf_action last;          /* the last decision taken, NONE: none yet */
    int64_t last_ms;               /* monotonic ms of that decision */
    char why[192];                 /* its reason, with the figures */
    char status[160];              /* what holds it now ("load high for 3s of 10s"...) */
    uint32_t ups;                  /* clones added, ever */
    uint32_t downs;                /* clones removed, ever */
    uint32_t failures;             /* actions that failed, ever */
};

/* --------------------------------------------------------- the driver ---- */

/* Where the driver is with its action. */
enum das_phase {
    DAS_IDLE = 0,                  /* deciding */
    DAS_LISTING,                   /* asking the helper for our clones */
    DAS_CLONING,                   /* cloning the template and starting the clone */
    DAS_JOINING,                   /* the clone runs: until its server is usable */
    DAS_DRAINING,                  /* the leaving clone finishes its requests */
    DAS_REMOVING,                  /* stopping and destroying it */
};

#define DAS_EVENTS 32              /* events kept for /stats and the dashboard */

/* One thing that happened, for the dashboard's time line. */
struct das_event {
    int64_t at_ms;                 /* wall clock ms */
    char kind[8];                  /* "up", "joined", "down", "left", "failed", "pause" */
    char name[64];                 /* the clone concerned, "": none */
    char text[192];
};

/* What the worker's jobs need, copied once: immutable while jobs run. */
struct das_target {
    char *lxcpath;                 /* the backend's discovery.lxc lxcpath */
    char *tmpl;                    /* autoscale.template */
    char *prefix;                  /* autoscale.prefix */
    char *group;                   /* discovery.lxc group for the clones, NULL: keep */
    bool snapshot;                 /* snapshot clones (else copies) */
};

struct das;

/* One helper round on the worker: list our clones, or make one (clone
 * then start, or start a stopped one), or remove one (stop then destroy). */
enum das_job_kind { DAS_JOB_LIST, DAS_JOB_ADD, DAS_JOB_REMOVE };

struct das_job {
    struct dw_job job;
    struct das *as;                /* asker (outlives the job: stop joins the worker) */
    enum das_job_kind kind;
    struct dlxc_scale sc;          /* points into as->tgt */
    char name[DLXC_NAME_LEN];      /* the clone (add, remove) */
    char address[24];              /* add: "A.B.C.D/LEN", "": keep the template's */
    bool reuse;                    /* add: it exists, stopped: only start it */
    const char *group;             /* add: into this group (as->tgt), NULL: keep */
    bool snapshot;                 /* add: in: asked; out: made */
    uint32_t clone_ms;             /* add: how long the clone took */
    uint32_t start_ms;             /* add: how long the start took */
    struct dlxc_clone *clones;     /* list: the answer (calloc'ed) */
    size_t nclones;
    bool failed;
    char err[256];
};

struct das {
    struct dlxc *w;                /* the backend's discovery.lxc watcher */
    bool refused;                  /* the helper refused it: it does nothing */
    char refused_why[256];         /* why */
    struct asf fsm;                /* the decisions */
    enum das_phase phase;          /* where the action is */
    enum asf_action pending;       /* DAS_LISTING: the action the list is for */
    struct das_target tgt;         /* for the jobs */
    struct event *tick;            /* 250 ms: sample the load; every 4th, decide */
    uint32_t nsample;              /* samples in the current second */
    double active_sum;             /* their mean active per usable server, summed */
    struct dlxc_clone *clones;     /* our clones at the last list */
    size_t nclones;                /* entries in clones */
    int64_t listed_ms;             /* monotonic ms of that list, 0: never */
    bool list_busy;                /* a list job is queued or running */
    unsigned num_floor;            /* next clone numbers from here (one was taken) */
    char name[DLXC_NAME_LEN];      /* the clone of the action under way */
    struct server *srv;            /* DAS_DRAINING, DAS_REMOVING: its server (a reference) */
    bool undo;                     /* DAS_REMOVING: a clone that never served (a failed up) */
    int64_t acted_ms;              /* monotonic ms the action was decided */
    int64_t phase_ms;              /* monotonic ms the phase began */
    uint32_t clone_ms;             /* the last clone: how long the clone took */
    bool clone_snapshot;           /* the last clone was a snapshot */
    int64_t join_ms;               /* the last clone: decision to serving (ms) */
    struct das_event events[DAS_EVENTS]; /* a ring, oldest first from ev_head */
    size_t ev_head;                /* index of the oldest */
    size_t nevents;                /* entries in use */
};

#endif
