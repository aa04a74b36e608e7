/* lb/cli.c - client connections (lb/cli.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lb/cli.h"
#include "lb/ctr.h"
#include "lb/proxy.h"
#include "lb/tls.h"

#define LINGER_MS 2000 /* read and discard this long before a close */
#define LINGER_STATE (-2) /* the timer state of the linger (any protocol) */
#define HANDSHAKE_STATE (-3) /* the timer state of the TLS handshake */

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
    if (!c->direct)
        (on ? bufferevent_enable : bufferevent_disable)(c->bev, EV_READ);
    else if (on)
        rd_on(&c->rd);
    else
        rd_off(&c->rd);
}

/* Write what is queued on the socket now, from the callback that queued
 * it, rather than ask the loop for a write event and write on its next
 * turn: that cost two epoll_ctl calls and a loop turn per response. The
 * bufferevent's own writing (EV_WRITE) is enabled only while bytes are left
 * after this attempt, which is when backpressure and the write timeout
 * matter; the write callback disables it again once all is out. TLS leaves
 * the writing to libevent_openssl, which needs its write side for records. */
void cli_flush(struct cli *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);

    if (!c->direct || evbuffer_get_length(out) == 0 ||
        (bufferevent_get_enabled(c->bev) & EV_WRITE))
        return;
    /* A bufferevent freezes the start of its output so nobody else drains
     * it; its own write callback thaws it just like this. */
    evbuffer_unfreeze(out, 1);
    evbuffer_write(out, bufferevent_getfd(c->bev)); /* an error shows on the next write */
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out) > 0)
        bufferevent_enable(c->bev, EV_WRITE);
}

/* Once the last bytes are out, stop sending, and read (and discard) what the
 * client still sends for a moment: closing with unread data makes the kernel
 * send a reset, which can destroy the response before the client reads it.
 * Not needed after a whole request with nothing behind it (clean), which
 * closes at once. */
void cli_linger(struct cli *c, bool clean)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);

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

/* TLS: until the handshake is done, its outcome is the only event. */
static void handshake_cb(struct bufferevent *bev, short what, void *arg)
{
    struct cli *c = arg;

    if (what & BEV_EVENT_CONNECTED) {
        cli_disarm(c);
        bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
        c->proto = &h1c_proto;
        c->proto->start(c);
        return;
    }
    tls_log_failure(bev, what, c->fe->name, c->client);
    cli_free(c);
}

/* ------------------------------------------------------------- lifetime */

static void client_name(struct cli *c, const struct sockaddr *sa)
{
    char ip[INET6_ADDRSTRLEN] = "unix";
    unsigned port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
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
    rd_free(&c->rd);
    bufferevent_free(c->bev);
    event_free(c->timer);
    ctr_dec(c->fe->ctr, CTR_CONNS);
    fe_unref(c->fe);
    free(c);
    proxy_conn_closed(px);
}

struct cli *cli_new(struct frontend *fe, struct bufferevent *bev, const struct sockaddr *sa,
                    bool direct, bool handshake)
{
    struct proxy *px = fe->px;
    struct cli *c = calloc(1, sizeof(*c));
    const struct conf_timeouts *t = &px->conf->timeout;
    struct timeval ctv = { t->client_ms / 1000, (t->client_ms % 1000) * 1000 };

    if (!c || !(c->timer = evtimer_new(px->base, timer_cb, c))) {
        free(c);
        bufferevent_free(bev);
        proxy_conn_closed(px);
        return NULL;
    }
    c->bev = bev;
    c->px = px;
    c->fe = fe;
    c->timer_state = -1;
    c->accepted_us = cli_mono_us();
    fe_ref(fe);
    /* No TCP_NODELAY towards clients (as HAProxy): a response is written in
     * few large writes anyway, and with Nagle off a client whose receive
     * window collapses gets a trickle of tiny segments (measured: 4 MB in
     * 30 s instead of 0.6 s). */
    client_name(c, sa);
    bufferevent_setcb(bev, read_cb, write_cb, handshake ? handshake_cb : event_cb, c);
    /* No read watermark: each state bounds its input itself (reading stops
     * at CLI_BUF_HIGH when nothing is consumed), and libevent's watermark
     * check re-armed the read event on every drain. */
    bufferevent_setwatermark(bev, EV_WRITE, CLI_BUF_HIGH / 4, 0);
    bufferevent_set_timeouts(bev, NULL, &ctv); /* a client that stops reading */
    c->direct = direct;
    rd_init(&c->rd, bev);
    if (direct)
        bufferevent_disable(bev, EV_WRITE);
    c->next = px->clis;
    if (px->clis)
        px->clis->prev = c;
    px->clis = c;
    ctr_inc(fe->ctr, CTR_CONNS);
    ctr_inc(fe->ctr, CTR_CONNS_TOTAL);
    if (direct ? rd_on(&c->rd) < 0 : bufferevent_enable(bev, EV_READ) < 0) {
        cli_free(c);
        return NULL;
    }
    if (handshake) {
        cli_arm(c, HANDSHAKE_STATE, t->client_ms); /* the handshake's deadline */
        return c;
    }
    c->proto = &h1c_proto;
    c->proto->start(c);
    return c;
}

void cli_accept(struct frontend *fe, evutil_socket_t fd, const struct sockaddr *sa)
{
    struct proxy *px = fe->px;
    bool tls = fe->conf->tls.enabled;
    /* A TLS frontend whose certificates are not loaded closes: never plain text. */
    struct bufferevent *bev = tls ? tls_bev_new(fe->tls, px->base, fd)
                                  : bufferevent_socket_new(px->base, fd, BEV_OPT_CLOSE_ON_FREE);

    if (!bev) {
        evutil_closesocket(fd);
        proxy_conn_closed(px);
        return;
    }
    /* Plain TCP is read and written by us (lb/rd.h, cli_flush); TLS by
     * libevent_openssl. On failure cli_new has closed it. */
    cli_new(fe, bev, sa, !tls, tls);
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

void cli_close_all(struct proxy *px)
{
    while (px->clis)
        cli_free(px->clis);
}
