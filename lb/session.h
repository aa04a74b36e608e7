/* lb/session.h - client connections: read a request, route it, relay the
 * response, repeat (keep-alive, pipelining). */
#ifndef LXLB_SESSION_H
#define LXLB_SESSION_H

#include <sys/socket.h>
#include <event2/util.h>

#include "lb/session-t.h"

struct frontend;
struct proxy;
struct server;

/* Takes ownership of a freshly accepted client socket. */
void sess_accept(struct frontend *fe, evutil_socket_t fd, const struct sockaddr *sa, int salen);
/* srv is gone (its container stopped): requests waiting on it that got
 * nothing back are retried elsewhere now rather than at their timeout. */
void sess_server_lost(struct proxy *px, struct server *srv);
/* Close at once, whatever it was doing (exit). */
void sess_close(struct session *s);
/* Graceful stop: close idle sessions now; busy ones close after their response. */
void sess_stop_idle(struct proxy *px);
/* Free the recycled transactions (at exit). */
void txn_cache_free(struct proxy *px);

#endif
