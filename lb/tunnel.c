/* lb/tunnel.c - after a 101: a stream's two connections carry raw bytes
 * both ways (WebSocket and any other Upgrade protocol), with backpressure
 * and one idle timer for both directions (timeout.tunnel). */
#include <event2/buffer.h>
#include <event2/event.h>

#include "lb/ctr.h"
#include "lb/forward.h"
#include "lb/http.h"
#include "lb/proxy-t.h"
#include "lb/sconn.h"
#include "lb/server.h"
#include "lb/stream.h"
#include "lb/stream-int.h"


/* Move what each side has to the other, as far as the other can take
 * (64 KiB queued each way): a side whose peer is full is not read from. */
void st_tunnel_move(struct stream *st)
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
        st->tunnel_last_us = ctr_mono_us();
}

/* The tunnel is over: the server side closes, the client side logs the
 * exchange (status 101, the bytes sent) and closes once its output is out. */
void st_tunnel_end(struct stream *st, char who, const char *why)
{
    st->who = who;
    st->phase = who == WHO_NONE ? PH_NONE : PH_DATA;
    if (why)
        st->why = why;
    evtimer_del(st->tunnel_timer);
    st_list_del(st, ST_SRV_LINK);
    st_drop_sconn(st);
    st->state = ST_DONE;
    st->cli->resp_done(st);
}

void stream_tunnel_io(struct stream *st)
{
    if (st->state == ST_TUNNEL)
        st_tunnel_move(st);
}

void stream_tunnel_closed(struct stream *st, bool clean)
{
    if (st->state != ST_TUNNEL)
        return;
    /* The client closed its side: what it sent last still reaches the server. */
    st_tunnel_move(st);
    sconn_flush(st->sc);
    st_tunnel_end(st, clean ? WHO_NONE : WHO_CLIENT, clean ? NULL : "client reset");
}

/* Idle both ways for timeout.tunnel: closed. The timer is re-armed for
 * what is left rather than on every byte. */
static void tunnel_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct stream *st = arg;
    int64_t idle_ms = (ctr_mono_us() - st->tunnel_last_us) / 1000;
    uint32_t limit = st_tmo(st)->tunnel_ms;

    (void)fd; (void)what;
    if (st->state != ST_TUNNEL)
        return;
    if (idle_ms < limit) {
        uint32_t left = limit - (uint32_t)idle_ms;
        struct timeval tv = { left / 1000, (left % 1000) * 1000 };
        evtimer_add(st->tunnel_timer, &tv);
        return;
    }
    st_tunnel_end(st, WHO_CLIENT_TMO, "tunnel idle for timeout.tunnel");
}

/* The server switched protocols as the client asked: its 101 goes to the
 * client, then both connections carry raw bytes. The tunnel counts as an
 * active request of its server until it ends. */
int st_tunnel_start(struct stream *st)
{
    const struct http_head *h = &st->resp;
    int up = http_hdr_find(h, "upgrade", 0);
    uint32_t limit = st_tmo(st)->tunnel_ms;
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
    st->t_resp_us = st_now_us(st);
    st_list_del(st, ST_SRV_LINK);
    st->status = 101;
    st->resp_body = H1_BODY_NONE;
    st->state = ST_TUNNEL;
    st->cli->resp_head(st, &ctx);
    st->cli->flush(st); /* the 101 goes now: the client waits for it to speak */
    st->cli->tunnel(st, &st->cin, &st->cout);
    sconn_tunnel(st->sc);
    st_list_add(&st->srv->tunnels, st, ST_SRV_LINK);
    st->tunnel_last_us = ctr_mono_us();
    evtimer_add(st->tunnel_timer, &tv);
    st_tunnel_move(st); /* what came behind the 101, and what the client sent early */
    return 0;
}
