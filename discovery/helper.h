/* discovery/helper.h - the privileged LXC helper process (`lxlb lxc-helper`,
 * started only by lxlb itself, see helper-client.h): it answers discovery
 * questions with liblxc and runs lxc-monitor, as root, for an lxlb that may
 * have dropped its privileges. */
#ifndef LXLB_DISCOVERY_HELPER_H
#define LXLB_DISCOVERY_HELPER_H

#include <stdbool.h>
#include <stddef.h>

/* main() of `lxlb lxc-helper`: its socket is DH_FD. Exit status: 0 when
 * lxlb closed the socket, 1 when the channel broke, 2 when not started by
 * lxlb. */
int dh_main(int argc, char **argv);
/* Answer requests on fd until it closes; kill and reap the monitors left.
 * 0 at end of file, 1 on a broken frame. (dh_main's loop; unit tests run
 * it in a forked child.) */
int dh_serve(int fd);

/* Is `group` in an lxc.group value ("web", "web,blue", "web\nblue")? A NULL
 * or empty group selects every container. */
bool dh_group_has(const char *list, const char *group);
/* lxcpath may be trusted by root: it resolves to a directory whose every
 * component belongs to root (or to us) and is writable by nobody else (a
 * sticky parent such as /tmp excepted). -1 with a reason in err. */
int dh_check_lxcpath(const char *lxcpath, char *err, size_t errlen);

#endif
