/* lb/pool.c - server connections and idle pools. */
#include <stdlib.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "lb/ctr.h"
#include "lb/pool.h"
#include "lb/rd.h"
#include "lb/server.h"

struct srv_conn *sconn_new(struct event_base *base, struct server *s)
{
    struct srv_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        free(c);
        return NULL;
    }
    rd_init(&c->rd, c->bev);
    c->srv = s;
    srv_ref(s);
    return c;
}

void sconn_free(struct srv_conn *c)
{
    if (!c)
        return;
    /* Freed from inside one of its own callbacks, a bufferevent lives on
     * until the callback returns and would still write what is queued: a
     * request head we decided not to send must not leave. */
    rd_free(&c->rd);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    evbuffer_drain(bufferevent_get_output(c->bev), (size_t)-1);
    bufferevent_free(c->bev);
    srv_unref(c->srv);
    free(c);
}

static void unlink_idle(struct srv_conn *c)
{
    struct server *s = c->srv;

    for (struct srv_conn **pp = &s->idle; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            s->nidle--;
            ctr_dec(s->ctr, CTR_IDLE);
            break;
        }
    }
    c->next = NULL;
}

/* Anything on an idle connection (bytes, EOF, error, idle timeout) ends it:
 * a server must not speak unasked, and a closed one is useless. */
static void idle_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct srv_conn *c = arg;
    unlink_idle(c);
    sconn_free(c);
}

static void idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev; (void)what;
    struct srv_conn *c = arg;
    unlink_idle(c);
    sconn_free(c);
}

struct srv_conn *pool_take(struct server *s)
{
    struct srv_conn *c = s->idle;

    if (!c)
        return NULL;
    s->idle = c->next;
    s->nidle--;
    ctr_dec(s->ctr, CTR_IDLE);
    c->next = NULL;
    bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
    return c;
}

void pool_put(struct srv_conn *c, uint32_t idle_ms)
{
    struct server *s = c->srv;
    struct timeval tv = { idle_ms / 1000, (idle_ms % 1000) * 1000 };

    if (s->removed || s->nidle >= POOL_MAX_IDLE || s->health == SRV_HEALTH_DOWN ||
        s->admin == SRV_ADMIN_MAINT || evbuffer_get_length(bufferevent_get_input(c->bev))) {
        sconn_free(c);
        return;
    }
    c->owner = NULL;
    bufferevent_setcb(c->bev, idle_read_cb, NULL, idle_event_cb, c);
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    bufferevent_disable(c->bev, EV_WRITE);
    rd_timeout(&c->rd, &tv);
    if (rd_on(&c->rd) < 0) {
        sconn_free(c);
        return;
    }
    c->next = s->idle;
    s->idle = c;
    s->nidle++;
    ctr_inc(s->ctr, CTR_IDLE);
}

void pool_flush(struct server *s)
{
    struct srv_conn *c;

    while ((c = pool_take(s)))
        sconn_free(c);
}
