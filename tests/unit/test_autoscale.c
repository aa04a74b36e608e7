/* tests/unit/test_autoscale.c - the autoscaler: its configuration
 * (conf/autoscale.c) and its decisions (discovery/autoscale-fsm.c), fed with
 * figures and time only: sustained-for, flapping load, cooldown, min and max,
 * CPU, failures, pause. */
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "discovery/autoscale-fsm.h"
#include "lb/ctr.h"
#include "tests/unit/unit.h"

static char err[CONF_ERRLEN];

#define DOC(as, lxc) "{\"frontends\":[{\"name\":\"f\",\"bind\":[\"127.0.0.1:18080\"]," \
    "\"default_backend\":\"web\"}],\"backends\":[{\"name\":\"web\"" lxc \
    ",\"autoscale\":" as "}]}"
#define LXC ",\"discovery\":{\"lxc\":{\"group\":\"web\"}}"

static struct conf *load(const char *json)
{
    return conf_load_string("t.json", json, err, sizeof(err));
}

#define CHECK_ERR(json, frag) do { struct conf *c_ = load(json); \
    CHECK(c_ == NULL); conf_free(c_); CHECK_CONTAINS(err, frag); } while (0)

/* ---------------------------------------------------------------- conf -- */

static void as_conf_spec_example(void)
{
    struct conf *c = load(DOC("{ \"template\": \"web-tpl\", \"min\": 2, \"max\": 8, "
        "\"prefix\": \"web-auto-\", "
        "\"up\":   { \"active_per_server\": 20, \"cpu_percent\": 80, \"for\": \"10s\" }, "
        "\"down\": { \"active_per_server\": 2, \"cpu_percent\": 20, \"for\": \"60s\" }, "
        "\"cooldown\": \"30s\", \"addresses\": \"10.0.3.100-10.0.3.119/24\" }", LXC));
    const struct conf_autoscale *a = c ? &c->backends[0].autoscale : NULL;

    CHECK(a != NULL);
    if (!a) {
        fprintf(stderr, "%s", err);
        return;
    }
    CHECK(a->enabled && !a->paused && a->snapshot);
    CHECK_STR(a->tmpl, "web-tpl");
    CHECK_STR(a->prefix, "web-auto-");
    CHECK(a->min == 2 && a->max == 8 && a->cooldown_ms == 30000);
    CHECK(a->up.has_active && a->up.active_per_server == 20 && a->up.has_cpu);
    CHECK(a->up.cpu_percent == 80 && a->up.for_ms == 10000);
    CHECK(a->down.active_per_server == 2 && a->down.cpu_percent == 20);
    CHECK(a->down.for_ms == 60000);
    CHECK(a->has_addresses && a->addr_len == 24);
    CHECK(a->addr_first == (10u << 24 | 3u << 8 | 100) && a->addr_last - a->addr_first == 19);
    conf_free(c);
}

static void as_conf_defaults(void)
{
    struct conf *c = load(DOC("{ \"template\": \"t\", \"clone\": \"copy\", "
                              "\"up\": { \"cpu_percent\": 70 }, \"enabled\": false }", LXC));
    const struct conf_autoscale *a = c ? &c->backends[0].autoscale : NULL;

    CHECK(a && a->enabled && a->paused && !a->snapshot);
    if (!a)
        return;
    CHECK_STR(a->prefix, "web-auto-");
    CHECK(a->min == 1 && a->max == 4 && a->cooldown_ms == 30000);
    CHECK(!a->up.has_active && a->up.has_cpu && a->up.for_ms == 10000);
    CHECK(a->down.has_active && a->down.active_per_server == 2 && !a->down.has_cpu);
    CHECK(a->down.for_ms == 60000 && !a->has_addresses && a->drain_timeout_ms == 60000);
    conf_free(c);
    c = load(DOC("{\"template\":\"t\"}", ""
                 ",\"discovery\":{\"lxc\":{}},\"servers\":[]"));
    CHECK(c && !c->backends[0].autoscale.paused);
    conf_free(c);
    /* No autoscale: nothing enabled. */
    c = load("{\"frontends\":[{\"name\":\"f\",\"bind\":[\"127.0.0.1:1\"],"
             "\"default_backend\":\"b\"}],\"backends\":[{\"name\":\"b\"}]}");
    CHECK(c && !c->backends[0].autoscale.enabled);
    conf_free(c);
}

static void as_conf_errors(void)
{
    CHECK_ERR(DOC("{\"template\":\"t\"}", ""),
              "$.backends[0].autoscale: needs discovery.lxc on the same backend");
    CHECK_ERR(DOC("{}", LXC), "$.backends[0].autoscale: missing required key \"template\"");
    CHECK_ERR(DOC("{\"template\":\"t\",\"size\":3}", LXC), "autoscale.size: unknown key");
    CHECK_ERR(DOC("{\"template\":\"t\",\"min\":5,\"max\":2}", LXC),
              "$.backends[0].autoscale.min: min 5 is above max 2");
    CHECK_ERR(DOC("{\"template\":\"t\",\"up\":{\"active_per_server\":5},"
                  "\"down\":{\"active_per_server\":5}}", LXC),
              "$.backends[0].autoscale.down: active_per_server 5 must be below up's 5");
    CHECK_ERR(DOC("{\"template\":\"t\",\"up\":{\"cpu_percent\":50},"
                  "\"down\":{\"cpu_percent\":60}}", LXC), "cpu_percent 60 must be below");
    CHECK_ERR(DOC("{\"template\":\"t\",\"up\":{\"for\":\"5s\"}}", LXC),
              "$.backends[0].autoscale.up: needs \"active_per_server\" or \"cpu_percent\"");
    CHECK_ERR(DOC("{\"template\":\"t\",\"up\":{\"active_per_server\":-1}}", LXC),
              "autoscale.up.active_per_server: expected a number");
    CHECK_ERR(DOC("{\"template\":\"t\",\"addresses\":\"10.0.3.100\"}", LXC),
              "autoscale.addresses: bad address range");
    CHECK_ERR(DOC("{\"template\":\"t\",\"addresses\":\"10.0.3.200-10.0.3.100/24\"}", LXC),
              "the last address must follow the first");
    CHECK_ERR(DOC("{\"template\":\"t\",\"addresses\":\"10.0.3.200-10.0.4.1/24\"}", LXC),
              "in the same /24 network");
    CHECK_ERR(DOC("{\"template\":\"t\",\"addresses\":\"10.0.3.1-10.0.3.9/33\"}", LXC),
              "bad address range");
    CHECK_ERR(DOC("{\"template\":\"t\",\"prefix\":\"a/b\"}", LXC),
              "autoscale.prefix: bad prefix");
    CHECK_ERR(DOC("{\"template\":\"t\",\"prefix\":\"auto-\"}",
                  ",\"discovery\":{\"lxc\":{\"match\":\"web*\"}}"),
              "clones named \"auto-1\" would not match discovery.lxc.match \"web*\"");
    CHECK_ERR(DOC("{\"template\":\"web-auto-7\"}", LXC), "is named like a clone");
    CHECK_ERR(DOC("{\"template\":\"../x\"}", LXC), "autoscale.template: bad container name");
    CHECK_ERR(DOC("{\"template\":\"t\",\"clone\":\"hardlink\"}", LXC),
              "unknown clone \"hardlink\"");
    CHECK_ERR(DOC("{\"template\":\"t\",\"cooldown\":\"soon\"}", LXC),
              "autoscale.cooldown: bad duration");
    CHECK_ERR(DOC("[]", LXC), "$.backends[0].autoscale: expected an object");
}

/* ----------------------------------------------------------------- FSM -- */

/* min 1, max 3; up: active >= 10 for 5 s; down: active <= 2 for 10 s;
 * cooldown 20 s. */
static struct conf_autoscale cf_basic(void)
{
    struct conf_autoscale cf = { .enabled = true, .min = 1, .max = 3, .cooldown_ms = 20000 };

    cf.up = (struct conf_scale_rule){ .has_active = true, .active_per_server = 10,
                                      .for_ms = 5000 };
    cf.down = (struct conf_scale_rule){ .has_active = true, .active_per_server = 2,
                                        .for_ms = 10000 };
    return cf;
}

static struct asf_figures fig(uint32_t usable, uint32_t servers, uint32_t clones, double active,
                              double cpu)
{
    return (struct asf_figures){ usable, servers, clones, active, cpu };
}

/* Ticks every second from *t to end (exclusive) with g; the first action
 * and when it came (t then is its time), or NONE. */
static enum asf_action run(struct asf *f, int64_t *t, int64_t end, struct asf_figures g)
{
    for (; *t < end; *t += 1000) {
        enum asf_action a = asf_tick(f, *t, &g);
        if (a != ASF_NONE)
            return a;
    }
    return ASF_NONE;
}

static void as_fsm_sustained_for(void)
{
    struct conf_autoscale cf = cf_basic();
    struct asf f;
    int64_t t = 0;

    asf_init(&f, &cf, 0);
    /* High from t=0: it must hold through t=5 s, not act at once. */
    CHECK(run(&f, &t, 60000, fig(1, 1, 0, 12, -1)) == ASF_UP);
    CHECK(t == 5000);
    CHECK_CONTAINS(f.why, "mean active 12.0 >= 10 for 5s");
    CHECK(f.busy && f.target == 2 && f.last == ASF_UP);
    /* Busy: nothing more until it is done. */
    CHECK(run(&f, &t, 30000, fig(1, 1, 0, 30, -1)) == ASF_NONE);
    asf_done(&f, t, true);
    CHECK(f.ups == 1 && !f.busy && f.servers == 2 && f.target == 2);
}

static void as_fsm_flapping(void)
{
    struct conf_autoscale cf = cf_basic();
    struct asf f;

    asf_init(&f, &cf, 0);
    /* Above the up threshold 4 s of every 5: never 5 s in a row. */
    for (int64_t t = 0; t < 300000; t += 1000) {
        struct asf_figures g = fig(2, 2, 1, (t / 1000) % 5 == 4 ? 5 : 15, -1);
        CHECK(asf_tick(&f, t, &g) == ASF_NONE);
    }
    /* Low 9 s of every 10, one busy second between: never down either. */
    for (int64_t t = 300000; t < 600000; t += 1000) {
        struct asf_figures g = fig(2, 2, 1, (t / 1000) % 10 == 9 ? 6 : 1, -1);
        CHECK(asf_tick(&f, t, &g) == ASF_NONE);
    }
    CHECK(f.last == ASF_NONE && f.ups == 0 && f.downs == 0);
}

static void as_fsm_cooldown(void)
{
    struct conf_autoscale cf = cf_basic();
    struct asf f;
    int64_t t = 0;

    asf_init(&f, &cf, 0);
    CHECK(run(&f, &t, 60000, fig(1, 1, 0, 20, -1)) == ASF_UP);
    t += 3000;
    asf_done(&f, t, true); /* done at t=8 s: nothing before 28 s */
    int64_t done = t;
    CHECK(run(&f, &t, done + 20000, fig(2, 2, 1, 20, -1)) == ASF_NONE);
    CHECK_CONTAINS(f.status, "cooldown");
    /* The figures held all along the cooldown, so it acts the moment it ends. */
    CHECK(run(&f, &t, done + 60000, fig(2, 2, 1, 20, -1)) == ASF_UP);
    CHECK(t == done + 20000);
    asf_done(&f, t, true);
    /* After the cooldown a fresh 5 s window is needed: the figures held only
     * from the end of the action. */
    done = t;
    t = done + 20000;
    CHECK(asf_tick(&f, t, &(struct asf_figures){ 3, 3, 2, 20, -1 }) == ASF_NONE);
    CHECK_CONTAINS(f.status, "at max 3"); /* 3 servers: max */
}

static void as_fsm_min_max(void)
{
    struct conf_autoscale cf = cf_basic();
    struct asf f;
    int64_t t = 0;

    cf.min = 2;
    asf_init(&f, &cf, 0);
    /* Below min: up at once, without any load. */
    CHECK(asf_tick(&f, 0, &(struct asf_figures){ 1, 1, 0, 0, -1 }) == ASF_UP);
    CHECK_CONTAINS(f.why, "1 usable servers, below min 2");
    asf_done(&f, 0, true);
    /* At min with low load and a clone: never down. */
    t = 20000;
    CHECK(run(&f, &t, 200000, fig(2, 2, 1, 0, -1)) == ASF_NONE);
    CHECK_CONTAINS(f.status, "at min");
    /* At max with high load: never up. */
    cf.min = 1;
    asf_init(&f, &cf, 0);
    t = 0;
    CHECK(run(&f, &t, 200000, fig(3, 3, 2, 50, -1)) == ASF_NONE);
    CHECK_CONTAINS(f.status, "at max 3");
    /* A reload lowered max below the servers: down, load or not. */
    cf.max = 2;
    CHECK(asf_tick(&f, t, &(struct asf_figures){ 3, 3, 2, 50, -1 }) == ASF_DOWN);
    CHECK_CONTAINS(f.why, "3 servers, above max 2");
    /* Below min but at max (servers that are down count): no up. */
    cf.min = 3;
    cf.max = 3;
    asf_init(&f, &cf, 0);
    CHECK(asf_tick(&f, 0, &(struct asf_figures){ 1, 3, 2, 5, -1 }) == ASF_NONE);
}

static void as_fsm_down(void)
{
    struct conf_autoscale cf = cf_basic();
    struct asf f;
    int64_t t = 0;

    asf_init(&f, &cf, 0);
    /* Low load but no clone of ours: nothing to remove. */
    CHECK(run(&f, &t, 60000, fig(2, 2, 0, 1, -1)) == ASF_NONE);
    CHECK_CONTAINS(f.status, "no clone to remove");
    t = 100000;
    asf_init(&f, &cf, t);
    CHECK(run(&f, &t, 200000, fig(2, 2, 1, 1.5, -1)) == ASF_DOWN);
    CHECK(t == 110000); /* low from 100 s, held 10 s */
    CHECK_CONTAINS(f.why, "mean active 1.5 <= 2 for 10s");
    CHECK(f.target == 1);
    asf_done(&f, t, true);
    CHECK(f.downs == 1);
}

static void as_fsm_cpu(void)
{
    struct conf_autoscale cf = cf_basic();
    struct asf f;
    int64_t t = 0;

    cf.up.has_cpu = true;
    cf.up.cpu_percent = 80;
    cf.down.has_cpu = true;
    cf.down.cpu_percent = 20;
    asf_init(&f, &cf, 0);
    /* CPU alone is enough to go up. */
    CHECK(run(&f, &t, 60000, fig(1, 1, 0, 1, 95)) == ASF_UP);
    CHECK_CONTAINS(f.why, "mean CPU 95% >= 80%");
    asf_done(&f, t, true);
    /* Down needs both: few requests but a busy CPU stays. */
    t += 20000;
    CHECK(run(&f, &t, t + 60000, fig(2, 2, 1, 1, 50)) == ASF_NONE);
    /* An unknown CPU never argues for up, and never blocks down. */
    asf_init(&f, &cf, t);
    CHECK(run(&f, &t, t + 60000, fig(1, 1, 0, 5, -1)) == ASF_NONE);
    CHECK(run(&f, &t, t + 60000, fig(2, 2, 1, 1, -1)) == ASF_DOWN);
    CHECK_CONTAINS(f.why, "mean CPU unknown");
}

static void as_fsm_failure_and_pause(void)
{
    struct conf_autoscale cf = cf_basic();
    struct asf f;
    int64_t t = 0;

    asf_init(&f, &cf, 0);
    CHECK(run(&f, &t, 60000, fig(1, 1, 0, 20, -1)) == ASF_UP);
    asf_done(&f, t, false); /* the clone failed: counted, retried after the cooldown */
    CHECK(f.failures == 1 && f.ups == 0 && f.target == 1);
    int64_t failed = t;
    CHECK(run(&f, &t, failed + 20000, fig(1, 1, 0, 20, -1)) == ASF_NONE);
    CHECK(run(&f, &t, failed + 60000, fig(1, 1, 0, 20, -1)) == ASF_UP);
    CHECK(t == failed + 20000);
    asf_done(&f, t, true);
    /* Paused: the load holds long, nothing happens; resumed, a fresh window. */
    asf_pause(&f, true);
    t += 20000;
    int64_t resumed = t + 60000;
    CHECK(run(&f, &t, resumed, fig(2, 2, 1, 30, -1)) == ASF_NONE);
    CHECK_STR(f.status, "paused");
    asf_pause(&f, false);
    CHECK(run(&f, &t, resumed + 60000, fig(2, 2, 1, 30, -1)) == ASF_UP);
    CHECK(t == resumed + 5000);
    /* Starting paused (autoscale.enabled false). */
    cf.paused = true;
    asf_init(&f, &cf, 0);
    t = 0;
    CHECK(run(&f, &t, 60000, fig(0, 0, 0, 0, -1)) == ASF_NONE);
}

/* ------------------------------------------------- response-time histogram -- */

double admin_p99_ms(const uint64_t *counts, size_t n); /* admin/history.c */

static void latency_buckets(void)
{
    struct ctr_block *b = ctr_get('b', "unit-latency", NULL);
    const int64_t us[] = { -5, 0, 500, 501, 1000, 9999, 10000000, 10000001, 99999999 };
    const int want[] = { 0, 0, 0, 1, 1, 4, 13, 14, 14 };
    uint64_t before[CTR_LAT_BUCKETS];

    CHECK(b != NULL);
    if (!b)
        return;
    for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++) {
        for (int k = 0; k < CTR_LAT_BUCKETS; k++)
            before[k] = ctr_sum(b, (enum ctr_idx)(CTR_LAT_0 + k));
        ctr_observe_us(b, us[i]);
        for (int k = 0; k < CTR_LAT_BUCKETS; k++)
            CHECK(ctr_sum(b, (enum ctr_idx)(CTR_LAT_0 + k)) - before[k] == (k == want[i]));
    }
    CHECK(ctr_sum(b, CTR_LAT_SUM_US) == 0 + 500 + 501 + 1000 + 9999 + 10000000 + 10000001 +
                                         99999999ULL);
    ctr_put(b);
}

static void latency_p99(void)
{
    uint64_t c[CTR_LAT_BUCKETS] = { 0 };

    CHECK(admin_p99_ms(c, CTR_LAT_BUCKETS) < 0); /* nothing: no figure */
    c[0] = 100; /* all under 0.5 ms: interpolated inside the first bucket */
    CHECK(admin_p99_ms(c, CTR_LAT_BUCKETS) > 0.49 && admin_p99_ms(c, CTR_LAT_BUCKETS) <= 0.5);
    c[0] = 98; /* 98 fast, 2 between 10 and 20 ms: p99 halfway in that bucket */
    c[5] = 2;
    CHECK(admin_p99_ms(c, CTR_LAT_BUCKETS) > 14.9 && admin_p99_ms(c, CTR_LAT_BUCKETS) < 15.1);
    memset(c, 0, sizeof(c));
    c[CTR_LAT_BUCKETS - 1] = 5; /* slower than 10 s: the last bound */
    CHECK(admin_p99_ms(c, CTR_LAT_BUCKETS) == 10000);
}

UNIT_SUITE(autoscale_tests) = {
    { "autoscale_conf_spec_example", as_conf_spec_example },
    { "autoscale_conf_defaults", as_conf_defaults },
    { "autoscale_conf_errors", as_conf_errors },
    { "autoscale_fsm_sustained_for", as_fsm_sustained_for },
    { "autoscale_fsm_flapping", as_fsm_flapping },
    { "autoscale_fsm_cooldown", as_fsm_cooldown },
    { "autoscale_fsm_min_max", as_fsm_min_max },
    { "autoscale_fsm_down", as_fsm_down },
    { "autoscale_fsm_cpu", as_fsm_cpu },
    { "autoscale_fsm_failure_and_pause", as_fsm_failure_and_pause },
    { "latency_buckets", latency_buckets },
    { "latency_p99", latency_p99 },
    UNIT_END
};
