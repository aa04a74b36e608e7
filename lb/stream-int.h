/* lb/stream-int.h - inside the stream only (lb/stream.c: its life and its
 * request; lb/stream-srv.c: what its server connection reports; lb/tunnel.c:
 * after a 101). Not for the rest of lb/: lb/stream.h is the stream's API. */
#ifndef LXLB_STREAM_INT_H
#define LXLB_STREAM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lb/dispatch.h"
#include "lb/sconn-t.h"
#include "lb/stream-t.h"

struct conf_timeouts;

/* The loop's cached clock (wall, us), and the generation's timeouts. */
int64_t st_now_us(const struct stream *st);
const struct conf_timeouts *st_tmo(const struct stream *st);

/* Its server connection closed and forgotten. Its places on lists (off: the
 * link, ST_SRV_LINK or ST_LOST_LINK), joined and left. */
void st_drop_sconn(struct stream *st);
#define ST_SRV_LINK offsetof(struct stream, srv_link)   /* srv->waiting or ->tunnels */
#define ST_LOST_LINK offsetof(struct stream, lost_link) /* px->lost */
void st_list_add(struct stream **head, struct stream *st, size_t off);
void st_list_del(struct stream *st, size_t off);

/* A new server connection per request, as HAProxy 2.6's option httpclose:
 * set on the backend (the server side only), or on the frontend (both). */
bool st_server_close(const struct stream *st);

/* The request's head to its ready server connection, then its body as the
 * connection takes it (the client paused while it is full). */
int st_send_request(struct stream *st);
/* Its head went with the connect (sconn_send said 0), and the connect is
 * done: the request counts from now, its body follows. */
int st_request_sent(struct stream *st);
int st_pump_request(struct stream *st);
/* Try elsewhere (or again) as dispatch says, or answer with its status. */
int st_retry(struct stream *st, enum disp_why why, char who, const char *text);
/* May a request of this method be sent twice? (RFC 9110 9.2.2) */
bool st_idempotent(int method);

/* What the stream's server connections report to it (lb/stream-srv.c). */
extern const struct sconn_ops st_sc_ops;

/* Tunnels (lb/tunnel.c): a 101 for an Upgrade the client asked for. */
int st_tunnel_start(struct stream *st);
void st_tunnel_move(struct stream *st);
void st_tunnel_end(struct stream *st, char who, const char *why);

#endif
