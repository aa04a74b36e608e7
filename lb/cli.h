/* lb/cli.h - client connections: accept, the TLS handshake, the protocol's
 * timer, reading and writing, and the close. The protocol itself is
 * lb/h1c.c (HTTP/1.1) or lb/h2c.c (HTTP/2: by ALPN on TLS, by its preface
 * on a plain frontend with http2). */
#ifndef LXLB_CLI_H
#define LXLB_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <event2/util.h>

#include "lb/cli-t.h"

struct proxy;
struct frontend;

#define CLI_BUF_HIGH (64 * 1024) /* bytes queued per direction before backpressure */

/* Takes ownership of a freshly accepted client socket. With accept_proxy,
 * a PROXY protocol header is read first (lb/pp.h). */
void cli_accept(struct frontend *fe, evutil_socket_t fd, const struct sockaddr *sa, int salen);
/* A client connection on bev (owned from here, freed on failure); direct:
 * plain TCP read and written by lxlb itself; handshake: TLS, the protocol
 * starts when it is done. NULL when it could not be set up (the connection
 * counted as closed). Tests use it with an in-memory bufferevent pair. */
struct cli *cli_new(struct frontend *fe, struct bufferevent *bev, const struct sockaddr *sa,
                    bool direct, bool handshake);
/* Close at once, whatever it was doing. */
void cli_free(struct cli *c);
/* Graceful stop: idle connections close now, busy ones after their response. */
void cli_stop_all(struct proxy *px);
/* A reload took effect: each connection's protocol hears of it. */
void cli_reloaded(struct proxy *px);
/* Exit: close every connection. */
void cli_close_all(struct proxy *px);

/* The protocol's timer, armed for state (a callback in another state is
 * ignored), or disarmed. */
void cli_arm(struct cli *c, int state, uint32_t ms);
void cli_disarm(struct cli *c);
/* Reading on or off (never on again after the client's EOF). */
void cli_read(struct cli *c, bool on);
/* Write what is queued now (plain TCP), or let libevent write it (TLS). */
void cli_flush(struct cli *c);
/* The same for the last bytes before a close that follows at once (the
 * FIN goes with them). */
void cli_flush_last(struct cli *c);
/* How long the output may wait for a client that does not read (NULL:
 * forever). */
void cli_write_timeout(struct cli *c, const struct timeval *tv);
/* Stop sending; read and discard for a moment, then close (or close now
 * when nothing can be lost). */
void cli_linger(struct cli *c, bool clean);

int64_t cli_mono_us(void);

extern const struct cli_proto h1c_proto;

#endif
