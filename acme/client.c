/* acme/client.c - one ACME order (RFC 8555 7.4) as a chain of callbacks on
 * the main loop: directory, account, newOrder, each authorization with its
 * HTTP-01 challenge, finalize with a CSR for a fresh key, the order polled
 * until valid, the certificate chain downloaded.
 *
 * One order runs at a time (acme.c queues the names that are due), so the
 * client holds at most one request or one poll timer, both belonging to the
 * current step: aborting the order cancels whichever there is, and a
 * callback never finds its step gone. Every signed request takes the last
 * Replay-Nonce (or asks newNonce for one) and is resent once per badNonce
 * with the fresh nonce the error carried, a few times at most. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "acme/acme-int.h"
#include "conf/conf-t.h"
#include "lb/log.h"

#define HTTP_TIMEOUT_MS 30000   /* one request to the CA, connect to last byte */
#define BAD_NONCE_MAX 10        /* badNonce resends of one request */
#define POLL_MAX 60             /* polls of one authorization or order */
#define POLL_FIRST_MS 200       /* first poll delay, doubling... */
#define POLL_CAP_MS 3000        /* ...up to this */
#define RETRY_AFTER_POLL_MAX_S 10 /* a poll's Retry-After is honoured up to this */
#define ERR_PREFIX "urn:ietf:params:acme:error:"
#define CT_JOSE "application/jose+json"
#define CT_CHAIN "application/pem-certificate-chain"

static const char *const step_names[] = {
    [ACME_S_IDLE] = "idle", [ACME_S_DIRECTORY] = "directory", [ACME_S_NONCE] = "newNonce",
    [ACME_S_ACCOUNT] = "newAccount", [ACME_S_NEW_ORDER] = "newOrder",
    [ACME_S_AUTHZ] = "authorization", [ACME_S_CHALLENGE] = "challenge",
    [ACME_S_AUTHZ_WAIT] = "authorization", [ACME_S_FINALIZE] = "finalize",
    [ACME_S_ORDER_WAIT] = "order", [ACME_S_ORDER] = "order", [ACME_S_CERT] = "certificate",
};

static void order_begin(struct acme *a);
static void authz_next(struct acme *a);

/* ------------------------------------------------------------- helpers */

static int64_t now_s(void) { return (int64_t)time(NULL); }

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? strdup(s) : NULL;
}

/* Text from the CA goes into log lines and /stats (JSON: UTF-8 only): no
 * control characters, and plain ASCII, which problem documents are. */
static void clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
        else if ((unsigned char)*s > 0x7f)
            *s = '?';
}

static json_t *body_json(const struct acme_resp *r)
{
    return r && r->body_len ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* A problem document (RFC 7807 / RFC 8555 6.7) as "type: detail". */
static void problem_text(const json_t *p, char *buf, size_t n)
{
    const char *type = jstr(p, "type"), *detail = jstr(p, "detail");
    const json_t *sub = json_array_get(json_object_get(p, "subproblems"), 0);

    snprintf(buf, n, "%s: %s", type ? type : "(no type)", detail ? detail : "(no detail)");
    if (sub && jstr(sub, "detail")) {
        size_t used = strlen(buf);
        snprintf(buf + used, n - used, " (%s)", jstr(sub, "detail"));
    }
    clean(buf);
}

static bool is_problem(const json_t *p, const char *type)
{
    const char *t = jstr(p, "type");

    return t && !strncmp(t, ERR_PREFIX, strlen(ERR_PREFIX)) &&
           !strcmp(t + strlen(ERR_PREFIX), type);
}

/* -------------------------------------------------------------- cleanup */

/* Everything the order holds: request, timer, token, key. */
static void order_free(struct acme *a)
{
    struct acme_order *o = a->order;

    if (a->http) {
        acme_http_cancel(a->http);
        a->http = NULL;
    }
    if (a->poll_timer)
        evtimer_del(a->poll_timer);
    free(a->req.url);
    free(a->req.payload);
    memset(&a->req, 0, sizeof(a->req));
    a->step = ACME_S_IDLE;
    if (!o)
        return;
    if (o->token)
        acme_challenge_del(o->token);
    for (size_t i = 0; i < o->nauthz; i++)
        free(o->authz[i]);
    free(o->authz);
    free(o->url);
    free(o->finalize);
    free(o->cert_url);
    free(o->chall_url);
    free(o->token);
    EVP_PKEY_free(o->key);
    free(o);
    a->order = NULL;
}

void acme_order_abort(struct acme *a)
{
    if (a->order) /* back to waiting; the caller schedules it again */
        a->order->n->state = ACME_N_WAIT;
    order_free(a);
}

void acme_client_reset(struct acme *a)
{
    set_str(&a->kid, NULL);
    set_str(&a->nonce, NULL);
    set_str(&a->new_nonce, NULL);
    set_str(&a->new_account, NULL);
    set_str(&a->new_order, NULL);
}

/* The order failed at this step: say why (with the CA's problem document
 * when r has one) and hand the name back to the scheduler. */
static void order_fail(struct acme *a, const struct acme_resp *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void order_fail(struct acme *a, const struct acme_resp *r, const char *fmt, ...)
{
    char msg[600], prob[400] = "";
    struct acme_name *n = a->order->n;
    int64_t retry = r ? acme_retry_after(r->retry_after, now_s()) : -1;
    json_t *p = body_json(r);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (r && r->status >= 400) {
        if (p && jstr(p, "type"))
            problem_text(p, prob, sizeof(prob));
        snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), ": HTTP %d%s%s", r->status,
                 *prob ? ", " : "", prob);
        /* The account is gone (a CA reset, a deactivation): register again. */
        if (is_problem(p, "accountDoesNotExist") || is_problem(p, "unauthorized"))
            set_str(&a->kid, NULL);
    }
    json_decref(p);
    clean(msg);
    order_free(a);
    acme_order_done(a, n, NULL, msg, retry > 0 ? retry : 0);
}

/* A request that got no answer: the CA is unreachable (or broken). */
static void order_unreachable(struct acme *a, const char *err)
{
    const char *url = a->req.url ? a->req.url : a->conf->acme.directory;
    char u[200];

    snprintf(u, sizeof(u), "%s", url);
    set_str(&a->nonce, NULL); /* a nonce may not survive whatever happened */
    order_fail(a, NULL, "%s: CA unreachable (%s): %s", step_names[a->step], u, err);
}

/* ------------------------------------------------------------ requests */

static void start_http(struct acme *a, const char *method, const char *url, const char *ctype,
                       const char *body, const char *accept, acme_http_cb cb)
{
    char err[300];

    a->http = acme_http_start(a, method, url, ctype, body, body ? strlen(body) : 0, accept,
                              HTTP_TIMEOUT_MS, cb, a, err, sizeof(err));
    if (!a->http)
        order_unreachable(a, err);
}

static void post_jws(struct acme *a);

static void take_nonce(struct acme *a, const struct acme_resp *r)
{
    if (r && r->nonce && *r->nonce)
        set_str(&a->nonce, r->nonce);
}

static void on_nonce(void *arg, struct acme_resp *r, const char *err)
{
    struct acme *a = arg;

    a->http = NULL;
    if (err) {
        order_unreachable(a, err);
        return;
    }
    take_nonce(a, r);
    if (!a->nonce) {
        order_fail(a, r, "newNonce: no Replay-Nonce in the answer");
        return;
    }
    a->step = a->req.step;
    post_jws(a);
}

static void on_signed(void *arg, struct acme_resp *r, const char *err)
{
    struct acme *a = arg;
    json_t *p;
    bool bad_nonce;

    a->http = NULL;
    if (err) {
        order_unreachable(a, err);
        return;
    }
    take_nonce(a, r);
    p = r->status >= 400 ? body_json(r) : NULL;
    bad_nonce = is_problem(p, "badNonce");
    json_decref(p);
    if (bad_nonce && a->req.bad_nonces++ < BAD_NONCE_MAX) {
        /* RFC 8555 6.5: retry with the nonce this error carried. */
        log_event(LOG_LVL_DEBUG, "acme: %s: badNonce, resending with a fresh nonce",
                  step_names[a->step]);
        post_jws(a);
        return;
    }
    a->req.done(a, r);
}

static void post_jws(struct acme *a)
{
    char err[200];
    char *jws;

    if (!a->nonce) {
        a->step = ACME_S_NONCE;
        start_http(a, "HEAD", a->new_nonce, NULL, NULL, NULL, on_nonce);
        return;
    }
    jws = acme_jws(a->account_key, a->req.jwk ? NULL : a->kid, a->nonce, a->req.url,
                   a->req.payload, err, sizeof(err));
    set_str(&a->nonce, NULL); /* each nonce is good for one request */
    if (!jws) {
        order_fail(a, NULL, "%s: %s", step_names[a->step], err);
        return;
    }
    start_http(a, "POST", a->req.url, CT_JOSE, jws, a->req.accept, on_signed);
    free(jws);
}

/* A signed POST (payload NULL: POST-as-GET) whose answer goes to done. */
static void send_signed(struct acme *a, enum acme_step step, const char *url,
                        const char *payload, bool jwk, const char *accept,
                        void (*done)(struct acme *, struct acme_resp *))
{
    free(a->req.url);
    free(a->req.payload);
    a->req = (struct acme_req){ .url = url ? strdup(url) : NULL,
                                .payload = payload ? strdup(payload) : NULL, .jwk = jwk,
                                .accept = accept, .step = step, .done = done };
    a->step = step;
    if (!a->req.url || (payload && !a->req.payload)) {
        order_fail(a, NULL, "%s: out of memory", step_names[step]);
        return;
    }
    post_jws(a);
}

static void send_signed_json(struct acme *a, enum acme_step step, const char *url,
                             json_t *payload, bool jwk,
                             void (*done)(struct acme *, struct acme_resp *))
{
    char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;

    json_decref(payload);
    if (!text) {
        order_fail(a, NULL, "%s: out of memory", step_names[step]);
        return;
    }
    send_signed(a, step, url, text, jwk, NULL, done);
    free(text);
}

/* ----------------------------------------------------------- directory */

static bool https_str(const json_t *o, const char *key, char **out)
{
    const char *s = jstr(o, key);

    if (!s || strncmp(s, "https://", 8) != 0)
        return false;
    set_str(out, s);
    return *out != NULL;
}

static void on_directory(void *arg, struct acme_resp *r, const char *err)
{
    struct acme *a = arg;
    json_t *d;
    const char *tos;

    a->http = NULL;
    if (err) {
        order_unreachable(a, err);
        return;
    }
    if (r->status != 200) {
        order_fail(a, r, "directory %s", a->conf->acme.directory);
        return;
    }
    d = body_json(r);
    if (!https_str(d, "newNonce", &a->new_nonce) || !https_str(d, "newAccount", &a->new_account)
        || !https_str(d, "newOrder", &a->new_order)) {
        json_decref(d);
        acme_client_reset(a);
        order_fail(a, NULL, "directory %s: not an ACME directory (newNonce, "
                   "newAccount and newOrder https URLs expected)",
                   a->conf->acme.directory);
        return;
    }
    if ((tos = jstr(json_object_get(d, "meta"), "termsOfService")))
        log_event(LOG_LVL_INFO, "acme: %s: agreeing to the terms of service %s",
                  a->conf->acme.directory, tos);
    json_decref(d);
    order_begin(a);
}

/* ------------------------------------------------------------- account */

static void on_account(struct acme *a, struct acme_resp *r)
{
    json_t *acct;
    const char *status;

    if (r->status != 200 && r->status != 201) {
        order_fail(a, r, "newAccount");
        return;
    }
    acct = body_json(r);
    status = jstr(acct, "status");
    if (!r->location || (status && strcmp(status, "valid") != 0)) {
        char st[32];
        snprintf(st, sizeof(st), "%s", status ? status : "?");
        json_decref(acct);
        order_fail(a, NULL, "newAccount: no account URL, or account %s", st);
        return;
    }
    json_decref(acct);
    set_str(&a->kid, r->location);
    log_event(LOG_LVL_INFO, "acme: account %s %s", a->kid,
              r->status == 201 ? "created" : "in use");
    order_begin(a);
}

static void new_account(struct acme *a)
{
    json_t *p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
    char *mailto = NULL;

    if (p && a->conf->acme.email && asprintf(&mailto, "mailto:%s", a->conf->acme.email) > 0)
        json_object_set_new(p, "contact", json_pack("[s]", mailto));
    free(mailto);
    send_signed_json(a, ACME_S_ACCOUNT, a->new_account, p, true, on_account);
}

/* --------------------------------------------------------------- order */

static void cert_get(struct acme *a);
static void finalize(struct acme *a);
static void poll_wait(struct acme *a, enum acme_step step, const struct acme_resp *r);

/* An order object (newOrder, finalize, polls): go where its status says. */
static void order_update(struct acme *a, struct acme_resp *r)
{
    struct acme_order *o = a->order;
    json_t *ord = body_json(r);
    char status[16], prob[400];

    snprintf(status, sizeof(status), "%s", jstr(ord, "status") ? jstr(ord, "status") : "");
    if (!*status) {
        json_decref(ord);
        order_fail(a, r, "%s: not an order object", step_names[a->step]);
        return;
    }
    if (jstr(ord, "finalize"))
        set_str(&o->finalize, jstr(ord, "finalize"));
    if (jstr(ord, "certificate"))
        set_str(&o->cert_url, jstr(ord, "certificate"));
    if (!strcmp(status, "invalid")) {
        problem_text(json_object_get(ord, "error"), prob, sizeof(prob));
        json_decref(ord);
        order_fail(a, NULL, "order invalid: %s", prob);
        return;
    }
    json_decref(ord);
    if (!strcmp(status, "valid") && o->cert_url) {
        cert_get(a);
        return;
    }
    if (!strcmp(status, "pending")) {
        authz_next(a);
        return;
    }
    if (!strcmp(status, "ready") && !o->key) {
        finalize(a);
        return;
    }
    /* processing (or ready after our finalize, valid without a URL yet) */
    poll_wait(a, ACME_S_ORDER_WAIT, r);
}

static void on_new_order(struct acme *a, struct acme_resp *r)
{
    struct acme_order *o = a->order;
    json_t *ord, *list;

    if (r->status != 201 && r->status != 200) {
        order_fail(a, r, "newOrder");
        return;
    }
    ord = body_json(r);
    list = json_object_get(ord, "authorizations");
    if (!r->location || !jstr(ord, "finalize") || !json_is_array(list)) {
        json_decref(ord);
        order_fail(a, NULL, "newOrder: no order URL, finalize URL or authorizations");
        return;
    }
    set_str(&o->url, r->location);
    o->authz = calloc(json_array_size(list) + 1, sizeof(*o->authz));
    for (size_t i = 0; o->authz && i < json_array_size(list); i++) {
        const char *u = json_string_value(json_array_get(list, i));
        if (u && (o->authz[o->nauthz] = strdup(u)))
            o->nauthz++;
    }
    json_decref(ord);
    if (!o->authz) {
        order_fail(a, NULL, "newOrder: out of memory");
        return;
    }
    order_update(a, r);
}

static void new_order(struct acme *a)
{
    json_t *p = json_pack("{s:[{s:s, s:s}]}", "identifiers", "type", "dns", "value",
                          a->order->n->name);

    send_signed_json(a, ACME_S_NEW_ORDER, a->new_order, p, false, on_new_order);
}

/* ------------------------------------------------------ authorizations */

static const json_t *http01_of(const json_t *authz)
{
    const json_t *list = json_object_get(authz, "challenges"), *c;
    size_t i;

    json_array_foreach(list, i, c)
        if (jstr(c, "type") && !strcmp(jstr(c, "type"), "http-01"))
            return c;
    return NULL;
}

static void on_challenge(struct acme *a, struct acme_resp *r)
{
    if (r->status != 200) {
        order_fail(a, r, "challenge");
        return;
    }
    poll_wait(a, ACME_S_AUTHZ_WAIT, r);
}

/* Answer the http-01 challenge: publish the key authorization, then tell
 * the CA it may look (RFC 8555 7.5.1). */
static void challenge_respond(struct acme *a, const json_t *ch)
{
    struct acme_order *o = a->order;
    const char *token = jstr(ch, "token"), *url = jstr(ch, "url");
    char *ka;
    size_t tl = token ? strlen(token) : 0;

    if (!token || !url || tl < 16 || strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                                            "opqrstuvwxyz0123456789-_") != tl) {
        order_fail(a, NULL, "authorization: http-01 challenge without a usable token");
        return;
    }
    if (!(ka = acme_keyauth(token, a->thumbprint)) || strlen(ka) > 255 ||
        acme_challenge_add(token, ka) < 0) {
        free(ka);
        order_fail(a, NULL, "authorization: cannot publish the key authorization");
        return;
    }
    free(ka);
    set_str(&o->token, token);
    set_str(&o->chall_url, url);
    send_signed(a, ACME_S_CHALLENGE, url, "{}", false, NULL, on_challenge);
}

static void on_authz(struct acme *a, struct acme_resp *r)
{
    struct acme_order *o = a->order;
    json_t *az;
    const json_t *ch;
    char status[16], prob[400];

    if (r->status != 200) {
        order_fail(a, r, "authorization");
        return;
    }
    az = body_json(r);
    snprintf(status, sizeof(status), "%s", jstr(az, "status") ? jstr(az, "status") : "?");
    ch = http01_of(az);
    if (!strcmp(status, "valid")) {
        json_decref(az);
        if (o->token) {
            acme_challenge_del(o->token);
            set_str(&o->token, NULL);
        }
        o->iauthz++;
        authz_next(a);
        return;
    }
    if (!strcmp(status, "pending") && !o->token) {
        if (!ch) {
            json_decref(az);
            order_fail(a, NULL, "authorization: the CA offers no http-01 challenge");
            return;
        }
        challenge_respond(a, ch);
        json_decref(az);
        return;
    }
    if (!strcmp(status, "pending")) {
        json_decref(az);
        poll_wait(a, ACME_S_AUTHZ_WAIT, r);
        return;
    }
    /* invalid, expired, revoked, deactivated: the challenge says why */
    problem_text(json_object_get(ch, "error"), prob, sizeof(prob));
    json_decref(az);
    order_fail(a, NULL, "HTTP-01 challenge failed (authorization %s): %s", status, prob);
}

static void authz_next(struct acme *a)
{
    struct acme_order *o = a->order;

    o->polls = 0;
    if (o->iauthz >= o->nauthz) {
        finalize(a);
        return;
    }
    send_signed(a, ACME_S_AUTHZ, o->authz[o->iauthz], NULL, false, NULL, on_authz);
}

/* ------------------------------------------------------------ finalize */

static void on_finalize(struct acme *a, struct acme_resp *r)
{
    if (r->status != 200) {
        order_fail(a, r, "finalize");
        return;
    }
    a->order->polls = 0;
    order_update(a, r);
}

static void finalize(struct acme *a)
{
    struct acme_order *o = a->order;
    unsigned char *der = NULL;
    size_t len;
    char err[300], *b64;

    /* A fresh key for every certificate: nothing is reused across renewals. */
    if (!o->key && !(o->key = acme_key_new())) {
        order_fail(a, NULL, "finalize: cannot make a key");
        return;
    }
    if (acme_csr(o->key, &o->n->name, 1, &der, &len, err, sizeof(err)) < 0) {
        order_fail(a, NULL, "finalize: %s", err);
        return;
    }
    b64 = acme_b64url(der, len);
    OPENSSL_free(der);
    send_signed_json(a, ACME_S_FINALIZE, o->finalize, b64 ? json_pack("{s:s}", "csr", b64) : NULL,
                     false, on_finalize);
    free(b64);
}

/* ---------------------------------------------------------------- polls */

static void on_order(struct acme *a, struct acme_resp *r)
{
    if (r->status != 200) {
        order_fail(a, r, "order");
        return;
    }
    order_update(a, r);
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct acme *a = arg;
    struct acme_order *o = a->order;

    (void)fd; (void)what;
    if (a->step == ACME_S_AUTHZ_WAIT)
        send_signed(a, ACME_S_AUTHZ, o->authz[o->iauthz], NULL, false, NULL, on_authz);
    else if (a->step == ACME_S_ORDER_WAIT)
        send_signed(a, ACME_S_ORDER, o->url, NULL, false, NULL, on_order);
}

/* Wait before asking again: the CA's Retry-After when it gave one (within
 * reason), else 200 ms doubling to 3 s; at most POLL_MAX times. */
static void poll_wait(struct acme *a, enum acme_step step, const struct acme_resp *r)
{
    struct acme_order *o = a->order;
    int64_t ra = r ? acme_retry_after(r->retry_after, now_s()) : -1;
    uint64_t ms = POLL_FIRST_MS << (o->polls < 8 ? o->polls : 8);
    struct timeval tv;

    if (++o->polls > POLL_MAX) {
        order_fail(a, NULL, "%s: still not done after %d polls", step_names[step],
                   POLL_MAX);
        return;
    }
    if (ms > POLL_CAP_MS)
        ms = POLL_CAP_MS;
    if (ra >= 0) {
        int64_t d = ra - now_s();
        ms = d <= 0 ? POLL_FIRST_MS
             : d > RETRY_AFTER_POLL_MAX_S ? RETRY_AFTER_POLL_MAX_S * 1000 : (uint64_t)d * 1000;
    }
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    a->step = step;
    if (!a->poll_timer && !(a->poll_timer = evtimer_new(a->base, poll_cb, a))) {
        order_fail(a, NULL, "%s: out of memory", step_names[step]);
        return;
    }
    evtimer_add(a->poll_timer, &tv);
}

/* --------------------------------------------------------- certificate */

static void on_cert(struct acme *a, struct acme_resp *r)
{
    struct acme_order *o = a->order;
    struct acme_name *n = o->n;
    struct acme_cert *c;
    char err[300];

    if (r->status != 200) {
        order_fail(a, r, "certificate");
        return;
    }
    if (!(c = acme_cert_parse(r->body, r->body_len, o->key, n->name, err, sizeof(err)))) {
        order_fail(a, NULL, "certificate: unusable chain from the CA: %s", err);
        return;
    }
    n->order_ms = mono_ms() - o->started_mono_ms;
    order_free(a);
    acme_order_done(a, n, c, NULL, 0);
}

static void cert_get(struct acme *a)
{
    send_signed(a, ACME_S_CERT, a->order->cert_url, NULL, false, CT_CHAIN, on_cert);
}

/* --------------------------------------------------------------- start */

/* Directory and account first, once per run (or after a reset). */
static void order_begin(struct acme *a)
{
    if (!a->new_order) {
        a->step = ACME_S_DIRECTORY;
        set_str(&a->dir_url, a->conf->acme.directory);
        start_http(a, "GET", a->dir_url, NULL, NULL, NULL, on_directory);
    } else if (!a->kid) {
        new_account(a);
    } else {
        new_order(a);
    }
}

void acme_order_start(struct acme *a, struct acme_name *n)
{
    struct acme_order *o = calloc(1, sizeof(*o));

    if (!o) {
        acme_order_done(a, n, NULL, "out of memory", 0);
        return;
    }
    o->n = n;
    o->started_mono_ms = mono_ms();
    a->order = o;
    n->state = ACME_N_ORDER;
    n->orders++;
    log_event(LOG_LVL_INFO, "acme: %s: ordering a certificate from %s", n->name,
              a->conf->acme.directory);
    if (!a->account_key || !a->thumbprint || !a->tls) {
        order_fail(a, NULL, "no account key or CA trust store (see the reload errors)");
        return;
    }
    order_begin(a);
}
