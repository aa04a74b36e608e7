/* lb/h1c-int.h - inside HTTP/1.1 client connections only: lb/h1c.c (the
 * connection: reading requests, its states and timer) and lb/h1c-stream.c
 * (what it does for its streams: request bodies, responses in order). */
#ifndef LXLB_H1C_INT_H
#define LXLB_H1C_INT_H

#include <stdbool.h>
#include <event2/bufferevent.h>

#include "conf/conf-t.h"
#include "lb/cli-t.h"
#include "lb/proxy-t.h"
#include "lb/stream-t.h"

static inline struct evbuffer *h1c_in(const struct cli *c) { return bufferevent_get_input(c->bev); }
static inline struct evbuffer *h1c_out(const struct cli *c) { return bufferevent_get_output(c->bev); }
static inline const struct conf_timeouts *h1c_tmo(const struct cli *c) { return &c->px->conf->timeout; }
static inline struct cli *h1c_of(struct stream *st) { return st->cli_ctx; }

/* Every state change goes through here: the old state's deadline ends. */
void h1c_set_state(struct cli *c, enum h1c_state s);
/* The stream is over (logged by the caller): forget it. */
void h1c_end_stream(struct cli *c);
/* Take no more requests; close once the output is flushed. */
void h1c_close_after_flush(struct cli *c, bool clean);
/* Read a request head from the input (a new stream at its first byte). */
void h1c_parse_head(struct cli *c);
/* HTTP-01: answers the CA's challenge itself; true when it did. */
bool h1c_acme_reply(struct cli *c, struct stream *st);

extern const struct stream_cli_ops h1c_stream_ops;

#endif
