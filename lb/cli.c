/* lb/cli.c - client connections (lb/cli.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <errno.h>
#include <unistd.h>

#include "lb/cli.h"
#include "lb/ctr.h"
#include "lb/log.h"
#include "lb/pp.h"
#include "lb/h2c.h"
#include "lb/proxy.h"
#include "lb/tio.h"
#include "lb/tls.h"

#define LINGER_MS 2000 /* read and discard this long before a close */
#define LINGER_STATE (-2) /* the timer state of the linger (any protocol) */
#define HANDSHAKE_STATE (-3) /* the timer state of the TLS handshake */
#define PP_STATE (-4) /* the timer state of the PROXY header */

static void pp_fail(struct cli *c, const char *why);

int64_t cli_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ----------------------------------------------------------------- timer */

void cli_arm(struct cli *c, int state, uint32_t ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    c->timer_state = state;
    evtimer_add(c->timer, &tv);
}

void cli_disarm(struct cli *c)
{
    evtimer_del(c->timer);
    c->timer_state = -1;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cli *c = arg;
    int armed = c->timer_state;

    (void)fd; (void)what;
    c->timer_state = -1;
    if (armed == LINGER_STATE || armed == HANDSHAKE_STATE) {
        cli_free(c); /* linger over, or a handshake that never finished */
        return;
    }
    if (armed == PP_STATE && c->pp) {
        pp_fail(c, "no whole header within timeout.http_request");
        return;
    }
    /* A deadline belongs to the state it was armed in: a state change
     * disarms it, and the protocol checks it is still in that state. */
    if (c->proto && armed >= 0)
        c->proto->timeout(c, armed);
}

/* ------------------------------------------------------------------ I/O */

void cli_read(struct cli *c, bool on)
{
    if (on && c->eof)
        return; /* nothing more will come; reading would only report EOF again */
    if (c->tio)
        tio_read(c->tio, on);
    else if (!c->direct)
        (on ? bufferevent_enable : bufferevent_disable)(c->bev, EV_READ);
    else if (on)
        rd_on(&c->rd);
    else
        rd_off(&c->rd);
}

/* Plain TCP writes at once (rd_flush); TLS through lb/tio.c, which does
 * the same for records. A connection libevent writes for itself (!direct)
 * is left to it. */
void cli_flush(struct cli *c)
{
    if (c->tio)
        tio_flush(c->tio);
    else if (c->direct)
        rd_flush(c->bev, 0);
}

/* The last bytes before a close, sent with MSG_MORE: the kernel holds them
 * until the close (or shutdown) that follows at once, whose FIN then leaves
 * in the same segment instead of one of its own (measured: one TCP segment
 * fewer per connection closed after its response). Only a close that
 * follows in the same call may use it: held bytes wait for the next push. */
void cli_flush_last(struct cli *c)
{
    if (c->tio)
        tio_flush_last(c->tio);
    else if (c->direct)
        rd_flush(c->bev, MSG_MORE);
}

void cli_write_timeout(struct cli *c, const struct timeval *tv)
{
    bufferevent_set_timeouts(c->bev, NULL, tv);
    if (c->tio)
        tio_write_timeout(c->tio, tv);
}

/* Once the last bytes are out, stop sending, and read (and discard) what the
 * client still sends for a moment: closing with unread data makes the kernel
 * send a reset, which can destroy the response before the client reads it.
 * Not needed after a whole request with nothing behind it (clean), which
 * closes at once. */
void cli_linger(struct cli *c, bool clean)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);

    if (c->tio) {
        if (tio_pending(c->tio))
            return; /* ciphertext still to go: back here when it is out */
        /* close_notify before the FIN, as HAProxy and nginx send it: a
         * client that sees a bare EOF may take the session as broken and
         * not resume it. */
        tio_close_notify(c->tio);
    }
    if (c->eof || clean || shutdown(fd, SHUT_WR) < 0) {
        cli_free(c);
        return;
    }
    evbuffer_drain(bufferevent_get_input(c->bev), (size_t)-1);
    cli_read(c, true);
    cli_arm(c, LINGER_STATE, LINGER_MS);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct cli *c = arg;

    (void)bev;
    if (c->timer_state == LINGER_STATE) {
        evbuffer_drain(bufferevent_get_input(c->bev), (size_t)-1);
        return;
    }
    c->proto->read(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct cli *c = arg;

    if (c->direct && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_disable(bev, EV_WRITE); /* all out: cli_flush writes from here on */
    if (c->timer_state != LINGER_STATE)
        c->proto->written(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct cli *c = arg;

    (void)bev;
    if (what & BEV_EVENT_EOF)
        c->eof = true;
    if (c->timer_state == LINGER_STATE) {
        cli_free(c);
        return;
    }
    c->proto->event(c, what);
}

/* ------------------------------------------------- protocol selection */

static void proto_start(struct cli *c, const struct cli_proto *p)
{
    c->proto = p;
    p->start(c);
}

/* A plain frontend with http2: the first bytes tell HTTP/2 with prior
 * knowledge (its preface) from HTTP/1.1, which gets every byte read so far.
 * Until then the first request's deadline runs, as on HTTP/1.1. */
static void sniff_read(struct cli *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t n = evbuffer_get_length(in);

    if (n > H2C_PREFACE_LEN)
        n = H2C_PREFACE_LEN;
    if (n && memcmp(evbuffer_pullup(in, (ssize_t)n), H2C_PREFACE, n))
        proto_start(c, &h1c_proto);
    else if (n == H2C_PREFACE_LEN)
        proto_start(c, &h2c_proto);
}

static void sniff_start(struct cli *c)
{
    cli_arm(c, 0, c->px->conf->timeout.http_request_ms);
    if (evbuffer_get_length(bufferevent_get_input(c->bev)))
        sniff_read(c);
}

static void sniff_written(struct cli *c) { (void)c; }

static void sniff_event(struct cli *c, short what)
{
    /* Bytes then a FIN: HTTP/1.1 answers what came (or logs it as cut). */
    if ((what & BEV_EVENT_EOF) && !(what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) &&
        evbuffer_get_length(bufferevent_get_input(c->bev)))
        proto_start(c, &h1c_proto);
    else
        cli_free(c);
}

static void sniff_timeout(struct cli *c, int armed)
{
    (void)armed;
    cli_free(c); /* nothing came in time: as an idle HTTP/1.1 connection */
}

static void sniff_stop(struct cli *c) { cli_free(c); }
static void sniff_release(struct cli *c) { (void)c; }

static const struct cli_proto sniff_proto = {
    .name = "h2c?",
    .start = sniff_start,
    .read = sniff_read,
    .written = sniff_written,
    .event = sniff_event,
    .timeout = sniff_timeout,
    .stop = sniff_stop,
    .release = sniff_release,
};

/* TLS: until the handshake is done, its outcome is the only event; then
 * ALPN says which protocol. */
static void handshake_cb(struct bufferevent *bev, short what, void *arg)
{
    struct cli *c = arg;

    if (what & BEV_EVENT_CONNECTED) {
        cli_disarm(c);
        bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
        proto_start(c, tls_alpn_h2(bev) ? &h2c_proto : &h1c_proto);
        return;
    }
    tls_log_failure(bev, what, c->fe->name, c->client);
    cli_free(c);
}

/* ------------------------------------------------------------- lifetime */

/* Decimal digits of v at p; returns the end. */
static char *put_uint(char *p, unsigned v)
{
    char t[10];
    int n = 0;

    do
        t[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        *p++ = t[--n];
    return p;
}

/* c->client_ip and c->client, from c->src. IPv4, the common case, is
 * written by hand: inet_ntop and two snprintf cost ~3,400 instructions per
 * connection (callgrind, httpclose: 8% of lxlb's), this ~100. */
static void client_name(struct cli *c)
{
    const struct sockaddr *sa = (const struct sockaddr *)&c->src;
    char ip[INET6_ADDRSTRLEN] = "unix";
    unsigned port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        const uint8_t *b = (const uint8_t *)&in->sin_addr;
        char *p = c->client_ip;
        for (int i = 0; i < 4; i++) {
            p = put_uint(p, b[i]);
            *p++ = i < 3 ? '.' : '\0';
        }
        size_t n = (size_t)(p - 1 - c->client_ip);
        memcpy(c->client, c->client_ip, n);
        c->client[n] = ':';
        *put_uint(c->client + n + 1, ntohs(in->sin_port)) = '\0';
        return;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
    }
    snprintf(c->client_ip, sizeof(c->client_ip), "%s", ip);
    if (sa->sa_family == AF_INET6)
        snprintf(c->client, sizeof(c->client), "[%s]:%u", ip, port);
    else
        snprintf(c->client, sizeof(c->client), "%s:%u", ip, port);
}

static void pp_free(struct cli *c)
{
    if (!c->pp)
        return;
    if (c->pp->ev)
        event_free(c->pp->ev);
    if (!c->bev)
        evutil_closesocket(c->pp->fd); /* never got its bufferevent */
    free(c->pp->buf);
    free(c->pp);
    c->pp = NULL;
}

void cli_free(struct cli *c)
{
    struct proxy *px = c->px;

    if (c->proto)
        c->proto->release(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        px->clis = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pp_free(c);
    rd_free(&c->rd);
    tio_free(c->tio);
    if (c->bev)
        bufferevent_free(c->bev);
    event_free(c->timer);
    ctr_dec(c->fe->ctr, CTR_CONNS);
    fe_unref(c->fe);
    free(c);
    proxy_conn_closed(px);
}

/* A connection without its socket's bufferevent yet: listed, counted, with
 * its timer. NULL: out of memory (the connection counted as closed). */
static struct cli *cli_alloc(struct frontend *fe, const struct sockaddr *sa, socklen_t salen)
{
    struct proxy *px = fe->px;
    struct cli *c = calloc(1, sizeof(*c));

    if (!c || !(c->timer = evtimer_new(px->base, timer_cb, c))) {
        free(c);
        proxy_conn_closed(px);
        return NULL;
    }
    c->px = px;
    c->fe = fe;
    c->timer_state = -1;
    c->accepted_us = cli_mono_us();
    fe_ref(fe);
    if (salen > sizeof(c->src))
        salen = sizeof(c->src);
    memcpy(&c->src, sa, salen);
    client_name(c);
    c->next = px->clis;
    if (px->clis)
        px->clis->prev = c;
    px->clis = c;
    ctr_inc(fe->ctr, CTR_CONNS);
    ctr_inc(fe->ctr, CTR_CONNS_TOTAL);
    return c;
}

/* The socket's bufferevent (owned from here): plain TCP read and written
 * by lxlb itself (direct), or TLS, whose handshake comes first. 0, or -1
 * when c was freed. */
static int cli_attach(struct cli *c, struct bufferevent *bev, bool direct, bool handshake)
{
    const struct conf_timeouts *t = &c->px->conf->timeout;
    struct timeval ctv = { t->client_ms / 1000, (t->client_ms % 1000) * 1000 };

    c->bev = bev;
    if (c->dst.ss_family == AF_UNSPEC) {
        socklen_t len = sizeof(c->dst);
        if (getsockname(bufferevent_getfd(bev), (struct sockaddr *)&c->dst, &len) < 0)
            c->dst.ss_family = AF_UNSPEC;
    }
    /* No TCP_NODELAY towards clients (as HAProxy): a response is written in
     * few large writes anyway, and with Nagle off a client whose receive
     * window collapses gets a trickle of tiny segments (measured: 4 MB in
     * 30 s instead of 0.6 s). */
    bufferevent_setcb(bev, read_cb, write_cb, handshake ? handshake_cb : event_cb, c);
    /* No read watermark: each state bounds its input itself (reading stops
     * at CLI_BUF_HIGH when nothing is consumed), and libevent's watermark
     * check re-armed the read event on every drain. */
    bufferevent_setwatermark(bev, EV_WRITE, CLI_BUF_HIGH / 4, 0);
    cli_write_timeout(c, &ctv); /* a client that stops reading */
    c->direct = direct;
    rd_init(&c->rd, bev);
    if (direct)
        bufferevent_disable(bev, EV_WRITE);
    if (direct ? rd_on(&c->rd) < 0
               : c->tio ? tio_start(c->tio) < 0 : bufferevent_enable(bev, EV_READ) < 0) {
        cli_free(c);
        return -1;
    }
    if (handshake) {
        cli_arm(c, HANDSHAKE_STATE, t->client_ms); /* the handshake's deadline */
        return 0;
    }
    proto_start(c, c->fe->conf->http2 ? &sniff_proto : &h1c_proto);
    return 0;
}

static socklen_t sa_len(const struct sockaddr *sa)
{
    switch (sa->sa_family) {
    case AF_INET: return sizeof(struct sockaddr_in);
    case AF_INET6: return sizeof(struct sockaddr_in6);
    default: return sizeof(struct sockaddr_un);
    }
}

struct cli *cli_new(struct frontend *fe, struct bufferevent *bev, const struct sockaddr *sa,
                    bool direct, bool handshake)
{
    struct cli *c = cli_alloc(fe, sa, sa_len(sa));

    if (!c) {
        bufferevent_free(bev);
        return NULL;
    }
    return cli_attach(c, bev, direct, handshake) < 0 ? NULL : c;
}

/* The socket's bufferevent, plain or TLS as the frontend says. 0, or -1
 * when c was freed. */
static int cli_open(struct cli *c, evutil_socket_t fd)
{
    struct proxy *px = c->px;
    bool tls = c->fe->conf->tls.enabled;
    /* A TLS frontend whose certificates are not loaded closes: never plain text. */
    struct bufferevent *bev = tls ? tls_bev_new(c->fe->tls, px->base, fd)
                                  : bufferevent_socket_new(px->base, fd, BEV_OPT_CLOSE_ON_FREE);

    if (!bev) {
        if (!c->pp)
            evutil_closesocket(fd); /* else pp_free closes it, with no bufferevent */
        cli_free(c);
        return -1;
    }
    c->bev = bev;
    c->tio = tls ? tio_of(bev) : NULL;
    pp_free(c);
    return cli_attach(c, bev, !tls, tls);
}

/* ---------------------------------------------------------- PROXY header */

/* A PROXY header that is missing, malformed, cut short or late: counted,
 * logged at debug level, closed. */
static void pp_fail(struct cli *c, const char *why)
{
    ctr_inc(c->fe->ctr, CTR_PROXY_ERRORS);
    log_event(LOG_LVL_DEBUG, "%s: %s: PROXY header: %s", c->fe->name, c->client, why);
    cli_free(c);
}

/* The header is whole: its source is the client from now on (logs,
 * X-Forwarded-For, send_proxy), unless it says it has none. */
static void pp_done(struct cli *c, const struct pp_result *r)
{
    evutil_socket_t fd = c->pp->fd;

    cli_disarm(c);
    if (!r->local) {
        memcpy(&c->src, &r->src, r->src_len);
        memcpy(&c->dst, &r->dst, r->dst_len);
        client_name(c);
    }
    event_del(c->pp->ev);
    cli_open(c, fd);
}

/* Peek at what has come, and take only bytes that are surely the header's:
 * the request (or a TLS ClientHello) behind it is left in the socket. */
static void pp_read_cb(evutil_socket_t fd, short what, void *arg)
{
    static __thread uint8_t peek[PP_V2_MAX];
    struct cli *c = arg;
    struct cli_pp *pp = c->pp;
    struct pp_result r;
    ssize_t n;

    (void)what;
    if (pp->len)
        memcpy(peek, pp->buf, pp->len); /* (never from a NULL buffer, even 0 bytes) */
    n = recv(fd, peek + pp->len, sizeof(peek) - pp->len, MSG_PEEK);
    if (n == 0) {
        pp_fail(c, "the connection closed before a whole header");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            pp_fail(c, strerror(errno));
        return;
    }
    enum pp_status st = pp_parse(peek, pp->len + (size_t)n, &r);
    if (st == PP_ERROR) {
        pp_fail(c, r.why);
        return;
    }
    /* Consume what is the header's: all of it when whole, else all that came
     * (the end is not in view yet, so it is all header). */
    size_t take = st == PP_DONE ? r.len - pp->len : (size_t)n;
    if (pp->len + take > pp->cap) {
        size_t cap = pp->len + take;
        uint8_t *b = realloc(pp->buf, cap);
        if (!b) {
            pp_fail(c, "out of memory");
            return;
        }
        pp->buf = b;
        pp->cap = cap;
    }
    if (recv(fd, pp->buf + pp->len, take, 0) != (ssize_t)take) {
        pp_fail(c, "short read");
        return;
    }
    pp->len += take;
    if (st == PP_DONE)
        pp_done(c, &r);
}

static void pp_start(struct cli *c, evutil_socket_t fd)
{
    struct cli_pp *pp = calloc(1, sizeof(*pp));

    if (pp)
        pp->fd = fd;
    c->pp = pp;
    if (!pp || !(pp->ev = event_new(c->px->base, fd, EV_READ | EV_PERSIST, pp_read_cb, c)) ||
        event_add(pp->ev, NULL) < 0) {
        if (!pp)
            evutil_closesocket(fd);
        pp_fail(c, "out of memory");
        return;
    }
    /* The header comes first and at once, within timeout.http_request. */
    cli_arm(c, PP_STATE, c->px->conf->timeout.http_request_ms);
}

void cli_accept(struct frontend *fe, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
    struct cli *c = cli_alloc(fe, sa, (socklen_t)salen);

    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    if (fe->conf->accept_proxy)
        pp_start(c, fd);
    else
        cli_open(c, fd);
}

void cli_stop_all(struct proxy *px)
{
    struct cli *c = px->clis, *next;

    for (; c; c = next) {
        next = c->next;
        if (c->proto)
            c->proto->stop(c);
        else
            cli_free(c); /* still in its TLS handshake: no request to finish */
    }
}

void cli_reloaded(struct proxy *px)
{
    struct cli *c = px->clis, *next;

    for (; c; c = next) {
        next = c->next;
        if (c->proto && c->proto->reloaded)
            c->proto->reloaded(c);
    }
}

void cli_close_all(struct proxy *px)
{
    while (px->clis)
        cli_free(px->clis);
}
