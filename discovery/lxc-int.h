/* discovery/lxc-int.h - inside discovery.lxc only: what the watcher
 * (discovery/lxc.c) shares with its two modes, the backend's servers
 * (discovery/lxc-server.c) and the sink (discovery/lxc-sink.c). Loop thread. */
#ifndef LXLB_DISCOVERY_LXC_INT_H
#define LXLB_DISCOVERY_LXC_INT_H

#include <stdint.h>

#include "discovery/lxc-t.h"

extern const struct dlxc_ops dlxc_server_ops; /* backend mode */
extern const struct dlxc_ops dlxc_sink_ops;   /* sink mode (lxlb agent) */

/* CLOCK_MONOTONIC in ms. */
int64_t dlxc_now_ms(void);
/* (Re)arm a timer for ms. */
void dlxc_arm(struct event *ev, uint32_t ms);

/* The container of that name when tracked, else NULL. */
struct dlxc_ct *dlxc_ct_find(const struct dlxc *w, const char *name);
/* The container of that name, tracked from now on (NULL: out of memory,
 * logged). */
struct dlxc_ct *dlxc_ct_get(struct dlxc *w, const char *name);
/* It is RUNNING: find out whether it is ours and where it listens. */
void dlxc_ct_running(struct dlxc_ct *ct);

/* Backend mode (lxc-server.c), for the autoscaler and the admin figures. */

/* The autoscaler removes container name: its server retires (no new
 * request, sticky clients included) and stays so until the container is
 * gone. Its server (no reference taken), NULL: it has none. */
struct server *dlxc_server_leave(struct dlxc *w, const char *name, const char *why);

#endif
