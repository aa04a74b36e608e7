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
/* The same for replica wid (lb/worker.h): it serves traffic only. */
struct proxy *proxy_new_replica(struct conf *conf, unsigned wid, char *err, size_t errlen);
/* Does px listen on a? (every loop, but a UNIX socket only the main loop) */
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
/* A server of the configuration file for backend be_name, with its counters:
 * adding it to a backend with room (be_reserve) cannot fail. NULL: out of memory. */
struct server *proxy_static_server(const char *be_name, const struct conf_server *cs);

/* Frontends are shared by the proxy and their connections (reference counted),
 * so a reload can drop one while its connections finish. fe_new only
 * allocates (NULL: out of memory); fe_update, which cannot fail, points it
 * at its section of a generation, its backend and its TLS contexts. */
struct frontend *fe_new(struct proxy *px, const char *name);
void fe_update(struct frontend *fe, struct conf *gen, const struct conf_frontend *cf,
               struct backend *be);
void fe_ref(struct frontend *fe);
void fe_unref(struct frontend *fe);

/* Bind addr for frontend fe_name (not yet accepting; l->fe is the caller's
 * to set). NULL with a reason. */
struct listener *listener_open(const char *fe_name, const struct conf_addr *addr, char *err,
                               size_t errlen);
/* Give it its place on px->base, not accepting yet. -1: out of memory. */
int listener_attach(struct proxy *px, struct listener *l);
/* Accept on it (unless px is paused at maxconn: it follows the others) and
 * say so. A failure is logged: the listener stays, not accepting. */
void listener_enable(struct proxy *px, struct listener *l);
void listener_close(struct listener *l);

#endif
