/* lb/tio.h - TLS on client sockets, read and written by lxlb itself.
 *
 * libevent_openssl put every connection's bytes through two buffers (its
 * own, then ours), wrote each chunk of the output as a TLS record of its own
 * (a response's head, then its body: two records, two writes, two TCP
 * segments), and asked the loop for a write event for every response (an
 * epoll_ctl to add it and one to drop it). Here OpenSSL reads and writes the
 * socket through a BIO of ours (recv and send), the plaintext goes straight
 * into and out of a plain bufferevent's buffers, a response up to 16 KiB
 * leaves as one record in one send at once, and a write event is asked for
 * only when the socket does not take everything.
 *
 * The bufferevent is the one the code above uses, made with
 * bufferevent_socket_new, its own socket reading and writing never enabled:
 * tio calls its callbacks as libevent would (read: plaintext arrived; write:
 * the output drained after waiting for the socket; event: BEV_EVENT_CONNECTED
 * when the handshake is done, READING with EOF or ERROR, WRITING with ERROR
 * or TIMEOUT). A callback may free the connection (tio_free, then the
 * bufferevent). */
#ifndef LXLB_TIO_H
#define LXLB_TIO_H

#include <stdbool.h>
#include <sys/time.h>

#include "lb/tio-t.h"

struct bufferevent;
struct ssl_st;

/* The server side of TLS on bev's socket; takes ssl (freed with the tio,
 * or here on failure). The handshake starts with tio_start. NULL when out
 * of memory. */
struct tio *tio_new(struct bufferevent *bev, struct ssl_st *ssl);
/* Wait for the ClientHello. -1: out of memory. */
int tio_start(struct tio *t);
/* The tio of a bufferevent (NULL: plain TCP), and its SSL. */
struct tio *tio_of(const struct bufferevent *bev);
struct ssl_st *tio_ssl(const struct tio *t);

/* The owner takes input (on) or not (backpressure). */
void tio_read(struct tio *t, bool on);
/* Write what the output holds now; what the socket does not take goes when
 * it can (then the write callback). */
void tio_flush(struct tio *t);
/* The same before a close that follows at once: the last record, the
 * close_notify and (with the close) the FIN leave in one segment. */
void tio_flush_last(struct tio *t);
/* Ciphertext not on the socket yet (the output counts as not drained). */
bool tio_pending(const struct tio *t);
/* Send close_notify now, once (best effort: a socket that takes nothing
 * more is about to be closed anyway). */
void tio_close_notify(struct tio *t);
/* How long the output may wait for the socket (NULL: forever). */
void tio_write_timeout(struct tio *t, const struct timeval *tv);
/* The first OpenSSL error met (0: none); *sys: the errno of a failed
 * socket call (0: none). */
unsigned long tio_error(const struct tio *t, int *sys);
/* Before the bufferevent is freed. */
void tio_free(struct tio *t);

#endif
