/* acme/ca-https.c - HTTPS requests to the ACME CA on the event loop.
 *
 * Our own small client rather than evhttp: one request per connection
 * ("Connection: close"; an order is a dozen requests, minutes or months
 * apart), a bufferevent_openssl that verifies the CA's certificate and
 * name, llhttp for the response (already ours), the few headers ACME needs
 * (Replay-Nonce, Location, Retry-After, Content-Type), a bounded body, one
 * deadline for the whole exchange, and a result reported exactly once and
 * never from inside the call that started it. Names are resolved with
 * evdns: the loop never waits for a resolver. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "acme/acme-int.h"
#include "acme/acme.h"
#include "conf/conf.h"

#ifndef LXLB_VERSION
#define LXLB_VERSION "dev"
#endif

#define ACME_BODY_MAX (1u << 20) /* directory, orders, chains: a few KiB each */
#define ACME_HOST_MAX 256

/* ------------------------------------------------ the CA's trust store */

struct ssl_ctx_st *acme_client_ctx(const char *ca_file, char *err, size_t errlen)
{
    const char *env = getenv(X509_get_default_cert_file_env());
    /* The system's bundle, read once here rather than per handshake. */
    const char *file = ca_file ? ca_file : env ? env : X509_get_default_cert_file();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
        snprintf(err, errlen, "acme: cannot set up TLS");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_file(ctx, file) != 1) {
        unsigned long e = ERR_get_error();
        const char *why = ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e))
                          : ERR_reason_error_string(e) ? ERR_reason_error_string(e)
                                                       : "no certificate in it";
        snprintf(err, errlen, "acme.ca_file: cannot load CA certificates from %s: %s%s", file,
                 why, ca_file ? "" : " (the system's bundle: set acme.ca_file)");
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* ------------------------------------------------------------------ URLs */

int acme_url_split(const char *url, char *host, size_t hostlen, unsigned *port,
                   const char **path)
{
    const char *h, *end, *colon = NULL;
    size_t n;

    if (strncmp(url, "https://", 8) != 0)
        return -1;
    h = url + 8;
    end = h + strcspn(h, "/?#");
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (!rb)
            return -1;
        colon = rb + 1 < end ? rb + 1 : NULL;
        if (colon && *colon != ':')
            return -1;
        h++;
        n = (size_t)(rb - h);
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        n = (size_t)((colon ? colon : end) - h);
    }
    *port = 443;
    if (colon) {
        char *e;
        long p = strtol(colon + 1, &e, 10);
        if (e != end || p < 1 || p > 65535 || !isdigit((unsigned char)colon[1]))
            return -1;
        *port = (unsigned)p;
    }
    if (!n || n >= hostlen || *end == '#')
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    *path = *end ? end : "/";
    return 0;
}

static bool is_literal(const char *host, struct sockaddr_storage *ss, unsigned port,
                       socklen_t *len)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *len = sizeof(*s4);
        return true;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*s6);
        return true;
    }
    return false;
}

/* ------------------------------------------------------------ lifetime */

static void resp_clear(struct acme_resp *r)
{
    free(r->nonce);
    free(r->location);
    free(r->retry_after);
    free(r->ctype);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static void http_free(struct acme_http *h)
{
    if (h->bev)
        bufferevent_free(h->bev); /* frees the SSL and closes the socket */
    if (h->timer)
        event_free(h->timer);
    if (h->body)
        evbuffer_free(h->body);
    resp_clear(&h->resp);
    free(h);
}

static void http_release(struct acme_http *h)
{
    if (h->dead && !h->busy)
        http_free(h);
}

void acme_http_cancel(struct acme_http *h)
{
    if (!h)
        return;
    h->dead = true;
    http_release(h);
}

/* Report once: the answer, or why there is none. */
static void http_finish(struct acme_http *h, const char *err)
{
    bool was_busy = h->busy;

    if (h->dead)
        return;
    h->dead = true;
    if (h->bev)
        bufferevent_disable(h->bev, EV_READ | EV_WRITE);
    if (!err) {
        size_t n = evbuffer_get_length(h->body);
        if (!(h->resp.body = malloc(n + 1)))
            err = "out of memory";
        else {
            evbuffer_remove(h->body, h->resp.body, n);
            h->resp.body[n] = '\0';
            h->resp.body_len = n;
        }
    }
    h->busy = true;
    h->cb(h->arg, err ? NULL : &h->resp, err);
    h->busy = was_busy;
    http_release(h);
}

/* ------------------------------------------------------------- parsing */

static int on_field(llhttp_t *p, const char *at, size_t len)
{
    struct acme_http *h = p->data;

    if (h->field_len + len < sizeof(h->field))
        memcpy(h->field + h->field_len, at, len);
    h->field_len += len;
    return 0;
}

static int on_value(llhttp_t *p, const char *at, size_t len)
{
    struct acme_http *h = p->data;

    if (h->value_len + len < sizeof(h->value))
        memcpy(h->value + h->value_len, at, len);
    h->value_len += len;
    return 0;
}

/* One whole header field: keep it if it is one of ours. */
static int on_value_done(llhttp_t *p)
{
    static const struct { const char *name; size_t off; } ours[] = {
        { "replay-nonce", offsetof(struct acme_resp, nonce) },
        { "location", offsetof(struct acme_resp, location) },
        { "retry-after", offsetof(struct acme_resp, retry_after) },
        { "content-type", offsetof(struct acme_resp, ctype) },
    };
    struct acme_http *h = p->data;
    size_t fl = h->field_len, vl = h->value_len;

    h->field_len = h->value_len = 0;
    if (fl >= sizeof(h->field) || vl >= sizeof(h->value))
        return 0; /* not one of ours, or too long to be a sane one */
    h->field[fl] = '\0';
    while (vl && (h->value[vl - 1] == ' ' || h->value[vl - 1] == '\t'))
        vl--;
    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
        char **slot = (char **)((char *)&h->resp + ours[i].off);
        if (strcasecmp(h->field, ours[i].name) || *slot)
            continue;
        if (!(*slot = strndup(h->value, vl)))
            return -1;
    }
    return 0;
}

static int on_headers(llhttp_t *p)
{
    struct acme_http *h = p->data;

    h->resp.status = p->status_code;
    return h->head ? 1 : 0; /* a HEAD answer announces a body it does not send */
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct acme_http *h = p->data;

    if (evbuffer_get_length(h->body) + len > h->body_max)
        return -1;
    return evbuffer_add(h->body, at, len) < 0 ? -1 : 0;
}

static int on_complete(llhttp_t *p)
{
    struct acme_http *h = p->data;

    h->complete = true;
    return HPE_PAUSED;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct acme_http *h = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char err[160];

    h->busy = true;
    while (!h->dead && !h->complete && evbuffer_get_length(in)) {
        struct evbuffer_iovec v;
        llhttp_errno_t e;

        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        e = llhttp_execute(&h->parser, v.iov_base, v.iov_len);
        evbuffer_drain(in, v.iov_len);
        if (e != HPE_OK && e != HPE_PAUSED) {
            snprintf(err, sizeof(err), "bad HTTP response: %s",
                     evbuffer_get_length(h->body) >= h->body_max ? "body too large"
                                                                  : llhttp_errno_name(e));
            http_finish(h, err);
        }
    }
    if (h->complete)
        http_finish(h, NULL);
    h->busy = false;
    http_release(h);
}

/* The oldest real OpenSSL reason on the connection (a verify failure...). */
static const char *tls_why(struct bufferevent *bev)
{
    const char *why = NULL;
    unsigned long e;

    while ((e = bufferevent_get_openssl_error(bev)))
        if (e > 0xff && !why && ERR_reason_error_string(e))
            why = ERR_reason_error_string(e);
    return why;
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct acme_http *h = arg;
    char err[300];
    const char *why;

    if (what & BEV_EVENT_CONNECTED) {
        h->connected = true;
        return;
    }
    if ((what & BEV_EVENT_EOF) && h->resp.status && llhttp_finish(&h->parser) == HPE_OK) {
        http_finish(h, NULL); /* a body that runs to the close */
        return;
    }
    if ((why = tls_why(bev))) {
        snprintf(err, sizeof(err), "TLS: %s", why);
    } else if (what & BEV_EVENT_EOF) {
        snprintf(err, sizeof(err), "connection closed before a whole answer");
    } else {
        int dns = bufferevent_socket_get_dns_error(bev), e = EVUTIL_SOCKET_ERROR();
        snprintf(err, sizeof(err), "%s%s", h->connected ? "" : "cannot connect: ",
                 dns ? evutil_gai_strerror(dns)
                     : e ? evutil_socket_error_to_string(e) : "connection refused");
    }
    http_finish(h, err);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    http_finish(arg, "no answer in time");
}

/* -------------------------------------------------------------- start */

static SSL *client_ssl(SSL_CTX *ctx, const char *host, bool literal)
{
    SSL *ssl = SSL_new(ctx);

    if (!ssl)
        return NULL;
    /* The CA's certificate must name the host we asked for. */
    if (literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
                : SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

static int write_request(struct acme_http *h, const char *method, const char *url,
                         const char *ctype, const char *body, size_t blen, const char *accept)
{
    char host[ACME_HOST_MAX];
    unsigned port;
    const char *path;
    struct evbuffer *out = bufferevent_get_output(h->bev);
    bool v6;

    if (acme_url_split(url, host, sizeof(host), &port, &path) < 0)
        return -1;
    v6 = strchr(host, ':') != NULL;
    if (evbuffer_add_printf(out, "%s %s HTTP/1.1\r\nHost: %s%s%s", method, path,
                            v6 ? "[" : "", host, v6 ? "]" : "") < 0 ||
        (port != 443 && evbuffer_add_printf(out, ":%u", port) < 0) ||
        evbuffer_add_printf(out, "\r\nUser-Agent: lxlb/%s\r\nAccept: %s\r\n"
                            "Connection: close\r\n", LXLB_VERSION,
                            accept ? accept : "application/json") < 0)
        return -1;
    if (body && evbuffer_add_printf(out, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                                    ctype, blen) < 0)
        return -1;
    if (evbuffer_add(out, "\r\n", 2) < 0 || (body && evbuffer_add(out, body, blen) < 0))
        return -1;
    return 0;
}

static int connect_to(struct acme *a, struct acme_http *h, const char *url, char *err,
                      size_t errlen)
{
    char host[ACME_HOST_MAX];
    unsigned port;
    const char *path;
    struct sockaddr_storage ss;
    socklen_t sslen;
    bool literal;
    SSL *ssl;

    if (acme_url_split(url, host, sizeof(host), &port, &path) < 0) {
        snprintf(err, errlen, "not an https URL: %.200s", url);
        return -1;
    }
    literal = is_literal(host, &ss, port, &sslen);
    if (!literal && !a->dns) {
        snprintf(err, errlen, "cannot resolve %s: no resolver", host);
        return -1;
    }
    if (!(ssl = client_ssl(a->tls, host, literal))) {
        snprintf(err, errlen, "cannot set up TLS to %s", host);
        return -1;
    }
    /* Deferred callbacks: a refused connect is reported on a later turn. */
    h->bev = bufferevent_openssl_socket_new(a->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!h->bev) {
        SSL_free(ssl);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    bufferevent_setcb(h->bev, read_cb, NULL, event_cb, h);
    bufferevent_enable(h->bev, EV_READ | EV_WRITE);
    if ((literal ? bufferevent_socket_connect(h->bev, (struct sockaddr *)&ss, (int)sslen)
                 : bufferevent_socket_connect_hostname(h->bev, a->dns, AF_UNSPEC, host,
                                                       (int)port)) < 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", host,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return -1;
    }
    return 0;
}

struct acme_http *acme_http_start(struct acme *a, const char *method, const char *url,
                                  const char *ctype, const char *body, size_t blen,
                                  const char *accept, uint32_t timeout_ms, acme_http_cb done,
                                  void *arg, char *err, size_t errlen)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    struct acme_http *h = calloc(1, sizeof(*h));

    if (!h || !(h->body = evbuffer_new()) ||
        !(h->timer = evtimer_new(a->base, timer_cb, h)) || evtimer_add(h->timer, &tv) < 0) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    h->cb = done;
    h->arg = arg;
    h->head = !strcmp(method, "HEAD");
    h->body_max = ACME_BODY_MAX;
    llhttp_settings_init(&h->settings);
    h->settings.on_header_field = on_field;
    h->settings.on_header_value = on_value;
    h->settings.on_header_value_complete = on_value_done;
    h->settings.on_headers_complete = on_headers;
    h->settings.on_body = on_body;
    h->settings.on_message_complete = on_complete;
    llhttp_init(&h->parser, HTTP_RESPONSE, &h->settings);
    h->parser.data = h;
    if (connect_to(a, h, url, err, errlen) < 0)
        goto err;
    if (write_request(h, method, url, ctype, body, blen, accept) < 0) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    return h;
err:
    if (h)
        http_free(h);
    return NULL;
}
