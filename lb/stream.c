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
#include "lb/stream-int.h"

/* Request payload on its way from a client side to a server connection,
 * moved on at once: one per loop, not one per stream. */
static __thread struct evbuffer *body_scratch;

#define STREAM_CACHE_MAX 256   /* recycled streams kept per loop */
#define REASON_MAX 512         /* bytes of a response reason phrase */
#define CONNECT_SOFT_MS 1000   /* a connect unanswered this long is given up on when
                                * another server can take the request */


/* ------------------------------------------------------------------ time */

int64_t st_now_us(const struct stream *st)
{
    struct timeval tv;
    event_base_gettimeofday_cached(st->px->base, &tv);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

const struct conf_timeouts *st_tmo(const struct stream *st)
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
    } else if (!(st = calloc(1, sizeof(*st)))) {
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
    st->t_start_us = st_now_us(st);
    st->t_start_mono_us = ctr_mono_us();
    st->t_connect_us = st->t_resp_us = -1;
    st->who = WHO_NONE;
    st->phase = PH_NONE;
    return st;
}

static struct st_link *link_at(struct stream *st, size_t off)
{
    return (struct st_link *)((char *)st + off);
}

void st_list_add(struct stream **head, struct stream *st, size_t off)
{
    struct st_link *l = link_at(st, off);

    l->prev = NULL;
    l->next = *head;
    l->head = head;
    if (*head)
        link_at(*head, off)->prev = st;
    *head = st;
}

void st_list_del(struct stream *st, size_t off)
{
    struct st_link *l = link_at(st, off);

    if (!l->head)
        return;
    if (l->prev)
        link_at(l->prev, off)->next = l->next;
    else
        *l->head = l->next;
    if (l->next)
        link_at(l->next, off)->prev = l->prev;
    l->prev = l->next = NULL;
    l->head = NULL;
}

static void unbind_server(struct stream *st)
{
    if (!st->srv)
        return;
    st_list_del(st, ST_SRV_LINK);
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
    /* Bound, nothing back yet: srv going away must find it. */
    st_list_del(st, ST_SRV_LINK);
    st_list_add(&srv->waiting, st, ST_SRV_LINK);
    srv_set_add(&st->tried, srv);
}

void st_drop_sconn(struct stream *st)
{
    st->head_queued = false; /* a queued head goes with its connection */
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

    st_drop_sconn(st);
    st_list_del(st, ST_LOST_LINK);
    unbind_server(st);
    srv_set_clear(&st->tried);
    if (st->tunnel_timer)
        evtimer_del(st->tunnel_timer); /* kept with the stream for the next tunnel */
    if (st->be)
        be_unref(st->be);
    if (px->nfree_streams >= STREAM_CACHE_MAX) {
        http_head_free(&st->req);
        http_head_free(&st->resp);
        if (st->tunnel_timer)
            event_free(st->tunnel_timer);
        free(st);
        return;
    }
    /* Keep the head arenas and the tunnel timer: no malloc per request. An arena a large head grew is given back: kept, a burst of
     * large heads would pin up to 64 KiB per cached stream, and the pages
     * around them (measured: 11.5 MB at rest after 3000 12 KB heads, 7.6 MB
     * without the cache). */
    shrink_head(&st->req);
    shrink_head(&st->resp);
    struct http_head req = st->req, resp = st->resp;
    struct event *tt = st->tunnel_timer;
    memset(st, 0, sizeof(*st));
    st->req = req;
    st->resp = resp;
    st->tunnel_timer = tt;
    http_head_reset(&st->req);
    http_head_reset(&st->resp);
    st->next_free = px->free_streams;
    px->free_streams = st;
    px->nfree_streams++;
}

void stream_thread_cleanup(void)
{
    if (body_scratch)
        evbuffer_free(body_scratch);
    body_scratch = NULL;
}

void stream_cache_free(struct proxy *px)
{
    struct stream *st;

    while ((st = px->free_streams)) {
        px->free_streams = st->next_free;
        http_head_free(&st->req);
        http_head_free(&st->resp);
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
    st_drop_sconn(st);
    st_list_del(st, ST_SRV_LINK);
    if (st->state == ST_RESP)
        return st->cli->abort(st); /* bytes went out: an error can only cut */
    st->state = ST_DONE;
    return st->cli->answer(st, status);
}

char stream_phase(const struct stream *st)
{
    switch (st->state) {
    case ST_HEAD: return PH_HEAD;
    case ST_CONNECT: return st->req_done ? PH_CONNECT : PH_BODY;
    case ST_WAIT: return st->req_done ? PH_WAIT : PH_BODY;
    default: return PH_DATA;
    }
}

void stream_client_gone(struct stream *st, char who, char phase)
{
    st->who = who;
    st->phase = phase;
    st_drop_sconn(st);
    st_list_del(st, ST_SRV_LINK);
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
int st_pump_request(struct stream *st)
{
    while (!st->req_done) {
        size_t room = sconn_room(st->sc);
        if (room == 0) {
            st->cli->req_pause(st, true);
            return 0;
        }
        if (!body_scratch && !(body_scratch = evbuffer_new()))
            return stream_refuse(st, 503, WHO_RESOURCE, PH_BODY, "out of memory");
        enum h1_res r = st->cli->req_body(st, body_scratch, room);
        size_t moved = evbuffer_get_length(body_scratch);
        sconn_body(st->sc, body_scratch);
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

bool st_server_close(const struct stream *st)
{
    return st->be->conf->http_close || st->fe->conf->http_close;
}

/* The head is on its way to a connected server: the request counts from
 * here; then the body, as it comes. */
int st_request_sent(struct stream *st)
{
    st->head_queued = false;
    st->t_connect_us = st_now_us(st);
    st->state = ST_WAIT;
    ctr_inc(st->srv->ctr, CTR_REQUESTS);
    ctr_add(st->srv->ctr, CTR_BYTES_OUT, (int64_t)st->head_bytes);
    if (st->req_body == H1_BODY_NONE) {
        st->req_done = true;
        return 0;
    }
    st->req_done = false;
    return st_pump_request(st);
}

/* Send the head on the server connection: a ready one, or one still
 * connecting (then it goes, and counts, when the connect is done). */
int st_send_request(struct stream *st)
{
    const struct conf_backend *cb = st->be->conf;
    struct fwd_req_ctx ctx = {
        .method = llhttp_method_name((llhttp_method_t)st->method),
        .major = st->req_major,
        .minor = st->req_minor,
        .fe = st->fe->conf,
        .client_ip = NULL,
        .close = st_server_close(st),
        .cookie_name = cb->cookie.mode ? cb->cookie.name : NULL,
        .cookie_act = cookie_action(&cb->cookie),
    };
    struct evbuffer *out = sconn_out(st->sc);
    size_t before = evbuffer_get_length(out);

    ctx.client_ip = st->cli->client_ip(st);
    ctx.upgrade = upgrade_asked(st, &ctx.upgrade_len);
    st->upgrade = ctx.upgrade != NULL;
    if (st->send_proxy && st->sc->uses == 0)
        send_proxy_header(st, out);
    fwd_request_head(out, &st->req, &ctx);
    st->head_bytes = evbuffer_get_length(out) - before;
    if (sconn_send(st->sc, st->method, st->req_body, &st->resp, st_tmo(st)->server_ms) == 0) {
        st->head_queued = true; /* sc_connected (or sc_failed) follows */
        return 0;
    }
    return st_request_sent(st);
}

/* Connect st to srv: a pooled connection when allowed, else a new one. */
static int connect_to(struct stream *st, struct server *srv, bool pooled)
{
    struct srv_conn *sc = NULL;
    const struct conf_timeouts *t = st_tmo(st);
    int err;

    bind_server(st, srv);
    st_drop_sconn(st);
    st->state = ST_CONNECT;
    st->send_proxy = srv_send_proxy(srv);
    if (pooled && !st->send_proxy) /* a send_proxy connection carries one client */
        sc = pool_take(srv);
    st->conn_reused = sc != NULL;
    if (sc) {
        sconn_adopt(sc, &st_sc_ops, st);
        st->sc = sc;
        return st_send_request(st);
    }
    /* A vanished host (a container gone without a trace) leaves SYNs
     * unanswered until timeout.connect: the stream moves on much sooner when
     * another server can take it (the connect goes on alone and counts). */
    struct sconn_tmo ct = {
        .connect_ms = t->connect_ms,
        .soft_ms = st->be->conf->redispatch ? CONNECT_SOFT_MS : 0,
        .idle_ms = t->keepalive_ms,
    };
    /* A bodiless request's head goes with the connect, without waiting
     * for it to be reported done; a body waits in the client's input until
     * the server is there, so that a failed connect can still be retried. */
    bool head_now = st->req_body == H1_BODY_NONE;
    st->sc = sconn_connect(st->px->base, srv, &ct, &st_sc_ops, st, head_now, &err);
    if (st->sc)
        return head_now ? st_send_request(st) : 0;
    if (err == ENOMEM)
        return stream_refuse(st, 503, WHO_RESOURCE, PH_CONNECT, "out of memory");
    return st_retry(st, DISP_CONNECT_FAILED, WHO_SERVER, evutil_socket_error_to_string(err));
}

void stream_head_parsed(struct stream *st)
{
    st->t_head_us = st_now_us(st);
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
        return st_pump_request(st);
    return 0;
}

/* Try elsewhere (or again), or answer with the status dispatch gives. */
int st_retry(struct stream *st, enum disp_why why, char who, const char *text)
{
    int status = 503;
    struct server *old = st->srv, *next;

    st_drop_sconn(st);
    next = dispatch(st, why, &status);
    if (!next) {
        char phase = why == DISP_CONNECT_FAILED ? PH_CONNECT : PH_WAIT;
        return stream_refuse(st, status, who, phase, text);
    }
    log_event(LOG_LVL_DEBUG, "%s/%s: %s; trying %s", st->be->name, old ? old->name : "-",
              text, next->name);
    return connect_to(st, next, false);
}
