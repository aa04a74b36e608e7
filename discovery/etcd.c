/* discovery/etcd.c - keys under a prefix become servers of a backend.
 *
 * Keys are "<prefix><host>/<container>", written by `lxlb agent` on each LXC
 * host on a lease. The server's name (and default cookie) is the key with the
 * prefix cut off, "host/container": unique when two hosts run containers of
 * the same name, and stable across restarts, so sticky clients stay put. A
 * DELETE carries only the key, which is why the name comes from the key.
 *
 * Consistency: a range read gives the whole picture at revision R and the
 * watch starts at R+1, so no change falls in between. When the watch breaks
 * (etcd restarted, endpoint down, compaction), we start over on the next
 * endpoint: read again and reconcile, which removes the servers whose keys
 * went away meanwhile and adds the new ones. The same reconcile adopts the
 * servers of the watcher that ran before a reload. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "discovery/etcd-client.h"
#include "discovery/etcd.h"
#include "lb/backend.h"
#include "lb/log.h"
#include "lb/proxy-t.h"
#include "lb/server.h"

#define DETCD_CALL_MS 3000         /* range read deadline; watch connect + head */
#define DETCD_BACKOFF_MIN_MS 100   /* first reconnect delay */
#define DETCD_BACKOFF_MAX_MS 2000  /* reconnect delay cap */
#define DETCD_NAME_MAX 200         /* longest server name taken from a key */

static int64_t detcd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *be_name(const struct detcd *w) { return w->be->name; }

static void detcd_read(struct detcd *w);

/* ------------------------------------------------------------- values -- */

int detcd_parse_value(const char *json, size_t len, struct conf_addr *addr,
                      char *err, size_t errlen)
{
    json_t *v = json_loadb(json, len, 0, NULL);
    const char *ip = json_string_value(json_object_get(v, "address"));
    json_int_t port = json_integer_value(json_object_get(v, "port"));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&addr->ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&addr->ss;
    int rc = -1;

    memset(addr, 0, sizeof(*addr));
    if (!v || !ip || port < 1 || port > 65535) {
        snprintf(err, errlen, "value is not {\"address\": IP, \"port\": N, ...}");
        goto out;
    }
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        addr->len = sizeof(*s4);
        snprintf(addr->text, sizeof(addr->text), "%s:%u", ip, (unsigned)port);
    } else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        addr->len = sizeof(*s6);
        snprintf(addr->text, sizeof(addr->text), "[%s]:%u", ip, (unsigned)port);
    } else {
        snprintf(err, errlen, "address \"%.60s\" is not an IP address", ip);
        goto out;
    }
    addr->family = addr->ss.ss_family;
    rc = 0;
out:
    json_decref(v);
    return rc;
}

/* The server name in a key: what follows the prefix, printable, no blanks
 * or characters that would break a cookie or a log line. */
static bool detcd_name_ok(const char *name, size_t len)
{
    if (!len || len > DETCD_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch <= ' ' || ch >= 0x7f || strchr("\";,\\", ch))
            return false;
    }
    return true;
}

/* Decoded key of kv, its name part in *name (points into the result). */
static char *detcd_key(const struct detcd *w, const json_t *kv, const char **name)
{
    const char *b64 = json_string_value(json_object_get(kv, "key"));
    size_t len;
    char *key = b64 ? eb64_decode(b64, &len) : NULL;

    if (!key)
        return NULL;
    if (len <= w->prefix_len || memcmp(key, w->prefix, w->prefix_len) ||
        strlen(key) != len || !detcd_name_ok(key + w->prefix_len, len - w->prefix_len)) {
        log_event(LOG_LVL_WARN, "etcd %s: ignoring key \"%.*s\": no server name after the "
                  "prefix", be_name(w), (int)(len > 100 ? 100 : len), key);
        free(key);
        return NULL;
    }
    *name = key + w->prefix_len;
    return key;
}

/* ---------------------------------------------------- server changes -- */

static struct server *detcd_find(const struct detcd *w, const char *name)
{
    struct server *s = be_find_server(w->be, name);
    return s && s->source == SRV_SRC_ETCD ? s : NULL;
}

static void detcd_remove(struct detcd *w, struct server *s, const char *why)
{
    log_event(LOG_LVL_INFO, "server %s/%s removed: %s (%u requests in flight finish)",
              be_name(w), s->name, why, srv_active(s));
    be_remove_gone(w->be, s);
}

static void detcd_add(struct detcd *w, const char *name, const struct conf_addr *addr)
{
    struct server *s = srv_new(name, NULL, addr, 1, SRV_SRC_ETCD);

    if (!s) {
        log_event(LOG_LVL_ERR, "etcd %s: out of memory adding %s", be_name(w), name);
        return;
    }
    if (be_add_server(w->be, s) < 0) {
        log_event(LOG_LVL_WARN, "etcd %s: %s not added: backend already has a server of "
                  "that name", be_name(w), name);
        srv_unref(s);
        return;
    }
    srv_unref(s); /* the backend holds it (its checks started); we find it again by name */
    log_event(LOG_LVL_INFO, "server %s/%s joined at %s as %s (etcd revision %lld)",
              be_name(w), name, addr->text, srv_health_name(s->health), (long long)w->rev);
}

/* A key was written: its server exists at that address afterwards. */
static void detcd_put(struct detcd *w, const char *name, const json_t *kv)
{
    const char *b64 = json_string_value(json_object_get(kv, "value"));
    struct server *s = detcd_find(w, name);
    struct conf_addr addr;
    char err[160], why[200];
    size_t len;
    char *val = b64 ? eb64_decode(b64, &len) : NULL;

    if (!val || detcd_parse_value(val, len, &addr, err, sizeof(err)) < 0) {
        log_event(LOG_LVL_WARN, "etcd %s: key of %s: %s", be_name(w), name,
                  val ? err : "value is not base64");
        free(val);
        return;
    }
    free(val);
    if (s && conf_addr_same(&s->addr, &addr))
        return; /* republished as it was (agent reconnected, etcd restarted) */
    if (s) {
        /* Same name and cookie, new place: sticky clients follow it. */
        snprintf(why, sizeof(why), "moved to %s", addr.text);
        detcd_remove(w, s, why);
    }
    detcd_add(w, name, &addr);
}

static void detcd_event(struct detcd *w, const json_t *ev)
{
    const json_t *kv = json_object_get(ev, "kv");
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *name;
    char *key = detcd_key(w, kv, &name);
    struct server *s;

    if (!key)
        return;
    /* The gateway leaves out PUT, the zero value of the enum. */
    if (type && !strcmp(type, "DELETE")) {
        if ((s = detcd_find(w, name)))
            detcd_remove(w, s, "key deleted (container left, or its agent's lease expired)");
    } else {
        detcd_put(w, name, kv);
    }
    free(key);
}

/* ------------------------------------------------------------ reconnect -- */

static void detcd_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    detcd_read(arg);
}

/* The call failed: next endpoint, after a pause that grows while it fails. */
static void detcd_fail(struct detcd *w, const char *what, const char *why)
{
    struct timeval tv = { w->backoff_ms / 1000, (w->backoff_ms % 1000) * 1000 };

    if (w->call) {
        ecall_cancel(w->call);
        w->call = NULL;
    }
    if (!w->lost_ms)
        w->lost_ms = detcd_now_ms();
    log_event(LOG_LVL_WARN, "etcd %s: %s on %s failed: %s; retrying in %ums", be_name(w),
              what, ecl_url(&w->cl), why, w->backoff_ms);
    ecl_next(&w->cl);
    w->phase = DETCD_IDLE;
    evtimer_add(w->retry, &tv);
    w->backoff_ms = w->backoff_ms * 2 > DETCD_BACKOFF_MAX_MS ? DETCD_BACKOFF_MAX_MS
                                                             : w->backoff_ms * 2;
}

/* Why a call came back without what we asked for. */
static void detcd_why(char *out, size_t n, int status, const json_t *body, const char *err)
{
    const json_t *e = json_object_get(body, "error");
    /* Unary errors carry a string; a broken stream {"error": {"message"...}}. */
    const char *msg = json_is_object(e) ? json_string_value(json_object_get(e, "message"))
                                        : json_string_value(e);

    if (err)
        snprintf(out, n, "%s", err);
    else
        snprintf(out, n, "HTTP %d%s%s", status, msg ? ": " : "", msg ? msg : "");
}

/* ---------------------------------------------------------------- watch -- */

static void detcd_watch_obj(void *arg, json_t *obj)
{
    struct detcd *w = arg;
    const json_t *res = json_object_get(obj, "result"), *evs;
    char why[200];
    size_t i;
    json_t *ev;

    if (!res) {
        detcd_why(why, sizeof(why), 200, obj, NULL);
        detcd_fail(w, "watch", why);
        return;
    }
    if (ejson_int(res, "compact_revision") > 0 || json_is_true(json_object_get(res, "canceled"))) {
        /* Revisions we need are gone: only a fresh read can tell the truth. */
        log_event(LOG_LVL_WARN, "etcd %s: watch canceled (compacted at %lld): reading again",
                  be_name(w), (long long)ejson_int(res, "compact_revision"));
        ecall_cancel(w->call);
        w->call = NULL;
        detcd_read(w);
        return;
    }
    if (json_is_true(json_object_get(res, "created")))
        log_event(LOG_LVL_DEBUG, "etcd %s: watching from revision %lld", be_name(w),
                  (long long)w->rev + 1);
    w->rev = ejson_int(json_object_get(res, "header"), "revision");
    evs = json_object_get(res, "events");
    json_array_foreach(evs, i, ev)
        detcd_event(w, ev);
}

static void detcd_watch_done(void *arg, int status, json_t *body, const char *err)
{
    struct detcd *w = arg;
    char why[200];

    w->call = NULL;
    detcd_why(why, sizeof(why), status, body, err);
    detcd_fail(w, "watch", why);
}

static void detcd_watch(struct detcd *w)
{
    json_t *req = NULL;
    char err[200], rev[24];
    char *k = eb64_encode(w->prefix, w->prefix_len), *e = NULL, *e64 = NULL;
    size_t elen;

    snprintf(rev, sizeof(rev), "%lld", (long long)w->rev + 1);
    if (k && (e = eprefix_end(w->prefix, &elen)) && (e64 = eb64_encode(e, elen)))
        req = json_pack("{s:{s:s, s:s, s:s}}", "create_request", "key", k, "range_end", e64,
                        "start_revision", rev);
    if (!req) {
        detcd_fail(w, "watch", "out of memory");
        goto out;
    }
    w->phase = DETCD_WATCH;
    w->call = ecall_stream(&w->cl, "/v3/watch", req, DETCD_CALL_MS, detcd_watch_obj,
                           detcd_watch_done, w, err, sizeof(err));
    if (!w->call)
        detcd_fail(w, "watch", err);
out:
    json_decref(req);
    free(k);
    free(e);
    free(e64);
}

/* ----------------------------------------------------------------- read -- */

static bool detcd_listed(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && !strcmp(names[i], name))
            return true;
    return false;
}

/* The picture at revision rev: apply every key, then remove the servers
 * whose key is not there (gone while we were not watching). */
static void detcd_reconcile(struct detcd *w, const json_t *kvs)
{
    size_t n = json_array_size(kvs), i;
    char **keys = calloc(n + 1, sizeof(*keys)), **names = calloc(n + 1, sizeof(*names));
    json_t *kv;

    if (!keys || !names) {
        log_event(LOG_LVL_ERR, "etcd %s: out of memory reading the keys", be_name(w));
        goto out;
    }
    json_array_foreach(kvs, i, kv) {
        const char *name;
        if (!(keys[i] = detcd_key(w, kv, &name)))
            continue;
        names[i] = (char *)name;
        detcd_put(w, name, kv);
    }
    for (i = w->be->nservers; i-- > 0;) {
        struct server *s = w->be->servers[i];
        if (s->source == SRV_SRC_ETCD && !detcd_listed(names, n, s->name))
            detcd_remove(w, s, "key gone (read again after a break or a reload)");
    }
out:
    for (i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
    free(names);
}

static void detcd_range_done(void *arg, int status, json_t *body, const char *err)
{
    struct detcd *w = arg;
    const json_t *kvs = json_object_get(body, "kvs");
    char why[200];

    w->call = NULL;
    if (status != 200 || !body) {
        detcd_why(why, sizeof(why), status, body, err);
        detcd_fail(w, "read", why);
        return;
    }
    w->rev = ejson_int(json_object_get(body, "header"), "revision");
    detcd_reconcile(w, kvs);
    if (w->lost_ms)
        log_event(LOG_LVL_INFO, "etcd %s: back on %s after %lldms: %zu keys at revision %lld",
                  be_name(w), ecl_url(&w->cl), (long long)(detcd_now_ms() - w->lost_ms),
                  json_array_size(kvs), (long long)w->rev);
    else
        log_event(LOG_LVL_INFO, "etcd %s: %zu keys under %s at revision %lld (%s)", be_name(w),
                  json_array_size(kvs), w->prefix, (long long)w->rev, ecl_url(&w->cl));
    w->lost_ms = 0;
    w->backoff_ms = DETCD_BACKOFF_MIN_MS;
    detcd_watch(w);
}

static void detcd_read(struct detcd *w)
{
    json_t *req = NULL;
    char err[200];
    char *k = eb64_encode(w->prefix, w->prefix_len), *e = NULL, *e64 = NULL;
    size_t elen;

    if (k && (e = eprefix_end(w->prefix, &elen)) && (e64 = eb64_encode(e, elen)))
        req = json_pack("{s:s, s:s}", "key", k, "range_end", e64);
    if (!req) {
        detcd_fail(w, "read", "out of memory");
        goto out;
    }
    w->phase = DETCD_RANGE;
    w->call = ecall_post(&w->cl, "/v3/kv/range", req, DETCD_CALL_MS, detcd_range_done, w,
                         err, sizeof(err));
    if (!w->call)
        detcd_fail(w, "read", err);
out:
    json_decref(req);
    free(k);
    free(e);
    free(e64);
}

/* ------------------------------------------------------------ lifetime -- */

struct detcd *detcd_start(struct backend *be, struct event_base *base, char *err,
                          size_t errlen)
{
    const struct conf_etcd *cf = &be->conf->etcd;
    struct detcd *w = calloc(1, sizeof(*w));

    if (!w || !(w->prefix = strdup(cf->prefix)) ||
        !(w->retry = evtimer_new(base, detcd_retry_cb, w))) {
        snprintf(err, errlen, "discovery.etcd: out of memory");
        goto err;
    }
    w->be = be;
    w->prefix_len = strlen(w->prefix);
    w->backoff_ms = DETCD_BACKOFF_MIN_MS;
    if (ecl_init(&w->cl, base, cf->endpoints, cf->nendpoints, err, errlen) < 0)
        goto err;
    log_event(LOG_LVL_INFO, "etcd %s: discovering servers under %s (%zu endpoint%s, first %s)",
              be->name, w->prefix, w->cl.neps, w->cl.neps > 1 ? "s" : "", ecl_url(&w->cl));
    detcd_read(w);
    return w;
err:
    detcd_stop(w);
    return NULL;
}

void detcd_stop(struct detcd *w)
{
    if (!w)
        return;
    ecall_cancel(w->call);
    if (w->retry)
        event_free(w->retry);
    ecl_free(&w->cl);
    free(w->prefix);
    free(w);
}

void detcd_drop(struct backend *be)
{
    for (size_t i = be->nservers; i-- > 0;) {
        struct server *s = be->servers[i];
        if (s->source != SRV_SRC_ETCD)
            continue;
        log_event(LOG_LVL_INFO, "server %s/%s removed: backend has no discovery.etcd any more",
                  be->name, s->name);
        be_remove_gone(be, s);
    }
}
