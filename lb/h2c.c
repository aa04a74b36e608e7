/* lb/h2c.c - HTTP/2 on client connections (lb/h2c.h): the connection.
 *
 * libnghttp2 does the framing, HPACK, flow control and most of RFC 9113's
 * checks; it is driven from the connection's buffers (mem_recv over the
 * input, mem_send into the output, DATA moved without a copy), so a read
 * that brings many frames costs one pass and one write.
 *
 * Three files: this one owns the connection (reads, send passes, the one
 * timer, drain and close); lb/h2c-recv.c turns received frames into
 * streams and their request heads; lb/h2c-stream.c is each stream's life
 * and its client side (struct stream_cli_ops), which serves it exactly as
 * an HTTP/1.1 request is served (routing, stickiness, retries, the log).
 *
 * Nothing that could free the connection runs inside an nghttp2 callback:
 * a stream whose head completes, or whose body grows, goes on a to-do list
 * that is worked through once the read is parsed; a stream reset in the
 * same read never reaches a server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "lb/cli.h"
#include "lb/ctr.h"
#include "lb/h2c-int.h"
#include "lb/h2c.h"
#include "lb/log.h"
#include "lb/proxy-t.h"
#include "lb/stream.h"

#define H2T 0 /* the one timer state: h2_rearm computes its deadline */

static void h2_rearm(struct cli *c);
static void close_after_send(struct cli *c, char who);

/* ------------------------------------------------------------- sending */

/* Frames nghttp2 has queued go into the output, as far as it has room;
 * DATA is moved there by send_data, without a copy. They are staged first
 * and handed over at once: libevent_openssl writes (one SSL_write, one
 * system call) each time its output grows, and every chain apart; frames
 * of many streams then go out in one record. */
static void send_frames(struct cli *c)
{
    struct h2c *h2 = c->h2;
    struct evbuffer *out = h2c_out(c), *stage = h2->stage;
    size_t n;

    if (h2->sending)
        return;
    h2->sending = true;
    while (evbuffer_get_length(out) + evbuffer_get_length(stage) < CLI_BUF_HIGH) {
        const uint8_t *data;
        ssize_t k = nghttp2_session_mem_send(h2->ses, &data);
        if (k <= 0) {
            if (k < 0)
                h2->state = H2C_CLOSING; /* out of memory inside nghttp2 */
            break;
        }
        evbuffer_add(stage, data, (size_t)k);
    }
    h2->sending = false;
    if (!(n = evbuffer_get_length(stage)))
        return;
    if (!c->direct && n <= H2C_STAGE_PULLUP)
        evbuffer_pullup(stage, -1);
    evbuffer_add_buffer(out, stage);
}

/* Streams whose server side was held for want of room get going again. */
static void resume_blocked(struct h2c *h2)
{
    struct h2s *s, *next;

    if (!h2->nblocked)
        return;
    for (s = h2->streams; s; s = next) {
        next = s->next;
        if (!s->resp_blocked || h2s_room(s) == 0)
            continue;
        s->resp_blocked = false;
        h2->nblocked--;
        s->wait_us = 0;
        h2->timer_dirty = true;
        if (s->st)
            stream_resp_drained(s->st); /* may end s->st, never s */
    }
}

/* The output is out after the close was decided: read and discard a
 * moment (a reset would destroy the GOAWAY), then close. May free c. */
static void finish_close(struct cli *c)
{
    if (c->h2->lingering)
        return;
    c->h2->lingering = true;
    cli_linger(c, false);
}

/* One pass: frames out, held streams resumed (and their data out), the
 * close once nghttp2 is done, the timer. May free c. */
static void send_pass(struct cli *c)
{
    struct h2c *h2 = c->h2;

    send_frames(c);
    resume_blocked(h2);
    send_frames(c);
    if (h2->state != H2C_CLOSING && !nghttp2_session_want_read(h2->ses) &&
        !nghttp2_session_want_write(h2->ses))
        close_after_send(c, WHO_CLIENT); /* GOAWAY both ways, or a fatal error */
    if (h2->state == H2C_DRAIN && h2->nstreams == 0)
        close_after_send(c, WHO_NONE);
    if (h2->state == H2C_CLOSING)
        send_frames(c); /* what the close queued */
    cli_flush(c);
    if (h2->state == H2C_CLOSING) {
        if (evbuffer_get_length(h2c_out(c)) == 0)
            finish_close(c);
        return;
    }
    h2_rearm(c);
}

static void send_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cli *c = arg;

    (void)fd; (void)what;
    c->h2->send_queued = false;
    if (!c->h2->lingering)
        send_pass(c);
}

/* Something is queued: send it on this loop round, once for every stream
 * that queued something meanwhile. */
void h2c_want_send(struct h2c *h2)
{
    if (h2->send_queued || h2->sending)
        return;
    h2->send_queued = true;
    event_active(h2->send_ev, EV_TIMEOUT, 0);
}

/* --------------------------------------------------------- the to-do list */

/* After a read: start the streams whose head came, feed those whose body
 * grew; a stream reset in the same read is gone from the list already. */
static void run_todo(struct cli *c)
{
    struct h2c *h2 = c->h2;
    struct h2s *s;

    while ((s = h2->todo)) {
        h2->todo = s->tnext;
        s->todo = false;
        struct stream *st = s->st;
        if (!st)
            continue;
        if (st->state == ST_HEAD) {
            if (s->refuse)
                stream_refuse(st, s->refuse, WHO_PROXY, PH_HEAD, s->why);
            else
                stream_start(st);
        } else if (s->body_wanted) {
            stream_req_more(st);
        }
    }
}

/* ------------------------------------------------------- the connection */

/* Built once per loop thread, freed by h2c_cleanup. */
static __thread nghttp2_option *opt;

static nghttp2_option *options(void)
{
    if (opt || nghttp2_option_new(&opt) != 0)
        return opt;
    /* WINDOW_UPDATE only as the server side takes the body. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    /* No priority tree kept for closed streams: nothing to pile up. */
    nghttp2_option_set_no_closed_streams(opt, 1);
    /* A client that makes acks pile up unread is flooding. */
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    return opt;
}

static int session_new(struct cli *c)
{
    const struct conf_h2 *l = h2c_limits(c);
    struct h2c *h2 = calloc(1, sizeof(*h2));
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, l->max_concurrent_streams },
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, l->initial_window },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, l->max_header_list },
        { NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 },
    };
    nghttp2_session_callbacks *cbs = h2c_callbacks();
    nghttp2_option *opt = options();

    if (!h2 || !cbs || !opt)
        goto err;
    h2->c = c;
    h2->close_who = WHO_KILLED;
    h2->idle_since_us = cli_mono_us();
    if (!(h2->send_ev = event_new(c->px->base, -1, 0, send_cb, c)) ||
        !(h2->stage = evbuffer_new()) ||
        nghttp2_session_server_new2(&h2->ses, cbs, c, opt) != 0)
        goto err;
    c->h2 = h2; /* from here h2_release frees it */
    ctr_inc(c->fe->ctr, CTR_H2_CONNS);
    ctr_inc(c->fe->ctr, CTR_H2_CONNS_TOTAL);
    uint32_t win = l->initial_window > H2C_CONN_BUF ? l->initial_window : H2C_CONN_BUF;
    if (nghttp2_submit_settings(h2->ses, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) ||
        nghttp2_session_set_local_window_size(h2->ses, NGHTTP2_FLAG_NONE, 0, (int32_t)win))
        return -1;
    return 0;
err:
    if (h2 && h2->send_ev)
        event_free(h2->send_ev);
    if (h2 && h2->stage)
        evbuffer_free(h2->stage);
    free(h2);
    return -1;
}

/* Every open exchange ends now (the connection goes). */
static void cut_all(struct cli *c, char who)
{
    for (struct h2s *s = c->h2->streams; s; s = s->next)
        h2s_cut(s, who);
}

/* No more frames in: what is queued goes out (GOAWAY, last answers), then
 * the connection closes. */
static void close_after_send(struct cli *c, char who)
{
    struct h2c *h2 = c->h2;

    if (h2->state == H2C_CLOSING)
        return;
    h2->state = H2C_CLOSING;
    cut_all(c, who == WHO_NONE ? WHO_KILLED : who);
    cli_disarm(c);
    cli_read(c, false);
    h2c_want_send(h2);
}

static void h2_release(struct cli *c)
{
    struct h2c *h2 = c->h2;

    if (!h2)
        return;
    cut_all(c, h2->close_who);
    /* The session first: closing it reports each stream's close. */
    while (h2->streams) {
        nghttp2_session_set_stream_user_data(h2->ses, h2->streams->id, NULL);
        h2s_free(h2->streams);
    }
    nghttp2_session_del(h2->ses);
    event_free(h2->send_ev);
    evbuffer_free(h2->stage);
    hbuf_free(&h2->authority);
    hbuf_free(&h2->host);
    hbuf_free(&h2->cookie);
    ctr_dec(c->fe->ctr, CTR_H2_CONNS);
    free(h2);
    c->h2 = NULL;
}

/* nghttp2 gave up on the input (a flood it caught, a bad preface): tell
 * the client why with a GOAWAY when it can still be framed. */
static void fatal_recv(struct cli *c, int err)
{
    uint32_t code = err == NGHTTP2_ERR_FLOODED || err == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                        ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR;

    if (err == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
        log_event(LOG_LVL_DEBUG, "frontend %s: %s: HTTP/2: %s", c->fe->name, c->client,
                  nghttp2_strerror(err));
        return;
    }
    log_event(LOG_LVL_INFO, "frontend %s: %s: HTTP/2: %s: GOAWAY %s", c->fe->name, c->client,
              nghttp2_strerror(err), nghttp2_http2_strerror(code));
    nghttp2_session_terminate_session(c->h2->ses, code);
}

/* Bytes came: parse them all, then act on what they said, then answer. */
static void h2_read(struct cli *c)
{
    struct h2c *h2 = c->h2;
    struct evbuffer *in = h2c_in(c);
    size_t total = evbuffer_get_length(in), used = 0;

    if (h2->state == H2C_CLOSING) {
        evbuffer_drain(in, total);
        return;
    }
    while (used < total) {
        struct evbuffer_iovec v[8];
        int n = evbuffer_peek(in, -1, NULL, v, 8);
        size_t got = 0;
        for (int i = 0; i < n && i < 8; i++) {
            ssize_t r = nghttp2_session_mem_recv(h2->ses, v[i].iov_base, v[i].iov_len);
            if (r < 0) {
                fatal_recv(c, (int)r);
                evbuffer_drain(in, (size_t)-1);
                ctr_add(c->fe->ctr, CTR_BYTES_IN, (int64_t)(used + got));
                run_todo(c);
                close_after_send(c, WHO_CLIENT);
                send_pass(c);
                return;
            }
            got += v[i].iov_len;
        }
        evbuffer_drain(in, got);
        used += got;
    }
    ctr_add(c->fe->ctr, CTR_BYTES_IN, (int64_t)used);
    run_todo(c);
    send_pass(c);
}

static void h2_start(struct cli *c)
{
    cli_disarm(c); /* a sniff's deadline: h2_rearm sets ours */
    if (session_new(c) < 0) {
        cli_free(c);
        return;
    }
    c->h2->timer_dirty = true;
    if (evbuffer_get_length(h2c_in(c)))
        h2_read(c); /* the preface (sniffed), or what came with the handshake */
    else
        send_pass(c); /* our SETTINGS */
}

static void h2_written(struct cli *c)
{
    struct h2c *h2 = c->h2;

    if (h2->state == H2C_CLOSING) {
        if (evbuffer_get_length(h2c_out(c)) == 0)
            finish_close(c);
        return;
    }
    h2c_want_send(h2); /* room again: more DATA can go */
}

/* The client closed, reset, or stopped reading for timeout.client. */
static void h2_event(struct cli *c, short what)
{
    char who = what & BEV_EVENT_TIMEOUT ? WHO_CLIENT_TMO : WHO_CLIENT;

    if (c->h2->state == H2C_CLOSING && !(what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) &&
        evbuffer_get_length(h2c_out(c)) > 0)
        return; /* a half-close: the last frames still go out */
    c->h2->close_who = who;
    cli_free(c);
}

/* The deadline h2_rearm set: act on everything that is due. */
static void h2_timeout(struct cli *c, int armed)
{
    struct h2c *h2 = c->h2;
    int64_t now = cli_mono_us();
    uint32_t idle_ms = h2->nreq ? h2c_tmo(c)->keepalive_ms : h2c_tmo(c)->http_request_ms;

    if (armed != H2T || h2->state == H2C_CLOSING)
        return;
    h2->timer_dirty = true;
    if (h2->state == H2C_DRAIN && h2->drain_until_us && now >= h2->drain_until_us) {
        close_after_send(c, WHO_KILLED); /* grace over */
        return;
    }
    if (h2->nstreams == 0 && now - h2->idle_since_us >= (int64_t)idle_ms * 1000) {
        nghttp2_session_terminate_session(h2->ses, NGHTTP2_NO_ERROR);
        close_after_send(c, WHO_NONE);
        return;
    }
    for (struct h2s *s = h2->streams, *next; s; s = next) {
        next = s->next; /* s stays: only nghttp2 frees it */
        if (s->wait_us && now - s->wait_us >= h2s_wait_limit_us(c, s))
            h2s_timed_out(s);
    }
    h2c_want_send(h2);
}

/* The one timer, at the earliest of: the idle deadline (no stream open),
 * each waiting stream's timeout.client, the grace of a reload's drain. */
static void h2_rearm(struct cli *c)
{
    struct h2c *h2 = c->h2;
    int64_t at = INT64_MAX, now;
    uint32_t idle_ms = h2->nreq ? h2c_tmo(c)->keepalive_ms : h2c_tmo(c)->http_request_ms;

    if (!h2->timer_dirty)
        return;
    h2->timer_dirty = false;
    if (h2->state == H2C_DRAIN && h2->drain_until_us)
        at = h2->drain_until_us;
    if (h2->nstreams == 0 && h2->state == H2C_OPEN)
        at = h2->idle_since_us + (int64_t)idle_ms * 1000;
    for (struct h2s *s = h2->streams; s; s = s->next)
        if (s->wait_us && s->wait_us + h2s_wait_limit_us(c, s) < at)
            at = s->wait_us + h2s_wait_limit_us(c, s);
    if (at == INT64_MAX) {
        cli_disarm(c);
        return;
    }
    now = cli_mono_us();
    cli_arm(c, H2T, at <= now ? 0 : (uint32_t)((at - now + 999) / 1000));
}

/* GOAWAY with the last stream taken: those finish, no new one starts. */
static void drain(struct cli *c, uint32_t grace_ms)
{
    struct h2c *h2 = c->h2;

    if (h2->state != H2C_OPEN)
        return;
    h2->state = H2C_DRAIN;
    h2->drain_until_us = grace_ms ? cli_mono_us() + (int64_t)grace_ms * 1000 : 0;
    h2->timer_dirty = true;
    nghttp2_submit_goaway(h2->ses, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h2->ses), NGHTTP2_NO_ERROR,
                          NULL, 0);
    h2c_want_send(h2);
}

/* Graceful stop: lb/proxy.c's grace timer closes whatever is left. */
static void h2_stop(struct cli *c) { drain(c, 0); }

/* A reload: clients reconnect to the new settings; open streams get
 * global.grace to finish. */
static void h2_reloaded(struct cli *c) { drain(c, c->px->conf->global.grace_ms); }

void h2c_cleanup(void)
{
    h2s_cleanup();
    h2c_callbacks_free();
    if (opt) {
        nghttp2_option_del(opt);
        opt = NULL;
    }
}

const struct cli_proto h2c_proto = {
    .name = "h2",
    .start = h2_start,
    .read = h2_read,
    .written = h2_written,
    .event = h2_event,
    .timeout = h2_timeout,
    .stop = h2_stop,
    .release = h2_release,
    .reloaded = h2_reloaded,
};
