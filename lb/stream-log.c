/* lb/stream-log.c - a stream's access-log line (README "Logs"). */
#include <stdio.h>
#include <sys/time.h>
#include <event2/event.h>

#include "lb/backend-t.h"
#include "lb/log.h"
#include "lb/proxy-t.h"
#include "lb/server-t.h"
#include "lb/stream.h"

static int64_t now_us(const struct stream *st)
{
    struct timeval tv;
    event_base_gettimeofday_cached(st->px->base, &tv);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

void stream_log(struct stream *st)
{
    const char *method = llhttp_method_name((llhttp_method_t)st->method);
    int64_t end = now_us(st);
    bool head = st->t_head_us > 0;
    long tq = (long)(((head ? st->t_head_us : end) - st->t_start_us) / 1000);
    long tc = st->t_connect_us < 0 ? -1 : (long)((st->t_connect_us - st->t_head_us) / 1000);
    long tr = st->t_resp_us < 0 || st->t_connect_us < 0
                  ? -1 : (long)((st->t_resp_us - st->t_connect_us) / 1000);
    long tt = (long)((end - st->t_start_us) / 1000);
    char date[32], tls[96], version[16] = "", why[160] = "";

    if (!log_access_enabled())
        return;
    /* A head that never parsed has no method or version worth printing:
     * HAProxy's <BADREQ>, rather than llhttp's defaults. */
    if (head)
        snprintf(version, sizeof(version), " HTTP/%u.%u", st->req_major, st->req_minor);
    else
        method = "<BADREQ>";
    if (st->why)
        snprintf(why, sizeof(why), " \"%s\"", st->why);
    log_access_date(date, sizeof(date));
    log_access("%s [%s] %s %s/%s %d %llu %ld/%ld/%ld/%ld %c%c \"%s%s%.*s%s\"%s%s",
               st->cli->client_name(st), date, st->fe->name, st->be ? st->be->name : "-",
               st->srv ? st->srv->name : "-", st->status, (unsigned long long)st->bytes_out,
               tq, tc, tr, tt, st->who, st->phase, method, head ? " " : "",
               head ? (int)st->req.target_len : 0, st->req.buf ? st->req.buf + st->req.target : "",
               version, st->cli->tls_suffix(st, tls, sizeof(tls)), why);
}
