/* lb/rd.h - the read side of a plain TCP bufferevent, done by us.
 *
 * libevent's bufferevent asks the kernel how much there is to read
 * (ioctl FIONREAD) before every read: one system call per read, two per
 * proxied request. Here the bufferevent's own reading stays off; a
 * persistent read event of ours reads into its input with one readv into
 * reserved space, and calls the callbacks the bufferevent has (its read
 * callback on data, its event callback with BEV_EVENT_READING and EOF,
 * ERROR or TIMEOUT), so the code above sees the same bufferevent as before.
 * Writing is the bufferevent's when it must wait for the socket; the
 * writes done at once go through rd_write. TLS bufferevents read through
 * OpenSSL and do not use this. */
#ifndef LXLB_RD_H
#define LXLB_RD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>
#include <sys/types.h>
#include <event2/util.h>

struct bufferevent;
struct event;
struct evbuffer;

struct rd {
    struct bufferevent *bev; /* whose input is filled and whose callbacks run */
    struct event *ev;        /* EV_READ|EV_PERSIST on its socket; NULL until first on */
    struct timeval tmo;      /* read timeout while on (reset by each read); 0: none */
    bool on;                 /* reading now */
};

void rd_init(struct rd *r, struct bufferevent *bev);
/* Start (or keep) reading; the timeout restarts. -1: out of memory. */
int rd_on(struct rd *r);
void rd_off(struct rd *r);
/* The read timeout (NULL or 0: none), applied at once when reading. */
void rd_timeout(struct rd *r, const struct timeval *tv);
/* Before the bufferevent is freed (it closes the socket). */
void rd_free(struct rd *r);

/* How much to reserve in an input for one read (a region of at least
 * this, maybe more: the free space of its last chain). */
size_t rd_space(const struct evbuffer *in);

/* Write what out holds to fd now (a bufferevent's output: thawed for the
 * call), with send(2) flags: one send when it is in one piece or small, else
 * sendmsg over its first pieces. What was written is drained; < 0 with errno
 * set, as send(2). */
ssize_t rd_write(struct evbuffer *out, evutil_socket_t fd, int flags);

/* Write what bev's output holds now, from the callback that queued it,
 * rather than ask the loop for a write event and write on its next turn
 * (that cost two epoll_ctl calls and a loop turn per message). bev's own
 * writing (EV_WRITE) is enabled only while bytes are left, which is when
 * backpressure and the write timeout matter; its write callback disables
 * it again once all is out. While it is enabled, libevent writes. An error
 * shows on the next write. */
void rd_flush(struct bufferevent *bev, int flags);

#endif
