/* lb/stream.h - one request/response exchange (types in lb/stream-t.h).
 *
 * Its client side creates it at the first byte of a request, fills in the
 * request head and calls stream_start(); from there the stream routes the
 * request, gets a server connection, relays both ways, and finally asks its
 * client side to finish (resp_done, answer or abort), which logs and frees
 * it. A function returning int returns -1 when the stream was freed. */
#ifndef LXLB_STREAM_H
#define LXLB_STREAM_H

#include <stdbool.h>

#include "lb/stream-t.h"

struct proxy;
struct frontend;

/* A stream for a request whose first byte just came (t_start now). The
 * request head's limits are the proxy's. NULL: out of memory. */
struct stream *stream_new(struct proxy *px, struct frontend *fe,
                          const struct stream_cli_ops *cli, void *cli_ctx);
/* Back to the proxy's cache (server side released, references dropped). */
void stream_free(struct stream *st);
/* Free the cache (exit). */
void stream_cache_free(struct proxy *px);
/* Free this thread's scratch buffer (a loop's thread ending). */
void stream_thread_cleanup(void);

/* The request head is complete (its time, for the log). */
void stream_head_parsed(struct stream *st);
/* The request head is complete and was checked by the client side (method,
 * version, framing and req_keepalive set): route it, pick a server, connect. */
int stream_start(struct stream *st);
/* The client side has more request body for it. */
int stream_req_more(struct stream *st);
/* The client side can take more response payload. */
void stream_resp_drained(struct stream *st);

/* lxlb refuses the request with status (who and phase say why; st->why may
 * carry the reason); the client side answers and closes. */
int stream_refuse(struct stream *st, int status, char who, char phase, const char *why);
/* Where it stands, as a termination code's phase (enum st_phase): what a
 * client side says when the client goes away. */
char stream_phase(const struct stream *st);
/* The client went away (or timed out) in phase: no answer is possible. The
 * server side is dropped; the client side logs and frees it. */
void stream_client_gone(struct stream *st, char who, char phase);

/* The access-log line (the client side calls it once, at the end). */
void stream_log(struct stream *st);

/* The client side of a tunnel has bytes, room, or closed (clean: an EOF). */
void stream_tunnel_io(struct stream *st);
void stream_tunnel_closed(struct stream *st, bool clean);

/* srv is gone for good (its container stopped): its tunnels close, on the
 * next loop turn. */
void stream_server_gone(struct server *srv);

/* srv left (down, retiring, removed): its streams still waiting with
 * nothing back are looked at on the next loop turn, not from inside the
 * state change (no re-entry). */
void stream_server_lost(struct server *srv);
/* The proxy's queue of streams whose server left (proxy_attach / proxy_free). */
int stream_lost_setup(struct proxy *px);
void stream_lost_cleanup(struct proxy *px);

#endif
