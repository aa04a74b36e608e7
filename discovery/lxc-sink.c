/* discovery/lxc-sink.c - discovery.lxc's sink mode (lxlb agent): no backend;
 * a container that runs is reported "up" with its address, one that leaves
 * or is gone "down", each once per change. The sink keeps only the address
 * it reported, so a repeat is not reported again. */
#include <stdio.h>
#include <string.h>

#include "discovery/lxc-int.h"

static int sink_ct_init(struct dlxc_ct *ct) { (void)ct; return 0; }

static void sink_ct_free(struct dlxc_ct *ct) { (void)ct; }

static void sink_at(struct dlxc_ct *ct, const char *ip)
{
    if (!strcmp(ct->pub_ip, ip))
        return;
    snprintf(ct->pub_ip, sizeof(ct->pub_ip), "%s", ip);
    ct->w->sink.up(ct->w->sink.arg, ct->name, ip);
}

static void sink_gone(struct dlxc_ct *ct, const char *why)
{
    if (!ct->pub_ip[0])
        return;
    ct->pub_ip[0] = '\0';
    ct->w->sink.down(ct->w->sink.arg, ct->name, why);
}

static void sink_leaving(struct dlxc_ct *ct) { sink_gone(ct, ct->state); }

/* Reported down when it froze: find its address again. */
static void sink_thawed(struct dlxc_ct *ct)
{
    if (!ct->pub_ip[0] && !ct->waiting && !ct->ignored)
        dlxc_ct_running(ct);
}

static bool sink_holds(const struct dlxc_ct *ct) { (void)ct; return false; }

static bool sink_new_addr(const struct dlxc_ct *ct, const char *ip)
{
    return strcmp(ct->pub_ip, ip) != 0;
}

static struct dlxc_ct *sink_adopt(struct dlxc *w, const char *name)
{
    (void)w; (void)name;
    return NULL;
}

static void sink_sweep(struct dlxc *w) { (void)w; }

static int sink_start(struct dlxc *w, char *err, size_t errlen)
{
    (void)w; (void)err; (void)errlen;
    return 0;
}

static void sink_stop(struct dlxc *w) { (void)w; }

const struct dlxc_ops dlxc_sink_ops = {
    .ct_init = sink_ct_init,
    .ct_free = sink_ct_free,
    .at = sink_at,
    .leaving = sink_leaving,
    .thawed = sink_thawed,
    .gone = sink_gone,
    .holds = sink_holds,
    .live = sink_holds, /* nothing held, nothing live */
    .new_addr = sink_new_addr,
    .adopt = sink_adopt,
    .sweep = sink_sweep,
    .start = sink_start,
    .stop = sink_stop,
};
