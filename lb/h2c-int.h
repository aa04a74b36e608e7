/* lb/h2c-int.h - inside HTTP/2 client connections only: lb/h2c.c (the
 * connection: reads, send passes, its timer, drain and close),
 * lb/h2c-recv.c (frames received, request heads) and lb/h2c-stream.c (each
 * stream's life and its client side). */
#ifndef LXLB_H2C_INT_H
#define LXLB_H2C_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <event2/bufferevent.h>
#include <nghttp2/nghttp2.h>

#include "conf/conf-t.h"
#include "lb/cli-t.h"
#include "lb/h2c-t.h"
#include "lb/proxy-t.h"
#include "lb/stream-t.h"

static inline struct evbuffer *h2c_in(const struct cli *c) { return bufferevent_get_input(c->bev); }
static inline struct evbuffer *h2c_out(const struct cli *c) { return bufferevent_get_output(c->bev); }
static inline const struct conf_timeouts *h2c_tmo(const struct cli *c) { return &c->px->conf->timeout; }
static inline const struct conf_h2 *h2c_limits(const struct cli *c) { return &c->fe->conf->h2; }
static inline struct h2s *h2s_of(struct stream *st) { return st->cli_ctx; }

/* ---- lb/h2c.c */
/* Something is queued: a send pass runs on this loop round (batched). */
void h2c_want_send(struct h2c *h2);

/* ---- lb/h2c-recv.c */
/* The receive callbacks (and send_data), built once per loop thread. */
nghttp2_session_callbacks *h2c_callbacks(void);
void h2c_callbacks_free(void);

/* ---- lb/h2c-stream.c */
/* A stream for HEADERS id, with its struct stream; NULL when out of memory. */
struct h2s *h2s_new(struct cli *c, int32_t id);
/* nghttp2 closed it: off every list, freed (its exchange ended before). */
void h2s_free(struct h2s *s);
/* The exchange is over: counted, logged, freed; s lives on. */
void h2s_end(struct h2s *s);
/* The exchange cannot finish (client gone, connection closing): who ended it. */
void h2s_cut(struct h2s *s, char who);
/* Start it, or feed it request DATA, once the read is parsed. */
void h2s_todo_add(struct h2s *s);
/* The stream's exchange waits on the client (or stops waiting). */
void h2s_wait_client(struct h2s *s, bool waiting);
/* How long it may wait on the client (us), and what happens when it did. */
int64_t h2s_wait_limit_us(const struct cli *c, const struct h2s *s);
void h2s_timed_out(struct h2s *s);
/* Response bytes it may still buffer (0: hold the server side). */
size_t h2s_room(const struct h2s *s);
/* nghttp2's send_data: a DATA frame's payload moved to the output. */
int h2s_send_data(nghttp2_session *ses, nghttp2_frame *f, const uint8_t *framehd, size_t len,
                  nghttp2_data_source *src, void *arg);
/* Free this loop thread's response-head scratch. */
void h2s_cleanup(void);

#endif
