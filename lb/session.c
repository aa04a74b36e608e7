/* lb/session.c - one client connection, request after request.
 *
 * The data path: the request head is parsed (llhttp, paused at the end of the
 * head) into the transaction's arena; a server is picked and a connection
 * taken from its pool or opened; the rewritten head is written, then the body
 * bytes travel untouched (their framing validated by the same parser, paused
 * at the end of the message so a pipelined request is never eaten). The
 * response goes the same way back. Each direction keeps at most BUF_HIGH bytes
 * queued: a full output stops consuming the input and disables reading on
 * the other side until it drains, so a slow peer costs bounded memory.
 *
 * Every function that can free the session returns -1 when it did; callers
 * then touch nothing and return. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lb/backend.h"
#include "lb/cookie.h"
#include "lb/ctr.h"
#include "lb/forward.h"
#include "lb/log.h"
#include "lb/pool.h"
#include "lb/proxy.h"
#include "lb/server.h"
#include "lb/session.h"
#include "lb/tls.h"

#define BUF_HIGH (64 * 1024)   /* bytes queued per direction before backpressure */
#define TXN_CACHE_MAX 256      /* recycled transactions kept */
#define LINGER_MS 2000         /* read and discard this long before a close */
#define REASON_MAX 512         /* bytes of a response reason phrase */
#define CONNECT_SOFT_MS 1000   /* a connect unanswered this long is given up on when
                                * another server can take the request (redispatch) */

static int sess_parse_head(struct session *s);
static int sess_forward_req_body(struct session *s);
static int sess_forward_resp(struct session *s);
static int sess_connect(struct session *s, struct server *srv, bool fresh);
static void srv_read_cb(struct bufferevent *bev, void *arg);
static void srv_write_cb(struct bufferevent *bev, void *arg);
static void srv_event_cb(struct bufferevent *bev, short what, void *arg);
static int sess_server_event(struct session *s, short what);

/* ------------------------------------------------------------------ time */

static int64_t now_us(const struct session *s)
{
    struct timeval tv;
    event_base_gettimeofday_cached(s->px->base, &tv);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static struct timeval ms_tv(uint32_t ms)
{
    return (struct timeval){ ms / 1000, (ms % 1000) * 1000 };
}

static void arm_timer(struct session *s, uint32_t ms)
{
    struct timeval tv = ms_tv(ms);
    evtimer_add(s->timer, &tv);
}

static const struct conf_timeouts *tmo(const struct session *s)
{
    return &s->px->conf->timeout;
}

/* ----------------------------------------------------------- transactions */

static struct txn *txn_get(struct proxy *px)
{
    const struct conf_limits *lim = &px->conf->limits;
    struct txn *t = px->free_txns;

    if (t) {
        px->free_txns = t->next_free;
        px->nfree_txns--;
        struct http_head req = t->req, resp = t->resp;
        memset(t, 0, sizeof(*t));
        t->req = req, t->resp = resp;
        http_head_reset(&t->req);
        http_head_reset(&t->resp);
    } else if (!(t = calloc(1, sizeof(*t)))) {
        return NULL;
    }
    /* Limits may change on reload: set them on every use. */
    t->req.max_target = lim->request_line;
    t->req.max = lim->request_line + lim->header_size;
    t->req.max_hdrs = lim->header_count;
    t->resp.max_target = REASON_MAX;
    t->resp.max = REASON_MAX + lim->header_size;
    t->resp.max_hdrs = lim->header_count;
    t->status = -1;
    t->t_connect_us = t->t_resp_us = -1;
    return t;
}

static void txn_put(struct proxy *px, struct txn *t)
{
    if (t->srv) {
        ctr_dec(t->srv->ctr, CTR_ACTIVE);
        srv_unref(t->srv);
    }
    if (t->be)
        be_unref(t->be);
    if (px->nfree_txns >= TXN_CACHE_MAX) {
        http_head_free(&t->req);
        http_head_free(&t->resp);
        free(t);
        return;
    }
    t->srv = NULL;
    t->be = NULL;
    t->next_free = px->free_txns;
    px->free_txns = t;
    px->nfree_txns++;
}

void txn_cache_free(struct proxy *px)
{
    struct txn *t;

    while ((t = px->free_txns)) {
        px->free_txns = t->next_free;
        http_head_free(&t->req);
        http_head_free(&t->resp);
        free(t);
    }
    px->nfree_txns = 0;
}

/* -------------------------------------------------------------- lifetime */

static void sess_free(struct session *s)
{
    struct proxy *px = s->px;

    if (s->sc)
        sconn_free(s->sc);
    if (s->txn)
        txn_put(px, s->txn);
    if (s->prev)
        s->prev->next = s->next;
    else
        px->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    rd_free(&s->rd);
    bufferevent_free(s->bev);
    event_free(s->timer);
    ctr_dec(s->fe->ctr, CTR_CONNS);
    fe_unref(s->fe);
    free(s);
    proxy_conn_closed(px);
}

/* Client reading on or off: our own read event on plain TCP (lb/rd.h), the
 * bufferevent's with TLS (OpenSSL reads). */
static void cli_read(struct session *s, bool on)
{
    if (!s->direct)
        (on ? bufferevent_enable : bufferevent_disable)(s->bev, EV_READ);
    else if (on)
        rd_on(&s->rd);
    else
        rd_off(&s->rd);
}

static void drop_server_conn(struct session *s)
{
    if (s->sc) {
        sconn_free(s->sc);
        s->sc = NULL;
    }
}

/* Once the last bytes are out, stop sending, and read (and discard) what the
 * client still sends for a moment: closing with unread data makes the kernel
 * send a reset, which can destroy the response before the client reads it.
 * Not needed after a whole request with nothing behind it (the common close:
 * Connection: close or http_close), which closes at once. */
static int sess_linger(struct session *s)
{
    evutil_socket_t fd = bufferevent_getfd(s->bev);

    if (s->client_eof || s->clean_close || shutdown(fd, SHUT_WR) < 0) {
        sess_free(s);
        return -1;
    }
    evbuffer_drain(bufferevent_get_input(s->bev), (size_t)-1);
    cli_read(s, true);
    arm_timer(s, LINGER_MS);
    return 0;
}

/* Write what is queued on bev now, from the callback that queued it, rather
 * than ask the loop for a write event and write on its next turn: that cost
 * two epoll_ctl calls and a loop turn per response, on each side. The
 * bufferevent's own writing (EV_WRITE) is enabled only while bytes are left
 * after this attempt, which is when backpressure and the write timeout
 * matter; the write callbacks disable it again once all is out. */
static void out_flush(struct bufferevent *bev, bool direct)
{
    struct evbuffer *out = bufferevent_get_output(bev);

    if (evbuffer_get_length(out) == 0 || (bufferevent_get_enabled(bev) & EV_WRITE))
        return;
    if (direct) {
        /* A bufferevent freezes the start of its output so nobody else
         * drains it; its own write callback thaws it just like this. */
        evbuffer_unfreeze(out, 1);
        evbuffer_write(out, bufferevent_getfd(bev)); /* an error shows on the next write */
        evbuffer_freeze(out, 1);
    }
    if (evbuffer_get_length(out) > 0)
        bufferevent_enable(bev, EV_WRITE);
}

static void client_flush(struct session *s) { out_flush(s->bev, s->direct); }

/* Stop taking requests; close once the output is flushed. */
static int sess_close_after_flush(struct session *s)
{
    s->state = SESS_CLOSING;
    s->keepalive = false;
    drop_server_conn(s);
    cli_read(s, false);
    client_flush(s);
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
        sess_linger(s);
    return -1; /* the transaction is over: callers must stop */
}

/* ------------------------------------------------------------------ logs */

static void sess_log(struct session *s, const struct txn *t)
{
    const char *method = llhttp_method_name((llhttp_method_t)t->method);
    int64_t end = now_us(s);
    long tq = (long)((t->t_head_us - t->t_start_us) / 1000);
    long tc = t->t_connect_us < 0 ? -1 : (long)((t->t_connect_us - t->t_head_us) / 1000);
    long tr = t->t_resp_us < 0 || t->t_connect_us < 0
                  ? -1 : (long)((t->t_resp_us - t->t_connect_us) / 1000);
    long tt = (long)((end - t->t_start_us) / 1000);
    char date[32], tls[96], version[16] = "";

    if (!log_access_enabled())
        return;
    /* A head that never parsed has no method or version worth printing:
     * HAProxy's <BADREQ>, rather than llhttp's defaults. */
    if (t->head_done)
        snprintf(version, sizeof(version), " HTTP/%u.%u", t->req_major, t->req_minor);
    else
        method = "<BADREQ>";
    log_access_date(date, sizeof(date));
    log_access("%s [%s] %s %s/%s %d %llu %ld/%ld/%ld/%ld \"%s%s%.*s%s\"%s", s->client,
               date, s->fe->name, t->be ? t->be->name : "-", t->srv ? t->srv->name : "-",
               t->status, (unsigned long long)t->bytes_out, tq, tc, tr, tt, method,
               t->head_done ? " " : "", t->head_done ? (int)t->req.target_len : 0,
               t->req.buf ? t->req.buf + t->req.target : "", version,
               tls_log_suffix(s->bev, tls, sizeof(tls)));
}

/* ---------------------------------------------------------------- errors */

/* Answer with an lxlb error page and close. Once response bytes have gone
 * out, an error can only cut the connection. */
static int sess_error(struct session *s, int status)
{
    struct txn *t = s->txn;
    struct evbuffer *out = bufferevent_get_output(s->bev);

    if (t && t->resp_started) {
        sess_free(s);
        return -1;
    }
    ctr_inc(s->fe->ctr, CTR_ERRORS);
    drop_server_conn(s);
    size_t before = evbuffer_get_length(out);
    http_error_page(out, status);
    if (t) {
        t->status = status;
        t->bytes_out = evbuffer_get_length(out) - before;
        ctr_add(s->fe->ctr, CTR_BYTES_OUT, t->bytes_out);
        if (!t->t_head_us)
            t->t_head_us = now_us(s);
        sess_log(s, t);
        txn_put(s->px, t);
        s->txn = NULL;
    }
    return sess_close_after_flush(s);
}

/* --------------------------------------------------------------- parsing */

/* Feed the parser with the buffer's bytes. Returns how many it consumed;
 * *err is HPE_OK (all consumed), HPE_PAUSED (stopped at a message boundary
 * we asked for) or a parse error. With scan, the consumed bytes must also
 * pass http_head_bytes_ok (HPE_CR_EXPECTED otherwise). */
static size_t feed_scan(llhttp_t *p, struct evbuffer *in, llhttp_errno_t *err, uint8_t *scan)
{
    struct evbuffer_iovec v[16];
    int n = evbuffer_peek(in, -1, NULL, v, 16);
    size_t used = 0;

    *err = HPE_OK;
    for (int i = 0; i < n && i < 16; i++) {
        llhttp_errno_t e = llhttp_execute(p, v[i].iov_base, v[i].iov_len);
        size_t take = v[i].iov_len;
        if (e == HPE_PAUSED)
            take = (size_t)(llhttp_get_error_pos(p) - (const char *)v[i].iov_base);
        if (scan && (e == HPE_OK || e == HPE_PAUSED) &&
            !http_head_bytes_ok(scan, v[i].iov_base, take))
            e = HPE_CR_EXPECTED;
        if (e == HPE_OK || e == HPE_PAUSED)
            used += take;
        if (e != HPE_OK) {
            *err = e;
            break;
        }
    }
    return used;
}

static size_t feed(llhttp_t *p, struct evbuffer *in, llhttp_errno_t *err)
{
    return feed_scan(p, in, err, NULL);
}

static int on_req_target(llhttp_t *p, const char *at, size_t len)
{
    struct session *s = p->data;
    return http_head_on_target(&s->txn->req, at, len);
}

static int on_req_field(llhttp_t *p, const char *at, size_t len)
{
    struct session *s = p->data;
    return http_head_on_field(&s->txn->req, at, len);
}

static int on_req_value(llhttp_t *p, const char *at, size_t len)
{
    struct session *s = p->data;
    return http_head_on_value(&s->txn->req, at, len);
}

/* Stop at the end of the head (to route it) and at the end of the message
 * (so the next pipelined request waits its turn). */
static int on_pause(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED;
}

static const llhttp_settings_t req_settings = {
    .on_url = on_req_target,
    .on_header_field = on_req_field,
    .on_header_value = on_req_value,
    .on_headers_complete = on_pause,
    .on_message_complete = on_pause,
};

static int on_resp_reason(llhttp_t *p, const char *at, size_t len)
{
    struct session *s = p->data;
    return http_head_on_target(&s->txn->resp, at, len);
}

static int on_resp_field(llhttp_t *p, const char *at, size_t len)
{
    struct session *s = p->data;
    return http_head_on_field(&s->txn->resp, at, len);
}

static int on_resp_value(llhttp_t *p, const char *at, size_t len)
{
    struct session *s = p->data;
    return http_head_on_value(&s->txn->resp, at, len);
}

static const llhttp_settings_t resp_settings = {
    .on_status = on_resp_reason,
    .on_header_field = on_resp_field,
    .on_header_value = on_resp_value,
    .on_headers_complete = on_pause,
    .on_message_complete = on_pause,
};

static enum body_kind request_body(const llhttp_t *p)
{
    if (p->flags & F_CHUNKED)
        return BODY_CHUNKED;
    if (p->content_length > 0)
        return BODY_LENGTH;
    return BODY_NONE;
}

static enum body_kind response_body(const llhttp_t *p, int req_method)
{
    int st = p->status_code;

    if (req_method == HTTP_HEAD || st == 204 || st == 304 || st < 200)
        return BODY_NONE;
    if (p->flags & F_CHUNKED)
        return BODY_CHUNKED;
    if (p->flags & F_TRANSFER_ENCODING)
        return BODY_EOF; /* RFC 9112 6.3: not chunked last: read until close */
    if (p->flags & F_CONTENT_LENGTH)
        return p->content_length > 0 ? BODY_LENGTH : BODY_NONE;
    return BODY_EOF;
}

static bool idempotent(int method)
{
    return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS ||
           method == HTTP_TRACE || method == HTTP_PUT || method == HTTP_DELETE;
}

/* -------------------------------------------------------------- requests */

/* The server the client's persistence cookie names, if it may still serve
 * it (drain keeps sticky clients; down, maint, retiring and gone do not:
 * those clients are balanced again and re-stuck by the response). */
static struct server *sess_sticky_server(struct txn *t)
{
    const struct conf_cookie *ck = &t->be->conf->cookie;
    size_t nlen = ck->mode == CONF_COOKIE_NONE ? 0 : strlen(ck->name);

    for (int i = nlen ? http_hdr_find(&t->req, "cookie", 0) : -1; i >= 0;
         i = http_hdr_find(&t->req, "cookie", (uint32_t)i + 1)) {
        const char *val, *id;
        size_t vlen, idlen;
        if (!cookie_find(http_hdr_value(&t->req, (uint32_t)i), t->req.hdrs[i].value_len,
                         ck->name, nlen, &val, &vlen) ||
            !cookie_server_part(val, vlen, ck->mode == CONF_COOKIE_PREFIX, &id, &idlen))
            continue;
        struct server *srv = be_find_cookie(t->be, id, idlen);
        t->cookie_srv = srv;
        return srv && srv_usable_sticky(srv) ? srv : NULL;
    }
    return NULL;
}

static enum cookie_req_action cookie_action(const struct conf_cookie *ck)
{
    if (ck->mode == CONF_COOKIE_PREFIX)
        return COOKIE_REQ_UNPREFIX;
    if (ck->mode == CONF_COOKIE_INSERT && ck->indirect)
        return COOKIE_REQ_REMOVE;
    return COOKIE_REQ_KEEP;
}

/* The body bytes that came with the head are checked before the head goes
 * anywhere: a malformed body (bad chunk sizes, a smuggled request behind a
 * bad chunk) then never reaches a server in part. A probe copy of the parser
 * runs over them; the real one starts when the server is there. */
static bool body_prefix_ok(struct session *s)
{
    static const llhttp_settings_t probe_settings = { .on_message_complete = on_pause };
    llhttp_t probe = s->parser;
    llhttp_errno_t err;

    probe.settings = (void *)&probe_settings;
    llhttp_resume(&probe);
    feed(&probe, bufferevent_get_input(s->bev), &err);
    return err == HPE_OK || err == HPE_PAUSED;
}

/* A request head is complete: check it and route it. */
static int sess_on_head(struct session *s)
{
    struct txn *t = s->txn;
    llhttp_t *p = &s->parser;

    t->t_head_us = now_us(s);
    t->method = p->method;
    t->req_major = p->http_major;
    t->req_minor = p->http_minor;
    t->req_keepalive = llhttp_should_keep_alive(p);
    t->req_body = request_body(p);
    t->be = s->fe->backend;
    be_ref(t->be);
    ctr_inc(s->fe->ctr, CTR_REQUESTS);
    ctr_inc(t->be->ctr, CTR_REQUESTS);
    t->head_done = true;
    evtimer_del(s->timer);

    int bad = http_request_verdict(&t->req, p);
    if (bad || (t->req_body != BODY_NONE && !body_prefix_ok(s)))
        return sess_error(s, bad ? bad : 400);

    s->keepalive = t->req_keepalive && !t->be->conf->http_close && !s->px->stopping;
    t->retries_left = (int)t->be->conf->retries;
    s->state = SESS_CONNECT; /* body bytes wait in the input until the server is there */

    struct server *srv = sess_sticky_server(t);
    if (!srv)
        srv = be_pick(t->be, NULL);
    if (!srv) {
        ctr_inc(t->be->ctr, CTR_NO_SERVER);
        return sess_error(s, 503);
    }
    return sess_connect(s, srv, false);
}

static int parse_error_status(const struct session *s, llhttp_errno_t err)
{
    const struct http_head *h = &s->txn->req;

    if (err == HPE_USER && h->limit_status)
        return h->limit_status;
    return 400;
}

static int sess_parse_head(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    llhttp_errno_t err;

    if (evbuffer_get_length(in) == 0)
        return 0;
    if (!s->txn) {
        if (!(s->txn = txn_get(s->px)))
            return sess_error(s, 500);
        s->txn->t_start_us = now_us(s);
        s->state = SESS_HEAD;
        /* The first request's deadline runs from the accept; later ones from
         * their first byte, so an idle keep-alive client is not a slow one. */
        if (s->nreq > 0)
            arm_timer(s, tmo(s)->http_request_ms);
    }
    while (evbuffer_get_length(in) > 0) {
        size_t used = feed_scan(&s->parser, in, &err, &s->txn->scan);
        ctr_add(s->fe->ctr, CTR_BYTES_IN, used);
        evbuffer_drain(in, used);
        if (err == HPE_PAUSED)
            return sess_on_head(s);
        if (err != HPE_OK) {
            log_event(LOG_LVL_DEBUG, "%s: bad request: %s (%s)", s->client,
                      llhttp_errno_name(err), llhttp_get_error_reason(&s->parser));
            return sess_error(s, parse_error_status(s, err));
        }
        if (used == 0)
            break;
    }
    return 0;
}

/* Move request body bytes to the server, as far as its buffer allows. */
static int sess_forward_req_body(struct session *s)
{
    struct txn *t = s->txn;
    struct evbuffer *in = bufferevent_get_input(s->bev);
    struct evbuffer *out = bufferevent_get_output(s->sc->bev);
    llhttp_errno_t err;

    while (!t->req_done && evbuffer_get_length(in) > 0 &&
           evbuffer_get_length(out) < BUF_HIGH) {
        size_t used = feed(&s->parser, in, &err);
        evbuffer_remove_buffer(in, out, used);
        out_flush(s->sc->bev, true);
        ctr_add(s->fe->ctr, CTR_BYTES_IN, used);
        ctr_add(t->srv->ctr, CTR_BYTES_OUT, used);
        if (err == HPE_PAUSED) {
            t->req_done = true;
            llhttp_reset(&s->parser);
        } else if (err != HPE_OK) {
            log_event(LOG_LVL_DEBUG, "%s: bad request body: %s", s->client,
                      llhttp_errno_name(err));
            return sess_error(s, 400);
        } else if (used == 0) {
            break;
        }
    }
    if (t->req_done) {
        evtimer_del(s->timer);
    } else {
        arm_timer(s, tmo(s)->client_ms); /* client inactivity while sending a body */
        /* The server is not keeping up: stop reading the client until its
         * buffer drains (srv_write_cb). Leaving reading on would make libevent
         * call us again and again for an input we cannot take. */
        if (evbuffer_get_length(out) >= BUF_HIGH)
            cli_read(s, false);
    }
    return 0;
}

/* --------------------------------------------------------------- servers */

static void set_nodelay(evutil_socket_t fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The server connection is ready: send the head, then the body as it comes. */
static int sess_send_request(struct session *s)
{
    struct txn *t = s->txn;
    struct srv_conn *sc = s->sc;
    struct timeval stv = ms_tv(tmo(s)->server_ms);
    struct fwd_req_ctx ctx = {
        .method = llhttp_method_name((llhttp_method_t)t->method),
        .major = t->req_major,
        .minor = t->req_minor,
        .fe = s->fe->conf,
        .client_ip = s->client_ip,
        .close = t->be->conf->http_close,
        .cookie_name = t->be->conf->cookie.mode ? t->be->conf->cookie.name : NULL,
        .cookie_act = cookie_action(&t->be->conf->cookie),
    };

    t->t_connect_us = now_us(s);
    evtimer_del(s->timer); /* the soft connect deadline, if any */
    sc->uses++;
    ctr_inc(t->srv->ctr, CTR_REQUESTS);
    struct evbuffer *out = bufferevent_get_output(sc->bev);
    size_t before = evbuffer_get_length(out);
    fwd_request_head(out, &t->req, &ctx);
    ctr_add(t->srv->ctr, CTR_BYTES_OUT, evbuffer_get_length(out) - before);
    llhttp_init(&sc->parser, HTTP_RESPONSE, &resp_settings);
    sc->parser.data = s;
    bufferevent_setcb(sc->bev, srv_read_cb, srv_write_cb, srv_event_cb, s);
    bufferevent_set_timeouts(sc->bev, NULL, &stv);
    bufferevent_disable(sc->bev, EV_WRITE);
    rd_timeout(&sc->rd, &stv);
    rd_on(&sc->rd);
    out_flush(sc->bev, true);
    s->state = SESS_ACTIVE;
    if (t->req_body == BODY_NONE) {
        t->req_done = true;
        llhttp_reset(&s->parser);
        return 0;
    }
    llhttp_resume(&s->parser);
    cli_read(s, true);
    return sess_forward_req_body(s);
}

static int sess_connect(struct session *s, struct server *srv, bool fresh)
{
    struct txn *t = s->txn;
    struct srv_conn *sc = fresh ? NULL : pool_take(srv);

    if (t->srv != srv) {
        if (t->srv) {
            ctr_dec(t->srv->ctr, CTR_ACTIVE);
            srv_unref(t->srv);
        }
        t->srv = srv;
        srv_ref(srv);
        ctr_inc(srv->ctr, CTR_ACTIVE);
    }
    drop_server_conn(s);
    t->conn_reused = sc != NULL;
    if (sc) {
        s->sc = sc;
        sc->owner = s;
        return sess_send_request(s);
    }
    if (!(sc = sconn_new(s->px->base, srv)))
        return sess_error(s, 503);
    s->sc = sc;
    sc->owner = s;
    struct timeval ctv = ms_tv(tmo(s)->connect_ms);
    bufferevent_setcb(sc->bev, NULL, NULL, srv_event_cb, s);
    bufferevent_setwatermark(sc->bev, EV_WRITE, BUF_HIGH / 4, 0); /* once per connection */
    bufferevent_set_timeouts(sc->bev, NULL, &ctv);
    if (bufferevent_socket_connect(sc->bev, (struct sockaddr *)&srv->addr.ss,
                                   (int)srv->addr.len) < 0) {
        /* Failed at once (e.g. no route): handled like any failed connect. */
        return sess_server_event(s, BEV_EVENT_ERROR);
    }
    if (srv->addr.family != AF_UNIX)
        set_nodelay(bufferevent_getfd(sc->bev));
    /* A vanished host (a container gone without a trace) leaves SYNs unanswered
     * until timeout.connect: with redispatch, lxlb stops waiting much sooner
     * when another server can take the request (sess_timer_cb). */
    if (t->be->conf->redispatch && tmo(s)->connect_ms > CONNECT_SOFT_MS)
        arm_timer(s, CONNECT_SOFT_MS);
    return 0;
}

/* A connect failed: count it against the server, then retry (elsewhere with
 * redispatch) while retries last, else 503. */
static int sess_connect_failed(struct session *s, const char *why)
{
    struct txn *t = s->txn;
    struct server *srv = t->srv;

    log_event(LOG_LVL_DEBUG, "connect to %s/%s (%s) failed: %s", t->be->name, srv->name,
              srv->addr.text, why);
    drop_server_conn(s); /* first: a server going down rescues the sessions still on it */
    srv_traffic_failed(srv, why);
    if (t->retries_left-- <= 0)
        return sess_error(s, 503);
    if (!t->be->conf->redispatch && srv_usable(srv) && !srv->removed)
        return sess_connect(s, srv, true);
    t->failed_srv = srv;
    struct server *next = be_pick(t->be, srv);
    if (!next) {
        ctr_inc(t->be->ctr, CTR_NO_SERVER);
        return sess_error(s, 503);
    }
    return sess_connect(s, next, true);
}

/* A request was sent and lost with its server: replay it on another one
 * (the same one without redispatch) while retries last. */
static int sess_retry_elsewhere(struct session *s, const char *why)
{
    struct txn *t = s->txn;
    struct server *srv = t->srv;

    drop_server_conn(s);
    if (t->retries_left-- <= 0)
        return sess_error(s, 502);
    struct server *next = t->be->conf->redispatch || !srv_usable(srv) ? be_pick(t->be, srv) : srv;
    if (!next) {
        ctr_inc(t->be->ctr, CTR_NO_SERVER);
        return sess_error(s, 503);
    }
    log_event(LOG_LVL_DEBUG, "%s/%s: %s; retrying on %s", t->be->name, srv->name, why,
              next->name);
    t->req_done = false;
    return sess_connect(s, next, true);
}

/* --------------------------------------------------------------- responses */

/* A response head is complete: decide keep-alive and pass it on. */
static int sess_on_resp_head(struct session *s)
{
    struct txn *t = s->txn;
    llhttp_t *p = &s->sc->parser;
    int status = p->status_code;
    struct evbuffer *out = bufferevent_get_output(s->bev);
    size_t before = evbuffer_get_length(out);

    if (status == 101 || status < 100 || status > 599 || p->http_major != 1 ||
        p->http_minor > 1 || !http_head_names_valid(&t->resp)) {
        ctr_inc(t->srv->ctr, CTR_FAILURES);
        return sess_error(s, 502); /* lxlb never asks for an upgrade */
    }
    if (status < 200) {
        /* Interim (100 Continue...): relay to HTTP/1.1 clients, await the final one. */
        if (t->req_minor >= 1) {
            struct fwd_resp_ctx ctx = { .status = status, .keepalive = true };
            fwd_response_head(out, &t->resp, &ctx);
            t->bytes_out += evbuffer_get_length(out) - before;
        }
        http_head_reset(&t->resp);
        llhttp_reset(p);
        return 0;
    }
    t->t_resp_us = now_us(s);
    t->resp_head_done = true;
    srv_traffic_ok(t->srv);
    t->status = status;
    t->resp_body = response_body(p, t->method);
    t->resp_keepalive = llhttp_should_keep_alive(p) && t->resp_body != BODY_EOF &&
                        !t->be->conf->http_close;
    if (t->resp_body == BODY_EOF || s->px->stopping || s->client_eof)
        s->keepalive = false;

    const struct conf_cookie *ck = &t->be->conf->cookie;
    struct fwd_resp_ctx ctx = {
        .status = status,
        .keepalive = s->keepalive,
        .client_http10 = t->req_major == 1 && t->req_minor == 0,
        .cookie = ck,
        .srv_cookie = t->srv->cookie,
        .insert = ck->mode == CONF_COOKIE_INSERT && t->cookie_srv != t->srv,
    };
    fwd_response_head(out, &t->resp, &ctx);
    t->resp_started = true;
    t->bytes_out += evbuffer_get_length(out) - before;
    if (t->resp_body != BODY_NONE)
        llhttp_resume(p);
    return 0;
}

/* The response is complete: log, pool or close the server connection, and
 * serve the next request (maybe already buffered: pipelining). */
static int sess_txn_done(struct session *s)
{
    struct txn *t = s->txn;
    struct srv_conn *sc = s->sc;

    client_flush(s);
    ctr_add(s->fe->ctr, CTR_BYTES_OUT, t->bytes_out);
    sess_log(s, t);
    s->sc = NULL;
    if (sc && t->resp_keepalive && t->req_done)
        pool_put(sc, tmo(s)->keepalive_ms);
    else
        sconn_free(sc);
    bool whole = t->req_done;
    if (!whole)
        s->keepalive = false; /* the rest of the body is in the way: close */
    txn_put(s->px, t);
    s->txn = NULL;
    s->nreq++;
    if (!s->keepalive || s->px->stopping) {
        s->clean_close = whole && evbuffer_get_length(bufferevent_get_input(s->bev)) == 0;
        return sess_close_after_flush(s);
    }
    s->state = SESS_IDLE;
    arm_timer(s, tmo(s)->keepalive_ms);
    cli_read(s, true);
    return sess_parse_head(s);
}

/* Move response bytes to the client, as far as its buffer allows. */
static int forward_resp(struct session *s)
{
    struct txn *t = s->txn;
    struct evbuffer *in = bufferevent_get_input(s->sc->bev);
    struct evbuffer *out = bufferevent_get_output(s->bev);
    llhttp_errno_t err;

    while (evbuffer_get_length(in) > 0) {
        if (!t->resp_head_done) {
            size_t used = feed_scan(&s->sc->parser, in, &err, &t->resp_scan);
            evbuffer_drain(in, used);
            ctr_add(t->srv->ctr, CTR_BYTES_IN, used);
            if (err == HPE_PAUSED) {
                if (sess_on_resp_head(s) < 0)
                    return -1;
                if (t->resp_head_done && t->resp_body == BODY_NONE)
                    return sess_txn_done(s);
                continue;
            }
            if (err != HPE_OK) {
                log_event(LOG_LVL_WARN, "server %s/%s: bad response: %s (%s)", t->be->name,
                          t->srv->name, llhttp_errno_name(err),
                          llhttp_get_error_reason(&s->sc->parser));
                ctr_inc(t->srv->ctr, CTR_FAILURES);
                return sess_error(s, 502);
            }
            if (used == 0)
                break;
            continue;
        }
        if (evbuffer_get_length(out) >= BUF_HIGH) {
            /* The client is not keeping up: stop reading the server until
             * the client's buffer drains (client_write_cb). */
            rd_off(&s->sc->rd);
            break;
        }
        size_t used = feed(&s->sc->parser, in, &err);
        evbuffer_remove_buffer(in, out, used);
        t->bytes_out += used;
        ctr_add(t->srv->ctr, CTR_BYTES_IN, used);
        if (err == HPE_PAUSED)
            return sess_txn_done(s);
        if (err != HPE_OK) {
            log_event(LOG_LVL_WARN, "server %s/%s: bad response body: %s", t->be->name,
                      t->srv->name, llhttp_errno_name(err));
            ctr_inc(t->srv->ctr, CTR_FAILURES);
            return sess_error(s, 502);
        }
        if (used == 0)
            break;
    }
    return 0;
}

/* ... and write them out at once: head and body of a small response go in
 * one write. */
static int sess_forward_resp(struct session *s)
{
    if (forward_resp(s) < 0)
        return -1;
    client_flush(s);
    return 0;
}

static void srv_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    sess_forward_resp(arg);
}

static void srv_write_cb(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_disable(bev, EV_WRITE); /* all out: out_flush writes from here on */
    if (s->state == SESS_ACTIVE && !s->txn->req_done) {
        cli_read(s, true);
        sess_forward_req_body(s);
    }
}

/* The server closed or failed after the connection was up. */
/* The server connection ended (closed, reset, timed out) and nothing came
 * back. On a fresh connection that counts against the server. On a pooled
 * one it does not: a busy Apache closes idle keep-alive connections, and a
 * request written just then meets a close or a reset; counting those took
 * a healthy server down under load. An idempotent request without a body
 * cannot have been half-done: it goes again, on a new connection to the
 * same server after a pooled one was closed under it, elsewhere when the
 * server itself is in doubt. */
static int sess_nothing_back(struct session *s, short what)
{
    struct txn *t = s->txn;
    struct server *srv = t->srv;
    bool timeout = what & BEV_EVENT_TIMEOUT;
    bool replayable = idempotent(t->method) && t->req_body == BODY_NONE;

    drop_server_conn(s);
    if (!t->conn_reused || timeout)
        srv_traffic_failed(srv, timeout ? "no answer in time" : "closed before answering");
    if (timeout)
        return sess_error(s, 504);
    if (!replayable)
        return sess_error(s, 502);
    if (t->conn_reused && srv_usable(srv)) {
        log_event(LOG_LVL_DEBUG, "server %s/%s closed a reused connection; retrying",
                  t->be->name, srv->name);
        return sess_connect(s, srv, true);
    }
    return sess_retry_elsewhere(s, "server closed before answering");
}

static int sess_server_gone(struct session *s, short what)
{
    struct txn *t = s->txn;
    bool nothing_back = !t->resp_started && t->resp.len == 0 &&
                        llhttp_get_errno(&s->sc->parser) == HPE_OK && !t->resp_head_done;

    if (t->resp_head_done && t->resp_body == BODY_EOF && (what & BEV_EVENT_EOF)) {
        /* The close ends the body: pass on what is buffered (bounded by the
         * read watermark), whatever the client's backlog. */
        struct evbuffer *in = bufferevent_get_input(s->sc->bev);
        size_t n = evbuffer_get_length(in);
        evbuffer_add_buffer(bufferevent_get_output(s->bev), in);
        t->bytes_out += n;
        ctr_add(t->srv->ctr, CTR_BYTES_IN, n);
        t->resp_keepalive = false;
        return sess_txn_done(s);
    }
    if (!nothing_back) {
        ctr_inc(t->srv->ctr, CTR_FAILURES);
        return sess_error(s, what & BEV_EVENT_TIMEOUT ? 504 : 502);
    }
    return sess_nothing_back(s, what);
}

void sess_server_lost(struct proxy *px, struct server *srv)
{
    struct session *s, *next;

    for (s = px->sessions; s; s = next) {
        next = s->next;
        struct txn *t = s->txn;
        if (!t || t->srv != srv || !s->sc || t->resp_started || t->resp.len)
            continue;
        if (s->state == SESS_CONNECT)
            sess_connect_failed(s, "server removed");
        else if (s->state == SESS_ACTIVE && idempotent(t->method) && t->req_body == BODY_NONE)
            sess_retry_elsewhere(s, "server removed");
    }
}

static int sess_server_event(struct session *s, short what)
{
    struct srv_conn *sc = s->sc;

    if (what & BEV_EVENT_CONNECTED) {
        sc->connected = true;
        return sess_send_request(s);
    }
    if (!sc->connected) {
        char why[96];
        if (what & BEV_EVENT_TIMEOUT)
            snprintf(why, sizeof(why), "connect timeout");
        else
            snprintf(why, sizeof(why), "%s",
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return sess_connect_failed(s, why);
    }
    return sess_server_gone(s, what);
}

static void srv_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    sess_server_event(arg, what);
}

/* ---------------------------------------------------------------- clients */

static void client_read_cb(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    switch (s->state) {
    case SESS_IDLE:
    case SESS_HEAD:
        sess_parse_head(s);
        break;
    case SESS_ACTIVE:
        if (!s->txn->req_done) {
            sess_forward_req_body(s);
            break;
        }
        /* pipelined bytes wait their turn */
        __attribute__((fallthrough));
    case SESS_CONNECT:
        /* A full input is not read from until the server is there or the
         * response is done; libevent would otherwise keep calling us. */
        if (evbuffer_get_length(bufferevent_get_input(bev)) >= BUF_HIGH)
            cli_read(s, false);
        break;
    case SESS_CLOSING:
        evbuffer_drain(bufferevent_get_input(bev), (size_t)-1);
        break;
    }
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    if (s->direct && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_disable(bev, EV_WRITE); /* all out: out_flush writes from here on */
    if (s->state == SESS_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            sess_linger(s);
        return;
    }
    if (s->state == SESS_ACTIVE && s->sc && s->txn->resp_head_done) {
        rd_on(&s->sc->rd);
        sess_forward_resp(s);
    }
    else if (s->state == SESS_IDLE && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        arm_timer(s, tmo(s)->keepalive_ms); /* idle from now, not from the last byte queued */
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if ((what & BEV_EVENT_EOF) && (s->state == SESS_CONNECT || s->state == SESS_ACTIVE) &&
        s->txn->req_done) {
        /* Half-closed after a whole request: still owed its response. */
        s->client_eof = true;
        s->keepalive = false;
        return;
    }
    sess_free(s);
}

/* A connect has gone unanswered for CONNECT_SOFT_MS. On a LAN that means the
 * host is gone (or drowning): when another server is usable, count it as a
 * failed connect and redispatch now; else wait for timeout.connect. */
static void sess_connect_slow(struct session *s)
{
    struct txn *t = s->txn;

    if (!s->sc || s->sc->connected)
        return;
    if (!be_has_other_usable(t->be, t->srv))
        return; /* nowhere else to go: the bufferevent's connect timeout decides */
    sess_connect_failed(s, "no answer to connect within 1s");
}

static void sess_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd; (void)what;
    switch (s->state) {
    case SESS_HEAD:
        sess_error(s, 408);
        break;
    case SESS_CONNECT:
        sess_connect_slow(s);
        break;
    case SESS_ACTIVE:
        /* The client stopped sending its body. */
        if (s->txn && !s->txn->req_done) {
            sess_error(s, 408);
            break;
        }
        break;
    case SESS_IDLE:
        /* The keep-alive clock starts when the last response is out: a slow
         * reader is guarded by the write timeout, not by this one. */
        if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0) {
            arm_timer(s, tmo(s)->keepalive_ms);
            break;
        }
        sess_free(s); /* idle keep-alive, or the first request never came */
        break;
    default:
        sess_free(s); /* linger over */
        break;
    }
}

static void client_name(struct session *s, const struct sockaddr *sa)
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
    snprintf(s->client_ip, sizeof(s->client_ip), "%s", ip);
    if (sa->sa_family == AF_INET6)
        snprintf(s->client, sizeof(s->client), "[%s]:%u", ip, port);
    else
        snprintf(s->client, sizeof(s->client), "%s:%u", ip, port);
}

/* TLS: until the handshake is done, its outcome is the only event. */
static void client_handshake_cb(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;

    if (what & BEV_EVENT_CONNECTED) {
        bufferevent_setcb(bev, client_read_cb, client_write_cb, client_event_cb, s);
        arm_timer(s, tmo(s)->http_request_ms); /* the request can start coming now */
        return;
    }
    tls_log_failure(bev, what, s->fe->name, s->client);
    sess_free(s);
}

void sess_accept(struct frontend *fe, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
    struct proxy *px = fe->px;
    struct session *s = calloc(1, sizeof(*s));
    struct timeval ctv = ms_tv(px->conf->timeout.client_ms);
    bool tls = fe->conf->tls.enabled;

    (void)salen;
    if (!s)
        goto err;
    /* A TLS frontend whose certificates are not loaded closes: never plain text. */
    s->bev = tls ? tls_bev_new(fe->tls, px->base, fd)
                 : bufferevent_socket_new(px->base, fd, BEV_OPT_CLOSE_ON_FREE);
    s->timer = evtimer_new(px->base, sess_timer_cb, s);
    if (!s->bev || !s->timer)
        goto err;
    s->px = px;
    s->fe = fe;
    fe_ref(fe);
    /* No TCP_NODELAY towards clients (as HAProxy): a response is written in
     * few large writes anyway, and with Nagle off a client whose receive
     * window collapses gets a trickle of tiny segments (measured: 4 MB in
     * 30 s instead of 0.6 s). */
    client_name(s, sa);
    llhttp_init(&s->parser, HTTP_REQUEST, &req_settings);
    s->parser.data = s;
    bufferevent_setcb(s->bev, client_read_cb, client_write_cb,
                      tls ? client_handshake_cb : client_event_cb, s);
    /* No read watermark: each state bounds its input itself (reading stops
     * at BUF_HIGH when nothing is consumed), and libevent's watermark check
     * re-armed the read event on every drain. */
    bufferevent_setwatermark(s->bev, EV_WRITE, BUF_HIGH / 4, 0);
    bufferevent_set_timeouts(s->bev, NULL, &ctv); /* a client that stops reading */
    /* Plain TCP is written from our callbacks (out_flush); TLS leaves the
     * writing to libevent_openssl, which needs its write side for records. */
    s->direct = !tls;
    rd_init(&s->rd, s->bev);
    if (s->direct)
        bufferevent_disable(s->bev, EV_WRITE);
    if (s->direct ? rd_on(&s->rd) < 0 : bufferevent_enable(s->bev, EV_READ) < 0)
        goto err;
    /* With TLS this first deadline is the handshake's (timeout.client). */
    arm_timer(s, tls ? px->conf->timeout.client_ms : px->conf->timeout.http_request_ms);
    s->next = px->sessions;
    if (px->sessions)
        px->sessions->prev = s;
    px->sessions = s;
    ctr_inc(fe->ctr, CTR_CONNS);
    ctr_inc(fe->ctr, CTR_CONNS_TOTAL);
    return;
err:
    if (s && s->bev)
        bufferevent_free(s->bev);
    else
        evutil_closesocket(fd);
    if (s && s->timer)
        event_free(s->timer);
    free(s);
    proxy_conn_closed(px);
}

void sess_close(struct session *s) { sess_free(s); }

void sess_stop_idle(struct proxy *px)
{
    struct session *s = px->sessions, *next;

    for (; s; s = next) {
        next = s->next;
        s->keepalive = false;
        if (s->state == SESS_IDLE && !s->txn)
            sess_free(s);
    }
}
