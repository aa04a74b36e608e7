/* discovery/etcd-client.c - etcd v3 JSON gateway client on the event loop.
 *
 * Why our own few hundred lines rather than evhttp: a watch is a response
 * that never ends, and we want it bounded by a connect/head deadline but by
 * nothing once it streams (TCP keepalive notices a dead peer), with every
 * failure reported once, and a call that may be cancelled from inside its
 * own callbacks. A bufferevent and llhttp (already ours) give exactly that.
 *
 * One call = one connection with "Connection: close": calls are rare (a few
 * per container change, one keepalive per ttl/3) and independent, so there
 * is no pool to get wrong. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "discovery/etcd-client.h"

#define EJS_MAX_BYTES (8u << 20)   /* one watch message larger than this: broken */
#define EJS_MAX_DEPTH 64u          /* nesting we accept in a message */
#define ECL_DEFAULT_PORT 2379
#define ECALL_KEEPIDLE_S 5         /* stream: first TCP keepalive probe after idle s */
#define ECALL_KEEPINTVL_S 2        /* then every s */
#define ECALL_KEEPCNT 3            /* dead after this many unanswered probes */

/* ----------------------------------------------------------- endpoints -- */

static int ecl_parse_ep(struct ecl_ep *ep, const char *url, char *err, size_t errlen)
{
    const char *h, *end, *colon;
    size_t hlen;
    long port = ECL_DEFAULT_PORT;

    if (strncmp(url, "http://", 7)) {
        snprintf(err, errlen, "etcd endpoint %s: only http:// is supported", url);
        return -1;
    }
    h = url + 7;
    end = h + strcspn(h, "/");
    if (*h == '[') {                       /* [v6]:port */
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (!rb)
            goto bad;
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
        h++;
        hlen = (size_t)(rb - h);
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        hlen = (size_t)((colon ? colon : end) - h);
    }
    if (colon) {
        char *e;
        port = strtol(colon + 1, &e, 10);
        if (e != end || port < 1 || port > 65535)
            goto bad;
    }
    if (!hlen)
        goto bad;
    ep->url = strdup(url);
    ep->host = strndup(h, hlen);
    ep->port = (uint16_t)port;
    if (!ep->url || !ep->host) {
        snprintf(err, errlen, "etcd: out of memory");
        return -1;
    }
    return 0;
bad:
    snprintf(err, errlen, "bad etcd endpoint %s: expected http://host:port", url);
    return -1;
}

static bool ecl_is_literal(const char *host)
{
    struct in6_addr a6;
    return inet_pton(AF_INET, host, &a6) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
}

int ecl_init(struct ecl *cl, struct event_base *base, char *const *urls, size_t n,
             char *err, size_t errlen)
{
    memset(cl, 0, sizeof(*cl));
    cl->base = base;
    if (!n) {
        snprintf(err, errlen, "etcd: no endpoint");
        return -1;
    }
    if (!(cl->eps = calloc(n, sizeof(*cl->eps)))) {
        snprintf(err, errlen, "etcd: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (ecl_parse_ep(&cl->eps[cl->neps], urls[i], err, errlen) < 0)
            goto err;
        cl->neps++;
        /* Names go through evdns: the loop never waits for a resolver. */
        if (!cl->dns && !ecl_is_literal(cl->eps[i].host) &&
            !(cl->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS))) {
            snprintf(err, errlen, "etcd endpoint %s: cannot set up the resolver", urls[i]);
            goto err;
        }
    }
    return 0;
err:
    ecl_free(cl);
    return -1;
}

void ecl_free(struct ecl *cl)
{
    for (size_t i = 0; i < cl->neps; i++) {
        free(cl->eps[i].url);
        free(cl->eps[i].host);
    }
    free(cl->eps);
    if (cl->dns)
        evdns_base_free(cl->dns, 0);
    memset(cl, 0, sizeof(*cl));
}

void ecl_next(struct ecl *cl)
{
    if (cl->neps)
        cl->cur = (cl->cur + 1) % cl->neps;
}

const char *ecl_url(const struct ecl *cl) { return cl->neps ? cl->eps[cl->cur].url : "?"; }

/* ------------------------------------------------------- JSON splitter -- */

void ejs_free(struct ejsplit *j)
{
    free(j->buf);
    memset(j, 0, sizeof(*j));
}

static int ejs_append(struct ejsplit *j, const char *data, size_t len)
{
    if (j->len + len > j->cap) {
        size_t cap = j->cap ? j->cap : 4096;
        char *nb;
        while (cap < j->len + len)
            cap *= 2;
        if (!(nb = realloc(j->buf, cap)))
            return -1;
        j->buf = nb;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, data, len);
    j->len += len;
    return 0;
}

/* One complete object in buf[start, end). */
static int ejs_emit(struct ejsplit *j, size_t start, size_t end, ecall_obj_cb obj, void *arg,
                    char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(j->buf + start, end - start, 0, &je);

    if (!o) {
        snprintf(err, errlen, "bad JSON in stream: %s", je.text);
        return -1;
    }
    obj(arg, o);
    json_decref(o);
    return 0;
}

/* The scanner only tracks strings and nesting: enough to find where a
 * top-level object ends; jansson then parses it for real. */
int ejs_feed(struct ejsplit *j, const char *data, size_t len, ecall_obj_cb obj, void *arg,
             char *err, size_t errlen)
{
    size_t start = 0, i;

    if (ejs_append(j, data, len) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = j->scan; i < j->len; i++) {
        char ch = j->buf[i];

        if (j->in_str) {
            if (j->esc)
                j->esc = false;
            else if (ch == '\\')
                j->esc = true;
            else if (ch == '"')
                j->in_str = false;
            continue;
        }
        if (j->depth == 0) {
            if (isspace((unsigned char)ch)) {
                start = i + 1;
                continue;
            }
            if (ch != '{') {
                snprintf(err, errlen, "stream: expected a JSON object, got '%c'", ch);
                return -1;
            }
            start = i;
        }
        if (ch == '"') {
            j->in_str = true;
        } else if (ch == '{' || ch == '[') {
            if (++j->depth > EJS_MAX_DEPTH) {
                snprintf(err, errlen, "stream: JSON nested too deep");
                return -1;
            }
        } else if ((ch == '}' || ch == ']') && --j->depth == 0) {
            if (ejs_emit(j, start, i + 1, obj, arg, err, errlen) < 0)
                return -1;
            start = i + 1;
        }
    }
    /* Keep only the object in progress (it starts at start). */
    memmove(j->buf, j->buf + start, j->len - start);
    j->len -= start;
    j->scan = j->len;
    if (j->len > EJS_MAX_BYTES) {
        snprintf(err, errlen, "stream: message larger than %u bytes", EJS_MAX_BYTES);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- helpers -- */

char *eb64_encode(const char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);

    if (out)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)len);
    return out;
}

char *eb64_decode(const char *b64, size_t *len)
{
    size_t n = strlen(b64), pad = 0;
    char *out;
    int got;

    if (n % 4)
        return NULL;
    if (!(out = malloc(n / 4 * 3 + 1)))
        return NULL;
    got = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)b64, (int)n);
    if (got < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    while (pad < 2 && n > pad && b64[n - 1 - pad] == '=')
        pad++;
    *len = (size_t)got - pad;
    out[*len] = '\0';
    return out;
}

char *eprefix_end(const char *prefix, size_t *len)
{
    size_t n = strlen(prefix);
    char *end = strdup(prefix);

    if (!end)
        return NULL;
    /* 0xff cannot be incremented: drop it and carry into the byte before. */
    while (n > 0 && (unsigned char)end[n - 1] == 0xff)
        n--;
    if (n == 0) {          /* every key: etcd's "\0" range_end */
        end[0] = '\0';
        *len = 1;
        return end;
    }
    end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
    end[n] = '\0';
    *len = n;
    return end;
}

int64_t ejson_int(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

/* --------------------------------------------------------------- calls -- */

static void ecall_free(struct ecall *c)
{
    if (c->bev)
        bufferevent_free(c->bev);
    if (c->timer)
        event_free(c->timer);
    if (c->body)
        evbuffer_free(c->body);
    ejs_free(&c->split);
    free(c);
}

/* Free it once it is over and no callback of ours is on the stack. */
static void ecall_release(struct ecall *c)
{
    if (c->dead && !c->busy)
        ecall_free(c);
}

void ecall_cancel(struct ecall *c)
{
    if (!c)
        return;
    c->dead = true;
    ecall_release(c);
}

/* Report the end once: the answer (unary, or a stream refused with an error
 * status) or why there is none. */
static void ecall_finish(struct ecall *c, const char *err)
{
    json_t *body = NULL;
    bool was_busy = c->busy;

    if (c->dead)
        return;
    c->dead = true;
    if (c->bev)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    if (!err && c->body && evbuffer_get_length(c->body)) {
        size_t n = evbuffer_get_length(c->body);
        body = json_loadb((const char *)evbuffer_pullup(c->body, -1), n, 0, NULL);
    }
    c->busy = true;
    c->on_done(c->arg, err ? 0 : c->status, body, err);
    c->busy = was_busy;
    json_decref(body);
    ecall_release(c);
}

static void ecall_obj(void *arg, json_t *obj)
{
    struct ecall *c = arg;

    if (!c->dead)
        c->on_obj(c->arg, obj);
}

static int ecall_on_headers(llhttp_t *p)
{
    struct ecall *c = p->data;

    c->status = p->status_code;
    /* A stream may stay silent for hours once it has started. */
    if (c->stream && c->timer)
        evtimer_del(c->timer);
    return 0;
}

static int ecall_on_body(llhttp_t *p, const char *at, size_t len)
{
    struct ecall *c = p->data;
    char err[160];

    if (c->stream && c->status == 200) {
        if (ejs_feed(&c->split, at, len, ecall_obj, c, err, sizeof(err)) < 0) {
            ecall_finish(c, err);
            return -1;
        }
        return c->dead ? -1 : 0;
    }
    return evbuffer_add(c->body, at, len) < 0 ? -1 : 0;
}

static int ecall_on_complete(llhttp_t *p)
{
    struct ecall *c = p->data;

    c->complete = true;
    return HPE_PAUSED;
}

static void ecall_parse(struct ecall *c, struct evbuffer *in)
{
    struct evbuffer_iovec v[8];
    int n = evbuffer_peek(in, -1, NULL, v, 8);
    size_t used = 0;
    llhttp_errno_t e = HPE_OK;

    for (int i = 0; i < n && i < 8 && !c->dead; i++) {
        e = llhttp_execute(&c->parser, v[i].iov_base, v[i].iov_len);
        if (e != HPE_OK)
            break;
        used += v[i].iov_len;
    }
    evbuffer_drain(in, used);
    if (c->dead)
        return;
    if (c->complete) {
        ecall_finish(c, c->stream && c->status == 200 ? "watch stream ended" : NULL);
    } else if (e != HPE_OK) {
        char err[160];
        snprintf(err, sizeof(err), "bad HTTP response: %s", llhttp_get_error_reason(&c->parser));
        ecall_finish(c, err);
    }
}

static void ecall_read_cb(struct bufferevent *bev, void *arg)
{
    struct ecall *c = arg;

    c->busy = true;
    /* More than 8 segments: the rest is parsed on the next round. */
    while (!c->dead && evbuffer_get_length(bufferevent_get_input(bev))) {
        size_t before = evbuffer_get_length(bufferevent_get_input(bev));
        ecall_parse(c, bufferevent_get_input(bev));
        if (evbuffer_get_length(bufferevent_get_input(bev)) == before)
            break;
    }
    c->busy = false;
    ecall_release(c);
}

static void ecall_keepalive(struct bufferevent *bev)
{
    evutil_socket_t fd = bufferevent_getfd(bev);
    int on = 1, idle = ECALL_KEEPIDLE_S, intvl = ECALL_KEEPINTVL_S, cnt = ECALL_KEEPCNT;

    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static void ecall_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct ecall *c = arg;
    char err[200];

    if (what & BEV_EVENT_CONNECTED) {
        c->connected = true;
        if (c->stream)
            ecall_keepalive(bev);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        /* A body that runs to the close ends here. */
        if (llhttp_finish(&c->parser) == HPE_OK && c->status && !c->stream) {
            ecall_finish(c, NULL);
            return;
        }
        snprintf(err, sizeof(err), c->status ? "connection closed by etcd"
                                             : "connection closed before an answer");
    } else {
        int dns = bufferevent_socket_get_dns_error(bev), e = EVUTIL_SOCKET_ERROR();
        /* A refused loopback connect is reported later with errno unset. */
        snprintf(err, sizeof(err), "%s%s", c->connected ? "" : "cannot connect: ",
                 dns ? evutil_gai_strerror(dns)
                     : e ? evutil_socket_error_to_string(e) : "connection refused");
    }
    ecall_finish(c, err);
}

static void ecall_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    ecall_finish(arg, "timeout");
}

static int ecall_connect(struct ecall *c, const struct ecl_ep *ep)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, ep->host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(ep->port);
        return bufferevent_socket_connect(c->bev, (struct sockaddr *)s4, sizeof(*s4));
    }
    if (inet_pton(AF_INET6, ep->host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(ep->port);
        return bufferevent_socket_connect(c->bev, (struct sockaddr *)s6, sizeof(*s6));
    }
    return bufferevent_socket_connect_hostname(c->bev, c->cl->dns, AF_UNSPEC, ep->host,
                                               ep->port);
}

static int ecall_write_request(struct ecall *c, const struct ecl_ep *ep, const char *path,
                               const json_t *body)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    char *js = json_dumps(body, JSON_COMPACT);
    int rc;

    if (!js)
        return -1;
    rc = evbuffer_add_printf(out, "POST %s HTTP/1.1\r\nHost: %s:%u\r\n"
                             "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                             "Connection: close\r\n\r\n%s",
                             path, ep->host, ep->port, strlen(js), js);
    free(js);
    return rc < 0 ? -1 : 0;
}

static struct ecall *ecall_start(struct ecl *cl, const char *path, const json_t *body,
                                 uint32_t timeout_ms, bool stream, ecall_obj_cb obj,
                                 ecall_done_cb done, void *arg, char *err, size_t errlen)
{
    const struct ecl_ep *ep = &cl->eps[cl->cur];
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    struct ecall *c = calloc(1, sizeof(*c));

    if (!c)
        goto oom;
    c->cl = cl;
    c->stream = stream;
    c->on_obj = obj;
    c->on_done = done;
    c->arg = arg;
    llhttp_settings_init(&c->settings);
    c->settings.on_headers_complete = ecall_on_headers;
    c->settings.on_body = ecall_on_body;
    c->settings.on_message_complete = ecall_on_complete;
    llhttp_init(&c->parser, HTTP_RESPONSE, &c->settings);
    c->parser.data = c;
    c->body = evbuffer_new();
    c->bev = bufferevent_socket_new(cl->base, -1, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(cl->base, ecall_timer_cb, c);
    if (!c->body || !c->bev || !c->timer || evtimer_add(c->timer, &tv) < 0)
        goto oom;
    bufferevent_setcb(c->bev, ecall_read_cb, NULL, ecall_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (ecall_write_request(c, ep, path, body) < 0)
        goto oom;
    if (ecall_connect(c, ep) < 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", ep->url,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        ecall_free(c);
        return NULL;
    }
    return c;
oom:
    snprintf(err, errlen, "etcd call: out of memory");
    if (c)
        ecall_free(c);
    return NULL;
}

struct ecall *ecall_post(struct ecl *cl, const char *path, const json_t *body,
                         uint32_t timeout_ms, ecall_done_cb done, void *arg,
                         char *err, size_t errlen)
{
    return ecall_start(cl, path, body, timeout_ms, false, NULL, done, arg, err, errlen);
}

struct ecall *ecall_stream(struct ecl *cl, const char *path, const json_t *body,
                           uint32_t connect_ms, ecall_obj_cb obj, ecall_done_cb done,
                           void *arg, char *err, size_t errlen)
{
    return ecall_start(cl, path, body, connect_ms, true, obj, done, arg, err, errlen);
}
