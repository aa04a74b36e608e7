/* lb/stream-srv.c - what a stream's server connection reports (connected,
 * a head, body, done, failed), and what a stream does when its server goes
 * away: looked at on the next loop turn, never from inside the change. */
#include <event2/buffer.h>
#include <event2/event.h>

#include "lb/backend.h"
#include "lb/ctr.h"
#include "lb/dispatch.h"
#include "lb/forward.h"
#include "lb/log.h"
#include "lb/proxy-t.h"
#include "lb/sconn.h"
#include "lb/server.h"
#include "lb/stream.h"
#include "lb/stream-int.h"


static void sc_connected(void *arg)
{
    struct stream *st = arg;

    if (st->head_queued)
        st_request_sent(st); /* the head goes now */
    else
        st_send_request(st);
}

static bool sc_give_up(void *arg)
{
    return dispatch_can_move_on(arg);
}

bool st_idempotent(int method)
{
    return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS ||
           method == HTTP_TRACE || method == HTTP_PUT || method == HTTP_DELETE;
}

static int resp_head_final(struct stream *st, int status)
{
    const struct conf_backend *cb = st->be->conf;
    const struct conf_cookie *ck = &cb->cookie;
    llhttp_t *p = &st->sc->resp.parser;

    st->t_resp_us = st_now_us(st);
    st_list_del(st, ST_SRV_LINK);
    st->status = status;
    st->resp_body = st->sc->resp.body;
    st->resp_keepalive = llhttp_should_keep_alive(p) && st->resp_body != H1_BODY_EOF &&
                         !st_server_close(st);
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
            return st_tunnel_start(st);
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
                  st_tmo(st)->keepalive_ms);
    be_observe_latency(st->be, ctr_mono_us() - st->t_start_mono_us);
    st->state = ST_DONE;
    st->cli->resp_done(st);
    return -1;
}

static int sc_failed(void *arg, enum sc_fail why, bool nothing_back, const char *text)
{
    struct stream *st = arg;
    bool replayable = st_idempotent(st->method) && st->req_body == H1_BODY_NONE;

    if (st->state == ST_TUNNEL) {
        /* The server closed its side: what it sent last still reaches the client. */
        st_tunnel_move(st);
        st_tunnel_end(st, why == SC_FAIL_CLOSED ? WHO_NONE : WHO_SERVER,
                   why == SC_FAIL_CLOSED ? NULL : text);
        return -1;
    }
    if (why == SC_FAIL_SLOW) {
        st->sc = NULL; /* an orphan now: it is not ours to free */
        st->head_queued = false; /* (it dropped the head) */
    } else {
        st_drop_sconn(st);
    }
    log_event(LOG_LVL_DEBUG, "server %s/%s (%s): %s", st->be->name, st->srv->name,
              st->srv->addr.text, text);
    switch (why) {
    case SC_FAIL_CONNECT:
    case SC_FAIL_SLOW:
        st_retry(st, DISP_CONNECT_FAILED, WHO_SERVER, text);
        break;
    case SC_FAIL_CONNECT_TMO:
        st_retry(st, DISP_CONNECT_FAILED, WHO_SERVER_TMO, text);
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
            st_retry(st, st->conn_reused ? DISP_POOL_CLOSED : DISP_NOTHING_BACK, WHO_SERVER, text);
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
        st_pump_request(st);
    }
}

static void sc_tunnel_io(void *arg)
{
    stream_tunnel_io(arg);
}

static void sc_flush(void *arg)
{
    struct stream *st = arg;
    st->cli->flush(st);
}

const struct sconn_ops st_sc_ops = {
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
    bool replayable = st_idempotent(st->method) && st->req_body == H1_BODY_NONE;

    if (st->state == ST_TUNNEL) {
        if (st->srv && st->srv->removed)
            st_tunnel_end(st, WHO_SERVER, "server stopped");
        return;
    }
    if (!st->srv || st->t_resp_us >= 0 || !st->sc || srv_usable_sticky(st->srv))
        return; /* answered meanwhile, or the server is back */
    if (st->state == ST_CONNECT) {
        st_retry(st, DISP_CONNECT_FAILED, WHO_SERVER, "server left");
    } else if (st->state == ST_WAIT && !st->sc->got_bytes && replayable) {
        st_retry(st, DISP_NOTHING_BACK, WHO_SERVER, "server left");
    }
}

static void lost_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proxy *px = arg;
    struct stream *st;

    (void)fd; (void)what;
    while ((st = px->lost)) {
        st_list_del(st, ST_LOST_LINK);
        lost_verdict(st);
    }
}

static void lost_add(struct stream *st)
{
    struct proxy *px = st->px;

    if (st->lost_link.head || !px->lost_ev)
        return;
    st_list_add(&px->lost, st, ST_LOST_LINK);
    event_active(px->lost_ev, EV_TIMEOUT, 0);
}

void stream_server_lost(struct server *srv)
{
    for (struct stream *st = srv->waiting; st; st = st->srv_link.next)
        lost_add(st);
}

void stream_server_gone(struct server *srv)
{
    for (struct stream *st = srv->tunnels; st; st = st->srv_link.next)
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
