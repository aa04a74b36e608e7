/* lb/tio.c - TLS on client sockets, read and written by lxlb (lb/tio.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lb/rd.h"
#include "lb/tio.h"

#define TIO_RECORD 16384 /* plaintext bytes per SSL_write: one TLS record */

static BIO_METHOD *bio_method;
static struct tio **by_fd; /* the tio of each socket, for tio_of */
static size_t nby_fd;      /* entries in by_fd: the descriptor limit at start */
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ------------------------------------------------------------------ BIO */

/* recv and send, not read and write: the socket calls skip the file layer
 * (as lb/rd.c does for plain TCP). While corked, what OpenSSL writes is
 * gathered in raw and sent with one send later: a whole handshake flight,
 * or the last record with the close_notify. */
static int bio_write(BIO *b, const char *buf, int len)
{
    struct tio *t = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    if (t->cork || evbuffer_get_length(t->raw)) {
        /* (behind unsent ciphertext: in order, after it) */
        return evbuffer_add(t->raw, buf, (size_t)len) == 0 ? len : -1;
    }
    n = send(t->fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_write(b);
        else
            t->sys_err = errno;
        return -1;
    }
    return (int)n;
}

static int bio_read(BIO *b, char *buf, int len)
{
    struct tio *t = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    n = recv(t->fd, buf, (size_t)len, 0);
    if (n == 0)
        t->bio_eof = true;
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_read(b);
        else
            t->sys_err = errno;
    }
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct tio *t = BIO_get_data(b);

    (void)num; (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* sent as written; corked bytes go after the call */
    case BIO_CTRL_EOF:
        return t && t->bio_eof;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void init_once(void)
{
    struct rlimit rl;

    bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "lxlb socket");
    if (bio_method) {
        BIO_meth_set_write(bio_method, bio_write);
        BIO_meth_set_read(bio_method, bio_read);
        BIO_meth_set_ctrl(bio_method, bio_ctrl);
        BIO_meth_set_create(bio_method, bio_create);
    }
    /* Descriptors cannot go past the limit lxlb started with (it never
     * raises it): a slot per descriptor, untouched pages cost nothing. */
    nby_fd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                 ? (size_t)rl.rlim_cur : 65536;
    if (nby_fd < 1024)
        nby_fd = 1024;
    by_fd = calloc(nby_fd, sizeof(*by_fd));
}

/* ---------------------------------------------------------------- events */

static void call_event(struct tio *t, short what)
{
    bufferevent_event_cb cb;
    void *arg;

    bufferevent_getcb(t->bev, NULL, NULL, &cb, &arg);
    if (cb)
        cb(t->bev, what, arg); /* may free t */
}

/* The loop watches the socket for what the connection waits on, and only
 * that: a change of interest is an epoll_ctl, so nothing is added or
 * removed that is already so. */
static void update_events(struct tio *t)
{
    bool r, w;
    bool raw = evbuffer_get_length(t->raw) > 0 && !t->hold;

    if (t->done) {
        r = w = false;
    } else if (!t->open) {
        r = !t->hs_wants_write;
        w = t->hs_wants_write || raw;
    } else {
        r = t->reading || t->write_wants_read;
        w = raw || t->read_wants_write || t->write_blocked;
    }
    if (r != t->rev_on) {
        if (r)
            event_add(t->rev, NULL);
        else
            event_del(t->rev);
        t->rev_on = r;
    }
    if (w != t->wev_on) {
        if (w)
            event_add(t->wev, t->wtmo.tv_sec || t->wtmo.tv_usec ? &t->wtmo : NULL);
        else
            event_del(t->wev);
        t->wev_on = w;
    }
}

/* The first error's details, for the log; the queue emptied. */
static void note_error(struct tio *t)
{
    unsigned long e = ERR_peek_error();

    if (!t->err && e)
        t->err = e;
    if (!t->sys_err && errno && errno != EAGAIN)
        t->sys_err = errno;
    ERR_clear_error();
}

/* An end: nothing more is read or written, the owner is told. */
static void fail(struct tio *t, short what)
{
    t->done = true;
    update_events(t);
    call_event(t, what); /* may free t */
}

/* Send what raw holds (flags: MSG_MORE before a close). true: all out. */
static bool flush_raw(struct tio *t, int flags)
{
    size_t len = evbuffer_get_length(t->raw);
    ssize_t n;

    if (len == 0)
        return true;
    n = send(t->fd, evbuffer_pullup(t->raw, -1), len, MSG_NOSIGNAL | flags);
    if (n > 0)
        evbuffer_drain(t->raw, (size_t)n);
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        t->sys_err = errno;
    return (size_t)(n > 0 ? n : 0) == len;
}

/* ------------------------------------------------------------- handshake */

static void do_handshake(struct tio *t)
{
    int r, e;

    ERR_clear_error();
    t->cork = true; /* the server's flight in one send */
    r = SSL_do_handshake(t->ssl);
    t->cork = false;
    if (r == 1) {
        /* TLS 1.3: its last words (session tickets) wait for the first
         * response and leave in its send (one segment fewer). TLS 1.2 ends
         * with the server's Finished, which the client waits for. */
        if (SSL_version(t->ssl) >= TLS1_3_VERSION)
            t->hold = evbuffer_get_length(t->raw) > 0;
        else
            flush_raw(t, 0);
        t->open = true;
        update_events(t);
        /* The first request may have come with the client's Finished: read
         * ahead, it is OpenSSL's now, and the socket will not announce it. */
        if (SSL_has_pending(t->ssl))
            event_active(t->rev, EV_READ, 1);
        call_event(t, BEV_EVENT_CONNECTED); /* may free t */
        return;
    }
    flush_raw(t, 0);
    e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        t->hs_wants_write = e == SSL_ERROR_WANT_WRITE;
        update_events(t);
        return;
    }
    note_error(t);
    fail(t, BEV_EVENT_ERROR | (t->bio_eof ? BEV_EVENT_EOF : 0));
}

/* ------------------------------------------------------------------ read */

/* Decrypt what came into the input: every record OpenSSL holds (its
 * read-ahead takes all the socket has in one recv), stopping when it holds
 * none, so that no call is spent on an empty socket. */
static void do_read(struct tio *t)
{
    struct evbuffer *in = bufferevent_get_input(t->bev);
    struct evbuffer_iovec v[1];
    bufferevent_data_cb readcb;
    void *arg;
    bool got = false;
    short what = 0;
    int n;

    t->read_wants_write = false;
    /* A bufferevent freezes the end of its input against other writers. */
    evbuffer_unfreeze(in, 0);
    for (;;) {
        if (evbuffer_reserve_space(in, rd_space(in), v, 1) != 1) {
            what = BEV_EVENT_ERROR;
            break;
        }
        ERR_clear_error();
        n = SSL_read(t->ssl, v[0].iov_base, (int)v[0].iov_len);
        if (n > 0) {
            v[0].iov_len = (size_t)n;
            evbuffer_commit_space(in, v, 1);
            got = true;
            if (!SSL_has_pending(t->ssl))
                break;
            continue;
        }
        evbuffer_commit_space(in, v, 0);
        switch (SSL_get_error(t->ssl, n)) {
        case SSL_ERROR_WANT_READ:
            break;
        case SSL_ERROR_WANT_WRITE:
            t->read_wants_write = true;
            break;
        case SSL_ERROR_ZERO_RETURN:
            what = BEV_EVENT_EOF; /* close_notify, or a bare EOF (we allow it) */
            break;
        default:
            note_error(t);
            what = t->err || t->sys_err ? BEV_EVENT_ERROR : BEV_EVENT_EOF;
            break;
        }
        break;
    }
    evbuffer_freeze(in, 0);
    if (got) {
        /* An end behind the data is seen on the next read: the socket stays
         * readable at EOF, and OpenSSL remembers it. */
        update_events(t);
        bufferevent_getcb(t->bev, &readcb, NULL, NULL, &arg);
        if (readcb)
            readcb(t->bev, arg); /* may free t */
        return;
    }
    if (what) {
        fail(t, BEV_EVENT_READING | what);
        return;
    }
    update_events(t);
}

/* ----------------------------------------------------------------- write */

/* Encrypt and send the output, a record of up to 16 KiB at a time (a
 * response's head and body together: one record, one send). false: the
 * connection failed (the owner was told: t may be gone). */
static bool do_write(struct tio *t)
{
    struct evbuffer *out = bufferevent_get_output(t->bev);
    size_t len;
    int r;

    t->write_wants_read = t->write_blocked = false;
    while (!t->done && (len = evbuffer_get_length(out)) > 0) {
        int n = (int)(len < TIO_RECORD ? len : TIO_RECORD);
        /* A bufferevent freezes the start of its output against others. */
        evbuffer_unfreeze(out, 1);
        ERR_clear_error();
        r = SSL_write(t->ssl, evbuffer_pullup(out, n), n);
        if (r > 0)
            evbuffer_drain(out, (size_t)r);
        evbuffer_freeze(out, 1);
        if (r > 0)
            continue;
        switch (SSL_get_error(t->ssl, r)) {
        case SSL_ERROR_WANT_WRITE:
            t->write_blocked = true;
            return true;
        case SSL_ERROR_WANT_READ:
            t->write_wants_read = true;
            return true;
        default:
            note_error(t);
            fail(t, BEV_EVENT_WRITING | BEV_EVENT_ERROR);
            return false;
        }
    }
    return true;
}

/* -------------------------------------------------------------- callbacks */

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tio *t = arg;

    (void)fd; (void)what;
    if (!t->open) {
        do_handshake(t);
        return;
    }
    if (t->write_wants_read) {
        if (!do_write(t))
            return;
        update_events(t);
    }
    if (t->reading)
        do_read(t);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tio *t = arg;
    struct evbuffer *out = bufferevent_get_output(t->bev);
    bufferevent_data_cb writecb;
    size_t low = 0, before = evbuffer_get_length(out) + evbuffer_get_length(t->raw);
    void *cbarg;

    (void)fd;
    if (what & EV_TIMEOUT) {
        fail(t, BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT);
        return;
    }
    t->hold = false;
    if (!flush_raw(t, 0)) {
        if (t->sys_err)
            fail(t, BEV_EVENT_WRITING | BEV_EVENT_ERROR);
        return; /* still waiting for the socket */
    }
    if (!t->open) {
        do_handshake(t);
        return;
    }
    if (t->read_wants_write) {
        do_read(t);
        return; /* (the next write event writes the output) */
    }
    if (!do_write(t))
        return;
    size_t left = evbuffer_get_length(out) + evbuffer_get_length(t->raw);
    if (left < before && t->wev_on && left > 0)
        event_add(t->wev, t->wtmo.tv_sec || t->wtmo.tv_usec ? &t->wtmo : NULL); /* restart */
    update_events(t);
    bufferevent_getwatermark(t->bev, EV_WRITE, &low, NULL);
    bufferevent_getcb(t->bev, NULL, &writecb, NULL, &cbarg);
    if (left < before && left <= low && writecb)
        writecb(t->bev, cbarg); /* may free t */
}

/* ------------------------------------------------------------------- API */

struct tio *tio_new(struct bufferevent *bev, struct ssl_st *ssl)
{
    struct event_base *base = bufferevent_get_base(bev);
    struct tio *t = calloc(1, sizeof(*t));
    BIO *bio = NULL;

    pthread_once(&once, init_once);
    if (!t)
        goto err;
    t->ssl = ssl;
    t->bev = bev;
    t->fd = bufferevent_getfd(bev);
    if (!bio_method || !by_fd || t->fd < 0 || (size_t)t->fd >= nby_fd ||
        !(t->raw = evbuffer_new()) ||
        !(t->rev = event_new(base, t->fd, EV_READ | EV_PERSIST, read_cb, t)) ||
        !(t->wev = event_new(base, t->fd, EV_WRITE | EV_PERSIST, write_cb, t)) ||
        !(bio = BIO_new(bio_method)))
        goto err;
    BIO_set_data(bio, t);
    SSL_set_bio(ssl, bio, bio); /* owns it from here */
    /* OpenSSL reads all the socket has in one call (read-ahead), keeps its
     * buffers between records (no RELEASE_BUFFERS: a malloc and free per
     * record otherwise), takes a retried write from a moved buffer (the
     * output may be made one piece again), and takes a bare EOF as the
     * client's end (browsers and wrk close without close_notify; the HTTP
     * framing tells truncation apart). */
    SSL_set_read_ahead(ssl, 1);
    SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_set_accept_state(ssl);
    bufferevent_disable(bev, EV_READ | EV_WRITE); /* its socket I/O is ours */
    by_fd[t->fd] = t;
    return t;
err:
    if (t) {
        if (t->rev)
            event_free(t->rev);
        if (t->wev)
            event_free(t->wev);
        if (t->raw)
            evbuffer_free(t->raw);
        free(t);
    }
    SSL_free(ssl);
    return NULL;
}

int tio_start(struct tio *t)
{
    t->reading = true; /* as a plain connection starts reading */
    update_events(t);  /* the ClientHello */
    return t->rev_on ? 0 : -1;
}

struct tio *tio_of(const struct bufferevent *bev)
{
    evutil_socket_t fd = bufferevent_getfd((struct bufferevent *)bev);
    struct tio *t;

    if (!by_fd || fd < 0 || (size_t)fd >= nby_fd)
        return NULL;
    t = by_fd[fd];
    return t && t->bev == bev ? t : NULL;
}

struct ssl_st *tio_ssl(const struct tio *t) { return t ? t->ssl : NULL; }

void tio_read(struct tio *t, bool on)
{
    t->reading = on;
    if (!t->open)
        return; /* the handshake reads as it needs */
    update_events(t);
    /* Records OpenSSL read ahead are not the socket's to announce. */
    if (on && !t->done && SSL_has_pending(t->ssl))
        event_active(t->rev, EV_READ, 1);
}

void tio_flush(struct tio *t)
{
    if (!t->open || t->done || t->wev_on || t->write_wants_read)
        return; /* the handshake, or a write already waiting, comes first */
    if (!do_write(t))
        return;
    if (t->hold) { /* the held tickets, and behind them what was just written */
        t->hold = false;
        flush_raw(t, 0);
    }
    update_events(t);
}

void tio_flush_last(struct tio *t)
{
    struct evbuffer *out = bufferevent_get_output(t->bev);

    if (!t->open || t->done || t->wev_on || t->write_wants_read ||
        evbuffer_get_length(out) > TIO_RECORD) {
        tio_flush(t);
        return;
    }
    t->cork = true;
    if (!do_write(t)) /* (fails only on an error: t is gone) */
        return;
    if (evbuffer_get_length(out) == 0 && !t->shut) {
        t->shut = true;
        ERR_clear_error();
        SSL_shutdown(t->ssl); /* close_notify, gathered too */
        ERR_clear_error();
    }
    t->cork = t->hold = false;
    /* MSG_MORE: the close that follows sets the FIN on this segment. */
    flush_raw(t, MSG_MORE);
    update_events(t);
}

bool tio_pending(const struct tio *t)
{
    return evbuffer_get_length(t->raw) > 0;
}

void tio_close_notify(struct tio *t)
{
    if (!t->open || t->done || t->shut)
        return;
    t->shut = true;
    t->cork = true;
    ERR_clear_error();
    SSL_shutdown(t->ssl);
    ERR_clear_error();
    t->cork = t->hold = false;
    flush_raw(t, MSG_MORE);
}

void tio_write_timeout(struct tio *t, const struct timeval *tv)
{
    t->wtmo = tv ? *tv : (struct timeval){ 0, 0 };
    if (t->wev_on)
        event_add(t->wev, t->wtmo.tv_sec || t->wtmo.tv_usec ? &t->wtmo : NULL);
}

unsigned long tio_error(const struct tio *t, int *sys)
{
    if (sys)
        *sys = t ? t->sys_err : 0;
    return t ? t->err : 0;
}

void tio_free(struct tio *t)
{
    if (!t)
        return;
    if (t->fd >= 0 && (size_t)t->fd < nby_fd && by_fd[t->fd] == t)
        by_fd[t->fd] = NULL;
    event_free(t->rev);
    event_free(t->wev);
    SSL_free(t->ssl); /* and its BIO */
    evbuffer_free(t->raw);
    free(t);
}
