/* lb/sconn.c - server connections (lb/sconn.h). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lb/backend-t.h"
#include "lb/ctr.h"
#include "lb/h1.h"
#include "lb/http.h"
#include "lb/log.h"
#include "lb/pool.h"
#include "lb/sconn.h"
#include "lb/server.h"

#define OUT_HIGH (64 * 1024) /* request bytes queued before the client is paused */

/* Payload read from the server, handed to the stream at once. */
static __thread struct evbuffer *scratch;

static void sc_read_cb(struct bufferevent *bev, void *arg);
static void sc_write_cb(struct bufferevent *bev, void *arg);
static void sc_event_cb(struct bufferevent *bev, short what, void *arg);
static void set_busy(struct srv_conn *c);

static struct timeval ms_tv(uint32_t ms)
{
    return (struct timeval){ ms / 1000, (ms % 1000) * 1000 };
}

static const char *be_name(const struct server *s)
{
    return s->backend ? s->backend->name : "-";
}

/* ------------------------------------------------------------- lifetime */

void sconn_thread_cleanup(void)
{
    if (scratch)
        evbuffer_free(scratch);
    scratch = NULL;
}

void sconn_free(struct srv_conn *c)
{
    if (!c)
        return;
    /* Freed from inside one of its own callbacks, a bufferevent lives on
     * until the callback returns and would still write what is queued: a
     * request head we decided not to send must not leave. */
    rd_free(&c->rd);
    if (c->timer)
        event_free(c->timer);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    evbuffer_drain(bufferevent_get_output(c->bev), (size_t)-1);
    bufferevent_free(c->bev);
    srv_unref(c->srv);
    free(c);
}

static void set_nodelay(evutil_socket_t fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ------------------------------------------------------------- connecting */

/* How the connect ended, for the failure count and the debug log. */
static void connect_failed_text(char *out, size_t n, bool timeout, int err)
{
    if (timeout)
        snprintf(out, n, "connect timeout");
    else
        snprintf(out, n, "%s", evutil_socket_error_to_string(err ? err : ECONNREFUSED));
}

/* An orphan's connect ended. Giving up on it already counted as a failure;
 * a connect that completes after all shows the server alive (a full accept
 * queue, not a vanished host): that clears the count, and the connection
 * is kept for the next request to the server. */
static void orphan_ended(struct srv_conn *c, bool ok)
{
    if (!ok) {
        sconn_free(c);
        return;
    }
    srv_traffic_ok(c->srv);
    event_del(c->timer);
    c->state = SC_IDLE;
    c->uses = 0;
    pool_put(c, c->idle_ms);
}

static void connect_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct srv_conn *c = arg;
    char why[96];

    (void)fd; (void)what;
    if (c->state == SC_ORPHAN) {
        orphan_ended(c, false);
        return;
    }
    if (c->connect_err) {
        /* The head written at once met the connect's failure (sconn_send):
         * told from here, a loop turn later, like any connect failure. */
        connect_failed_text(why, sizeof(why), false, c->connect_err);
        srv_traffic_failed(c->srv, why);
        c->ops->failed(c->owner, SC_FAIL_CONNECT, true, why);
        return;
    }
    if (c->connect_left_ms) {
        /* The soft deadline: on a LAN an unanswered SYN means a host gone
         * (or drowning). When the stream has somewhere else to go, it
         * moves on, and that counts against the server; the connect goes on
         * alone, and clears the count if it completes after all. */
        struct timeval tv = ms_tv(c->connect_left_ms);
        c->connect_left_ms = 0;
        evtimer_add(c->timer, &tv);
        if (!c->ops->give_up(c->owner))
            return;
        const struct sconn_ops *ops = c->ops;
        void *owner = c->owner;
        /* A head queued with the connect must not reach this server now:
         * the stream takes its request elsewhere. */
        evbuffer_drain(bufferevent_get_output(c->bev), (size_t)-1);
        c->queued = false;
        c->state = SC_ORPHAN;
        c->ops = NULL;
        c->owner = NULL;
        if (c->soft_ms % 1000 == 0)
            snprintf(why, sizeof(why), "no answer to connect within %us", c->soft_ms / 1000);
        else
            snprintf(why, sizeof(why), "no answer to connect within %ums", c->soft_ms);
        srv_traffic_failed(c->srv, why);
        ops->failed(owner, SC_FAIL_SLOW, true, why);
        return;
    }
    connect_failed_text(why, sizeof(why), true, 0);
    srv_traffic_failed(c->srv, why);
    c->ops->failed(c->owner, SC_FAIL_CONNECT_TMO, true, why);
}

static void connecting_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct srv_conn *c = arg;
    int err = EVUTIL_SOCKET_ERROR();
    char why[96];

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        if (c->state == SC_ORPHAN) {
            orphan_ended(c, true);
            return;
        }
        event_del(c->timer);
        if (c->queued) {
            /* The head is in the output: libevent writes it when this
             * callback returns (its write side is on). */
            set_busy(c);
            c->ops->connected(c->owner);
            return;
        }
        c->state = SC_READY;
        bufferevent_setcb(c->bev, NULL, NULL, NULL, c);
        c->ops->connected(c->owner);
        return;
    }
    if (c->state == SC_ORPHAN) {
        orphan_ended(c, false);
        return;
    }
    connect_failed_text(why, sizeof(why), false, err);
    srv_traffic_failed(c->srv, why);
    c->ops->failed(c->owner, SC_FAIL_CONNECT, true, why);
}

/* A non-blocking connect of our own (libevent's would ask for a write event
 * at once, then drop it). The socket, or -1 with errno. */
static evutil_socket_t raw_connect(const struct server *s)
{
    evutil_socket_t fd = socket(s->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (s->addr.family != AF_UNIX) {
        int zero = 0;
        set_nodelay(fd);
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero));
    }
    if (connect(fd, (const struct sockaddr *)&s->addr.ss, s->addr.len) < 0 &&
        errno != EINPROGRESS && errno != EINTR) {
        int e = errno;
        evutil_closesocket(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* libevent finishes the connect: a write event, then BEV_EVENT_CONNECTED
 * (or an error) to connecting_event_cb. */
static int await_connect(struct srv_conn *c)
{
    return bufferevent_socket_connect(c->bev, NULL, 0);
}

struct srv_conn *sconn_connect(struct event_base *base, struct server *s,
                               const struct sconn_tmo *tmo, const struct sconn_ops *ops,
                               void *owner, bool head_now, int *err)
{
    uint32_t connect_ms = tmo->connect_ms, soft_ms = tmo->soft_ms;
    struct srv_conn *c = calloc(1, sizeof(*c));
    evutil_socket_t fd;
    char why[96];

    *err = ENOMEM;
    if (!c)
        return NULL;
    c->srv = s;
    srv_ref(s);
    c->ops = ops;
    c->owner = owner;
    c->state = SC_CONNECTING;
    c->idle_ms = tmo->idle_ms;
    c->timer = evtimer_new(base, connect_timer_cb, c);
    if (!c->timer)
        goto err;
    if ((fd = raw_connect(s)) < 0) {
        /* Failed at once (refused, no route, no address, no descriptor):
         * counts like any failure. */
        *err = errno;
        connect_failed_text(why, sizeof(why), false, *err);
        srv_traffic_failed(s, why);
        goto err_counted;
    }
    if (!(c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE))) {
        evutil_closesocket(fd);
        goto err;
    }
    /* A new bufferevent starts with writing enabled: the head queued in it
     * would make libevent add a write event (and drop it once written). */
    bufferevent_disable(c->bev, EV_WRITE);
    rd_init(&c->rd, c->bev);
    h1r_init(&c->resp, HTTP_RESPONSE);
    bufferevent_setcb(c->bev, NULL, NULL, connecting_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, OUT_HIGH / 4, 0); /* once per connection */
    /* head_now: the caller writes its head at once (sconn_send), which
     * shows whether the connect is done; only if it is not is a write event
     * needed. */
    if (!head_now && await_connect(c) < 0)
        goto err;
    bool soft = soft_ms && soft_ms < connect_ms;
    struct timeval tv = ms_tv(soft ? soft_ms : connect_ms);
    c->connect_left_ms = soft ? connect_ms - soft_ms : 0;
    c->soft_ms = soft_ms;
    evtimer_add(c->timer, &tv);
    return c;
err:
    *err = ENOMEM;
err_counted:
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    if (c->timer)
        event_free(c->timer);
    srv_unref(s);
    free(c);
    return NULL;
}

void sconn_adopt(struct srv_conn *c, const struct sconn_ops *ops, void *owner)
{
    c->ops = ops;
    c->owner = owner;
    c->state = SC_READY;
    bufferevent_setcb(c->bev, NULL, NULL, NULL, c);
}

/* ---------------------------------------------------------------- sending */

/* Requests go out from the callback that queued them (rd_flush). */
static void flush_out(struct srv_conn *c) { rd_flush(c->bev, 0); }

struct evbuffer *sconn_out(struct srv_conn *c)
{
    return bufferevent_get_output(c->bev);
}

/* Connected with a request to send (or sent): read its response, under
 * timeout.server both ways. */
static void set_busy(struct srv_conn *c)
{
    struct timeval stv = ms_tv(c->server_ms);

    c->state = SC_BUSY;
    c->queued = false;
    bufferevent_setcb(c->bev, sc_read_cb, sc_write_cb, sc_event_cb, c);
    bufferevent_set_timeouts(c->bev, NULL, &stv);
    rd_timeout(&c->rd, &stv);
    rd_on(&c->rd);
}

/* The head right behind the connect, before any event says it is done, as
 * HAProxy does: on loopback and a LAN the handshake is over by the time
 * connect() returns, so the write goes through, and the connection needs
 * no write event at all (measured, httpclose: 4 epoll_ctl per server
 * connection before, 2 now: the read event's add, and its removal at the
 * close). */
static int send_connecting(struct srv_conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    ssize_t n;

    c->queued = true;
    n = rd_write(out, bufferevent_getfd(c->bev), 0);
    int e = errno;
    if (n > 0) {
        event_del(c->timer);
        set_busy(c);
        if (evbuffer_get_length(out) > 0)
            bufferevent_enable(c->bev, EV_WRITE);
        return 1;
    }
    if (n < 0 && e != EAGAIN && e != EWOULDBLOCK && e != EINTR) {
        /* The connect failed already (the write took its error): report
         * it from the connect timer, outside the caller's call chain. */
        c->connect_err = e;
        event_active(c->timer, EV_TIMEOUT, 0);
        return 0;
    }
    /* Still connecting: libevent writes the head once it is done. */
    if (await_connect(c) < 0) {
        c->connect_err = ENOMEM;
        event_active(c->timer, EV_TIMEOUT, 0);
    }
    return 0;
}

int sconn_send(struct srv_conn *c, int method, enum h1_body framing,
               struct http_head *resp_head, uint32_t server_ms)
{
    c->uses++;
    c->req_method = method;
    c->req_framing = framing;
    c->head_done = false;
    c->got_bytes = false;
    c->server_ms = server_ms;
    h1r_begin(&c->resp, resp_head);
    if (c->state == SC_CONNECTING)
        return send_connecting(c);
    set_busy(c);
    bufferevent_disable(c->bev, EV_WRITE);
    flush_out(c);
    return 1;
}

size_t sconn_room(const struct srv_conn *c)
{
    size_t have = evbuffer_get_length(bufferevent_get_output(c->bev));
    return have >= OUT_HIGH ? 0 : OUT_HIGH - have;
}

void sconn_body(struct srv_conn *c, struct evbuffer *payload)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t n = evbuffer_get_length(payload);

    if (n == 0)
        return;
    if (c->req_framing == H1_BODY_CHUNKED)
        h1w_chunk(out, payload);
    else
        evbuffer_add_buffer(out, payload);
    ctr_add(c->srv->ctr, CTR_BYTES_OUT, (int64_t)n);
    flush_out(c);
}

void sconn_body_end(struct srv_conn *c)
{
    if (c->req_framing == H1_BODY_CHUNKED) {
        h1w_last_chunk(bufferevent_get_output(c->bev));
        flush_out(c);
    }
}

/* ---------------------------------------------------------------- reading */

static int fail(struct srv_conn *c, enum sc_fail why, const char *text)
{
    return c->ops->failed(c->owner, why, !c->got_bytes, text);
}

/* HTTP/1.0 or 1.1, a status in 100-599 and token field names: anything else
 * could make lxlb and the client read different responses. */
static bool resp_head_ok(const struct srv_conn *c)
{
    const llhttp_t *p = &c->resp.parser;
    int st = p->status_code;

    return st >= 100 && st <= 599 && p->http_major == 1 && p->http_minor <= 1 &&
           http_head_names_valid(c->resp.head);
}

static int on_head(struct srv_conn *c)
{
    int status = c->resp.parser.status_code;

    if (!resp_head_ok(c)) {
        log_event(LOG_LVL_WARN, "server %s/%s: bad response head", be_name(c->srv),
                  c->srv->name);
        ctr_inc(c->srv->ctr, CTR_FAILURES);
        return fail(c, SC_FAIL_BAD, "bad response head");
    }
    if (status < 200 && status != 101) {
        /* Interim (100 Continue...): pass it on, await the final one. */
        int rc = c->ops->head(c->owner, status);
        if (rc < 0)
            return rc;
        http_head_reset(c->resp.head);
        h1r_begin(&c->resp, c->resp.head);
        return 0;
    }
    c->head_done = true;
    srv_traffic_ok(c->srv);
    h1r_body_begin(&c->resp, h1r_response_body(&c->resp, c->req_method));
    return c->ops->head(c->owner, status);
}

/* The response is over: the stream decides where the connection goes, at
 * once (sc_done releases it before returning). Reading stays on: the pool
 * watches an idle connection with the same read event, and turning it off
 * here and on again there cost an epoll_ctl DEL and ADD per keep-alive
 * request (measured: 2.04 epoll_ctl per request, 6.2 system calls instead
 * of 4.1). A freed connection's event goes with it. */
static int finish(struct srv_conn *c)
{
    c->state = SC_READY;
    c->ops->done(c->owner); /* released it: to the pool, or freed */
    return -1;
}

static int read_head(struct srv_conn *c, struct evbuffer *in)
{
    size_t used;
    enum h1_res r = h1r_head(&c->resp, in, &used);

    ctr_add(c->srv->ctr, CTR_BYTES_IN, (int64_t)used);
    if (r == H1_ERR) {
        log_event(LOG_LVL_WARN, "server %s/%s: bad response: %s", be_name(c->srv),
                  c->srv->name, c->resp.why);
        ctr_inc(c->srv->ctr, CTR_FAILURES);
        return fail(c, SC_FAIL_BAD, c->resp.why);
    }
    if (r == H1_MORE)
        return 1;
    if (on_head(c) < 0)
        return -1;
    if (c->state == SC_TUNNEL)
        return 1; /* what followed the 101 is the stream's now */
    if (c->head_done && c->resp.body == H1_BODY_NONE)
        return finish(c);
    return 0;
}

/* 0: go on reading, 1: stop for now (more is needed, or the stream is
 * full), -1: the connection was freed. */
static int read_body(struct srv_conn *c, struct evbuffer *in)
{
    size_t room = c->ops->room(c->owner), used;
    enum h1_res r;

    if (room == 0) {
        rd_off(&c->rd); /* the client is not keeping up: read again when it drains */
        return 1;
    }
    if (!scratch && !(scratch = evbuffer_new()))
        return fail(c, SC_FAIL_BAD, "out of memory");
    r = h1r_body(&c->resp, in, scratch, room, &used);
    ctr_add(c->srv->ctr, CTR_BYTES_IN, (int64_t)used);
    if (evbuffer_get_length(scratch))
        c->ops->body(c->owner, scratch);
    if (r == H1_DONE)
        return finish(c);
    if (r == H1_ERR) {
        log_event(LOG_LVL_WARN, "server %s/%s: bad response body: %s", be_name(c->srv),
                  c->srv->name, c->resp.why);
        ctr_inc(c->srv->ctr, CTR_FAILURES);
        return fail(c, SC_FAIL_BAD, c->resp.why);
    }
    return used == 0 ? 1 : 0;
}

static void sc_read_cb(struct bufferevent *bev, void *arg)
{
    struct srv_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    int rc = 0;

    if (c->state == SC_TUNNEL) {
        c->ops->tunnel(c->owner);
        return;
    }
    c->got_bytes = true;
    while (rc == 0 && c->state == SC_BUSY && evbuffer_get_length(in) > 0)
        rc = c->head_done ? read_body(c, in) : read_head(c, in);
    if (rc >= 0 && c->state == SC_BUSY)
        c->ops->flush(c->owner);
}

void sconn_tunnel(struct srv_conn *c)
{
    c->state = SC_TUNNEL;
    rd_timeout(&c->rd, NULL);
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    rd_on(&c->rd);
}

struct evbuffer *sconn_in(struct srv_conn *c) { return bufferevent_get_input(c->bev); }

void sconn_pause(struct srv_conn *c, bool paused)
{
    if (paused)
        rd_off(&c->rd);
    else
        rd_on(&c->rd);
}

void sconn_flush(struct srv_conn *c) { flush_out(c); }

void sconn_resume(struct srv_conn *c)
{
    if (c->state != SC_BUSY)
        return;
    rd_on(&c->rd);
    if (evbuffer_get_length(bufferevent_get_input(c->bev)))
        sc_read_cb(c->bev, c);
}

static void sc_write_cb(struct bufferevent *bev, void *arg)
{
    struct srv_conn *c = arg;

    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_disable(bev, EV_WRITE); /* all out: flush_out writes from here on */
    c->ops->drained(c->owner);
}

/* The server closed or failed after the connect. A close ends an EOF body;
 * anything else before the end of the response fails the stream. Whether it
 * counts against the server: a fresh connection that returned nothing, or a
 * timeout, does; a pooled one closed under a request does not (a busy Apache
 * closes idle keep-alive connections, and a request written just then meets
 * a close or a reset: counting those took a healthy server down). */
static void sc_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct srv_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    bool timeout = what & BEV_EVENT_TIMEOUT;

    if (c->state == SC_TUNNEL) {
        if (what & BEV_EVENT_EOF)
            fail(c, SC_FAIL_CLOSED, "closed by the server");
        else
            fail(c, SC_FAIL_RESET, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return;
    }
    if (c->head_done && c->resp.body == H1_BODY_EOF && (what & BEV_EVENT_EOF)) {
        if (evbuffer_get_length(in)) {
            size_t used;
            if (!scratch && !(scratch = evbuffer_new())) {
                fail(c, SC_FAIL_BAD, "out of memory");
                return;
            }
            /* The close ends the body: pass on all that is buffered (bounded
             * by the read size), whatever the client's backlog. */
            h1r_body(&c->resp, in, scratch, (size_t)-1, &used);
            ctr_add(c->srv->ctr, CTR_BYTES_IN, (int64_t)used);
            c->ops->body(c->owner, scratch);
        }
        finish(c);
        return;
    }
    if (!c->got_bytes && (c->uses == 1 || timeout))
        srv_traffic_failed(c->srv, timeout ? "no answer in time" : "closed before answering");
    else if (c->got_bytes)
        ctr_inc(c->srv->ctr, CTR_FAILURES);
    fail(c, timeout ? SC_FAIL_TIMEOUT : SC_FAIL_CLOSED,
         timeout ? "no answer in time"
                 : (what & BEV_EVENT_EOF ? "closed by the server"
                                         : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR())));
}

/* -------------------------------------------------------------- release */

void sconn_release(struct srv_conn *c, bool reuse, uint32_t idle_ms)
{
    c->ops = NULL;
    c->owner = NULL;
    if (!reuse) {
        sconn_free(c);
        return;
    }
    c->state = SC_IDLE;
    pool_put(c, idle_ms);
}
