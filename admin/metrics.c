/* admin/metrics.c - /metrics in the Prometheus text format 0.0.4.
 *
 * Each metric is one row of a table (name, type, help, getter), and each
 * family is written whole, HELP and TYPE first, as the format requires: a
 * new figure is one line in a table, not a new loop. */
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <event2/buffer.h>

#include "acme/acme.h"
#include "admin/admin-int.h"
#include "discovery/autoscale-t.h"
#include "discovery/discovery.h"
#include "lb/backend-t.h"
#include "lb/ctr.h"
#include "lb/proxy-t.h"
#include "lb/route.h"
#include "lb/server.h"

#ifndef LXLB_VERSION
#define LXLB_VERSION "dev"
#endif

struct metric {
    const char *name;                /* full name; counters end in _total */
    const char *type;                /* "counter" or "gauge" */
    const char *help;                /* one line, no backslash or newline */
    double (*get)(const void *obj);  /* the figure for one frontend/backend/server */
};

struct out {
    struct evbuffer *b;
    bool oom; /* an append failed: the page is incomplete */
};

/* ----------------------------------------------------------- getters */

#define GETTER(fn, type, var, expr) \
    static double fn(const void *p) { const type *var = p; return (double)(expr); }

GETTER(fe_cur, struct frontend, fe, ctr_sum(fe->ctr, CTR_CONNS))
GETTER(fe_conns, struct frontend, fe, ctr_sum(fe->ctr, CTR_CONNS_TOTAL))
GETTER(fe_reqs, struct frontend, fe, ctr_sum(fe->ctr, CTR_REQUESTS))
GETTER(fe_errs, struct frontend, fe, ctr_sum(fe->ctr, CTR_ERRORS))
GETTER(fe_pperrs, struct frontend, fe, ctr_sum(fe->ctr, CTR_PROXY_ERRORS))
GETTER(fe_bin, struct frontend, fe, ctr_sum(fe->ctr, CTR_BYTES_IN))
GETTER(fe_bout, struct frontend, fe, ctr_sum(fe->ctr, CTR_BYTES_OUT))
GETTER(fe_h2cur, struct frontend, fe, ctr_sum(fe->ctr, CTR_H2_CONNS))
GETTER(fe_h2conns, struct frontend, fe, ctr_sum(fe->ctr, CTR_H2_CONNS_TOTAL))
GETTER(fe_h2streams, struct frontend, fe, ctr_sum(fe->ctr, CTR_H2_STREAMS))
GETTER(fe_h2streams_total, struct frontend, fe, ctr_sum(fe->ctr, CTR_H2_STREAMS_TOTAL))
GETTER(fe_h2abuse, struct frontend, fe, ctr_sum(fe->ctr, CTR_H2_ABUSE))

GETTER(be_reqs, struct backend, be, ctr_sum(be->ctr, CTR_REQUESTS))
GETTER(be_noserv, struct backend, be, ctr_sum(be->ctr, CTR_NO_SERVER))
GETTER(be_nserv, struct backend, be, be->nservers)

static double be_usable(const void *p)
{
    const struct backend *be = p;
    size_t n = 0;

    for (size_t i = 0; i < be->nservers; i++)
        n += srv_usable(be->servers[i]);
    return (double)n;
}

GETTER(srv_up, struct server, s, srv_usable(s))
GETTER(srv_weight, struct server, s, s->weight)
GETTER(srv_inflight, struct server, s, ctr_sum(s->ctr, CTR_ACTIVE))
GETTER(srv_idle, struct server, s, ctr_sum(s->ctr, CTR_IDLE))
GETTER(srv_reqs, struct server, s, ctr_sum(s->ctr, CTR_REQUESTS))
GETTER(srv_fails, struct server, s, ctr_sum(s->ctr, CTR_FAILURES))
GETTER(srv_bin, struct server, s, ctr_sum(s->ctr, CTR_BYTES_IN))
GETTER(srv_bout, struct server, s, ctr_sum(s->ctr, CTR_BYTES_OUT))
GETTER(srv_age, struct server, s, (admin_now_ms() - s->state_since_ms) / 1000.0)

static const struct metric fe_metrics[] = {
    { "lxlb_frontend_current_connections", "gauge", "Client connections open now.", fe_cur },
    { "lxlb_frontend_connections_total", "counter", "Client connections accepted.", fe_conns },
    { "lxlb_frontend_requests_total", "counter", "Requests received.", fe_reqs },
    { "lxlb_frontend_errors_total", "counter", "Requests answered with an lxlb error page.",
      fe_errs },
    { "lxlb_frontend_proxy_errors_total", "counter",
      "Connections closed for a missing, malformed or late PROXY protocol header.", fe_pperrs },
    { "lxlb_frontend_bytes_in_total", "counter", "Request bytes received from clients.", fe_bin },
    { "lxlb_frontend_bytes_out_total", "counter", "Response bytes sent to clients.", fe_bout },
    { "lxlb_frontend_h2_current_connections", "gauge", "HTTP/2 client connections open now.",
      fe_h2cur },
    { "lxlb_frontend_h2_connections_total", "counter", "HTTP/2 client connections accepted.",
      fe_h2conns },
    { "lxlb_frontend_h2_current_streams", "gauge", "HTTP/2 streams open now.", fe_h2streams },
    { "lxlb_frontend_h2_streams_total", "counter", "HTTP/2 streams opened.",
      fe_h2streams_total },
    { "lxlb_frontend_h2_goaway_errors_total", "counter",
      "HTTP/2 connections ended with an error GOAWAY (protocol error or flood).", fe_h2abuse },
};

static const struct metric be_metrics[] = {
    { "lxlb_backend_requests_total", "counter", "Requests routed to the backend.", be_reqs },
    { "lxlb_backend_no_server_total", "counter", "Requests answered 503 for want of a server.",
      be_noserv },
    { "lxlb_backend_servers", "gauge", "Servers in the backend.", be_nserv },
    { "lxlb_backend_servers_usable", "gauge", "Servers taking new clients (up and ready).",
      be_usable },
};

static const struct metric srv_metrics[] = {
    { "lxlb_server_up", "gauge", "1 when the server takes new clients (health up, admin ready).",
      srv_up },
    { "lxlb_server_weight", "gauge", "Balancer weight.", srv_weight },
    { "lxlb_server_active_connections", "gauge", "Requests in flight to the server.", srv_inflight },
    { "lxlb_server_idle_connections", "gauge", "Idle pooled connections to the server.",
      srv_idle },
    { "lxlb_server_requests_total", "counter", "Requests sent to the server.", srv_reqs },
    { "lxlb_server_failures_total", "counter",
      "Connect failures and bad or aborted responses.", srv_fails },
    { "lxlb_server_bytes_in_total", "counter", "Response bytes received from the server.",
      srv_bin },
    { "lxlb_server_bytes_out_total", "counter", "Request bytes sent to the server.", srv_bout },
    { "lxlb_server_state_age_seconds", "gauge", "Seconds since the last state change.", srv_age },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ----------------------------------------------------------- writing */

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (evbuffer_add_vprintf(o->b, fmt, ap) < 0)
        o->oom = true;
    va_end(ap);
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value may hold anything a container name can: escape what the
 * format reserves (backslash, double quote, newline). */
static void label(struct out *o, const char *sep, const char *key, const char *val)
{
    put(o, "%s%s=\"", sep, key);
    for (const char *p = val; *p; p++) {
        size_t n = strcspn(p, "\\\"\n");
        if (n) {
            put(o, "%.*s", (int)n, p);
            p += n;
            if (!*p)
                break;
        }
        put(o, "%s", *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : "\\n");
    }
    put(o, "\"");
}

static void value(struct out *o, double v)
{
    /* %.15g: integers below 1e15 print exactly, without an exponent. */
    put(o, "} %.15g\n", v);
}

static void server_labels(struct out *o, const char *name, const struct server *s)
{
    put(o, "%s", name);
    label(o, "{", "backend", s->backend ? s->backend->name : "");
    label(o, ",", "server", s->name);
    label(o, ",", "source", srv_source_name(s->source));
}

static void frontends(struct out *o, const struct proxy *px)
{
    for (size_t m = 0; m < NELEM(fe_metrics); m++) {
        family(o, fe_metrics[m].name, fe_metrics[m].type, fe_metrics[m].help);
        for (size_t i = 0; i < px->nfrontends; i++) {
            put(o, "%s", fe_metrics[m].name);
            label(o, "{", "frontend", px->frontends[i]->name);
            value(o, fe_metrics[m].get(px->frontends[i]));
        }
    }
}

static void backends(struct out *o, const struct proxy *px)
{
    for (size_t m = 0; m < NELEM(be_metrics); m++) {
        family(o, be_metrics[m].name, be_metrics[m].type, be_metrics[m].help);
        for (size_t i = 0; i < px->nbackends; i++) {
            put(o, "%s", be_metrics[m].name);
            label(o, "{", "backend", px->backends[i]->name);
            value(o, be_metrics[m].get(px->backends[i]));
        }
    }
}

static void servers(struct out *o, const struct proxy *px, const struct metric *m)
{
    family(o, m->name, m->type, m->help);
    for (size_t i = 0; i < px->nbackends; i++)
        for (size_t j = 0; j < px->backends[i]->nservers; j++) {
            const struct server *s = px->backends[i]->servers[j];
            server_labels(o, m->name, s);
            value(o, m->get(s));
        }
}

/* One series per possible state, 1 for the current one: "which state" is then
 * a plain equality match in PromQL, and a change shows as two flips. */
static void server_states(struct out *o, const struct proxy *px)
{
    static const char *states[] = { "checking", "up", "down", "drain", "maint" };

    family(o, "lxlb_server_state", "gauge", "1 for the server's current state, else 0.");
    for (size_t i = 0; i < px->nbackends; i++)
        for (size_t j = 0; j < px->backends[i]->nservers; j++) {
            const struct server *s = px->backends[i]->servers[j];
            for (size_t k = 0; k < NELEM(states); k++) {
                server_labels(o, "lxlb_server_state", s);
                label(o, ",", "state", states[k]);
                value(o, !strcmp(srv_state_name(s), states[k]));
            }
        }
}

/* One series per route: requests it took, labelled with what it matches and
 * where it sends them (a backend's name, or "redirect"). */
static void routes(struct out *o, const struct proxy *px)
{
    char idx[24];

    family(o, "lxlb_route_requests_total", "counter", "Requests that took this route.");
    for (size_t i = 0; i < px->nfrontends; i++) {
        const struct conf_frontend *cf = px->frontends[i]->conf;

        for (size_t j = 0; cf && cf->route_table && j < cf->nroutes; j++) {
            const struct conf_route *r = &cf->routes[j];

            snprintf(idx, sizeof(idx), "%zu", j);
            put(o, "lxlb_route_requests_total");
            label(o, "{", "frontend", px->frontends[i]->name);
            label(o, ",", "route", idx);
            label(o, ",", "host", r->host ? r->host : "");
            label(o, ",", "path_prefix", r->path_prefix ? r->path_prefix : "");
            label(o, ",", "target", r->backend_name ? r->backend_name : "redirect");
            value(o, (double)route_requests(cf->route_table, j));
        }
    }
}

/* Automatic HTTPS, one series per tls.acme name. Expiry and next attempt
 * are Unix timestamps, as Prometheus likes times: alert on
 * lxlb_cert_expiry_seconds - time() < 7 * 86400. */
static void certs(struct out *o)
{
    const struct acme *ac = acme_get();
    const struct acme_name *n;

    if (!ac)
        return;
    family(o, "lxlb_cert_expiry_seconds", "gauge",
           "Expiry (notAfter) of the ACME certificate served for the name, Unix time.");
    for (n = ac->names; n; n = n->next)
        if (n->cert) {
            put(o, "lxlb_cert_expiry_seconds");
            label(o, "{", "name", n->name);
            value(o, (double)n->cert->not_after);
        }
    family(o, "lxlb_cert_state", "gauge", "1 for the name's current ACME state, else 0.");
    for (n = ac->names; n; n = n->next)
        for (const char *const *st = acme_name_states; *st; st++) {
            put(o, "lxlb_cert_state");
            label(o, "{", "name", n->name);
            label(o, ",", "state", *st);
            value(o, !strcmp(acme_name_state(n), *st));
        }
    family(o, "lxlb_cert_failures", "gauge", "ACME orders for the name that failed in a row.");
    for (n = ac->names; n; n = n->next) {
        put(o, "lxlb_cert_failures");
        label(o, "{", "name", n->name);
        value(o, n->failures);
    }
    family(o, "lxlb_cert_orders_total", "counter", "ACME orders finished, by result.");
    for (n = ac->names; n; n = n->next) {
        put(o, "lxlb_cert_orders_total");
        label(o, "{", "name", n->name);
        label(o, ",", "result", "issued");
        value(o, (double)n->issued);
        put(o, "lxlb_cert_orders_total");
        label(o, "{", "name", n->name);
        label(o, ",", "result", "failed");
        value(o, (double)n->failed);
    }
    family(o, "lxlb_cert_next_attempt_seconds", "gauge",
           "When lxlb orders for the name next (renewal or retry), Unix time.");
    for (n = ac->names; n; n = n->next)
        if (n->state != ACME_N_ORDER) {
            put(o, "lxlb_cert_next_attempt_seconds");
            label(o, "{", "name", n->name);
            value(o, (double)n->next_attempt);
        }
}

/* ------------------------------------------------ containers (lxc) */

/* One figure of a container, NONE (left out) when the host does not give it. */
struct ct_metric {
    const char *name, *type, *help;
    double (*get)(const struct dlxc_figures *f); /* < 0: none */
};

static double ct_cpu(const struct dlxc_figures *f) { return f->cpu_seconds; }

static double ct_u64(uint64_t v) { return v == DLXC_RES_NONE ? -1 : (double)v; }
static double ct_mem(const struct dlxc_figures *f) { return ct_u64(f->mem_bytes); }
static double ct_limit(const struct dlxc_figures *f) { return ct_u64(f->mem_limit); }
static double ct_pids(const struct dlxc_figures *f) { return ct_u64(f->pids); }

static const struct ct_metric ct_metrics[] = {
    { "lxlb_container_cpu_seconds_total", "counter",
      "CPU time the server's container used since it started (cgroup).", ct_cpu },
    { "lxlb_container_memory_bytes", "gauge",
      "Memory charged to the server's container, page cache included (cgroup).", ct_mem },
    { "lxlb_container_memory_limit_bytes", "gauge",
      "Memory limit of the server's container (absent: none).", ct_limit },
    { "lxlb_container_pids", "gauge", "Tasks in the server's container.", ct_pids },
};

static void containers(struct out *o, const struct proxy *px)
{
    struct dlxc_figures f;

    for (size_t m = 0; m < NELEM(ct_metrics); m++) {
        family(o, ct_metrics[m].name, ct_metrics[m].type, ct_metrics[m].help);
        for (size_t i = 0; i < px->nbackends; i++)
            for (size_t j = 0; j < px->backends[i]->nservers; j++) {
                const struct server *s = px->backends[i]->servers[j];
                double v;
                if (s->source != SRV_SRC_LXC || !discovery_container(s, &f) ||
                    (v = ct_metrics[m].get(&f)) < 0)
                    continue;
                put(o, "%s", ct_metrics[m].name);
                label(o, "{", "backend", px->backends[i]->name);
                label(o, ",", "server", s->name);
                value(o, v);
            }
    }
}

/* ------------------------------------------------ response times */

static void latency(struct out *o, const struct proxy *px)
{
    static const char name[] = "lxlb_backend_response_seconds";

    family(o, name, "histogram", "Time from a request's first byte to its response's last.");
    for (size_t i = 0; i < px->nbackends; i++) {
        const struct backend *be = px->backends[i];
        uint64_t cum = 0;
        for (int k = 0; k < CTR_LAT_BUCKETS; k++) {
            char le[32];
            cum += ctr_sum(be->ctr, (enum ctr_idx)(CTR_LAT_0 + k));
            if (k < CTR_LAT_BUCKETS - 1)
                snprintf(le, sizeof(le), "%g", ctr_lat_bounds_us[k] / 1e6);
            else
                snprintf(le, sizeof(le), "+Inf");
            put(o, "%s_bucket", name);
            label(o, "{", "backend", be->name);
            label(o, ",", "le", le);
            value(o, (double)cum);
        }
        put(o, "%s_sum", name);
        label(o, "{", "backend", be->name);
        value(o, ctr_sum(be->ctr, CTR_LAT_SUM_US) / 1e6);
        put(o, "%s_count", name);
        label(o, "{", "backend", be->name);
        value(o, (double)cum);
    }
}

/* ------------------------------------------------ autoscalers */

static void autoscalers(struct out *o, const struct proxy *px)
{
    static const char *const actions[] = { "up", "down", "failed" };

    family(o, "lxlb_autoscale_enabled", "gauge", "1 when the backend's autoscaler decides.");
    for (size_t i = 0; i < px->nbackends; i++) {
        const struct das *as = discovery_autoscaler(px->backends[i]);
        if (!as)
            continue;
        put(o, "lxlb_autoscale_enabled");
        label(o, "{", "backend", px->backends[i]->name);
        value(o, !as->fsm.paused && !as->refused);
    }
    family(o, "lxlb_autoscale_target_servers", "gauge",
           "Servers the autoscaler wants (the current count, +1 or -1 while it acts).");
    for (size_t i = 0; i < px->nbackends; i++) {
        const struct das *as = discovery_autoscaler(px->backends[i]);
        if (!as)
            continue;
        put(o, "lxlb_autoscale_target_servers");
        label(o, "{", "backend", px->backends[i]->name);
        value(o, as->fsm.target);
    }
    family(o, "lxlb_autoscale_actions_total", "counter",
           "Clones added (up), removed (down), and actions that failed.");
    for (size_t i = 0; i < px->nbackends; i++) {
        const struct das *as = discovery_autoscaler(px->backends[i]);
        const uint32_t n[] = { as ? as->fsm.ups : 0, as ? as->fsm.downs : 0,
                               as ? as->fsm.failures : 0 };
        for (size_t k = 0; as && k < NELEM(actions); k++) {
            put(o, "lxlb_autoscale_actions_total");
            label(o, "{", "backend", px->backends[i]->name);
            label(o, ",", "action", actions[k]);
            value(o, n[k]);
        }
    }
}

int admin_metrics(const struct admin *a, struct evbuffer *b)
{
    struct out o = { b, false };

    family(&o, "lxlb_info", "gauge", "lxlb version, as a label.");
    put(&o, "lxlb_info");
    label(&o, "{", "version", LXLB_VERSION);
    value(&o, 1);
    family(&o, "lxlb_uptime_seconds", "gauge", "Seconds since lxlb started.");
    put(&o, "lxlb_uptime_seconds %.3f\n", (admin_mono_ms() - a->started_ms) / 1000.0);
    frontends(&o, a->px);
    routes(&o, a->px);
    backends(&o, a->px);
    server_states(&o, a->px);
    for (size_t m = 0; m < NELEM(srv_metrics); m++)
        servers(&o, a->px, &srv_metrics[m]);
    certs(&o);
    latency(&o, a->px);
    containers(&o, a->px);
    autoscalers(&o, a->px);
    return o.oom ? -1 : 0;
}
