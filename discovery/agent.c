/* discovery/agent.c - `lxlb agent`: this host's containers, published in etcd.
 *
 * The watching is discovery.lxc's own (discovery/lxc.c in sink mode: the
 * lxc-monitor child, liblxc on the worker thread, group/match selection,
 * address polling): where the balancer would add or drop a server, we are
 * told "up name ip" or "down name".
 *
 * etcd side: what each container should have (ip) and what the current
 * lease holds for it (pub) are kept apart; one call at a time closes the gap
 * (grant a lease, keepalive, put, delete). When a call fails, the lease is
 * considered lost: after a pause, on the next endpoint, a new lease is
 * granted, everything is put again on it, and the old lease is revoked,
 * which takes away exactly the keys that should have gone meanwhile. So
 * whatever happened during the break, etcd ends up as the host is. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "discovery/agent-t.h"
#include "discovery/agent.h"
#include "discovery/etcd-client.h"
#include "discovery/lxc.h"
#include "discovery/worker.h"
#include "lb/log.h"

#define AGENT_CALL_MS 3000          /* one call's deadline */
#define AGENT_STOP_MS 2000          /* at exit, wait this long for the revoke */
#define AGENT_BACKOFF_MIN_MS 100    /* first retry delay */
#define AGENT_BACKOFF_MAX_MS 3000   /* retry delay cap */
#define AGENT_IP_TIMEOUT_MS 30000   /* as discovery.lxc's ip_timeout default */

static int64_t ag_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ag_pump(struct agent *a);

/* ---------------------------------------------------------- containers -- */

static struct agent_ct *ag_ct(struct agent *a, const char *name, bool create)
{
    struct agent_ct *ct;

    for (ct = a->cts; ct; ct = ct->next)
        if (!strcmp(ct->name, name))
            return ct;
    if (!create)
        return NULL;
    if (!(ct = calloc(1, sizeof(*ct))) || !(ct->name = strdup(name))) {
        free(ct);
        log_event(LOG_LVL_ERR, "agent: out of memory tracking %s", name);
        return NULL;
    }
    ct->next = a->cts;
    a->cts = ct;
    return ct;
}

/* Forget the containers that left and whose key is gone. */
static void ag_ct_gc(struct agent *a)
{
    struct agent_ct **pp = &a->cts, *ct;

    while ((ct = *pp)) {
        if (ct->ip[0] || ct->pub[0] || ct == a->op_ct) {
            pp = &ct->next;
            continue;
        }
        *pp = ct->next;
        free(ct->name);
        free(ct);
    }
}

static void ag_on_up(void *arg, const char *name, const char *ip)
{
    struct agent *a = arg;
    struct agent_ct *ct = ag_ct(a, name, true);

    if (!ct)
        return;
    snprintf(ct->ip, sizeof(ct->ip), "%s", ip);
    ct->since_ms = ag_now_ms();
    log_event(LOG_LVL_INFO, "agent: container %s up at %s:%u", name, ip, a->lxc.port);
    ag_pump(a);
}

static void ag_on_down(void *arg, const char *name, const char *why)
{
    struct agent *a = arg;
    struct agent_ct *ct = ag_ct(a, name, false);

    if (!ct)
        return;
    ct->ip[0] = '\0';
    ct->since_ms = ag_now_ms();
    log_event(LOG_LVL_INFO, "agent: container %s down (%s)", name, why);
    ag_pump(a);
}

/* ------------------------------------------------------------ failures -- */

static void ag_forget_lease(struct agent *a)
{
    for (struct agent_ct *ct = a->cts; ct; ct = ct->next)
        ct->pub[0] = '\0';
    a->lease = 0;
}

/* Keep a lease we lost track of, to revoke once its keys are put again on
 * a new one. When the list is full the oldest simply expires by itself. */
static void ag_keep_old(struct agent *a, int64_t lease)
{
    if (!lease)
        return;
    if (a->nold == AGENT_OLD_MAX) {
        memmove(&a->old[0], &a->old[1], (AGENT_OLD_MAX - 1) * sizeof(a->old[0]));
        a->nold--;
    }
    a->old[a->nold++] = lease;
}

/* A call failed: nothing is certain about the lease any more. */
static void ag_broken(struct agent *a, const char *what, const char *why)
{
    struct timeval tv = { a->backoff_ms / 1000, (a->backoff_ms % 1000) * 1000 };

    if (!a->lost_ms)
        a->lost_ms = ag_now_ms();
    log_event(LOG_LVL_WARN, "agent: %s on %s failed: %s; new lease in %ums", what,
              ecl_url(&a->cl), why, a->backoff_ms);
    ag_keep_old(a, a->lease);
    ag_forget_lease(a);
    ecl_next(&a->cl);
    a->broken = true;
    evtimer_add(a->retry, &tv);
    a->backoff_ms = a->backoff_ms * 2 > AGENT_BACKOFF_MAX_MS ? AGENT_BACKOFF_MAX_MS
                                                             : a->backoff_ms * 2;
}

static void ag_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;

    (void)fd; (void)what;
    a->broken = false;
    ag_pump(a);
}

static void ag_why(char *out, size_t n, int status, const json_t *body, const char *err)
{
    const char *msg = json_string_value(json_object_get(body, "error"));

    if (err)
        snprintf(out, n, "%s", err);
    else
        snprintf(out, n, "HTTP %d%s%s", status, msg ? ": " : "", msg ? msg : "");
}

/* ------------------------------------------------------------- answers -- */

static void ag_granted(struct agent *a, const json_t *body)
{
    int64_t id = ejson_int(body, "ID");

    if (!id) {
        ag_broken(a, "lease grant", "no lease ID in the answer");
        return;
    }
    ag_forget_lease(a); /* nothing is on the new lease yet */
    a->lease = id;
    a->ka_due = false;
    if (a->lost_ms)
        log_event(LOG_LVL_INFO, "agent: etcd back on %s after %lldms: lease %llx (ttl %us), "
                  "publishing everything again", ecl_url(&a->cl),
                  (long long)(ag_now_ms() - a->lost_ms), (unsigned long long)a->lease,
                  a->ttl_ms / 1000);
    else
        log_event(LOG_LVL_INFO, "agent: lease %llx granted by %s (ttl %us)",
                  (unsigned long long)a->lease, ecl_url(&a->cl), a->ttl_ms / 1000);
    a->lost_ms = 0;
    a->backoff_ms = AGENT_BACKOFF_MIN_MS;
}

static void ag_kept_alive(struct agent *a, const json_t *body)
{
    const json_t *res = json_object_get(body, "result");

    /* An expired lease comes back with no TTL (0): its keys are gone. */
    if (ejson_int(res, "TTL") > 0) {
        log_event(LOG_LVL_DEBUG, "agent: lease %llx kept alive (ttl %llds)",
                  (unsigned long long)a->lease, (long long)ejson_int(res, "TTL"));
        return;
    }
    log_event(LOG_LVL_WARN, "agent: lease %llx expired: granting a new one and publishing "
              "everything again", (unsigned long long)a->lease);
    ag_forget_lease(a);
}

static void ag_put_done(struct agent *a, struct agent_ct *ct)
{
    snprintf(ct->pub, sizeof(ct->pub), "%s", a->op_ip);
    log_event(LOG_LVL_INFO, "agent: published %s%s/%s = %s:%u (%lldms after up)", a->prefix,
              a->host, ct->name, a->op_ip, a->lxc.port,
              (long long)(ag_now_ms() - ct->since_ms));
}

static void ag_delete_done(struct agent *a, struct agent_ct *ct)
{
    ct->pub[0] = '\0';
    log_event(LOG_LVL_INFO, "agent: deleted %s%s/%s (%lldms after down)", a->prefix, a->host,
              ct->name, (long long)(ag_now_ms() - ct->since_ms));
}

static const char *ag_op_name(enum agent_op op)
{
    static const char *const names[] = { "none", "lease grant", "lease keepalive", "put",
                                         "delete", "revoke of an old lease", "lease revoke" };
    return names[op];
}

static void ag_call_done(void *arg, int status, json_t *body, const char *err)
{
    struct agent *a = arg;
    enum agent_op op = a->op;
    struct agent_ct *ct = a->op_ct;
    char why[200];

    a->call = NULL;
    a->op = AGENT_OP_NONE;
    a->op_ct = NULL;
    /* A revoke of a lease that is gone already did its job. */
    if ((op == AGENT_OP_REVOKE_OLD || op == AGENT_OP_REVOKE) && status == 404)
        status = 200;
    if (op == AGENT_OP_PUT && status == 404) {
        /* "requested lease not found": it expired under us. */
        log_event(LOG_LVL_WARN, "agent: lease %llx is gone: granting a new one",
                  (unsigned long long)a->lease);
        ag_forget_lease(a);
        ag_pump(a);
        return;
    }
    if (status != 200 || !body) {
        ag_why(why, sizeof(why), status, body, err);
        if (a->stopping) {
            log_event(LOG_LVL_WARN, "agent: %s failed: %s", ag_op_name(op), why);
            a->lease = 0;
            a->nold = 0;
        } else {
            ag_broken(a, ag_op_name(op), why);
        }
        ag_pump(a);
        return;
    }
    switch (op) {
    case AGENT_OP_GRANT: ag_granted(a, body); break;
    case AGENT_OP_KEEPALIVE: ag_kept_alive(a, body); break;
    case AGENT_OP_PUT: ag_put_done(a, ct); break;
    case AGENT_OP_DELETE: ag_delete_done(a, ct); break;
    case AGENT_OP_REVOKE_OLD:
        log_event(LOG_LVL_INFO, "agent: old lease %llx revoked: keys of containers that "
                  "left during the break are gone", (unsigned long long)a->old[0]);
        memmove(&a->old[0], &a->old[1], (AGENT_OLD_MAX - 1) * sizeof(a->old[0]));
        a->nold--;
        break;
    case AGENT_OP_REVOKE:
        log_event(LOG_LVL_INFO, "agent: lease %llx revoked: our keys are gone",
                  (unsigned long long)a->lease);
        a->lease = 0;
        break;
    case AGENT_OP_NONE: break;
    }
    ag_pump(a);
}

/* ---------------------------------------------------------------- calls -- */

static void ag_send(struct agent *a, enum agent_op op, const char *path, json_t *req)
{
    char err[200];

    if (!req) {
        ag_broken(a, ag_op_name(op), "out of memory");
        return;
    }
    a->op = op;
    a->call = ecall_post(&a->cl, path, req, AGENT_CALL_MS, ag_call_done, a, err, sizeof(err));
    json_decref(req);
    if (!a->call) {
        a->op = AGENT_OP_NONE;
        a->op_ct = NULL;
        ag_broken(a, ag_op_name(op), err);
    }
}

static json_t *ag_lease_req(const char *field, int64_t id)
{
    char s[24];

    snprintf(s, sizeof(s), "%lld", (long long)id);
    return json_pack("{s:s}", field, s);
}

/* The key of ct, base64 (as the gateway wants bytes). */
static char *ag_key64(const struct agent *a, const struct agent_ct *ct)
{
    char *key = NULL, *b64;

    if (asprintf(&key, "%s%s/%s", a->prefix, a->host, ct->name) < 0)
        return NULL;
    b64 = eb64_encode(key, strlen(key));
    free(key);
    return b64;
}

static void ag_put(struct agent *a, struct agent_ct *ct)
{
    char *k = ag_key64(a, ct), *v = NULL, *v64 = NULL, lease[24];
    json_t *val = json_pack("{s:s, s:s, s:i, s:s}", "name", ct->name, "address", ct->ip,
                            "port", (int)a->lxc.port, "host", a->host);
    json_t *req = NULL;

    snprintf(lease, sizeof(lease), "%lld", (long long)a->lease);
    if (val && (v = json_dumps(val, JSON_COMPACT)) && (v64 = eb64_encode(v, strlen(v))) && k)
        req = json_pack("{s:s, s:s, s:s}", "key", k, "value", v64, "lease", lease);
    a->op_ct = ct;
    snprintf(a->op_ip, sizeof(a->op_ip), "%s", ct->ip);
    ag_send(a, AGENT_OP_PUT, "/v3/kv/put", req);
    json_decref(val);
    free(k);
    free(v);
    free(v64);
}

static void ag_delete(struct agent *a, struct agent_ct *ct)
{
    char *k = ag_key64(a, ct);

    a->op_ct = ct;
    ag_send(a, AGENT_OP_DELETE, "/v3/kv/deleterange", k ? json_pack("{s:s}", "key", k) : NULL);
    free(k);
}

/* At exit: revoke, so the balancers drop our servers now rather than in ttl. */
static void ag_pump_stopping(struct agent *a)
{
    if (a->lease) {
        ag_send(a, AGENT_OP_REVOKE, "/v3/lease/revoke", ag_lease_req("ID", a->lease));
    } else if (a->nold) {
        ag_send(a, AGENT_OP_REVOKE_OLD, "/v3/lease/revoke", ag_lease_req("ID", a->old[0]));
    } else {
        event_base_loopbreak(a->base);
    }
}

/* Start the next call that brings etcd closer to the host's truth. */
static void ag_pump(struct agent *a)
{
    struct agent_ct *ct;

    if (a->call)
        return;
    if (a->stopping) {
        ag_pump_stopping(a);
        return;
    }
    if (a->broken)
        return;
    if (!a->lease) {
        char ttl[16];
        snprintf(ttl, sizeof(ttl), "%u", a->ttl_ms / 1000);
        ag_send(a, AGENT_OP_GRANT, "/v3/lease/grant", json_pack("{s:s}", "TTL", ttl));
        return;
    }
    if (a->ka_due) {
        a->ka_due = false;
        ag_send(a, AGENT_OP_KEEPALIVE, "/v3/lease/keepalive", ag_lease_req("ID", a->lease));
        return;
    }
    for (ct = a->cts; ct; ct = ct->next) {
        if (!strcmp(ct->ip, ct->pub))
            continue;
        if (ct->ip[0])
            ag_put(a, ct);
        else
            ag_delete(a, ct);
        return;
    }
    ag_ct_gc(a);
    if (a->nold)
        ag_send(a, AGENT_OP_REVOKE_OLD, "/v3/lease/revoke", ag_lease_req("ID", a->old[0]));
}

static void ag_ka_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;

    (void)fd; (void)what;
    if (!a->lease)
        return;
    a->ka_due = true;
    ag_pump(a);
}

/* -------------------------------------------------------------- signals -- */

static void ag_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;

    (void)fd; (void)what;
    log_event(LOG_LVL_WARN, "agent: etcd did not answer within %ums: exiting; our keys go "
              "when the lease expires", AGENT_STOP_MS);
    event_base_loopbreak(a->base);
}

static void ag_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct agent *a = arg;
    struct timeval tv = { AGENT_STOP_MS / 1000, (AGENT_STOP_MS % 1000) * 1000 };

    (void)what;
    if (a->stopping)
        return;
    log_event(LOG_LVL_INFO, "agent: received %s: revoking the lease and exiting",
              sig == SIGINT ? "SIGINT" : "SIGTERM");
    a->stopping = true;
    evtimer_add(a->stop_deadline, &tv);
    /* What was in flight no longer matters: the revoke takes every key. */
    ecall_cancel(a->call);
    a->call = NULL;
    a->op = AGENT_OP_NONE;
    a->op_ct = NULL;
    ag_pump(a);
}

/* ------------------------------------------------------- command line -- */

static void ag_usage(FILE *out)
{
    fprintf(out, "usage: lxlb agent --etcd URL[,URL] --prefix P [--lxcpath DIR] [--group G]\n"
                 "                  [--match GLOB] [--port N] [--interface IF] [--host NAME]\n"
                 "                  [--ttl 10s] [-d]\n");
}

/* One option: its value in *val; "--opt=value" or "--opt value". */
static const char *ag_opt(int argc, char **argv, int *i, const char *name, bool *matched)
{
    const char *a = argv[*i];
    size_t n = strlen(name);

    *matched = false;
    if (strncmp(a, name, n) || (a[n] && a[n] != '='))
        return NULL;
    *matched = true;
    if (a[n] == '=')
        return a + n + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/* One line on stderr; returns the exit status for a bad command line. */
static int ag_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int ag_bad(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "lxlb agent: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

static int ag_set_port(struct agent *a, const char *v)
{
    char *e;
    long p = strtol(v, &e, 10);

    if (*e || p < 1 || p > 65535)
        return ag_bad("--port: bad port '%s'", v);
    a->lxc.port = (uint16_t)p;
    return 0;
}

static int ag_set_ttl(struct agent *a, const char *v)
{
    uint32_t ms;

    if (conf_parse_duration(v, &ms) < 0 || ms < 1000 || ms > 3600000)
        return ag_bad("--ttl: '%s' is not a duration between 1s and 1h", v);
    a->ttl_ms = (ms + 999) / 1000 * 1000; /* etcd's TTL is in whole seconds */
    return 0;
}

static char **ag_split(const char *list, size_t *n)
{
    char *copy = strdup(list), *tok, *save = NULL;
    char **out = calloc(strlen(list) / 2 + 2, sizeof(*out));

    *n = 0;
    if (!copy || !out) {
        free(copy);
        free(out);
        return NULL;
    }
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        out[(*n)++] = strdup(tok);
    free(copy);
    return out;
}

static int ag_check(struct agent *a, const char *etcd)
{
    struct stat st;

    if (!etcd)
        return ag_bad("--etcd URL[,URL] is required");
    if (!a->prefix)
        return ag_bad("--prefix P is required");
    if (a->prefix[0] != '/')
        return ag_bad("--prefix '%s' must start with '/'", a->prefix);
    if (stat(a->lxc.lxcpath, &st) < 0 || !S_ISDIR(st.st_mode))
        return ag_bad("cannot read lxcpath %s", a->lxc.lxcpath);
    if (!a->host[0] && gethostname(a->host, sizeof(a->host) - 1) < 0)
        return ag_bad("cannot get the host name; use --host");
    if (!a->host[0] || strchr(a->host, '/'))
        return ag_bad("--host '%s' must be non-empty, without '/'", a->host);
    if (strlen(a->lxc.interface) >= 16)
        return ag_bad("--interface '%s' is too long", a->lxc.interface);
    return 0;
}

/* 0, or the exit status. *etcd gets the --etcd value. */
static int ag_parse(struct agent *a, int argc, char **argv, const char **etcd)
{
    static const char *const names[] = { "--etcd", "--prefix", "--lxcpath", "--group",
                                         "--match", "--port", "--interface", "--host",
                                         "--ttl", NULL };
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        bool matched = false;
        size_t k;

        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            ag_usage(stdout);
            exit(0);
        }
        if (!strcmp(argv[i], "-d")) {
            log_set_debug(true);
            continue;
        }
        for (k = 0; names[k] && !matched; k++)
            v = ag_opt(argc, argv, &i, names[k], &matched);
        if (!matched)
            return ag_bad("unknown option '%s' (lxlb agent -h for help)", argv[i]);
        if (!v || !*v)
            return ag_bad("option %s needs a value", names[k - 1]);
        switch (k - 1) {
        case 0: *etcd = v; break;
        case 1: a->prefix = v; break;
        case 2: a->lxc.lxcpath = (char *)v; break;
        case 3: a->lxc.group = (char *)v; break;
        case 4: a->lxc.match = (char *)v; break;
        case 5: if (ag_set_port(a, v)) return 2; break;
        case 6: a->lxc.interface = (char *)v; break;
        case 7: snprintf(a->host, sizeof(a->host), "%s", v); break;
        case 8: if (ag_set_ttl(a, v)) return 2; break;
        }
    }
    return ag_check(a, *etcd);
}

/* ------------------------------------------------------------ lifetime -- */

static int ag_setup(struct agent *a, const char *etcd, char *err, size_t errlen)
{
    struct timeval ka = { a->ttl_ms / 3 / 1000, a->ttl_ms / 3 % 1000 * 1000 };
    struct dlxc_sink sink = { ag_on_up, ag_on_down, a };
    int sigs[2] = { SIGTERM, SIGINT };
    size_t n = 0;
    char **urls = ag_split(etcd, &n);
    int rc = -1;

    if (!urls || ecl_init(&a->cl, a->base, urls, n, err, errlen) < 0)
        goto out;
    a->ka = event_new(a->base, -1, EV_PERSIST, ag_ka_cb, a);
    a->retry = evtimer_new(a->base, ag_retry_cb, a);
    a->stop_deadline = evtimer_new(a->base, ag_deadline_cb, a);
    for (int i = 0; i < 2; i++)
        if (!(a->sigs[i] = evsignal_new(a->base, sigs[i], ag_signal_cb, a)) ||
            evsignal_add(a->sigs[i], NULL) < 0)
            goto oom;
    if (!a->ka || !a->retry || !a->stop_deadline || event_add(a->ka, &ka) < 0)
        goto oom;
    log_event(LOG_LVL_INFO, "agent: host %s publishing under %s%s/ on %s (ttl %us)", a->host,
              a->prefix, a->host, ecl_url(&a->cl), a->ttl_ms / 1000);
    ag_pump(a); /* the lease first: containers found running are put on it */
    if (!(a->worker = dw_start(a->base, err, errlen)) ||
        !(a->watch = dlxc_start_sink(&a->lxc, a->base, a->worker, &sink, err, errlen)))
        goto out;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    for (size_t i = 0; urls && i < n; i++)
        free(urls[i]);
    free(urls);
    return rc;
}

static void ag_teardown(struct agent *a)
{
    /* The worker first: once joined, no job can point into the watcher. */
    dw_stop(a->worker);
    dlxc_stop(a->watch);
    ecall_cancel(a->call);
    ecl_free(&a->cl);
    while (a->cts) {
        struct agent_ct *ct = a->cts;
        a->cts = ct->next;
        free(ct->name);
        free(ct);
    }
    if (a->ka)
        event_free(a->ka);
    if (a->retry)
        event_free(a->retry);
    if (a->stop_deadline)
        event_free(a->stop_deadline);
    for (int i = 0; i < 2; i++)
        if (a->sigs[i])
            event_free(a->sigs[i]);
}

int agent_main(int argc, char **argv)
{
    struct agent a = { 0 };
    const char *etcd = NULL;
    char err[512];
    int rc;

    a.lxc.enabled = true;
    a.lxc.lxcpath = "/var/lib/lxc";
    a.lxc.match = "*";
    a.lxc.port = 80;
    a.lxc.interface = "eth0";
    a.lxc.ip_timeout_ms = AGENT_IP_TIMEOUT_MS;
    a.ttl_ms = 10000;
    a.backoff_ms = AGENT_BACKOFF_MIN_MS;
    if ((rc = ag_parse(&a, argc, argv, &etcd)))
        return rc;
    signal(SIGPIPE, SIG_IGN);
    if (!(a.base = event_base_new())) {
        fprintf(stderr, "lxlb agent: cannot create the event loop\n");
        return 1;
    }
    rc = 0;
    if (ag_setup(&a, etcd, err, sizeof(err)) < 0) {
        fprintf(stderr, "lxlb agent: %s\n", err);
        rc = 1;
    } else {
        event_base_dispatch(a.base);
        log_event(LOG_LVL_INFO, "agent: exiting");
    }
    ag_teardown(&a);
    event_base_free(a.base);
    return rc;
}
