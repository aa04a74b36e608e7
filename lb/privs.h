/* lb/privs.h - drop root after everything privileged is done (as HAProxy's
 * global user/group/chroot). */
#ifndef LXLB_PRIVS_H
#define LXLB_PRIVS_H

#include <stddef.h>

struct conf_global;

/* chroot, then the group (and supplementary groups), then the user. Names
 * are resolved before the chroot hides /etc. 0 when nothing was asked or
 * all of it worked; -1 with a reason in err (the caller must not go on). */
int privs_drop(const struct conf_global *g, char *err, size_t errlen);

#endif
