/* lb/stream.c - one exchange: route, server choice, relay, log (stream.h).
 *
 * Every function that can free the stream returns -1 when it did; callers
 * then touch nothing and return. */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "lb/backend.h"
#include "lb/cookie.h"
#include "lb/ctr.h"
#include "lb/dispatch.h"
#include "lb/forward.h"
#include "lb/log.h"
#include "lb/pool.h"
#include "lb/pp.h"
#include "lb/proxy.h"
#include "lb/route.h"
#include "lb/sconn.h"
#include "lb/server.h"
#include "lb/stream.h"

#define STREAM_CACHE_MAX 256   /* recycled streams kept per loop */
#define REASON_MAX 512         /* bytes of a response reason phrase */
#define CONNECT_SOFT_MS 1000   /* a connect unanswered this long is given up on when
                                * another server can take the request */

static const struct sconn_ops sc_ops;
static int retry(struct stream *st, enum disp_why why, char who, const char *text);

/* ------------------------------------------------------------------ time */

static int64_t now_us(const struct stream *st)
{
    struct timeval tv;
    event_base_gettimeofday_cached(st->px->base, &tv);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static const struct conf_timeouts *tmo(const struct stream *st)
{
    return &st->px->conf->timeout;
}

/* -------------------------------------------------------------- lifetime */

struct stream *stream_new(struct proxy *px, struct frontend *fe,
                          const struct stream_cli_ops *cli, void *cli_ctx)
{
    const struct conf_limits *lim = &px->conf->limits;
    struct stream *st = px->free_streams;

    if (st) {
        px->free_streams = st->next_free;
        px->nfree_streams--;
    } else if ((st = calloc(1, sizeof(*st)))) {
        if (!(st->buf = evbuffer_new())) {
            free(st);
            return NULL;
        }
    } else {
        return NULL;
    }
    st->px = px;
    st->fe = fe;
    st->cli = cli;
    st->cli_ctx = cli_ctx;
    st->state = ST_HEAD;
    /* Limits may change on reload: set them on every use. */
    st->req.max_target = lim->request_line;
    st->req.max = lim->request_line + lim->header_size;
    st->req.max_hdrs = lim->header_count;
    st->resp.max_target = REASON_MAX;
    st->resp.max = REASON_MAX + lim->header_size;
    st->resp.max_hdrs = lim->header_count;
    st->status = -1;
    st->t_start_us = now_us(st);
    st->t_start_mono_us = ctr_mono_us();
    st->t_connect_us = st->t_resp_us = -1;
    st->who = WHO_NONE;
    st->phase = PH_NONE;
    return st;
}

/* st is bound to srv and nothing came back yet: srv going away must find it. */
static void waiting_add(struct stream *st)
{
    struct server *s = st->srv;

    st->wprev = NULL;
    st->wnext = s->waiting;
    if (s->waiting)
        s->waiting->wprev = st;
    s->waiting = st;
}

static void waiting_del(struct stream *st)
{
    struct server *s = st->srv;

    if (!s || !(st->wprev || st->wnext || s->waiting == st))
        return;
    if (st->wprev)
        st->wprev->wnext = st->wnext;
    else
        s->waiting = st->wnext;
    if (st->wnext)
        st->wnext->wprev = st->wprev;
    st->wprev = st->wnext = NULL;
}

static void lost_del(struct stream *st)
{
    struct proxy *px = st->px;

    if (!st->lost)
        return;
    if (st->lprev)
        st->lprev->lnext = st->lnext;
    else
        px->lost = st->lnext;
    if (st->lnext)
        st->lnext->lprev = st->lprev;
    st->lprev = st->lnext = NULL;
    st->lost = false;
}

static void tunnels_del(struct stream *st)
{
    struct server *s = st->srv;

    if (!s || !(st->tprev || st->tnext || s->tunnels == st))
        return;
    if (st->tprev)
        st->tprev->tnext = st->tnext;
    else
        s->tunnels = st->tnext;
    if (st->tnext)
        st->tnext->tprev = st->tprev;
    st->tprev = st->tnext = NULL;
}

static void unbind_server(struct stream *st)
{
    if (!st->srv)
        return;
    waiting_del(st);
    tunnels_del(st);
    ctr_dec(st->srv->ctr, CTR_ACTIVE);
    srv_unref(st->srv);
    st->srv = NULL;
}

static void bind_server(struct stream *st, struct server *srv)
{
    if (st->srv != srv) {
        unbind_server(st);
        st->srv = srv;
        srv_ref(srv);
        ctr_inc(srv->ctr, CTR_ACTIVE);
    }
    waiting_del(st);
    waiting_add(st);
    srv_set_add(&st->tried, srv);
}

static void drop_sconn(struct stream *st)
{
    if (st->sc) {
        sconn_free(st->sc);
        st->sc = NULL;
    }
}

/* Arenas of a common head's size are kept; larger ones are freed. */
#define HEAD_KEEP_BYTES 4096 /* arena bytes kept with a cached stream */
#define HEAD_KEEP_FIELDS 32  /* field slots kept with a cached stream */

static void shrink_head(struct http_head *h)
{
    if (h->cap > HEAD_KEEP_BYTES || h->hcap > HEAD_KEEP_FIELDS)
        http_head_free(h);
}

void stream_free(struct stream *st)
{
    struct proxy *px = st->px;

    drop_sconn(st);
    lost_del(st);
    unbind_server(st);
    srv_set_clear(&st->tried);
    if (st->tunnel_timer)
        evtimer_del(st->tunnel_timer); /* kept with the stream for the next tunnel */
    if (st->be)
        be_unref(st->be);
    evbuffer_drain(st->buf, (size_t)-1);
    if (px->nfree_streams >= STREAM_CACHE_MAX) {
        http_head_free(&st->req);
        http_head_free(&st->resp);
        evbuffer_free(st->buf);
        if (st->tunnel_timer)
            event_free(st->tunnel_timer);
        free(st);
        return;
    }
    /* Keep the head arenas, the buffer and the tunnel timer: no malloc per
     * request. An arena a large head grew is given back: kept, a burst of
     * large heads would pin up to 64 KiB per cached stream, and the pages
     * around them (measured: 11.5 MB at rest after 3000 12 KB heads, 7.6 MB
     * without the cache). */
    shrink_head(&st->req);
    shrink_head(&st->resp);
    struct http_head req = st->req, resp = st->resp;
    struct evbuffer *buf = st->buf;
    struct event *tt = st->tunnel_timer;
    memset(st, 0, sizeof(*st));
    st->req = req;
    st->resp = resp;
    st->buf = buf;
    st->tunnel_timer = tt;
    http_head_reset(&st->req);
    http_head_reset(&st->resp);
    st->next_free = px->free_streams;
    px->free_streams = st;
    px->nfree_streams++;
}

void stream_cache_free(struct proxy *px)
{
    struct stream *st;

    while ((st = px->free_streams)) {
        px->free_streams = st->next_free;
        http_head_free(&st->req);
        http_head_free(&st->resp);
        evbuffer_free(st->buf);
        if (st->tunnel_timer)
            event_free(st->tunnel_timer);
        free(st);
    }
    px->nfree_streams = 0;
}

/* ------------------------------------------------------------ the ending */

int stream_refuse(struct stream *st, int status, char who, char phase, const char *why)
{
    st->who = who;
    st->phase = phase;
    if (why)
        st->why = why;
    drop_sconn(st);
    waiting_del(st);
    if (st->state == ST_RESP)
        return st->cli->abort(st); /* bytes went out: an error can only cut */
    st->state = ST_DONE;
    return st->cli->answer(st, status);
}

void stream_client_gone(struct stream *st, char who, char phase)
{
    st->who = who;
    st->phase = phase;
    drop_sconn(st);
    waiting_del(st);
    st->state = ST_DONE;
}

/* ------------------------------------------------------------- requests */

static enum cookie_req_action cookie_action(const struct conf_cookie *ck)
{
    if (ck->mode == CONF_COOKIE_PREFIX)
        return COOKIE_REQ_UNPREFIX;
    if (ck->mode == CONF_COOKIE_INSERT && ck->indirect)
        return COOKIE_REQ_REMOVE;
    return COOKIE_REQ_KEEP;
}

/* Move request body from the client to the server, as far as the server's
 * buffer allows; the client is paused while it is full. */
static int pump_request(struct stream *st)
{
    while (!st->req_done) {
        size_t room = sconn_room(st->sc);
        if (room == 0) {
            st->cli->req_pause(st, true);
            return 0;
        }
        enum h1_res r = st->cli->req_body(st, st->buf, room);
        size_t moved = evbuffer_get_length(st->buf);
        sconn_body(st->sc, st->buf);
        if (r == H1_ERR)
            return stream_refuse(st, 400, WHO_PROXY, PH_BODY, NULL);
        if (r == H1_EOF) {
            stream_client_gone(st, WHO_CLIENT, PH_BODY);
            return st->cli->abort(st);
        }
        if (r == H1_DONE) {
            sconn_body_end(st->sc);
            st->req_done = true;
        } else if (moved == 0) {
            return 0; /* the client side reads on and calls stream_req_more */
        }
    }
    return 0;
}

/* The PROXY header its server wants first on a new connection: the
 * server's own setting, else its backend's (discovered servers too). */
static enum conf_send_proxy send_proxy_of(const struct stream *st)
{
    const struct conf_backend *cb = st->be->conf;

    if (st->srv->source == SRV_SRC_STATIC)
        for (size_t i = 0; i < cb->nservers; i++)
            if (!strcmp(cb->servers[i].name, st->srv->name))
                return cb->servers[i].send_proxy;
    return cb->send_proxy;
}

/* send_proxy: the header goes first on a new connection, carrying the
 * client of the request that opened it (such connections are never pooled:
 * another client's request must not go out under this one's address). */
static void send_proxy_header(struct stream *st, struct evbuffer *out)
{
    const struct sockaddr *src, *dst;
    uint8_t h[PP_BUILD_MAX];
    size_t n;

    st->cli->addrs(st, &src, &dst);
    n = pp_build(st->send_proxy, src, dst, h, sizeof(h));
    evbuffer_add(out, h, n);
}

/* The value of a request's Upgrade, when it asks for one: "Connection:
 * upgrade" and an Upgrade field, HTTP/1.1, no body. NULL otherwise. */
static const char *upgrade_asked(const struct stream *st, size_t *len)
{
    const struct http_head *h = &st->req;
    int up = http_hdr_find(h, "upgrade", 0), c;

    if (up < 0 || st->req_major != 1 || st->req_minor != 1 || st->req_body != H1_BODY_NONE)
        return NULL;
    for (c = http_hdr_find(h, "connection", 0); c >= 0;
         c = http_hdr_find(h, "connection", (uint32_t)c + 1))
        if (http_list_has(http_hdr_value(h, (uint32_t)c), h->hdrs[c].value_len, "upgrade", 7)) {
            *len = h->hdrs[up].value_len;
            return http_hdr_value(h, (uint32_t)up);
        }
    return NULL;
}

/* The server connection is ready: send the head, then the body as it comes. */
static int send_request(struct stream *st)
{
    const struct conf_backend *cb = st->be->conf;
    struct fwd_req_ctx ctx = {
        .method = llhttp_method_name((llhttp_method_t)st->method),
        .major = st->req_major,
        .minor = st->req_minor,
        .fe = st->fe->conf,
        .client_ip = NULL,
        .close = cb->http_close,
        .cookie_name = cb->cookie.mode ? cb->cookie.name : NULL,
        .cookie_act = cookie_action(&cb->cookie),
    };
    struct evbuffer *out = sconn_out(st->sc);
    size_t before = evbuffer_get_length(out);

    ctx.client_ip = st->cli->client_ip(st);
    ctx.upgrade = upgrade_asked(st, &ctx.upgrade_len);
    st->upgrade = ctx.upgrade != NULL;
    st->t_connect_us = now_us(st);
    st->state = ST_WAIT;
    ctr_inc(st->srv->ctr, CTR_REQUESTS);
    if (st->send_proxy && st->sc->uses == 0)
        send_proxy_header(st, out);
    fwd_request_head(out, &st->req, &ctx);
    ctr_add(st->srv->ctr, CTR_BYTES_OUT, (int64_t)(evbuffer_get_length(out) - before));
    sconn_send(st->sc, st->method, st->req_body, &st->resp, tmo(st)->server_ms);
    if (st->req_body == H1_BODY_NONE) {
        st->req_done = true;
        return 0;
    }
    st->req_done = false;
    return pump_request(st);
}

/* Connect st to srv: a pooled connection when allowed, else a new one. */
static int connect_to(struct stream *st, struct server *srv, bool pooled)
{
    struct srv_conn *sc = NULL;
    const struct conf_timeouts *t = tmo(st);
    int err;

    bind_server(st, srv);
    drop_sconn(st);
    st->state = ST_CONNECT;
    st->send_proxy = send_proxy_of(st);
    if (pooled && !st->send_proxy) /* a send_proxy connection carries one client */
        sc = pool_take(srv);
    st->conn_reused = sc != NULL;
    if (sc) {
        sconn_adopt(sc, &sc_ops, st);
        st->sc = sc;
        return send_request(st);
    }
    /* A vanished host (a container gone without a trace) leaves SYNs
     * unanswered until timeout.connect: the stream moves on much sooner when
     * another server can take it (the connect goes on alone and counts). */
    struct sconn_tmo ct = {
        .connect_ms = t->connect_ms,
        .soft_ms = st->be->conf->redispatch ? CONNECT_SOFT_MS : 0,
        .idle_ms = t->keepalive_ms,
    };
    st->sc = sconn_connect(st->px->base, srv, &ct, &sc_ops, st, &err);
    if (st->sc)
        return 0;
    if (err == ENOMEM)
        return stream_refuse(st, 503, WHO_RESOURCE, PH_CONNECT, "out of memory");
    return retry(st, DISP_CONNECT_FAILED, WHO_SERVER, evutil_socket_error_to_string(err));
}

void stream_head_parsed(struct stream *st)
{
    st->t_head_us = now_us(st);
}

/* The running backend of a route's conf_backend: by position when the
 * frontend is on the proxy's generation (the proxy's backends are built in
 * its order), by name for a frontend a reload left behind. */
static struct backend *backend_of(const struct stream *st, const struct conf_backend *cb)
{
    const struct conf *c = st->px->conf;

    if (st->fe->gen == c && cb >= c->backends && cb < c->backends + c->nbackends)
        return st->px->backends[cb - c->backends];
    return proxy_find_backend(st->px, cb->name);
}

/* The route a request takes: the first that matches its host (an
 * absolute-form target's authority, else Host), path and method. NULL: none
 * matches (the frontend's default backend, if any). */
static const struct conf_route *route_of(const struct stream *st)
{
    const struct conf_frontend *cf = st->fe->conf;
    const struct http_head *h = &st->req;
    struct route_target tg;
    const char *host = NULL;
    size_t hlen = 0;
    int i;

    if (!cf->nroutes)
        return NULL;
    route_target_split(h->buf + h->target, h->target_len, &tg);
    if (tg.authority) {
        host = tg.authority;
        hlen = tg.authority_len;
    } else if ((i = http_hdr_find(h, "host", 0)) >= 0) {
        host = http_hdr_value(h, (uint32_t)i);
        hlen = h->hdrs[i].value_len;
    }
    return route_match(cf->route_table, host, hlen, tg.path, tg.path_len, st->method);
}

int stream_start(struct stream *st)
{
    const struct conf_route *r = route_of(st);
    int status = 503;

    ctr_inc(st->fe->ctr, CTR_REQUESTS);
    if (r)
        route_count(st->fe->conf->route_table, r);
    if (r && r->redirect.enabled) {
        st->state = ST_DONE;
        return st->cli->redirect(st, &r->redirect);
    }
    st->be = r ? backend_of(st, r->backend) : st->fe->backend;
    if (!st->be)
        return stream_refuse(st, r ? 503 : 404, WHO_PROXY, PH_HEAD,
                             r ? "the route's backend is gone" : "no route matches");
    be_ref(st->be);
    ctr_inc(st->be->ctr, CTR_REQUESTS);
    st->retries_left = (int)st->be->conf->retries;
    st->state = ST_CONNECT;
    struct server *srv = dispatch(st, DISP_FIRST, &status);
    if (!srv)
        return stream_refuse(st, status, WHO_PROXY, PH_CONNECT, "no server available");
    return connect_to(st, srv, true);
}

int stream_req_more(struct stream *st)
{
    if ((st->state == ST_WAIT || st->state == ST_RESP) && !st->req_done)
        return pump_request(st);
    return 0;
}

/* Try elsewhere (or again), or answer with the status dispatch gives. */
static int retry(struct stream *st, enum disp_why why, char who, const char *text)
{
    int status = 503;
    struct server *old = st->srv, *next;

    drop_sconn(st);
    next = dispatch(st, why, &status);
    if (!next) {
        char phase = why == DISP_CONNECT_FAILED ? PH_CONNECT : PH_WAIT;
        return stream_refuse(st, status, who, phase, text);
    }
    log_event(LOG_LVL_DEBUG, "%s/%s: %s; trying %s", st->be->name, old ? old->name : "-",
              text, next->name);
    return connect_to(st, next, false);
}

/* ---------------------------------------------------------------- tunnels */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Move what each side has to the other, as far as the other can take
 * (64 KiB queued each way): a side whose peer is full is not read from. */
static void tunnel_move(struct stream *st)
{
    struct srv_conn *sc = st->sc;
    struct evbuffer *sin = sconn_in(sc);
    size_t n, room;
    bool moved = false;

    n = evbuffer_get_length(st->cin);
    room = sconn_room(sc);
    if (n && room) {
        n = n < room ? n : room;
        evbuffer_remove_buffer(st->cin, sconn_out(sc), n);
        ctr_add(st->srv->ctr, CTR_BYTES_OUT, (int64_t)n);
        moved = true;
        sconn_flush(sc);
    }
    st->cli->req_pause(st, evbuffer_get_length(st->cin) > 0);
    n = evbuffer_get_length(sin);
    room = st->cli->resp_room(st);
    if (n && room) {
        n = n < room ? n : room;
        evbuffer_remove_buffer(sin, st->cout, n);
        ctr_add(st->srv->ctr, CTR_BYTES_IN, (int64_t)n);
        st->bytes_out += n;
        moved = true;
        st->cli->flush(st);
    }
    sconn_pause(sc, evbuffer_get_length(sin) > 0);
    if (moved)
        st->tunnel_last_us = mono_us();
}

/* The tunnel is over: the server side closes, the client side logs the
 * exchange (status 101, the bytes sent) and closes once its output is out. */
static void tunnel_end(struct stream *st, char who, const char *why)
{
    st->who = who;
    st->phase = who == WHO_NONE ? PH_NONE : PH_DATA;
    if (why)
        st->why = why;
    evtimer_del(st->tunnel_timer);
    tunnels_del(st);
    drop_sconn(st);
    st->state = ST_DONE;
    st->cli->resp_done(st);
}

void stream_tunnel_io(struct stream *st)
{
    if (st->state == ST_TUNNEL)
        tunnel_move(st);
}

void stream_tunnel_closed(struct stream *st, bool clean)
{
    if (st->state != ST_TUNNEL)
        return;
    /* The client closed its side: what it sent last still reaches the server. */
    tunnel_move(st);
    sconn_flush(st->sc);
    tunnel_end(st, clean ? WHO_NONE : WHO_CLIENT, clean ? NULL : "client reset");
}

static void sc_tunnel_io(void *arg)
{
    stream_tunnel_io(arg);
}

/* Idle both ways for timeout.tunnel: closed. The timer is re-armed for
 * what is left rather than on every byte. */
static void tunnel_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct stream *st = arg;
    int64_t idle_ms = (mono_us() - st->tunnel_last_us) / 1000;
    uint32_t limit = tmo(st)->tunnel_ms;

    (void)fd; (void)what;
    if (st->state != ST_TUNNEL)
        return;
    if (idle_ms < limit) {
        uint32_t left = limit - (uint32_t)idle_ms;
        struct timeval tv = { left / 1000, (left % 1000) * 1000 };
        evtimer_add(st->tunnel_timer, &tv);
        return;
    }
    tunnel_end(st, WHO_CLIENT_TMO, "tunnel idle for timeout.tunnel");
}

/* The server switched protocols as the client asked: its 101 goes to the
 * client, then both connections carry raw bytes. The tunnel counts as an
 * active request of its server until it ends. */
static int tunnel_start(struct stream *st)
{
    const struct http_head *h = &st->resp;
    int up = http_hdr_find(h, "upgrade", 0);
    uint32_t limit = tmo(st)->tunnel_ms;
    struct timeval tv = { limit / 1000, (limit % 1000) * 1000 };
    struct fwd_resp_ctx ctx = { .status = 101 };

    if (up < 0) {
        ctr_inc(st->srv->ctr, CTR_FAILURES);
        return stream_refuse(st, 502, WHO_SERVER, PH_WAIT, "101 without Upgrade");
    }
    if (!st->tunnel_timer && !(st->tunnel_timer = evtimer_new(st->px->base, tunnel_timer_cb, st)))
        return stream_refuse(st, 503, WHO_RESOURCE, PH_WAIT, "out of memory");
    ctx.upgrade = http_hdr_value(h, (uint32_t)up);
    ctx.upgrade_len = h->hdrs[up].value_len;
    st->t_resp_us = now_us(st);
    waiting_del(st);
    st->status = 101;
    st->resp_body = H1_BODY_NONE;
    st->state = ST_TUNNEL;
    st->cli->resp_head(st, &ctx);
    st->cli->flush(st); /* the 101 goes now: the client waits for it to speak */
    st->cli->tunnel(st, &st->cin, &st->cout);
    sconn_tunnel(st->sc);
    st->tprev = NULL;
    st->tnext = st->srv->tunnels;
    if (st->srv->tunnels)
        st->srv->tunnels->tprev = st;
    st->srv->tunnels = st;
    st->tunnel_last_us = mono_us();
    evtimer_add(st->tunnel_timer, &tv);
    tunnel_move(st); /* what came behind the 101, and what the client sent early */
    return 0;
}

/* -------------------------------------------------- server connection side */

static void sc_connected(void *arg)
{
    struct stream *st = arg;
    send_request(st);
}

static bool sc_give_up(void *arg)
{
    return dispatch_can_move_on(arg);
}

static bool idempotent(int method)
{
    return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS ||
           method == HTTP_TRACE || method == HTTP_PUT || method == HTTP_DELETE;
}

static int resp_head_final(struct stream *st, int status)
{
    const struct conf_backend *cb = st->be->conf;
    const struct conf_cookie *ck = &cb->cookie;
    llhttp_t *p = &st->sc->resp.parser;

    st->t_resp_us = now_us(st);
    waiting_del(st);
    st->status = status;
    st->resp_body = st->sc->resp.body;
    st->resp_keepalive = llhttp_should_keep_alive(p) && st->resp_body != H1_BODY_EOF &&
                         !cb->http_close;
    struct fwd_resp_ctx ctx = {
        .status = status,
        .cookie = ck,
        .srv_cookie = st->srv->cookie,
        .insert = ck->mode == CONF_COOKIE_INSERT && st->cookie_srv != st->srv,
    };
    st->state = ST_RESP;
    return st->cli->resp_head(st, &ctx);
}

static int sc_head(void *arg, int status)
{
    struct stream *st = arg;

    if (status == 101) {
        if (st->upgrade)
            return tunnel_start(st);
        /* A switch nobody asked for: the server and lxlb would part ways. */
        ctr_inc(st->srv->ctr, CTR_FAILURES);
        return stream_refuse(st, 502, WHO_SERVER, PH_WAIT, "101 without an Upgrade request");
    }
    if (status < 200) {
        if (st->req_major >= 2 || st->req_minor >= 1) /* HTTP/2 takes 1xx too */
            st->cli->resp_interim(st, status);
        return 0;
    }
    return resp_head_final(st, status);
}

static size_t sc_room(void *arg)
{
    struct stream *st = arg;
    return st->cli->resp_room(st);
}

static void sc_body(void *arg, struct evbuffer *payload)
{
    struct stream *st = arg;

    st->cli->resp_body(st, payload);
}

/* The response is complete: the connection goes back to the pool (when the
 * server allows it and the whole request went out), and the client side
 * finishes the exchange. */
static int sc_done(void *arg)
{
    struct stream *st = arg;
    struct srv_conn *sc = st->sc;

    st->sc = NULL;
    sconn_release(sc, st->resp_keepalive && st->req_done && !st->send_proxy,
                  tmo(st)->keepalive_ms);
    be_observe_latency(st->be, ctr_mono_us() - st->t_start_mono_us);
    st->state = ST_DONE;
    st->cli->resp_done(st);
    return -1;
}

static int sc_failed(void *arg, enum sc_fail why, bool nothing_back, const char *text)
{
    struct stream *st = arg;
    bool replayable = idempotent(st->method) && st->req_body == H1_BODY_NONE;

    if (st->state == ST_TUNNEL) {
        /* The server closed its side: what it sent last still reaches the client. */
        tunnel_move(st);
        tunnel_end(st, why == SC_FAIL_CLOSED ? WHO_NONE : WHO_SERVER,
                   why == SC_FAIL_CLOSED ? NULL : text);
        return -1;
    }
    if (why == SC_FAIL_SLOW)
        st->sc = NULL; /* an orphan now: it is not ours to free */
    else
        drop_sconn(st);
    log_event(LOG_LVL_DEBUG, "server %s/%s (%s): %s", st->be->name, st->srv->name,
              st->srv->addr.text, text);
    switch (why) {
    case SC_FAIL_CONNECT:
    case SC_FAIL_SLOW:
        retry(st, DISP_CONNECT_FAILED, WHO_SERVER, text);
        break;
    case SC_FAIL_CONNECT_TMO:
        retry(st, DISP_CONNECT_FAILED, WHO_SERVER_TMO, text);
        break;
    case SC_FAIL_BAD:
        stream_refuse(st, 502, WHO_SERVER, st->state == ST_RESP ? PH_DATA : PH_WAIT, text);
        break;
    case SC_FAIL_TIMEOUT:
        stream_refuse(st, 504, WHO_SERVER_TMO, st->state == ST_RESP ? PH_DATA : PH_WAIT, text);
        break;
    case SC_FAIL_RESET:
    case SC_FAIL_CLOSED:
        if (st->state == ST_RESP || !nothing_back || !replayable)
            stream_refuse(st, 502, WHO_SERVER, st->state == ST_RESP ? PH_DATA : PH_WAIT, text);
        else
            retry(st, st->conn_reused ? DISP_POOL_CLOSED : DISP_NOTHING_BACK, WHO_SERVER, text);
        break;
    }
    return -1;
}

static void sc_drained(void *arg)
{
    struct stream *st = arg;

    if (st->state == ST_TUNNEL) {
        stream_tunnel_io(st);
        return;
    }
    if (!st->req_done && st->sc && (st->state == ST_WAIT || st->state == ST_RESP)) {
        st->cli->req_pause(st, false);
        pump_request(st);
    }
}

static void sc_flush(void *arg)
{
    struct stream *st = arg;
    st->cli->flush(st);
}

static const struct sconn_ops sc_ops = {
    .connected = sc_connected,
    .give_up = sc_give_up,
    .head = sc_head,
    .room = sc_room,
    .body = sc_body,
    .done = sc_done,
    .failed = sc_failed,
    .drained = sc_drained,
    .flush = sc_flush,
    .tunnel = sc_tunnel_io,
};

void stream_resp_drained(struct stream *st)
{
    if (st->state == ST_RESP && st->sc)
        sconn_resume(st->sc);
}

/* --------------------------------------------------------- server lost */

/* Its server went down, retiring or away: a stream still connecting goes
 * elsewhere; one whose request went out with nothing back yet goes again
 * when that is safe (idempotent, no body); any other waits for its answer. */
static void lost_verdict(struct stream *st)
{
    bool replayable = idempotent(st->method) && st->req_body == H1_BODY_NONE;

    if (st->state == ST_TUNNEL) {
        if (st->srv && st->srv->removed)
            tunnel_end(st, WHO_SERVER, "server stopped");
        return;
    }
    if (!st->srv || st->t_resp_us >= 0 || !st->sc || srv_usable_sticky(st->srv))
        return; /* answered meanwhile, or the server is back */
    if (st->state == ST_CONNECT) {
        retry(st, DISP_CONNECT_FAILED, WHO_SERVER, "server left");
    } else if (st->state == ST_WAIT && !st->sc->got_bytes && replayable) {
        retry(st, DISP_NOTHING_BACK, WHO_SERVER, "server left");
    }
}

static void lost_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proxy *px = arg;
    struct stream *st;

    (void)fd; (void)what;
    while ((st = px->lost)) {
        lost_del(st);
        lost_verdict(st);
    }
}

static void lost_add(struct stream *st)
{
    struct proxy *px = st->px;

    if (st->lost || !px->lost_ev)
        return;
    st->lost = true;
    st->lprev = NULL;
    st->lnext = px->lost;
    if (px->lost)
        px->lost->lprev = st;
    px->lost = st;
    event_active(px->lost_ev, EV_TIMEOUT, 0);
}

void stream_server_lost(struct server *srv)
{
    for (struct stream *st = srv->waiting; st; st = st->wnext)
        lost_add(st);
}

void stream_server_gone(struct server *srv)
{
    for (struct stream *st = srv->tunnels; st; st = st->tnext)
        lost_add(st);
}

int stream_lost_setup(struct proxy *px)
{
    px->lost_ev = evtimer_new(px->base, lost_cb, px);
    return px->lost_ev ? 0 : -1;
}

void stream_lost_cleanup(struct proxy *px)
{
    if (px->lost_ev)
        event_free(px->lost_ev);
    px->lost_ev = NULL;
}
