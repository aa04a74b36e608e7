/* admin/admin-int.h - what the admin files share among themselves; nothing
 * outside admin/ includes this. */
#ifndef LXLB_ADMIN_INT_H
#define LXLB_ADMIN_INT_H

#include <jansson.h>

#include "admin/admin-t.h"

struct evbuffer;
struct evhttp_request;
struct server;

/* routes.c: the request callback given to evhttp (arg: struct admin). */
void admin_http_cb(struct evhttp_request *req, void *arg);

/* stats.c: the /stats document, and one server as /stats and the state API
 * show it. New references; NULL when out of memory. */
json_t *admin_stats_json(const struct admin *a);
json_t *admin_server_json(const struct server *s);

/* metrics.c: the Prometheus text exposition (format 0.0.4) into out.
 * 0 ok, -1 out of memory. */
int admin_metrics(const struct admin *a, struct evbuffer *out);

/* history.c: sample the figures every AHIST_STEP_MS on base (0, or -1 out
 * of memory); stop and forget them; the /history document (NULL: out of
 * memory). */
int admin_history_start(struct admin *a, struct event_base *base);
void admin_history_stop(struct admin *a);
json_t *admin_history_json(const struct admin *a);
/* p99 (ms) of a response-time histogram's counts (ctr_lat_bounds_us), by
 * linear interpolation in its bucket; < 0 when empty. */
double admin_p99_ms(const uint64_t *counts, size_t n);

/* dashboard.c: the self-contained dashboard page. */
extern const char admin_dashboard_html[];

/* admin.c: ms helpers shared by stats and metrics. */
int64_t admin_now_ms(void);       /* wall clock */
int64_t admin_mono_ms(void);      /* CLOCK_MONOTONIC */

#endif
