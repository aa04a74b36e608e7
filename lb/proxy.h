/* lb/proxy.h - build the running proxy from a configuration, accept
 * connections, stop gracefully. */
#ifndef LXLB_PROXY_H
#define LXLB_PROXY_H

#include <stddef.h>

#include "lb/proxy-t.h"

/* Builds frontends, backends and static servers, and binds every listener
 * (before any fork or privilege drop). Takes ownership of conf.
 * NULL with a reason in err. */
struct proxy *proxy_new(struct conf *conf, char *err, size_t errlen);
/* Starts accepting on base. -1 with a reason in err. */
int proxy_attach(struct proxy *px, struct event_base *base, char *err, size_t errlen);
/* Graceful stop: close listeners, let in-flight requests finish; the loop
 * exits when the last connection closes or global.grace runs out. */
void proxy_stop(struct proxy *px);
void proxy_free(struct proxy *px);

/* A client connection ended: resume accepting below maxconn, finish a stop. */
void proxy_conn_closed(struct proxy *px);

#endif
