/* lb/proxy.h - build the running proxy from a configuration, accept
 * connections, stop gracefully. */
#ifndef LXLB_PROXY_H
#define LXLB_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "lb/proxy-t.h"

/* Builds frontends, backends and static servers, and binds every listener
 * (before any fork or privilege drop). Takes ownership of conf.
 * NULL with a reason in err. */
struct proxy *proxy_new(struct conf *conf, char *err, size_t errlen);
/* The same for worker wid (lb/worker.h); 0 is the main loop. */
struct proxy *proxy_new_replica(struct conf *conf, unsigned wid, char *err, size_t errlen);
/* Does px listen on a? (every worker but on UNIX sockets: the main loop) */
bool proxy_listens(const struct proxy *px, const struct conf_addr *a);
struct conf_server;
/* Starts accepting on base. -1 with a reason in err. */
int proxy_attach(struct proxy *px, struct event_base *base, char *err, size_t errlen);
/* Graceful stop: close listeners, let in-flight requests finish; the loop
 * exits when the last connection closes or global.grace runs out. */
void proxy_stop(struct proxy *px);
void proxy_free(struct proxy *px);

/* A client connection ended: resume accepting below maxconn, finish a stop. */
void proxy_conn_closed(struct proxy *px);
/* Stopping: end the loop once nothing is left to finish. */
void proxy_maybe_exit(struct proxy *px);
/* Accept again if below maxconn (after a reload raised it). */
void proxy_check_accept(struct proxy *px);

struct backend *proxy_find_backend(struct proxy *px, const char *name);
struct server *proxy_static_server(const struct conf_server *cs);

/* Frontends are shared by the proxy and their sessions (reference counted),
 * so a reload can drop one while its connections finish. */
struct frontend *fe_new(struct proxy *px, struct conf *gen, const struct conf_frontend *cf,
                        struct backend *be);
void fe_update(struct frontend *fe, struct conf *gen, const struct conf_frontend *cf,
               struct backend *be);
void fe_ref(struct frontend *fe);
void fe_unref(struct frontend *fe);

/* Bind addr for fe (not yet accepting). NULL with a reason. */
struct listener *listener_open(struct frontend *fe, const struct conf_addr *addr, char *err,
                               size_t errlen);
/* Start accepting on px->base. */
int listener_attach(struct proxy *px, struct listener *l);
void listener_close(struct listener *l);

#endif
