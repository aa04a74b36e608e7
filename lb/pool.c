/* lb/pool.c - idle server connections, per server (lb/pool.h). */
#include <stdlib.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "lb/ctr.h"
#include "lb/pool.h"
#include "lb/rd.h"
#include "lb/sconn.h"
#include "lb/server.h"

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
    c->state = SC_IDLE;
    c->ops = NULL;
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
