/* admin/routes.c - the admin requests: auth, routing, and each endpoint.
 *
 *   GET  /                                  the dashboard page (public: it holds
 *                                           no figures; it fetches /stats)
 *   GET  /stats                             JSON
 *   GET  /metrics                           Prometheus text
 *   GET  /healthz                           "ok" (200) or why not (503): for
 *                                           keepalived and watchdogs (public on
 *                                           a loopback or unix bind)
 *   GET  /history                           JSON: the last minutes the dashboard draws
 *   POST /backends/B/servers/S/state        {"state": "drain"|"maint"|"ready"}
 *   POST /backends/B/autoscale              {"enabled": false|true}: pause, resume
 *
 * evhttp parses and bounds the request (admin.c sets the limits); nothing
 * here trusts the request beyond what it checks. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "admin/admin-int.h"
#include "conf/conf.h"
#include "discovery/autoscale-t.h"
#include "discovery/discovery.h"
#include "lb/backend-t.h"
#include "lb/backend.h"
#include "lb/log.h"
#include "lb/proxy-t.h"
#include "lb/server.h"

#define GET_METHODS (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)
#define MAX_SEGMENTS 6 /* the longest path we serve has 5 */

/* --------------------------------------------------------------- replies */

static const char *reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default:  return "Internal Server Error";
    }
}

static void reply(struct evhttp_request *req, int code, const char *ctype, struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_add_header(h, "Content-Type", ctype);
    /* Live figures: a cached copy is a wrong copy. */
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_send_reply(req, code, reason(code), body);
}

static void reply_error(struct evhttp_request *req, int code, const char *msg)
{
    struct evbuffer *b = evbuffer_new();
    json_t *j = json_pack("{s:s}", "error", msg);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    if (b && text)
        evbuffer_add_printf(b, "%s\n", text);
    reply(req, code, "application/json", b);
    free(text);
    json_decref(j);
    if (b)
        evbuffer_free(b);
}

/* Sends j (a new reference, consumed); NULL means we ran out of memory. */
static void reply_json(struct evhttp_request *req, int code, json_t *j)
{
    struct evbuffer *b = evbuffer_new();
    char *text = j ? json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;

    json_decref(j);
    if (!b || !text || evbuffer_add_printf(b, "%s\n", text) < 0)
        reply_error(req, 500, "out of memory");
    else
        reply(req, code, "application/json", b);
    free(text);
    if (b)
        evbuffer_free(b);
}

/* The history is read by a page, not a person: no indentation. */
static void reply_json_compact(struct evhttp_request *req, json_t *j)
{
    struct evbuffer *b = evbuffer_new();
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;

    json_decref(j);
    if (!b || !text || evbuffer_add(b, text, strlen(text)) < 0)
        reply_error(req, 500, "out of memory");
    else
        reply(req, 200, "application/json", b);
    free(text);
    if (b)
        evbuffer_free(b);
}

static void reply_405(struct evhttp_request *req, const char *allow)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    reply_error(req, 405, "method not allowed");
}

/* ------------------------------------------------------------------ auth */

/* Compares in time that depends only on the expected token's length, so a
 * client cannot find the token byte by byte from response times. */
static bool token_equal(const char *want, const char *got, size_t gotlen)
{
    size_t n = strlen(want);
    unsigned char diff = n != gotlen;

    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < gotlen ? got[i] : 0);
    return diff == 0;
}

static bool authorized(const struct admin *a, struct evhttp_request *req)
{
    const char *want = a->px->conf->admin.token;
    const char *h;
    size_t len;

    if (!want)
        return true;
    h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7))
        return false;
    for (h += 7; *h == ' '; h++)
        ;
    for (len = strlen(h); len && (h[len - 1] == ' ' || h[len - 1] == '\t'); len--)
        ;
    return token_equal(want, h, len);
}

static void reply_401(struct evhttp_request *req)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                      "Bearer realm=\"lxlb admin\"");
    reply_error(req, 401, "a valid 'Authorization: Bearer <token>' header is required");
}

/* ------------------------------------------------------------- endpoints */

static void get_dashboard(struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    if (!b || evbuffer_add_reference(b, admin_dashboard_html, strlen(admin_dashboard_html),
                                     NULL, NULL) < 0) {
        reply_error(req, 500, "out of memory");
    } else {
        /* The page promises no external assets; the browser holds it to that. */
        evhttp_add_header(h, "Content-Security-Policy",
                          "default-src 'none'; script-src 'unsafe-inline'; "
                          "style-src 'unsafe-inline'; connect-src 'self'; img-src data:");
        reply(req, 200, "text/html; charset=utf-8", b);
    }
    if (b)
        evbuffer_free(b);
}

static void get_metrics(const struct admin *a, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();

    if (!b || admin_metrics(a, b) < 0)
        reply_error(req, 500, "out of memory");
    else
        reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b);
    if (b)
        evbuffer_free(b);
}

/* GET /healthz: may this lxlb take new clients? keepalived's vrrp_script asks
 * every second, so it costs one walk of the backends' server lists and no
 * JSON. 200 "ok"; 503 "stopping" during a graceful stop (the listeners are
 * closed already); else 503 naming each backend where the balancer has no
 * server to pick for a new client (be_has_usable_outside with no server to
 * avoid: srv_usable and a weight, so drain and maint count as not usable;
 * sticky clients of a drained server would still be served, new ones not).
 * Accepting paused at maxconn is load, not a fault: still "ok" (a move of
 * the address would reset every open connection and bring the same load).
 * The reason is one line: names are checked by conf (conf_name_ok).
 * With workers > 1 this is the main loop: its servers are the truth the
 * replicas copy. */
static void get_healthz(const struct admin *a, struct evhttp_request *req)
{
    const struct proxy *px = a->px;
    struct evbuffer *b = evbuffer_new();
    bool oom = !b, healthy;

    if (b && px->stopping)
        oom = evbuffer_add_printf(b, "stopping") < 0;
    for (size_t i = 0; b && !px->stopping && i < px->nbackends; i++)
        if (!be_has_usable_outside(px->backends[i], NULL))
            oom |= evbuffer_add_printf(b, "%sbackend %s has no usable server",
                                       evbuffer_get_length(b) ? "; " : "",
                                       px->backends[i]->name) < 0;
    healthy = b && evbuffer_get_length(b) == 0;
    if (oom || evbuffer_add_printf(b, "%s\n", healthy ? "ok" : "") < 0)
        reply_error(req, 500, "out of memory");
    else
        reply(req, healthy ? 200 : 503, "text/plain; charset=utf-8", b);
    if (b)
        evbuffer_free(b);
}

/* The body of a state change: exactly {"state": "drain"|"maint"|"ready"}.
 * 0 with *st set, or -1 with why it is refused. */
static int parse_state(struct evhttp_request *req, enum srv_admin *st, const char **why)
{
    static const enum srv_admin states[] = { SRV_ADMIN_READY, SRV_ADMIN_DRAIN, SRV_ADMIN_MAINT };
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *data = len ? (const char *)evbuffer_pullup(in, -1) : "";
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    const char *v = json_string_value(json_object_get(j, "state"));
    int rc = -1;

    *why = "body must be a JSON object {\"state\": \"drain\"|\"maint\"|\"ready\"}";
    if (v && json_object_size(j) == 1) {
        *why = "state must be \"drain\", \"maint\" or \"ready\"";
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
            if (!strcmp(v, srv_admin_name(states[i]))) {
                *st = states[i];
                rc = 0;
            }
    }
    json_decref(j);
    return rc;
}

static struct backend *find_backend(const struct proxy *px, const char *name)
{
    for (size_t i = 0; i < px->nbackends; i++)
        if (!strcmp(px->backends[i]->name, name))
            return px->backends[i];
    return NULL;
}

static void post_state(const struct admin *a, struct evhttp_request *req, const char *bname,
                       const char *sname)
{
    struct backend *be = find_backend(a->px, bname);
    struct server *s = be ? be_find_server(be, sname) : NULL;
    enum srv_admin st = SRV_ADMIN_READY;
    const char *why;

    if (!be) {
        reply_error(req, 404, "no such backend");
    } else if (!s) {
        reply_error(req, 404, "no such server in this backend");
    } else if (parse_state(req, &st, &why) < 0) {
        reply_error(req, 400, why);
    } else {
        srv_set_admin(s, st, "admin API");
        reply_json(req, 200, admin_server_json(s));
    }
}

/* The body of an autoscale change: exactly {"enabled": true|false}. */
static int parse_enabled(struct evhttp_request *req, bool *on)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *data = len ? (const char *)evbuffer_pullup(in, -1) : "";
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *v = json_object_get(j, "enabled");
    int rc = json_is_boolean(v) && json_object_size(j) == 1 ? 0 : -1;

    *on = json_is_true(v);
    json_decref(j);
    return rc;
}

static void post_autoscale(const struct admin *a, struct evhttp_request *req, const char *bname)
{
    struct backend *be = find_backend(a->px, bname);
    bool on;

    if (!be)
        reply_error(req, 404, "no such backend");
    else if (!discovery_autoscaler(be))
        reply_error(req, 404, "this backend has no autoscale");
    else if (parse_enabled(req, &on) < 0)
        reply_error(req, 400, "body must be a JSON object {\"enabled\": true|false}");
    else if (discovery_autoscale_enable(be, on) < 0)
        reply_error(req, 404, "this backend has no autoscale");
    else {
        const struct das *as = discovery_autoscaler(be);
        reply_json(req, 200, json_pack("{s:s, s:b, s:s}", "backend", be->name, "enabled",
                                       !as->fsm.paused && !as->refused, "status",
                                       as->fsm.status));
    }
}

/* ---------------------------------------------------------------- routing */

/* Splits path ("/a/b/c") into at most max percent-decoded segments, which
 * the caller frees. -1 when there are more, or one decodes to a NUL. */
static int split_path(const char *path, char **seg, int max)
{
    int n = 0;

    while (*path == '/') {
        size_t len = strcspn(++path, "/"), dlen;
        char *raw = n < max ? strndup(path, len) : NULL;
        char *dec = raw ? evhttp_uridecode(raw, 0, &dlen) : NULL;

        free(raw);
        if (!dec || dlen != strlen(dec)) {
            free(dec);
            goto err;
        }
        seg[n++] = dec;
        path += len;
    }
    return n;
err:
    while (n > 0)
        free(seg[--n]);
    return -1;
}

static void route_api(const struct admin *a, struct evhttp_request *req, const char *path)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    char *seg[MAX_SEGMENTS];
    int n;

    if (!strcmp(path, "/stats") || !strcmp(path, "/metrics") || !strcmp(path, "/healthz") ||
        !strcmp(path, "/history")) {
        if (!(m & GET_METHODS))
            reply_405(req, "GET, HEAD");
        else if (path[1] == 's')
            reply_json(req, 200, admin_stats_json(a));
        else if (path[1] == 'm')
            get_metrics(a, req);
        else if (!strcmp(path, "/history"))
            reply_json_compact(req, admin_history_json(a));
        else
            get_healthz(a, req);
        return;
    }
    n = split_path(path, seg, MAX_SEGMENTS);
    if (n == 5 && !strcmp(seg[0], "backends") && !strcmp(seg[2], "servers") &&
        !strcmp(seg[4], "state")) {
        if (m != EVHTTP_REQ_POST)
            reply_405(req, "POST");
        else
            post_state(a, req, seg[1], seg[3]);
    } else if (n == 3 && !strcmp(seg[0], "backends") && !strcmp(seg[2], "autoscale")) {
        if (m != EVHTTP_REQ_POST)
            reply_405(req, "POST");
        else
            post_autoscale(a, req, seg[1]);
    } else {
        reply_error(req, 404, "not found");
    }
    while (n > 0)
        free(seg[--n]);
}

void admin_http_cb(struct evhttp_request *req, void *arg)
{
    const struct admin *a = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    bool get = evhttp_request_get_command(req) & GET_METHODS;

    if (!path || !*path)
        path = "/";
    if (!strcmp(path, "/")) {
        if (!get)
            reply_405(req, "GET, HEAD");
        else
            get_dashboard(req);
    } else if (!strcmp(path, "/healthz") && conf_addr_is_local(&a->bind)) {
        /* Only who can reach a loopback or unix socket asks, and a check
         * script should not need the token; elsewhere the token is needed,
         * since the answer names backends. */
        if (!get)
            reply_405(req, "GET, HEAD");
        else
            get_healthz(a, req);
    } else if (!authorized(a, req)) {
        reply_401(req);
    } else {
        route_api(a, req, path);
    }
}
