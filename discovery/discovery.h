/* discovery/discovery.h - servers that come and go with containers: LXC on
 * this host (lxc-monitor + liblxc), etcd for other hosts. Adds, retires and
 * removes servers only through the backend/server API, on the loop thread. */
#ifndef LXLB_DISCOVERY_H
#define LXLB_DISCOVERY_H

#include <stddef.h>

struct proxy;

/* Start discovery for every backend that has discovery.lxc / discovery.etcd.
 * -1 with a reason in err. */
int discovery_start(struct proxy *px, char *err, size_t errlen);
/* Stop monitors and workers, kill child processes (exit). */
void discovery_stop(struct proxy *px);

#endif
