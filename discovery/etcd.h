/* discovery/etcd.h - discovery.etcd for one backend: keys under a prefix
 * (written by `lxlb agent` on other LXC hosts) become servers. A range read,
 * then a watch from the next revision; on a broken watch: the next endpoint,
 * read again, reconcile. Everything on the loop, through the backend API. */
#ifndef LXLB_DISCOVERY_ETCD_H
#define LXLB_DISCOVERY_ETCD_H

#include <stddef.h>

#include "conf/conf-t.h"
#include "discovery/etcd-t.h"

/* Start watching be->conf->etcd. NULL with a reason in err. */
struct detcd *detcd_start(struct backend *be, struct event_base *base, char *err,
                          size_t errlen);
/* Close the calls and free the watcher. Servers stay in the backend: a
 * watcher started after a reload adopts them by name at its first read. */
void detcd_stop(struct detcd *w);
/* The backend no longer has discovery.etcd (reload): its etcd servers go. */
void detcd_drop(struct backend *be);

/* An agent's value {"name","address","port","host"} -> where to connect.
 * 0, or -1 with a reason in err. */
int detcd_parse_value(const char *json, size_t len, struct conf_addr *addr,
                      char *err, size_t errlen);

#endif
