/* discovery/discovery.h - servers that come and go with containers: LXC on
 * this host (lxc-monitor + liblxc), etcd for other hosts. Adds, retires and
 * removes servers only through the backend/server API, on the loop thread. */
#ifndef LXLB_DISCOVERY_H
#define LXLB_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>

#include "discovery/autoscale-t.h"
#include "discovery/lxc-t.h"

struct proxy;
struct backend;
struct server;

/* Start discovery for every backend that has discovery.lxc / discovery.etcd.
 * -1 with a reason in err. */
int discovery_start(struct proxy *px, char *err, size_t errlen);
/* Stop monitors and workers, kill child processes (exit). */
void discovery_stop(struct proxy *px);

/* For the admin endpoint (loop thread): the cgroup figures of an lxc
 * server's container, when known. */
bool discovery_container(const struct server *s, struct dlxc_figures *out);
/* The autoscaler of be, NULL: none. */
const struct das *discovery_autoscaler(const struct backend *be);
/* Pause (on false) or resume it. -1: be has no autoscaler. */
int discovery_autoscale_enable(const struct backend *be, bool on);

#endif
