/* discovery/autoscale-fsm.h - the autoscaler's decisions as a pure state
 * machine: figures and the time in, an action and its reason out. */
#ifndef LXLB_DISCOVERY_AUTOSCALE_FSM_H
#define LXLB_DISCOVERY_AUTOSCALE_FSM_H

#include "discovery/autoscale-t.h"

/* Start deciding at now (monotonic ms) under cf. */
void asf_init(struct asf *f, const struct conf_autoscale *cf, int64_t now);
/* One tick (about once a second): ASF_UP or ASF_DOWN when the caller must
 * act now (f->why says why; the FSM is then busy until asf_done), else
 * ASF_NONE (f->status says what holds it). */
enum asf_action asf_tick(struct asf *f, int64_t now, const struct asf_figures *fig);
/* The action ended, well or not (a failure is counted and retried after
 * the cooldown). The figures must hold again from now for the next one. */
void asf_done(struct asf *f, int64_t now, bool ok);
/* Pause (no new decision; an action under way ends normally) or resume. */
void asf_pause(struct asf *f, bool paused);

const char *asf_action_name(enum asf_action a);

#endif
