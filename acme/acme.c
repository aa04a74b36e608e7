/* acme/acme.c - automatic HTTPS: which name needs a certificate when, and
 * what happens with the result.
 *
 * Each tls.acme name waits (one timer) until its certificate is within
 * renew_before of expiry, or has none, or its retry time after a failure
 * has come; it is then queued, and the client (client.c) runs one order at
 * a time, oldest due first. A new certificate is installed at once in every
 * frontend listing the name (lb/tls.c) and saved to state_dir by the file
 * worker. A failure is logged with the CA's problem document and retried
 * after 5 s, 10 s, 20 s... up to an hour apart, or later when the CA says
 * so (Retry-After, up to a week). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "acme/acme-int.h"
#include "acme/acme.h"
#include "conf/conf.h"
#include "lb/log.h"
#include "lb/proxy-t.h"
#include "lb/tls.h"

static struct acme *A; /* the client, NULL when acme is off */

static void kick(struct acme *a);

/* --------------------------------------------------------------- times */

static int64_t now_s(void) { return (int64_t)time(NULL); }

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *utc(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "?");
    return buf;
}

uint32_t acme_backoff_s(unsigned failures)
{
    uint32_t s = ACME_BACKOFF_FIRST_S;

    for (unsigned i = 1; i < failures && s < ACME_BACKOFF_MAX_S; i++)
        s *= 2;
    return s < ACME_BACKOFF_MAX_S ? s : ACME_BACKOFF_MAX_S;
}

int64_t acme_retry_after(const char *v, int64_t now)
{
    struct tm tm;
    const char *end;
    char *e;
    long long d;

    if (!v || !*v)
        return -1;
    d = strtoll(v, &e, 10);
    if (e != v && !*e && d >= 0)
        return now + (d < ACME_RETRY_AFTER_MAX_S ? d : ACME_RETRY_AFTER_MAX_S);
    memset(&tm, 0, sizeof(tm));
    /* RFC 9110 5.6.7 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (!(end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm)) || *end)
        return -1;
    d = (long long)timegm(&tm);
    if (d < now)
        return now;
    return d - now < ACME_RETRY_AFTER_MAX_S ? d : now + ACME_RETRY_AFTER_MAX_S;
}

int64_t acme_renew_at(int64_t not_after, uint64_t renew_before_s)
{
    return (uint64_t)not_after > renew_before_s ? not_after - (int64_t)renew_before_s : 0;
}

/* ---------------------------------------------------------------- names */

static struct acme_name *name_find(struct acme *a, const char *name)
{
    for (struct acme_name *n = a->names; n; n = n->next)
        if (!strcmp(n->name, name))
            return n;
    return NULL;
}

static void name_due_cb(evutil_socket_t fd, short what, void *arg)
{
    struct acme_name *n = arg;

    (void)fd; (void)what;
    if (n->state != ACME_N_WAIT)
        return;
    n->state = ACME_N_QUEUED;
    kick(n->acme);
}

/* Wait until at (Unix seconds; now or before: queue at once). */
static void name_wait(struct acme_name *n, int64_t at)
{
    int64_t d = at - now_s();
    struct timeval tv = { d > 0 ? (time_t)d : 0, 0 };

    n->state = ACME_N_WAIT;
    n->next_attempt = at;
    if (evtimer_add(n->timer, &tv) < 0)
        log_event(LOG_LVL_ERR, "acme: %s: cannot arm its timer", n->name);
}

/* When the next order is due: now without a certificate, or with one from
 * another CA; else renew_before ahead of its expiry; never before the
 * retry time a failure (or the pacing of renewals) set. */
static void name_schedule(struct acme *a, struct acme_name *n)
{
    const struct conf_acme *ca = &a->conf->acme;
    int64_t at = now_s();

    if (n->state == ACME_N_ORDER)
        return; /* the order's end schedules it */
    if (n->cert && !(n->cert->directory && strcmp(n->cert->directory, ca->directory)))
        at = acme_renew_at(n->cert->not_after, ca->renew_before_s);
    if (at < n->not_before_s)
        at = n->not_before_s;
    name_wait(n, at);
}

static void name_free(struct acme *a, struct acme_name *n)
{
    if (a->order && a->order->n == n)
        acme_order_abort(a);
    if (n->timer)
        event_free(n->timer);
    acme_cert_free(n->cert);
    free(n->name);
    free(n);
}

static void install(struct acme_name *n)
{
    char err[300];

    if (tls_acme_install(n->name, n->cert->leaf, n->cert->chain, n->cert->key, err,
                         sizeof(err)) < 0)
        log_event(LOG_LVL_ERR, "acme: %s: cannot install the certificate: %s", n->name, err);
}

/* A name of the configuration, with what was read from its state file. */
static struct acme_name *name_new(struct acme *a, struct acme_stored *s)
{
    struct acme_name *n = calloc(1, sizeof(*n));
    char exp[32], file[300];

    if (!n || !(n->name = strdup(s->name)) ||
        !(n->timer = evtimer_new(a->base, name_due_cb, n))) {
        log_event(LOG_LVL_ERR, "acme: %s: out of memory", s->name);
        if (n)
            free(n->name);
        free(n);
        return NULL;
    }
    n->acme = a;
    n->state = ACME_N_WAIT;
    acme_cert_file_name(n->name, file, sizeof(file));
    if (s->rc == 0 && s->cert) {
        n->cert = s->cert; /* taken from the generation */
        s->cert = NULL;
        install(n);
        log_event(LOG_LVL_INFO, "acme: %s: serving the stored certificate (serial %s, "
                  "valid until %s)", n->name, n->cert->serial,
                  utc(n->cert->not_after, exp, sizeof(exp)));
    } else if (s->rc == 1) {
        log_event(LOG_LVL_INFO, "acme: %s: no certificate yet: a self-signed one serves "
                  "until the CA issues one", n->name);
    } else {
        snprintf(n->last_error, sizeof(n->last_error), "%.150s/%.100s: unusable (%.200s)",
                 a->state_dir, file, s->err);
        n->last_error_ms = now_ms();
        log_event(LOG_LVL_WARN, "acme: %s: %s/%s is unusable (%s): ordering a new "
                  "certificate, which will replace it", n->name, a->state_dir, file, s->err);
    }
    if (n->cert && n->cert->directory && strcmp(n->cert->directory, a->conf->acme.directory))
        log_event(LOG_LVL_INFO, "acme: %s: the stored certificate is from %s: ordering one "
                  "from %s", n->name, n->cert->directory, a->conf->acme.directory);
    return n;
}

/* ----------------------------------------------------------- file jobs */

static void saved_cb(struct acme_job *j)
{
    struct acme_name *n = A ? name_find(A, j->name ? j->name : "") : NULL;

    if (j->rc < 0) {
        log_event(LOG_LVL_ERR, "acme: %s: cannot save %s: %s (it serves, but a restart "
                  "will order it again)", j->name ? j->name : "account", j->file, j->err);
        if (n) {
            snprintf(n->last_error, sizeof(n->last_error), "cannot save %.100s: %.300s", j->file,
                     j->err);
            n->last_error_ms = now_ms();
        }
    }
    acme_job_free(j);
}

static void save(struct acme *a, const char *file, const char *name, char *data, size_t len)
{
    struct acme_job *j = acme_job_new(a->dirfd, file, name);

    if (!j || !data) {
        log_event(LOG_LVL_ERR, "acme: cannot save %s: out of memory", file);
        if (data)
            OPENSSL_cleanse(data, len);
        free(data);
        acme_job_free(j);
        return;
    }
    j->data = data;
    j->len = len;
    j->run = acme_job_write;
    j->done = saved_cb;
    acme_io_post(&a->io, j);
}

/* ------------------------------------------------------------- results */

static void order_succeeded(struct acme *a, struct acme_name *n, struct acme_cert *c)
{
    char exp[32], file[300];
    size_t len = 0;
    char *data;
    int64_t renew;

    /* Where it came from: a reload to another CA replaces it. */
    free(c->directory);
    c->directory = strdup(a->conf->acme.directory);
    data = acme_cert_file(c, n->name, c->directory, &len);

    acme_cert_free(n->cert);
    n->cert = c;
    n->issued++;
    n->failures = 0;
    n->last_error[0] = '\0';
    n->issued_ms = now_ms();
    n->not_before_s = 0;
    install(n);
    acme_cert_file_name(n->name, file, sizeof(file));
    save(a, file, n->name, data, len);
    log_event(LOG_LVL_INFO, "acme: %s: certificate installed (serial %s, valid until %s, "
              "%s), obtained in %llu ms", n->name, c->serial,
              utc(c->not_after, exp, sizeof(exp)), c->issuer, (unsigned long long)n->order_ms);
    /* renew_before at least the lifetime: due again at once. Pace it like
     * failures, so a misconfiguration cannot hammer the CA. */
    renew = acme_renew_at(c->not_after, a->conf->acme.renew_before_s);
    if (renew <= now_s()) {
        n->quick++;
        n->not_before_s = now_s() + acme_backoff_s(n->quick);
        log_event(LOG_LVL_WARN, "acme: %s: acme.renew_before covers the certificate's "
                  "whole lifetime: renewing again in %lld s", n->name,
                  (long long)(n->not_before_s - now_s()));
    } else {
        n->quick = 0;
    }
}

static void order_failed(struct acme_name *n, const char *err, int64_t retry_at)
{
    int64_t now = now_s(), at = now + acme_backoff_s(n->failures + 1);

    n->failures++;
    n->failed++;
    snprintf(n->last_error, sizeof(n->last_error), "%s", err);
    n->last_error_ms = now_ms();
    if (retry_at > at)
        at = retry_at;
    n->not_before_s = at;
    log_event(LOG_LVL_WARN, "acme: %s: %s; next attempt in %lld s (failure %u in a row)",
              n->name, err, (long long)(at - now), n->failures);
}

void acme_order_done(struct acme *a, struct acme_name *n, struct acme_cert *cert,
                     const char *err, int64_t retry_at)
{
    n->state = ACME_N_WAIT; /* so name_schedule places it */
    if (cert)
        order_succeeded(a, n, cert);
    else
        order_failed(n, err ? err : "failed", retry_at);
    name_schedule(a, n);
    kick(a);
}

/* The next queued name, oldest due first, if no order runs. */
static void kick(struct acme *a)
{
    struct acme_name *next = NULL;

    if (a->order)
        return;
    for (struct acme_name *n = a->names; n; n = n->next)
        if (n->state == ACME_N_QUEUED && (!next || n->next_attempt < next->next_attempt))
            next = n;
    if (next)
        acme_order_start(a, next);
}

/* ----------------------------------------------------------- lifetime */

static int account_setup(struct acme *a, struct acme_loaded *l, char *err, size_t errlen)
{
    size_t len = 0;
    char *pem;

    if (l->account_key && EVP_PKEY_up_ref(l->account_key)) {
        a->account_key = l->account_key;
    } else {
        if (l->account_rc < 0)
            log_event(LOG_LVL_WARN, "acme: %s/%s is unusable (%s): making a new account key, "
                      "which will replace it", a->state_dir, ACME_ACCOUNT_FILE, l->account_err);
        if (!(a->account_key = acme_key_new())) {
            snprintf(err, errlen, "acme: cannot make an account key");
            return -1;
        }
        pem = acme_key_pem(a->account_key, &len);
        save(a, ACME_ACCOUNT_FILE, NULL, pem, len);
        log_event(LOG_LVL_INFO, "acme: new account key %s/%s", a->state_dir, ACME_ACCOUNT_FILE);
    }
    if (!(a->thumbprint = acme_thumbprint(a->account_key))) {
        snprintf(err, errlen, "acme: the account key is not ECDSA P-256");
        return -1;
    }
    return 0;
}

/* The generation's trust store for the CA's TLS becomes ours (read with
 * every generation: a CA file changed in place counts at the next reload). */
static int take_tls(struct acme *a, struct conf *c, char *err, size_t errlen)
{
    struct acme_loaded *l = c->acme.loaded;

    if (!l || !l->tls) {
        snprintf(err, errlen, "acme: the CA certificates were not loaded");
        return -1;
    }
    SSL_CTX_up_ref(l->tls);
    SSL_CTX_free(a->tls);
    a->tls = l->tls;
    return 0;
}

/* The generation's state_dir becomes ours (a descriptor: it works after a
 * chroot too). */
static int take_dir(struct acme *a, struct conf *c, char *err, size_t errlen)
{
    struct acme_loaded *l = c->acme.loaded;
    int fd = l && l->dirfd >= 0 ? fcntl(l->dirfd, F_DUPFD_CLOEXEC, 0) : -1;
    char *path = strdup(c->acme.state_dir);

    if (fd < 0 || !path) {
        snprintf(err, errlen, "acme: state_dir %s was not opened", c->acme.state_dir);
        if (fd >= 0)
            close(fd);
        free(path);
        return -1;
    }
    if (a->dirfd >= 0)
        close(a->dirfd);
    free(a->state_dir);
    a->dirfd = fd;
    a->state_dir = path;
    return 0;
}

/* Every certificate we hold into state_dir (after it moved). */
static void save_all(struct acme *a)
{
    char file[300];
    size_t len = 0;

    for (struct acme_name *n = a->names; n; n = n->next) {
        if (!n->cert)
            continue;
        acme_cert_file_name(n->name, file, sizeof(file));
        save(a, file, n->name, acme_cert_file(n->cert, n->name, n->cert->directory, &len), len);
    }
}

/* Follow c's names: new ones are added (with their state file), those no
 * longer configured are dropped (their order aborted), kept ones keep
 * everything. Every certificate is installed again: a kept name may have
 * joined another frontend, whose new slot serves the placeholder. */
static void sync_names(struct acme *a, struct conf *c)
{
    struct acme_loaded *l = c->acme.loaded;
    struct acme_name **pp;

    for (struct acme_name *n = a->names; n; n = n->next)
        n->seen = false;
    for (size_t i = 0; l && i < l->nstored; i++) {
        struct acme_name *n = name_find(a, l->stored[i].name);
        if (!n && (n = name_new(a, &l->stored[i]))) {
            struct acme_name **tail = &a->names;
            while (*tail)
                tail = &(*tail)->next;
            *tail = n; /* in configuration order, for /stats */
            name_schedule(a, n);
        } else if (n && n->cert) {
            install(n);
        }
        if (n)
            n->seen = true;
    }
    for (pp = &a->names; *pp;) {
        struct acme_name *n = *pp;
        if (n->seen) {
            pp = &n->next;
            continue;
        }
        log_event(LOG_LVL_INFO, "acme: %s: no longer configured", n->name);
        *pp = n->next;
        name_free(a, n);
    }
}

int acme_start(struct proxy *px, char *err, size_t errlen)
{
    struct conf *c = px->conf;

    if (!c->acme.enabled || A)
        return 0;
    if (!(A = calloc(1, sizeof(*A)))) {
        snprintf(err, errlen, "acme: out of memory");
        return -1;
    }
    A->px = px;
    A->base = px->base;
    A->dirfd = -1;
    A->conf = conf_ref(c);
    /* evdns reads resolv.conf now, before any chroot. */
    if (!(A->dns = evdns_base_new(A->base, EVDNS_BASE_INITIALIZE_NAMESERVERS)))
        log_event(LOG_LVL_WARN, "acme: no DNS resolver: only a CA at an IP address works");
    if (take_tls(A, c, err, errlen) < 0 || take_dir(A, c, err, errlen) < 0 ||
        acme_io_start(&A->io, A->base, err, errlen) < 0 ||
        account_setup(A, c->acme.loaded, err, errlen) < 0) {
        acme_stop();
        return -1;
    }
    acme_running(A->state_dir, A->dirfd, c->acme.ca_file, A->tls);
    sync_names(A, c);
    kick(A);
    return 0;
}

static bool same(const char *x, const char *y)
{
    return (!x && !y) || (x && y && !strcmp(x, y));
}

void acme_reloaded(struct proxy *px)
{
    struct conf *c = px->conf, *old;
    char err[512];

    if (!c->acme.enabled) {
        if (A)
            log_event(LOG_LVL_INFO, "acme: off (no \"acme\" section any more)");
        acme_stop();
        return;
    }
    if (!A) {
        if (acme_start(px, err, sizeof(err)) < 0)
            log_event(LOG_LVL_ERR, "reload: %s", err);
        return;
    }
    old = A->conf;
    if (take_tls(A, c, err, sizeof(err)) < 0)
        log_event(LOG_LVL_ERR, "reload: %s", err);
    /* Another CA, account contact or state_dir: what we know of the old one
     * no longer holds. The order in progress is dropped (its name is queued
     * again by the new schedule). */
    if (!same(old->acme.directory, c->acme.directory) || !same(old->acme.email, c->acme.email) ||
        !same(old->acme.state_dir, c->acme.state_dir)) {
        acme_order_abort(A);
        acme_client_reset(A);
        log_event(LOG_LVL_INFO, "acme: now using %s", c->acme.directory);
    }
    if (!same(old->acme.state_dir, c->acme.state_dir)) {
        if (take_dir(A, c, err, sizeof(err)) < 0) {
            log_event(LOG_LVL_ERR, "reload: %s; still writing to %s", err, A->state_dir);
        } else {
            EVP_PKEY_free(A->account_key);
            A->account_key = NULL;
            free(A->thumbprint);
            A->thumbprint = NULL;
            if (account_setup(A, c->acme.loaded, err, sizeof(err)) < 0)
                log_event(LOG_LVL_ERR, "reload: %s", err);
            save_all(A);
        }
    }
    A->conf = conf_ref(c);
    conf_unref(old);
    acme_running(A->state_dir, A->dirfd, c->acme.ca_file, A->tls);
    sync_names(A, c);
    for (struct acme_name *n = A->names; n; n = n->next)
        if (n->state == ACME_N_WAIT)
            name_schedule(A, n); /* renew_before or the CA may have changed */
    kick(A);
}

void acme_stop(void)
{
    struct acme *a = A;

    if (!a)
        return;
    acme_order_abort(a);
    while (a->names) {
        struct acme_name *n = a->names;
        a->names = n->next;
        name_free(a, n);
    }
    if (a->poll_timer)
        event_free(a->poll_timer);
    acme_io_stop(&a->io); /* pending writes finish first */
    acme_challenge_clear();
    acme_client_reset(a);
    acme_running(NULL, -1, NULL, NULL);
    if (a->dns)
        evdns_base_free(a->dns, 0);
    if (a->dirfd >= 0)
        close(a->dirfd);
    SSL_CTX_free(a->tls);
    EVP_PKEY_free(a->account_key);
    free(a->thumbprint);
    free(a->dir_url);
    free(a->state_dir);
    conf_unref(a->conf);
    free(a);
    A = NULL;
}

/* ------------------------------------------------------------- admin */

const char *const acme_name_states[] = { "pending", "ordering", "valid", "renewing", "error",
                                         NULL };

const struct acme *acme_get(void) { return A; }

const char *acme_name_state(const struct acme_name *n)
{
    if (n->state == ACME_N_ORDER)
        return n->cert ? "renewing" : "ordering";
    if (n->last_error[0])
        return "error";
    return n->cert ? "valid" : "pending";
}

static json_t *ms_or_null(int64_t ms) { return ms ? json_integer(ms) : json_null(); }

static json_t *name_json(const struct acme_name *n)
{
    json_t *o = json_object(), *c = json_null();
    const struct acme_cert *cert = n->cert;

    if (!o)
        return NULL;
    if (cert && (c = json_object())) {
        json_object_set_new(c, "serial", json_string(cert->serial));
        json_object_set_new(c, "issuer", json_string(cert->issuer));
        json_object_set_new(c, "not_before_ms", json_integer(cert->not_before * 1000));
        json_object_set_new(c, "not_after_ms", json_integer(cert->not_after * 1000));
    }
    json_object_set_new(o, "name", json_string(n->name));
    json_object_set_new(o, "state", json_string(acme_name_state(n)));
    json_object_set_new(o, "self_signed", json_boolean(!cert));
    json_object_set_new(o, "certificate", c ? c : json_null());
    json_object_set_new(o, "expiry_ms", cert ? json_integer(cert->not_after * 1000) : json_null());
    json_object_set_new(o, "last_error", n->last_error[0] ? json_string(n->last_error)
                                                          : json_null());
    json_object_set_new(o, "last_error_ms", ms_or_null(n->last_error_ms));
    json_object_set_new(o, "next_attempt_ms", n->state == ACME_N_ORDER
                                                  ? json_null()
                                                  : json_integer(n->next_attempt * 1000));
    json_object_set_new(o, "failures", json_integer(n->failures));
    json_object_set_new(o, "orders", json_integer((json_int_t)n->orders));
    json_object_set_new(o, "issued", json_integer((json_int_t)n->issued));
    json_object_set_new(o, "issued_ms", ms_or_null(n->issued_ms));
    json_object_set_new(o, "last_order_ms", n->issued ? json_integer((json_int_t)n->order_ms)
                                                      : json_null());
    return o;
}

json_t *acme_stats_json(void)
{
    json_t *o, *names;

    if (!A)
        return NULL;
    o = json_object();
    names = json_array();
    if (!o || !names) {
        json_decref(o);
        json_decref(names);
        return NULL;
    }
    for (const struct acme_name *n = A->names; n; n = n->next)
        json_array_append_new(names, name_json(n));
    json_object_set_new(o, "directory", json_string(A->conf->acme.directory));
    json_object_set_new(o, "account", A->kid ? json_string(A->kid) : json_null());
    json_object_set_new(o, "ordering", A->order ? json_string(A->order->n->name) : json_null());
    json_object_set_new(o, "certificates", names);
    return o;
}
