/* lb/tio-t.h - TLS on a client socket, done by lxlb (lb/tio.h): OpenSSL
 * reads and writes the socket through a BIO of ours, and the plaintext goes
 * into and out of a plain bufferevent's buffers. Types only. */
#ifndef LXLB_TIO_T_H
#define LXLB_TIO_T_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>

struct bufferevent;
struct event;
struct evbuffer;
struct ssl_st;

struct tio {
    struct ssl_st *ssl;        /* the connection's TLS state (owned) */
    struct bufferevent *bev;   /* its buffers and callbacks; the socket's fd. Its
                                * own socket reading and writing stay off */
    int fd;                    /* the socket (the bufferevent closes it) */
    struct event *rev;         /* EV_READ|EV_PERSIST on fd */
    struct event *wev;         /* EV_WRITE|EV_PERSIST on fd, with the write timeout */
    bool rev_on, wev_on;       /* rev / wev pending now */
    struct timeval wtmo;       /* write timeout (0: none), restarted by each write */
    bool open;                 /* the handshake is done */
    bool hs_wants_write;       /* handshake: OpenSSL waits to write (else to read) */
    bool reading;              /* the owner wants input (tio_read) */
    bool read_wants_write;     /* SSL_read waits for the socket to take bytes */
    bool write_wants_read;     /* SSL_write waits for bytes from the socket */
    bool write_blocked;        /* SSL_write waits for the socket to take bytes */
    bool done;                 /* EOF or an error was reported: no more I/O */
    bool shut;                 /* our close_notify is out (or was tried) */
    bool cork;                 /* the BIO gathers what OpenSSL writes in raw */
    bool hold;                 /* raw holds the handshake's tickets: they go with
                                * the first write */
    bool bio_eof;              /* the BIO read the socket's EOF */
    struct evbuffer *raw;      /* ciphertext gathered (cork) or not sent yet */
    unsigned long err;         /* the first OpenSSL error met, for the log */
    int sys_err;               /* errno of a failed socket call, for the log */
};

#endif
