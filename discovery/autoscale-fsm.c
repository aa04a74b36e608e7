/* discovery/autoscale-fsm.c - when to add or remove a clone.
 *
 * Up when either up figure (mean active requests per usable server, mean
 * CPU) has held without a break for up.for; down when every down figure
 * has held for down.for. A tick where the figures do not hold restarts the
 * count, so a load that flaps around a threshold never acts. Bounds come
 * first: fewer usable servers than min adds one, more servers than max
 * removes one, whatever the load; nothing goes past max or below min.
 * Between two actions, and after a failed one, the cooldown passes.
 *
 * An unknown CPU figure never argues for more containers and never stands
 * in the way of fewer (a host whose cgroups say nothing still scales on
 * requests). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "discovery/autoscale-fsm.h"

const char *asf_action_name(enum asf_action a)
{
    static const char *const names[] = { "none", "up", "down" };
    return names[a];
}

void asf_init(struct asf *f, const struct conf_autoscale *cf, int64_t now)
{
    memset(f, 0, sizeof(*f));
    f->cf = cf;
    f->paused = cf->paused;
    f->up_since_ms = f->down_since_ms = -1;
    f->next_ms = now;
    snprintf(f->status, sizeof(f->status), "starting");
}

void asf_pause(struct asf *f, bool paused)
{
    f->paused = paused;
    f->up_since_ms = f->down_since_ms = -1;
    snprintf(f->status, sizeof(f->status), paused ? "paused" : "resumed");
}

/* Which up figure holds (into what), or false. */
static bool asf_up_holds(const struct conf_scale_rule *r, const struct asf_figures *g,
                         char *what, size_t n)
{
    if (r->has_active && g->usable && g->active >= r->active_per_server) {
        snprintf(what, n, "mean active %.1f >= %g", g->active, r->active_per_server);
        return true;
    }
    if (r->has_cpu && g->cpu >= 0 && g->cpu >= r->cpu_percent) {
        snprintf(what, n, "mean CPU %.0f%% >= %g%%", g->cpu, r->cpu_percent);
        return true;
    }
    return false;
}

static bool asf_down_holds(const struct conf_scale_rule *r, const struct asf_figures *g,
                           char *what, size_t n)
{
    char act[48] = "", cpu[48] = "";

    if (r->has_active && g->active > r->active_per_server)
        return false;
    if (r->has_cpu && g->cpu >= 0 && g->cpu > r->cpu_percent)
        return false;
    if (r->has_active)
        snprintf(act, sizeof(act), "mean active %.1f <= %g", g->active, r->active_per_server);
    if (r->has_cpu && g->cpu >= 0)
        snprintf(cpu, sizeof(cpu), "mean CPU %.0f%% <= %g%%", g->cpu, r->cpu_percent);
    else if (r->has_cpu)
        snprintf(cpu, sizeof(cpu), "mean CPU unknown");
    snprintf(what, n, "%s%s%s", act, act[0] && cpu[0] ? ", " : "", cpu);
    return true;
}

/* Keep since at the first tick it held, -1 when it does not. */
static void asf_track(int64_t *since, bool holds, int64_t now)
{
    if (!holds)
        *since = -1;
    else if (*since < 0)
        *since = now;
}

static enum asf_action asf_act(struct asf *f, int64_t now, enum asf_action a, const char *fmt,
                               ...) __attribute__((format(printf, 4, 5)));
static enum asf_action asf_act(struct asf *f, int64_t now, enum asf_action a, const char *fmt,
                               ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(f->why, sizeof(f->why), fmt, ap);
    va_end(ap);
    f->busy = true;
    f->doing = f->last = a;
    f->last_ms = now;
    f->target = a == ASF_UP ? f->servers + 1 : f->servers - 1;
    snprintf(f->status, sizeof(f->status), "scaling %s", asf_action_name(a));
    return a;
}

/* Outside min and max: act on the bound, load or not. */
static enum asf_action asf_bounds(struct asf *f, int64_t now, const struct asf_figures *g)
{
    const struct conf_autoscale *cf = f->cf;

    if (g->usable < cf->min && g->servers < cf->max)
        return asf_act(f, now, ASF_UP, "%u usable servers, below min %u", g->usable, cf->min);
    if (g->servers > cf->max && g->clones > 0)
        return asf_act(f, now, ASF_DOWN, "%u servers, above max %u", g->servers, cf->max);
    return ASF_NONE;
}

static uint32_t asf_secs(int64_t ms) { return (uint32_t)((ms + 999) / 1000); }

/* The load: sustained up, or sustained down. */
static enum asf_action asf_load(struct asf *f, int64_t now, const struct asf_figures *g,
                                const char *up, const char *down)
{
    const struct conf_autoscale *cf = f->cf;

    if (f->up_since_ms >= 0) {
        int64_t held = now - f->up_since_ms;
        if (g->servers >= cf->max)
            snprintf(f->status, sizeof(f->status), "load high (%s), at max %u", up, cf->max);
        else if (held < cf->up.for_ms)
            snprintf(f->status, sizeof(f->status), "load high for %us of %us (%s)",
                     asf_secs(held), asf_secs(cf->up.for_ms), up);
        else
            return asf_act(f, now, ASF_UP, "%s for %us", up, asf_secs(held));
        return ASF_NONE;
    }
    if (f->down_since_ms >= 0) {
        int64_t held = now - f->down_since_ms;
        if (!g->clones || g->usable <= cf->min)
            snprintf(f->status, sizeof(f->status), "load low (%s), %s", down,
                     g->clones ? "at min" : "no clone to remove");
        else if (held < cf->down.for_ms)
            snprintf(f->status, sizeof(f->status), "load low for %us of %us (%s)",
                     asf_secs(held), asf_secs(cf->down.for_ms), down);
        else
            return asf_act(f, now, ASF_DOWN, "%s for %us", down, asf_secs(held));
        return ASF_NONE;
    }
    snprintf(f->status, sizeof(f->status), "steady (mean active %.1f)", g->active);
    return ASF_NONE;
}

enum asf_action asf_tick(struct asf *f, int64_t now, const struct asf_figures *g)
{
    char up[96], down[96];
    enum asf_action a;

    if (f->busy)
        return ASF_NONE;
    f->servers = f->target = g->servers;
    asf_track(&f->up_since_ms, asf_up_holds(&f->cf->up, g, up, sizeof(up)), now);
    asf_track(&f->down_since_ms, asf_down_holds(&f->cf->down, g, down, sizeof(down)), now);
    if (f->paused) {
        snprintf(f->status, sizeof(f->status), "paused");
        return ASF_NONE;
    }
    if (now < f->next_ms) {
        snprintf(f->status, sizeof(f->status), "cooldown: %us left",
                 asf_secs(f->next_ms - now));
        return ASF_NONE;
    }
    if ((a = asf_bounds(f, now, g)) != ASF_NONE)
        return a;
    return asf_load(f, now, g, up, down);
}

void asf_done(struct asf *f, int64_t now, bool ok)
{
    if (!f->busy)
        return;
    if (ok && f->doing == ASF_UP)
        f->ups++;
    else if (ok)
        f->downs++;
    else
        f->failures++;
    /* Until the next tick counts them: the target reached, or not. */
    if (ok)
        f->servers = f->target;
    else
        f->target = f->servers;
    f->busy = false;
    f->doing = ASF_NONE;
    f->next_ms = now + f->cf->cooldown_ms;
    f->up_since_ms = f->down_since_ms = -1;
    snprintf(f->status, sizeof(f->status), ok ? "done" : "failed: retry after the cooldown");
}
