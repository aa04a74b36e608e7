/* admin/admin.h - the admin listener: /stats, /metrics, the dashboard and
 * server state changes. Reads proxy state; changes it only through the
 * server API (srv_set_admin). */
#ifndef LXLB_ADMIN_H
#define LXLB_ADMIN_H

#include <stddef.h>

struct proxy;

/* Bind admin.bind (when configured) and serve on px->base. -1 with a reason. */
int admin_start(struct proxy *px, char *err, size_t errlen);
void admin_stop(struct proxy *px);

#endif
