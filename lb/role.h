/* lb/role.h - the two roles a proxy can have (lb/role-t.h).
 *
 * The main loop owns what exists once per process: the reload machinery, the
 * admin API, health checks and discovery (this file is where lb/ starts and
 * stops them), the truth about every server, UNIX listening sockets and TLS
 * ticket keys; it writes the event lines. A replica (global.workers > 1)
 * serves traffic on its own loop and follows what the main loop tells it. */
#ifndef LXLB_ROLE_H
#define LXLB_ROLE_H

#include "lb/role-t.h"

extern const struct proxy_role role_main;
extern const struct proxy_role role_replica;

#endif
