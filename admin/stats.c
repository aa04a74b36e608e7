/* admin/stats.c - the /stats JSON document (jansson).
 *
 * Counters are read straight from the proxy's structs: we run on the loop
 * that owns them, so no copy or lock is needed and the figures are exact. */
#include <unistd.h>
#include <llhttp.h>

#include "acme/acme.h"
#include "admin/admin-int.h"
#include "discovery/autoscale-fsm.h"
#include "discovery/autoscale.h"
#include "discovery/discovery.h"
#include "lb/ctr.h"
#include "lb/backend-t.h"
#include "lb/proxy-t.h"
#include "lb/route.h"
#include "lb/server.h"

#ifndef LXLB_VERSION
#define LXLB_VERSION "dev"
#endif

/* json_object_set_new() ignores a NULL value, so one failed allocation just
 * leaves a key out; the caller checks the containers it built. */
static void set_u64(json_t *o, const char *k, uint64_t v)
{
    json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, v && *v ? json_string(v) : json_null());
}

/* A figure the host does not give is null. */
static json_t *figure(uint64_t v)
{
    return v == DLXC_RES_NONE ? json_null() : json_integer((json_int_t)v);
}

static json_t *real(double v, double scale)
{
    return v < 0 ? json_null() : json_real((double)(int64_t)(v * scale + 0.5) / scale);
}

/* An lxc server's container, from its cgroup (discovery reads it every
 * few seconds); null until the first reading. */
static json_t *container_json(const struct server *s)
{
    struct dlxc_figures f;

    if (s->source != SRV_SRC_LXC || !discovery_container(s, &f))
        return json_null();
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:I}", "cpu_seconds", real(f.cpu_seconds, 1000),
                     "cpu_percent", real(f.cpu_percent, 10), "memory_bytes", figure(f.mem_bytes),
                     "memory_limit_bytes", figure(f.mem_limit), "pids", figure(f.pids),
                     "age_ms", (json_int_t)f.age_ms);
}

json_t *admin_server_json(const struct server *s)
{
    json_t *o = json_object();
    int64_t since = admin_now_ms() - s->state_since_ms;

    if (!o)
        return NULL;
    set_str(o, "name", s->name);
    set_str(o, "address", s->addr.text);
    set_str(o, "source", srv_source_name(s->source));
    set_str(o, "state", srv_state_name(s));
    set_str(o, "health", srv_health_name(s->health));
    set_str(o, "admin", srv_admin_name(s->admin));
    /* A stopping container (discovery): no new request, whatever the state says. */
    json_object_set_new(o, "retiring", json_boolean(s->retiring));
    set_str(o, "cookie", s->cookie);
    set_u64(o, "weight", s->weight);
    set_u64(o, "active", ctr_sum(s->ctr, CTR_ACTIVE));
    set_u64(o, "idle_pooled", ctr_sum(s->ctr, CTR_IDLE));
    set_u64(o, "requests", ctr_sum(s->ctr, CTR_REQUESTS));
    set_u64(o, "failures", ctr_sum(s->ctr, CTR_FAILURES));
    set_u64(o, "bytes_in", ctr_sum(s->ctr, CTR_BYTES_IN));
    set_u64(o, "bytes_out", ctr_sum(s->ctr, CTR_BYTES_OUT));
    set_str(o, "last_check", s->last_check);
    json_object_set_new(o, "state_since_ms", json_integer(s->state_since_ms));
    json_object_set_new(o, "time_in_state_s", json_integer(since > 0 ? since / 1000 : 0));
    if (s->source == SRV_SRC_LXC)
        json_object_set_new(o, "container", container_json(s));
    return o;
}

/* Response times: per bucket counts (not cumulative), the bounds in ms,
 * and their sum; the dashboard derives p99 over an interval from two. */
static json_t *latency_json(const struct backend *be)
{
    json_t *o = json_object(), *le = json_array(), *counts = json_array();
    uint64_t n = 0;

    if (!o || !le || !counts) {
        json_decref(le);
        json_decref(counts);
        return o;
    }
    for (int i = 0; i < CTR_LAT_BUCKETS; i++) {
        uint64_t c = ctr_sum(be->ctr, (enum ctr_idx)(CTR_LAT_0 + i));
        json_array_append_new(counts, json_integer((json_int_t)c));
        if (i < CTR_LAT_BUCKETS - 1)
            json_array_append_new(le, json_real(ctr_lat_bounds_us[i] / 1000.0));
        n += c;
    }
    json_object_set_new(o, "le_ms", le);
    json_object_set_new(o, "counts", counts);
    set_u64(o, "count", n);
    json_object_set_new(o, "sum_ms", json_real(ctr_sum(be->ctr, CTR_LAT_SUM_US) / 1000.0));
    return o;
}

static json_t *autoscale_events_json(const struct das *as)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < as->nevents; i++) {
        const struct das_event *e = &as->events[(as->ev_head + i) % DAS_EVENTS];
        json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:s}", "at_ms",
                                           (json_int_t)e->at_ms, "kind", e->kind, "clone",
                                           e->name, "text", e->text));
    }
    return a;
}

/* The autoscaler's state: where it is, what it last decided and why, when
 * it may act next, and what happened lately (the dashboard's time line). */
static json_t *autoscale_json(const struct backend *be)
{
    const struct das *as = discovery_autoscaler(be);
    const struct asf *f = as ? &as->fsm : NULL;
    int64_t mono = admin_mono_ms(), wall = admin_now_ms();
    json_t *o, *last;

    if (!as)
        return json_null();
    last = f->last == ASF_NONE ? json_null()
           : json_pack("{s:s, s:s, s:I}", "action", asf_action_name(f->last), "why", f->why,
                       "at_ms", (json_int_t)(wall - (mono - f->last_ms)));
    o = json_pack("{s:b, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:o, s:I, s:i, s:i, s:i}",
                  "enabled", !f->paused && !as->refused, "template", as->tgt.tmpl,
                  "phase", das_phase_name(as->phase), "status", f->status,
                  "current", (int)f->servers, "target", (int)f->target,
                  "min", (int)f->cf->min, "max", (int)f->cf->max, "last_decision", last,
                  "next_action_in_ms", (json_int_t)(f->next_ms > mono ? f->next_ms - mono : 0),
                  "clones_added", (int)f->ups, "clones_removed", (int)f->downs,
                  "failures", (int)f->failures);
    if (!o)
        return NULL;
    set_str(o, "action_on", as->name);
    json_object_set_new(o, "clones", json_integer((json_int_t)as->nclones));
    if (as->clone_ms || as->join_ms)
        json_object_set_new(o, "last_clone", json_pack("{s:i, s:s, s:I}", "clone_ms",
                            (int)as->clone_ms, "kind", as->clone_snapshot ? "snapshot" : "copy",
                            "decision_to_serving_ms", (json_int_t)as->join_ms));
    json_object_set_new(o, "events", autoscale_events_json(as));
    return o;
}

static json_t *backend_json(const struct backend *be)
{
    json_t *o = json_object(), *servers = json_array();
    size_t usable = 0;

    if (!o || !servers)
        goto oom;
    for (size_t i = 0; i < be->nservers; i++) {
        if (json_array_append_new(servers, admin_server_json(be->servers[i])) < 0)
            goto oom;
        usable += srv_usable(be->servers[i]);
    }
    set_str(o, "name", be->name);
    set_str(o, "balance", be->algo ? be->algo->name : NULL);
    set_u64(o, "requests", ctr_sum(be->ctr, CTR_REQUESTS));
    set_u64(o, "no_server", ctr_sum(be->ctr, CTR_NO_SERVER));
    set_u64(o, "servers_usable", usable);
    json_object_set_new(o, "latency", latency_json(be));
    if (be->conf && be->conf->autoscale.enabled)
        json_object_set_new(o, "autoscale", autoscale_json(be));
    json_object_set_new(o, "servers", servers);
    return o;
oom:
    json_decref(o);
    json_decref(servers);
    return NULL;
}

static json_t *redirect_json(const struct conf_redirect *rd)
{
    json_t *o = json_object();

    if (!o)
        return NULL;
    json_object_set_new(o, "code", json_integer(rd->code));
    set_str(o, rd->scheme ? "scheme" : "location", rd->scheme ? rd->scheme : rd->location);
    json_object_set_new(o, "keep_path", json_boolean(rd->keep_path));
    return o;
}

static json_t *methods_json(uint64_t methods)
{
    json_t *a;

    if (!methods)
        return json_null();
    if (!(a = json_array()))
        return NULL;
    for (int m = 0; m < 64; m++)
        if (methods & (1ull << m))
            json_array_append_new(a, json_string(llhttp_method_name((llhttp_method_t)m)));
    return a;
}

/* One route as configured, and the requests it took. */
static json_t *route_json(const struct conf_frontend *cf, size_t i)
{
    const struct conf_route *r = &cf->routes[i];
    json_t *o = json_object();

    if (!o)
        return NULL;
    set_u64(o, "index", i);
    set_str(o, "host", r->host);
    set_str(o, "path_prefix", r->path_prefix);
    json_object_set_new(o, "methods", methods_json(r->methods));
    set_str(o, "backend", r->backend_name);
    json_object_set_new(o, "redirect", r->redirect.enabled ? redirect_json(&r->redirect)
                                                           : json_null());
    set_u64(o, "requests", route_requests(cf->route_table, i));
    return o;
}

static json_t *routes_json(const struct conf_frontend *cf)
{
    json_t *a = json_array();

    for (size_t i = 0; a && cf && cf->route_table && i < cf->nroutes; i++)
        if (json_array_append_new(a, route_json(cf, i)) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *frontend_json(const struct frontend *fe)
{
    json_t *o = json_object(), *binds = json_array(), *h2;

    if (!o || !binds)
        goto oom;
    for (size_t i = 0; fe->conf && i < fe->conf->nbinds; i++)
        json_array_append_new(binds, json_string(fe->conf->binds[i].text));
    set_str(o, "name", fe->name);
    json_object_set_new(o, "binds", binds);
    json_object_set_new(o, "tls", json_boolean(fe->conf && fe->conf->tls.enabled));
    set_str(o, "backend", fe->backend ? fe->backend->name : NULL);
    set_u64(o, "connections", ctr_sum(fe->ctr, CTR_CONNS));
    set_u64(o, "connections_total", ctr_sum(fe->ctr, CTR_CONNS_TOTAL));
    set_u64(o, "requests", ctr_sum(fe->ctr, CTR_REQUESTS));
    set_u64(o, "errors", ctr_sum(fe->ctr, CTR_ERRORS));
    set_u64(o, "proxy_errors", ctr_sum(fe->ctr, CTR_PROXY_ERRORS));
    set_u64(o, "bytes_in", ctr_sum(fe->ctr, CTR_BYTES_IN));
    set_u64(o, "bytes_out", ctr_sum(fe->ctr, CTR_BYTES_OUT));
    json_object_set_new(o, "accept_proxy", json_boolean(fe->conf && fe->conf->accept_proxy));
    json_object_set_new(o, "routes", routes_json(fe->conf));
    json_object_set_new(o, "http2", json_boolean(fe->conf && fe->conf->http2));
    h2 = json_object();
    if (!h2)
        goto oom;
    set_u64(h2, "connections", ctr_sum(fe->ctr, CTR_H2_CONNS));
    set_u64(h2, "connections_total", ctr_sum(fe->ctr, CTR_H2_CONNS_TOTAL));
    set_u64(h2, "streams", ctr_sum(fe->ctr, CTR_H2_STREAMS));
    set_u64(h2, "streams_total", ctr_sum(fe->ctr, CTR_H2_STREAMS_TOTAL));
    set_u64(h2, "goaway_errors", ctr_sum(fe->ctr, CTR_H2_ABUSE));
    json_object_set_new(o, "h2", h2);
    return o;
oom:
    json_decref(o);
    json_decref(binds);
    return NULL;
}

json_t *admin_stats_json(const struct admin *a)
{
    const struct proxy *px = a->px;
    json_t *o = json_object(), *fes = json_array(), *bes = json_array();

    if (!o || !fes || !bes)
        goto oom;
    for (size_t i = 0; i < px->nfrontends; i++)
        if (json_array_append_new(fes, frontend_json(px->frontends[i])) < 0)
            goto oom;
    for (size_t i = 0; i < px->nbackends; i++)
        if (json_array_append_new(bes, backend_json(px->backends[i])) < 0)
            goto oom;
    set_str(o, "version", LXLB_VERSION);
    set_u64(o, "pid", (uint64_t)getpid());
    set_u64(o, "uptime_s", (uint64_t)(admin_mono_ms() - a->started_ms) / 1000);
    json_object_set_new(o, "now_ms", json_integer(admin_now_ms()));
    set_u64(o, "connections", ctr_sum(px->ctr, CTR_CONNS));
    json_object_set_new(o, "stopping", json_boolean(px->stopping));
    json_object_set_new(o, "frontends", fes);
    json_object_set_new(o, "backends", bes);
    /* Automatic HTTPS, per name: state, expiry, last error, next attempt. */
    if (acme_get())
        json_object_set_new(o, "acme", acme_stats_json());
    return o;
oom:
    json_decref(o);
    json_decref(fes);
    json_decref(bes);
    return NULL;
}
