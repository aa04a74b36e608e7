/* lb/rd.c - reading plain TCP bufferevents without FIONREAD (see rd.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lb/rd.h"

/* As libevent's default single read: large enough for a body chunk, small
 * enough that a burst of connections does not pin much memory. */
#define RD_CHUNK 16384
#define RD_MIN_SPACE 4096 /* free space wanted behind buffered bytes */
/* An output up to this size in several pieces is made one (a copy) and sent
 * with one send: cheaper in the kernel than writev (see rd_fill). */
#define RD_SEND_PULLUP 4096
#define RD_SEND_IOV 16 /* pieces of a larger output sent in one call */

static void rd_event(struct rd *r, short what)
{
    bufferevent_event_cb eventcb;
    void *arg;

    bufferevent_getcb(r->bev, NULL, NULL, &eventcb, &arg);
    if (eventcb)
        eventcb(r->bev, what, arg); /* may free r */
}

size_t rd_space(const struct evbuffer *in)
{
    /* One region: asked for 16 KiB behind bytes already there (half a
     * request head, a pipelined one), libevent would copy them into a new
     * 32 KiB chain rather than use the free space after them, once per
     * read (measured: 3000 clients with half a head, then gone, left 16 MB
     * of RSS that the readv of two regions did not). */
    return evbuffer_get_length(in) ? RD_MIN_SPACE : RD_CHUNK;
}

/* One recv into reserved space; < 0 with errno set. recv on one region,
 * not readv: readv goes through the file layer (fdget_pos, vfs_readv,
 * sock_read_iter, the iovec copied in) before it reaches the socket, which
 * perf showed as ~0.5 us of kernel time per keep-alive request that HAProxy,
 * with recvfrom/sendto, does not spend. */
static ssize_t rd_fill(struct rd *r, evutil_socket_t fd)
{
    struct evbuffer *in = bufferevent_get_input(r->bev);
    struct evbuffer_iovec v[1];
    ssize_t n;

    /* A bufferevent freezes the end of its input against other writers. */
    evbuffer_unfreeze(in, 0);
    if (evbuffer_reserve_space(in, rd_space(in), v, 1) != 1) {
        evbuffer_freeze(in, 0);
        errno = ENOMEM;
        return -1;
    }
    n = recv(fd, v[0].iov_base, v[0].iov_len, 0);
    int saved = errno;
    v[0].iov_len = n > 0 ? (size_t)n : 0;
    evbuffer_commit_space(in, v, n > 0 ? 1 : 0);
    evbuffer_freeze(in, 0);
    errno = saved;
    return n;
}

ssize_t rd_write(struct evbuffer *out, evutil_socket_t fd, int flags)
{
    size_t len = evbuffer_get_length(out);
    struct evbuffer_iovec v[RD_SEND_IOV];
    struct iovec iov[RD_SEND_IOV];
    ssize_t n;
    int nv;

    /* A bufferevent freezes the start of its output so nobody else drains
     * it; its own write callback thaws it just like this. */
    evbuffer_unfreeze(out, 1);
    nv = evbuffer_peek(out, -1, NULL, v, RD_SEND_IOV);
    if (nv > 1 && len <= RD_SEND_PULLUP) {
        /* A head and a small body: made one, for one send. */
        v[0].iov_base = evbuffer_pullup(out, -1);
        v[0].iov_len = len;
        nv = 1;
    }
    if (nv == 1) {
        n = send(fd, v[0].iov_base, v[0].iov_len, flags);
    } else {
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)(nv < RD_SEND_IOV ? nv : RD_SEND_IOV) };
        for (size_t i = 0; i < m.msg_iovlen; i++) {
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = v[i].iov_len;
        }
        n = sendmsg(fd, &m, flags); /* the rest on the next write */
    }
    int saved = errno;
    if (n > 0)
        evbuffer_drain(out, (size_t)n);
    evbuffer_freeze(out, 1);
    errno = saved;
    return n;
}

static void rd_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rd *r = arg;
    bufferevent_data_cb readcb;
    void *cbarg;
    ssize_t n;

    if (what & EV_TIMEOUT) {
        rd_off(r); /* as libevent: a timed-out side stops until re-enabled */
        rd_event(r, BEV_EVENT_READING | BEV_EVENT_TIMEOUT);
        return;
    }
    n = rd_fill(r, fd);
    if (n > 0) {
        bufferevent_getcb(r->bev, &readcb, NULL, NULL, &cbarg);
        if (readcb)
            readcb(r->bev, cbarg); /* may free r */
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    /* EOF or error: stop reading (level-triggered, it would fire forever),
     * then tell the owner; errno stays for EVUTIL_SOCKET_ERROR(). */
    int saved = errno;
    rd_off(r);
    errno = saved;
    rd_event(r, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR));
}

void rd_init(struct rd *r, struct bufferevent *bev)
{
    memset(r, 0, sizeof(*r));
    r->bev = bev;
}

static const struct timeval *tmo_of(const struct rd *r)
{
    return r->tmo.tv_sec || r->tmo.tv_usec ? &r->tmo : NULL;
}

int rd_on(struct rd *r)
{
    if (!r->ev) {
        evutil_socket_t fd = bufferevent_getfd(r->bev);
        if (fd < 0)
            return -1;
        r->ev = event_new(bufferevent_get_base(r->bev), fd, EV_READ | EV_PERSIST, rd_cb, r);
        if (!r->ev)
            return -1;
    }
    /* On a pending event this only moves its timeout: no epoll change. */
    if (event_add(r->ev, tmo_of(r)) < 0)
        return -1;
    r->on = true;
    return 0;
}

void rd_off(struct rd *r)
{
    if (r->on && r->ev)
        event_del(r->ev);
    r->on = false;
}

void rd_timeout(struct rd *r, const struct timeval *tv)
{
    bool had = tmo_of(r) != NULL;

    r->tmo = tv ? *tv : (struct timeval){ 0, 0 };
    if (had && !tmo_of(r) && r->ev) {
        /* A persistent event keeps the last timeout it was added with and
         * re-arms it after each activation, even after event_add(ev, NULL):
         * only a new event has none. */
        bool on = r->on;
        rd_free(r);
        if (on)
            rd_on(r);
        return;
    }
    if (r->on)
        event_add(r->ev, tmo_of(r));
}

void rd_free(struct rd *r)
{
    if (r->ev)
        event_free(r->ev);
    r->ev = NULL;
    r->on = false;
}

void rd_flush(struct bufferevent *bev, int flags)
{
    struct evbuffer *out = bufferevent_get_output(bev);

    if (evbuffer_get_length(out) == 0 || (bufferevent_get_enabled(bev) & EV_WRITE))
        return;
    rd_write(out, bufferevent_getfd(bev), flags);
    if (evbuffer_get_length(out) > 0)
        bufferevent_enable(bev, EV_WRITE); /* its writev also pushes what MSG_MORE held */
}
