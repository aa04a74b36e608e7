/* lb/dispatch.c - server choice for a stream (lb/dispatch.h). */
#include <string.h>

#include "lb/backend.h"
#include "lb/cookie.h"
#include "lb/ctr.h"
#include "lb/dispatch.h"
#include "lb/server.h"
#include "lb/stream-t.h"

/* The server the client's persistence cookie names, if it may still serve
 * it (drain keeps sticky clients; down, maint, retiring and gone do not:
 * those clients are balanced again and re-stuck by the response). */
static struct server *sticky_server(struct stream *st)
{
    const struct conf_cookie *ck = &st->be->conf->cookie;
    const struct http_head *h = &st->req;
    size_t nlen = ck->mode == CONF_COOKIE_NONE ? 0 : strlen(ck->name);

    for (int i = nlen ? http_hdr_find(h, "cookie", 0) : -1; i >= 0;
         i = http_hdr_find(h, "cookie", (uint32_t)i + 1)) {
        const char *val, *id;
        size_t vlen, idlen;
        if (!cookie_find(http_hdr_value(h, (uint32_t)i), h->hdrs[i].value_len, ck->name, nlen,
                         &val, &vlen) ||
            !cookie_server_part(val, vlen, ck->mode == CONF_COOKIE_PREFIX, &id, &idlen))
            continue;
        struct server *srv = be_find_cookie(st->be, id, idlen);
        st->cookie_srv = srv;
        return srv && srv_usable_sticky(srv) ? srv : NULL;
    }
    return NULL;
}

/* A usable server not tried yet; else the one that failed, if still usable;
 * else any usable one. */
static struct server *elsewhere(struct stream *st)
{
    struct server *next = be_pick(st->be, &st->tried);

    if (!next && st->srv && srv_usable(st->srv))
        next = st->srv;
    if (!next)
        next = be_pick(st->be, NULL);
    return next;
}

static struct server *none(struct stream *st, int *status, int code)
{
    if (code == 503)
        ctr_inc(st->be->ctr, CTR_NO_SERVER);
    *status = code;
    return NULL;
}

struct server *dispatch(struct stream *st, enum disp_why why, int *status)
{
    const struct conf_backend *cb = st->be->conf;
    struct server *srv = st->srv, *next;

    switch (why) {
    case DISP_FIRST:
        next = sticky_server(st);
        if (!next)
            next = be_pick(st->be, NULL);
        return next ? next : none(st, status, 503);
    case DISP_POOL_CLOSED:
        /* Not the server's fault, nor a retry: the same server, anew. */
        if (srv_usable(srv))
            return srv;
        __attribute__((fallthrough));
    case DISP_NOTHING_BACK:
        if (st->retries_left-- <= 0) {
            *status = 502;
            return NULL;
        }
        next = cb->redispatch || !srv_usable(srv) ? elsewhere(st) : srv;
        return next ? next : none(st, status, 503);
    case DISP_CONNECT_FAILED:
        if (st->retries_left-- <= 0) {
            *status = 503;
            return NULL;
        }
        if (!cb->redispatch && srv_usable(srv))
            return srv;
        next = elsewhere(st);
        return next ? next : none(st, status, 503);
    }
    return none(st, status, 503);
}

bool dispatch_can_move_on(const struct stream *st)
{
    return st->be->conf->redispatch && be_has_usable_outside(st->be, &st->tried);
}
