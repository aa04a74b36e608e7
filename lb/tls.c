/* lb/tls.c - TLS termination with OpenSSL: contexts, certificates, SNI.
 *
 * A frontend's struct tls_ctx is one SSL_CTX per certificate: [0] is the
 * default, where every connection starts; the SNI callback moves a
 * handshake to the certificate whose names match the server name. The
 * struct is owned by the default SSL_CTX (ex_data, freed with it), so its
 * lifetime is OpenSSL's reference count: the configuration generation, the
 * frontend and every live SSL (session_ctx) each hold one, and a handshake
 * under way can never see the SNI table freed by a reload.
 *
 * Names in tls.acme (automatic HTTPS, acme/) are served from slots: one per
 * frontend and name, shared by every generation that lists that name in
 * that frontend, holding the SSL_CTX of the certificate in force (a
 * self-signed one made when the slot is created, until acme/ installs a
 * real one). Installing swaps the slot's context under a lock that
 * handshakes take as readers: new handshakes on every loop see it at once,
 * open connections keep the context they started with (their SSL holds a
 * reference), and a reload, which finds the same slots by name, can never
 * bring back an older certificate. Session tickets stay valid: OpenSSL
 * encrypts them with the keys of the connection's first context (the
 * frontend's default), whatever SNI switched to.
 *
 * The TLS on each connection's socket is lb/tio.c's.
 *
 * Policy, as a public HTTPS front end should have it: TLS 1.2 and 1.3 only,
 * the server's cipher order (ECDHE with AES-GCM or ChaCha20 for 1.2,
 * OpenSSL's default 1.3 suites), no compression, no renegotiation, ALPN
 * "h2" (unless the frontend says "http2": false) and "http/1.1",
 * resumption by session tickets and by a server-side session cache. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/bufferevent.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "acme/acme.h"
#include "conf/conf.h"
#include "lb/log.h"
#include "lb/tio.h"
#include "lb/tls.h"

/* TLS 1.2 suites, in our order of preference; 1.3 keeps OpenSSL's defaults. */
#define TLS12_CIPHERS                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                 \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                 \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define SESS_CACHE_SIZE 20000 /* sessions kept per frontend for ID resumption */
#define TICKET_KEYS_LEN 80    /* name, HMAC and AES keys, as OpenSSL hands them out */

struct tls_cert {
    SSL_CTX *ctx; /* serves this certificate; [0]'s is tls_ctx.ctx */
    X509 *leaf;   /* its certificate (owned by ctx), matched against SNI */
};

/* One tls.acme name of one frontend (see the top of this file). */
struct tls_slot {
    char *fe;               /* frontend name (its session ID context) */
    char *name;             /* the DNS name, lower case */
    SSL_CTX *ctx;           /* the certificate in force; under slot_ctx_lock */
    uint32_t refcnt;        /* tls_ctx holding it; under slot_lock */
    struct tls_slot *next;  /* registry list; under slot_lock */
};

struct tls_ctx {
    SSL_CTX *ctx;           /* the default context: owns this struct */
    struct tls_cert *certs; /* [0] the default, then the SNI list, as in conf */
    size_t ncerts;          /* entries in certs; 0 when every name is tls.acme's */
    struct tls_slot **slots; /* tls.acme names, in conf order (referenced) */
    size_t nslots;          /* entries in slots */
    bool h2;                /* ALPN offers h2 ("http2", of this generation) */
};

static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;    /* the registry */
static pthread_rwlock_t slot_ctx_lock = PTHREAD_RWLOCK_INITIALIZER; /* slot->ctx */
static struct tls_slot *slots;  /* every slot some generation holds */

static int owner_idx = -1; /* ex_data slot of the default SSL_CTX holding its tls_ctx */
static int conn_idx = -1;  /* ex_data slot of our client SSLs: their tls_ctx (conn_gone, alpn_cb) */
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

/* ------------------------------------------------------------ lifetime */

static void slot_unref(struct tls_slot *sl)
{
    struct tls_slot **pp;

    if (!sl)
        return;
    pthread_mutex_lock(&slot_lock);
    if (--sl->refcnt > 0) {
        pthread_mutex_unlock(&slot_lock);
        return;
    }
    for (pp = &slots; *pp && *pp != sl; pp = &(*pp)->next)
        ;
    if (*pp)
        *pp = sl->next;
    pthread_mutex_unlock(&slot_lock);
    /* No tls_ctx holds it, so no handshake can be reading sl->ctx. */
    SSL_CTX_free(sl->ctx);
    free(sl->fe);
    free(sl->name);
    free(sl);
}

/* Called by OpenSSL when the default SSL_CTX's last reference goes. */
static void tls_ctx_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    struct tls_ctx *t = ptr;

    (void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
    if (!t)
        return;
    for (size_t i = 1; i < t->ncerts; i++)
        SSL_CTX_free(t->certs[i].ctx);
    for (size_t i = 0; i < t->nslots; i++)
        slot_unref(t->slots[i]);
    free(t->slots);
    free(t->certs);
    free(t);
}

/* Called by SSL_free before OpenSSL's own teardown, which drops from the
 * session cache the session of any connection that ended without a
 * close_notify sent: an SSLv3 rule. Since TLS 1.1 an unclean close need not
 * cost the session (RFC 4346, 7.2.1), HTTP framing tells truncation apart,
 * and lxlb closes many connections without close_notify (the client went
 * first, a keep-alive timeout, an abort): without this, session-ID
 * resumption would rarely work. A fatal alert still removes the session. */
static void conn_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                      void *argp)
{
    SSL *ssl = parent;

    (void)ad; (void)idx; (void)argl; (void)argp;
    if (ptr && SSL_is_init_finished(ssl))
        SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_SENT_SHUTDOWN);
}

static void idx_init(void)
{
    owner_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tls_ctx_gone);
    conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_gone);
}

struct tls_ctx *tls_ref(struct tls_ctx *t)
{
    if (t)
        SSL_CTX_up_ref(t->ctx);
    return t;
}

void tls_unref(struct tls_ctx *t)
{
    if (t)
        SSL_CTX_free(t->ctx); /* the last one frees t (tls_ctx_gone) */
}

static void tls_release(void *p) { tls_unref(p); }

/* ------------------------------------------------------------ handshake */

/* ALPN: "h2" when the frontend speaks it, else "http/1.1", else
 * "http/1.0", from the client's list (our order, as HAProxy's). A client
 * that offers none of these gets no ALPN answer rather than a fatal alert,
 * as HAProxy does; it must then speak HTTP/1.1 or go away. Whether h2 is
 * offered is the connection's generation's say (its tls_ctx, in the SSL's
 * ex_data), not the context's: after SNI the context may be a tls.acme
 * slot's, shared by every generation. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    static const char *const ours[] = { "h2", "http/1.1", "http/1.0" };
    const struct tls_ctx *t = SSL_get_ex_data(ssl, conn_idx);

    (void)arg;
    for (size_t k = t && t->h2 ? 0 : 1; k < sizeof(ours) / sizeof(ours[0]); k++) {
        size_t len = strlen(ours[k]);
        for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
            if (i + 1u + in[i] > inlen)
                break; /* malformed list: OpenSSL checks it too */
            if (in[i] == len && !memcmp(in + i + 1, ours[k], len)) {
                *out = in + i + 1;
                *outlen = in[i];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* The certificate for a server name: an exact name first, then a wildcard
 * (one whole left-most label), else the default. X509_check_host does the
 * RFC 6125 matching: SAN DNS names, the CN only when there are none. */
static SSL_CTX *tls_pick(const struct tls_ctx *t, const char *name)
{
    static const unsigned int passes[] = {
        X509_CHECK_FLAG_NO_WILDCARDS,
        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
    };

    for (size_t p = 0; p < 2; p++)
        for (size_t i = 0; i < t->ncerts; i++)
            if (X509_check_host(t->certs[i].leaf, name, 0, passes[p], NULL) == 1)
                return t->certs[i].ctx;
    return t->ctx;
}

/* A tls.acme name: its slot's certificate in force. Without a static
 * certificate the first acme name is the default (no SNI, unknown name).
 * OpenSSL calls sni_cb for every ClientHello, with or without SNI. */
static bool slot_switch(const struct tls_ctx *t, SSL *ssl, const char *name)
{
    struct tls_slot *sl = NULL;

    for (size_t i = 0; name && i < t->nslots && !sl; i++)
        if (!strcasecmp(t->slots[i]->name, name))
            sl = t->slots[i];
    if (!sl && !t->ncerts)
        sl = t->slots[0];
    if (!sl)
        return false;
    pthread_rwlock_rdlock(&slot_ctx_lock);
    SSL_set_SSL_CTX(ssl, sl->ctx); /* takes its own reference */
    pthread_rwlock_unlock(&slot_ctx_lock);
    return true;
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
{
    const struct tls_ctx *t = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

    (void)alert;
    if (t->nslots && slot_switch(t, ssl, name))
        return SSL_TLSEXT_ERR_OK;
    if (name && t->ncerts > 1) {
        SSL_CTX *ctx = tls_pick(t, name);
        if (ctx != SSL_get_SSL_CTX(ssl))
            SSL_set_SSL_CTX(ssl, ctx);
    }
    return SSL_TLSEXT_ERR_OK; /* unknown names get the default, as in HAProxy */
}

/* -------------------------------------------------------------- loading */

/* The first OpenSSL error's reason, and the queue emptied. */
static const char *ssl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_get_error();
    const char *r = !e                  ? "invalid"
                    : ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e)) /* fopen's errno */
                                          : ERR_reason_error_string(e);

    snprintf(buf, n, "%s", r ? r : "unknown OpenSSL error");
    ERR_clear_error();
    return buf;
}

/* The settings every context of a frontend shares: after an SNI switch the
 * connection runs with the new context's ALPN and ciphers. */
static SSL_CTX *ctx_new(const char *fe_name)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    size_t sidlen = strlen(fe_name);

    if (!ctx)
        return NULL;
    if (sidlen > SSL_MAX_SID_CTX_LENGTH)
        sidlen = SSL_MAX_SID_CTX_LENGTH;
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_NO_RENEGOTIATION);
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
        !SSL_CTX_set_session_id_context(ctx, (const unsigned char *)fe_name,
                                        (unsigned int)sidlen)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, SESS_CACHE_SIZE);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    return ctx;
}

/* One certificate and its key into a fresh context. */
static SSL_CTX *cert_load(const char *fe_name, const struct conf_cert *cc, char *err,
                          size_t errlen)
{
    SSL_CTX *ctx = ctx_new(fe_name);
    char why[256];

    if (!ctx) {
        snprintf(err, errlen, "frontend %s: cannot set up TLS: %s", fe_name,
                 ssl_reason(why, sizeof(why)));
        return NULL;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cc->cert) != 1) {
        snprintf(err, errlen, "frontend %s: cannot load certificate %s: %s", fe_name,
                 cc->cert, ssl_reason(why, sizeof(why)));
        goto err;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cc->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        unsigned long e = ERR_peek_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
            snprintf(err, errlen, "frontend %s: private key %s does not match certificate %s",
                     fe_name, cc->key, cc->cert);
        else
            snprintf(err, errlen, "frontend %s: cannot load private key %s: %s", fe_name,
                     cc->key, ssl_reason(why, sizeof(why)));
        ERR_clear_error();
        goto err;
    }
    return ctx;
err:
    SSL_CTX_free(ctx);
    return NULL;
}

/* A context serving leaf (+ chain) with key, for frontend fe. */
static SSL_CTX *ctx_with(const char *fe, X509 *leaf, STACK_OF(X509) *chain, EVP_PKEY *key,
                         char *err, size_t errlen)
{
    SSL_CTX *ctx = ctx_new(fe);
    char why[256];

    if (ctx && SSL_CTX_use_certificate(ctx, leaf) == 1 &&
        (!chain || SSL_CTX_set1_chain(ctx, chain) == 1) &&
        SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1)
        return ctx;
    snprintf(err, errlen, "frontend %s: cannot use the certificate: %s", fe,
             ssl_reason(why, sizeof(why)));
    SSL_CTX_free(ctx);
    return NULL;
}

/* The slot of (fe, name), made with a self-signed certificate if new. */
static struct tls_slot *slot_get(const char *fe, const char *name, char *err, size_t errlen)
{
    struct tls_slot *sl;
    X509 *crt = NULL;
    EVP_PKEY *key = NULL;

    pthread_mutex_lock(&slot_lock);
    for (sl = slots; sl; sl = sl->next)
        if (!strcmp(sl->fe, fe) && !strcmp(sl->name, name)) {
            sl->refcnt++;
            goto out;
        }
    if (!(sl = calloc(1, sizeof(*sl))) || !(sl->fe = strdup(fe)) ||
        !(sl->name = strdup(name))) {
        snprintf(err, errlen, "frontend %s: cannot set up TLS: out of memory", fe);
        goto err;
    }
    /* So HTTPS answers before the first certificate is issued. */
    if (acme_self_signed(name, &crt, &key, err, errlen) < 0 ||
        !(sl->ctx = ctx_with(fe, crt, NULL, key, err, errlen)))
        goto err;
    sl->refcnt = 1;
    sl->next = slots;
    slots = sl;
    goto out;
err:
    if (sl) {
        free(sl->fe);
        free(sl->name);
        free(sl);
    }
    sl = NULL;
out:
    pthread_mutex_unlock(&slot_lock);
    X509_free(crt);
    EVP_PKEY_free(key);
    return sl;
}

int tls_acme_install(const char *name, X509 *leaf, STACK_OF(X509) *chain, EVP_PKEY *key,
                     char *err, size_t errlen)
{
    int rc = 0;

    pthread_mutex_lock(&slot_lock);
    for (struct tls_slot *sl = slots; sl; sl = sl->next) {
        SSL_CTX *ctx, *old;

        if (strcmp(sl->name, name))
            continue;
        if (!(ctx = ctx_with(sl->fe, leaf, chain, key, err, errlen))) {
            rc = -1;
            continue;
        }
        pthread_rwlock_wrlock(&slot_ctx_lock);
        old = sl->ctx;
        sl->ctx = ctx;
        pthread_rwlock_unlock(&slot_ctx_lock);
        SSL_CTX_free(old); /* connections that started on it keep their reference */
    }
    pthread_mutex_unlock(&slot_lock);
    return rc;
}

/* Every certificate of one frontend, or NULL with err set. */
static struct tls_ctx *tls_load(const struct conf_frontend *cf, char *err, size_t errlen)
{
    const struct conf_tls *ct = &cf->tls;
    struct tls_ctx *t = calloc(1, sizeof(*t));

    if (!t || !(t->certs = calloc(ct->ncerts + 1, sizeof(*t->certs))) ||
        !(t->slots = calloc(ct->nacme + 1, sizeof(*t->slots))))
        goto oom;
    for (size_t i = 0; i < ct->ncerts; i++) {
        SSL_CTX *ctx = cert_load(cf->name, &ct->certs[i], err, errlen);
        if (!ctx)
            goto err;
        t->certs[t->ncerts].ctx = ctx;
        t->certs[t->ncerts++].leaf = SSL_CTX_get0_certificate(ctx);
    }
    for (size_t i = 0; i < ct->nacme; i++) {
        if (!(t->slots[t->nslots] = slot_get(cf->name, ct->acme[i], err, errlen)))
            goto err;
        t->nslots++;
    }
    /* Without a static certificate, the default context only starts the
     * handshake: sni_cb always moves it to a slot. */
    t->ctx = t->ncerts ? t->certs[0].ctx : ctx_new(cf->name);
    if (!t->ctx)
        goto oom;
    /* From here the default context owns t: freeing it frees everything. */
    if (!SSL_CTX_set_ex_data(t->ctx, owner_idx, t)) {
        snprintf(err, errlen, "frontend %s: cannot set up TLS: out of memory", cf->name);
        goto err;
    }
    SSL_CTX_set_tlsext_servername_callback(t->ctx, sni_cb);
    SSL_CTX_set_tlsext_servername_arg(t->ctx, t);
    t->h2 = cf->http2;
    return t;
oom:
    snprintf(err, errlen, "frontend %s: cannot set up TLS: out of memory", cf->name);
err:
    if (t) {
        if (!t->ncerts)
            SSL_CTX_free(t->ctx);
        for (size_t i = 0; i < t->ncerts; i++)
            SSL_CTX_free(t->certs[i].ctx);
        for (size_t i = 0; i < t->nslots; i++)
            slot_unref(t->slots[i]);
        free(t->slots);
        free(t->certs);
    }
    free(t);
    return NULL;
}

int tls_conf_load(struct conf *c, char *err, size_t errlen)
{
    size_t used = 0;
    int rc = 0;

    pthread_once(&idx_once, idx_init);
    if (errlen)
        err[0] = '\0';
    for (size_t i = 0; i < c->nfrontends; i++) {
        struct conf_frontend *cf = &c->frontends[i];
        char line[1024];

        if (!cf->tls.enabled || cf->tls.loaded)
            continue;
        if (owner_idx < 0 || conn_idx < 0) {
            snprintf(line, sizeof(line), "frontend %s: cannot set up TLS", cf->name);
        } else if ((cf->tls.loaded = tls_load(cf, line, sizeof(line)))) {
            cf->tls.loaded_free = tls_release;
            continue;
        }
        rc = -1;
        if (used < errlen) {
            int n = snprintf(err + used, errlen - used, "%s%s", used ? "\n" : "", line);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    return rc;
}

void tls_keep_tickets(struct tls_ctx *t, const struct tls_ctx *old)
{
    unsigned char keys[TICKET_KEYS_LEN];

    if (!t || !old || t == old)
        return;
    if (SSL_CTX_get_tlsext_ticket_keys(old->ctx, keys, sizeof(keys)) == 1)
        SSL_CTX_set_tlsext_ticket_keys(t->ctx, keys, sizeof(keys));
    OPENSSL_cleanse(keys, sizeof(keys));
}

/* ---------------------------------------------------------- connections */

struct bufferevent *tls_bev_new(struct tls_ctx *t, struct event_base *base, int fd)
{
    SSL *ssl = t ? SSL_new(t->ctx) : NULL;
    struct bufferevent *bev;

    if (!ssl)
        return NULL;
    /* Marks our client SSLs (conn_gone), and tells alpn_cb its generation:
     * the SSL holds t's default context (session_ctx), so t outlives it. */
    SSL_set_ex_data(ssl, conn_idx, t);
    /* A response up to 16 KiB is one record (lb/tio.c), but a larger one
     * is several: with Nagle the last would wait for the client's delayed
     * ACK. nginx sets TCP_NODELAY on its TLS connections for this too. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
    /* A plain bufferevent for the buffers and callbacks: lb/tio.c does the
     * TLS on the socket. */
    if (!(bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE))) {
        SSL_free(ssl);
        return NULL;
    }
    if (!tio_new(bev, ssl)) { /* (it freed ssl) */
        bufferevent_setfd(bev, -1); /* the caller closes fd */
        bufferevent_free(bev);
        return NULL;
    }
    return bev;
}

void tls_log_failure(struct bufferevent *bev, short what, const char *fe, const char *client)
{
    int sys;
    unsigned long e = tio_error(tio_of(bev), &sys);
    const char *why = e ? ERR_reason_error_string(e) : NULL;

    if (!why)
        why = (what & BEV_EVENT_TIMEOUT) ? "timeout"
              : (what & BEV_EVENT_EOF) || !sys ? "connection closed by the client"
                                               : evutil_socket_error_to_string(sys);
    log_event(LOG_LVL_DEBUG, "frontend %s: %s: TLS handshake failed: %s", fe, client, why);
}

const char *tls_log_suffix(struct bufferevent *bev, char *buf, size_t n)
{
    SSL *ssl = tio_ssl(tio_of(bev));

    if (!ssl)
        return "";
    snprintf(buf, n, " %s/%s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
    return buf;
}

bool tls_alpn_h2(struct bufferevent *bev)
{
    SSL *ssl = tio_ssl(tio_of(bev));
    const unsigned char *p = NULL;
    unsigned int n = 0;

    if (ssl)
        SSL_get0_alpn_selected(ssl, &p, &n);
    return n == 2 && !memcmp(p, "h2", 2);
}
