/* health/check-t.h - an active HTTP health check and its rise/fall counters.
 * Types only; the functions are in health/check.h and health/health.h. */
#ifndef LXLB_CHECK_T_H
#define LXLB_CHECK_T_H

#include <stdbool.h>
#include <stdint.h>

#include "lb/server-t.h"

struct event;
struct bufferevent;

/* The rise/fall state machine's memory, kept apart from any socket so it can
 * be driven (and tested) with plain pass/fail results. */
struct check_counts {
    uint32_t passes;        /* passing checks in a row */
    uint32_t fails;         /* failing checks in a row */
    enum srv_health seen;   /* server health when last stepped: a change made
                             * elsewhere (passive failures) restarts the count */
};

/* What one check found, before it is turned into text. */
enum check_code {
    CHK_L7OK = 0, /* complete status line, status expected */
    CHK_L7STS,    /* complete status line, status not expected */
    CHK_L7RSP,    /* connected, but no valid status line (garbage or close) */
    CHK_L7TOUT,   /* connected, no status line within timeout */
    CHK_L4CON,    /* connect failed (refused, unreachable...) */
    CHK_L4TOUT,   /* connect did not complete within timeout */
};

/* One server's check. Owned by the server (s->check); freed when the server
 * leaves its backend or the proxy stops. */
struct check {
    struct server *srv;        /* the checked server (its backend list holds it) */
    struct event_base *base;   /* the loop it runs on */
    struct event *timer;       /* idle: next check; running: the check timeout */
    struct bufferevent *bev;   /* the check connection, NULL between checks */
    bool connected;            /* bev's TCP connect completed */
    int64_t start_us;          /* monotonic start of the running check (us) */
    uint32_t duration_ms;      /* how long the last check took (ms) */
    struct check_counts counts; /* rise/fall state */
};

#endif
