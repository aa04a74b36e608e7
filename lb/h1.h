/* lb/h1.h - reading and framing HTTP/1.x messages, with no socket: the
 * client connection reads requests with it, the server connection responses,
 * and the fuzzer both. */
#ifndef LXLB_H1_H
#define LXLB_H1_H

#include <stddef.h>

#include "lb/h1-t.h"

/* A reader of requests (HTTP_REQUEST) or responses (HTTP_RESPONSE). */
void h1r_init(struct h1r *r, llhttp_type_t type);
/* The next message's head goes to head (its limits are the caller's). The
 * last message's parser state (method, status, flags) lasts until then. */
void h1r_begin(struct h1r *r, struct http_head *head);

/* Parse head bytes from in; what was parsed is drained and counted in *used.
 * H1_HEAD: the head is complete (parser fields hold method, status, version,
 * framing flags); H1_MORE; H1_ERR. */
enum h1_res h1r_head(struct h1r *r, struct evbuffer *in, size_t *used);

/* Framing of the body after a complete head. A response's depends on the
 * request's method (HEAD) and its status (1xx, 204, 304). */
enum h1_body h1r_request_body(const struct h1r *r);
enum h1_body h1r_response_body(const struct h1r *r, int req_method);
/* Read the body as kind (H1_BODY_NONE: the message is complete; the next
 * one starts with h1r_begin). */
void h1r_body_begin(struct h1r *r, enum h1_body kind);

/* Move at most max input bytes of body from in; payload goes to out, framing
 * is dropped (trailers too). *used: input bytes consumed. H1_DONE at the end
 * of the message (the reader is then ready for the next head), H1_MORE, or
 * H1_ERR. An EOF body is done when the caller sees the close. */
enum h1_res h1r_body(struct h1r *r, struct evbuffer *in, struct evbuffer *out, size_t max,
                     size_t *used);

/* Are the body bytes already in 'in' well-formed as far as they go? (Checked
 * before a head goes anywhere: a bad chunk or a smuggled request behind it
 * never reaches a server in part.) Reads nothing. */
bool h1r_body_prefix_ok(const struct h1r *r, struct evbuffer *in);

/* The next message on this connection starts here. */
void h1r_reset(struct h1r *r);

/* Writers: payload as one chunk (all of it, moved), and the last chunk. */
void h1w_chunk(struct evbuffer *out, struct evbuffer *payload);
void h1w_last_chunk(struct evbuffer *out);

#endif
