/* lb/privs.c - dropping privileges. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf-t.h"
#include "lb/privs.h"

struct ids {
    uid_t uid;        /* target user, when has_user */
    gid_t gid;        /* target group: global.group, else the user's */
    bool has_user;    /* global.user given */
    bool has_group;   /* a group to switch to */
    char user[64];    /* for initgroups */
};

static int resolve(const struct conf_global *g, struct ids *ids, char *err, size_t errlen)
{
    if (g->user) {
        struct passwd *pw = getpwnam(g->user);
        if (!pw) {
            snprintf(err, errlen, "global.user: no user \"%s\"", g->user);
            return -1;
        }
        ids->uid = pw->pw_uid;
        ids->gid = pw->pw_gid;
        ids->has_user = ids->has_group = true;
        snprintf(ids->user, sizeof(ids->user), "%s", g->user);
    }
    if (g->group) {
        struct group *gr = getgrnam(g->group);
        if (!gr) {
            snprintf(err, errlen, "global.group: no group \"%s\"", g->group);
            return -1;
        }
        ids->gid = gr->gr_gid;
        ids->has_group = true;
    }
    return 0;
}

int privs_drop(const struct conf_global *g, char *err, size_t errlen)
{
    struct ids ids = { 0 };

    if (resolve(g, &ids, err, errlen) < 0)
        return -1;
    if (g->chroot && (chroot(g->chroot) < 0 || chdir("/") < 0)) {
        snprintf(err, errlen, "global.chroot: %s: %s", g->chroot, strerror(errno));
        return -1;
    }
    if (ids.has_group) {
        /* Supplementary groups go first, while we may still change them. */
        int rc = ids.has_user ? initgroups(ids.user, ids.gid) : setgroups(1, &ids.gid);
        if (rc < 0 || setgid(ids.gid) < 0) {
            snprintf(err, errlen, "global.group: cannot switch to gid %u: %s",
                     (unsigned)ids.gid, strerror(errno));
            return -1;
        }
    }
    if (ids.has_user && setuid(ids.uid) < 0) {
        snprintf(err, errlen, "global.user: cannot switch to %s: %s", ids.user, strerror(errno));
        return -1;
    }
    /* Never able to go back: a later exploit must not regain root. */
    if (ids.has_user && ids.uid != 0 && setuid(0) == 0) {
        snprintf(err, errlen, "global.user: still able to become root after the switch");
        return -1;
    }
    return 0;
}
