/* lb/role-t.h - what a proxy is for: the main loop, or a replica serving
 * traffic beside it (lb/worker.h). Types only; the two roles are in
 * lb/role.h.
 *
 * The role is chosen once, when the proxy is built. Every place where the
 * main loop and a replica behave differently asks the role one question or
 * calls one of its operations, instead of testing which worker it is. */
#ifndef LXLB_ROLE_T_H
#define LXLB_ROLE_T_H

#include <stdbool.h>
#include <stddef.h>

#include "lb/log-t.h"

struct proxy;
struct conf;
struct wk_msg;

/* What a role prepares in a reload's first step (the one that may fail) and
 * uses once the new generation is in place. */
struct role_reload {
    struct wk_msg *to_replicas;  /* main loop: one WK_RELOAD message per replica,
                                  * allocated before the swap; NULL: no replica */
    const bool *health_changed;  /* one per backend of the new generation: its
                                  * "health" section is not the one it had
                                  * (a new backend: false) */
};

struct proxy_role {
    bool owns_servers;     /* the truth about every server lives here: it judges
                            * real-traffic failures and publishes each change to
                            * the replicas, which apply them and report back */
    bool listens_unix;     /* binds UNIX sockets: a path has one listener, and a
                            * second bind would take it from the first */
    bool keeps_tickets;    /* carries TLS ticket keys over a reload (every loop
                            * shares the same contexts: one of them does it) */

    /* An event line about the configuration or a server: said once, by the
     * main loop; a replica applying the same change says nothing. */
    void (*log)(enum log_level lvl, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

    /* The services around the traffic (reload, admin API, health checks,
     * discovery), started once the loop exists and stopped at exit. -1 with a
     * reason in err. */
    int (*start)(struct proxy *px, char *err, size_t errlen);
    void (*stop)(struct proxy *px);
    /* A graceful stop begins (its listeners are already closed). */
    void (*stopping)(struct proxy *px);
    /* May the loop end once its own connections are done? The main loop
     * outlives the replicas: it joins them on the way out. */
    bool (*may_end)(void);

    /* Reload, first step (nothing live is touched yet): allocate what the
     * role will need after the swap. -1: out of memory, nothing kept. */
    int (*reload_prepare)(struct proxy *px, struct conf *nc, struct role_reload *rr);
    /* The reload was rejected: free what reload_prepare made. */
    void (*reload_abort)(struct role_reload *rr);
    /* The swap is about to happen: stop what points into the old generation. */
    void (*reload_begin)(struct proxy *px);
    /* The new generation is in place: restart what follows it. Failures here
     * are the services' own (each logs it); the generation stands. */
    void (*reload_end)(struct proxy *px, struct role_reload *rr);
};

#endif
