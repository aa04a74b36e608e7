/* discovery/helper.c - the privileged LXC helper process.
 *
 * liblxc needs root (a container's command socket is root's, reading its
 * address means entering its network namespace), and so does lxc-monitor.
 * lxlb forks and execs this process before it drops to global.user/group/
 * chroot; it stays root, outside the chroot, and does nothing but answer
 * lxlb's discovery questions on a socketpair, one at a time:
 *   list     the containers of an lxcpath: state, group, first IPv4;
 *   probe    the same for one container;
 *   monitor  start lxc-monitor for an lxcpath and hand lxlb its output;
 *   stats    a running container's CPU, memory and tasks (discovery/cgroup.c);
 *   clone, start, stop, destroy, and the lists and grants around them, for
 *            the autoscaler (helper-scale.c).
 * Anything else, or any field out of bounds, is refused with an error answer;
 * an lxcpath is only used when root may trust it (dh_check_lxcpath), so that
 * a subverted lxlb cannot make root read containers from a directory it
 * controls. A frame that breaks the stream ends the helper.
 *
 * Lifetime: it ignores the signals a terminal or systemd sends the whole
 * group (lxlb still needs it while it finishes requests) and exits when lxlb
 * closes the socket, i.e. when lxlb exits, killed or not. Its lxc-monitor
 * children die with it (PR_SET_PDEATHSIG) and are reaped here. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "discovery/cgroup.h"
#include "discovery/helper-int.h"
#include "discovery/helper-proto.h"
#include "discovery/helper.h"
#include "lb/log.h"

/* ============================================================ liblxc ==== */

bool dh_group_has(const char *list, const char *group)
{
    size_t glen;

    if (!group || !*group)
        return true;
    if (!list)
        return false;
    glen = strlen(group);
    while (*list) {
        size_t n = strcspn(list, ", \t\r\n");
        if (n == glen && !strncmp(list, group, n))
            return true;
        list += n;
        list += strspn(list, ", \t\r\n");
    }
    return false;
}

static bool dh_selected(const struct dhp_req *rq, struct lxc_container *c)
{
    char buf[4096];
    int n;

    if (!rq->has_group)
        return true;
    n = c->get_config_item(c, "lxc.group", buf, sizeof(buf));
    if (n <= 0)
        return false;
    buf[sizeof(buf) - 1] = '\0';
    return dh_group_has(buf, rq->group);
}

static void dh_first_ip(const struct dhp_req *rq, struct lxc_container *c, char *out)
{
    char **ips = c->get_ips(c, rq->interface, "inet", 0);

    out[0] = '\0';
    if (!ips)
        return;
    if (ips[0])
        snprintf(out, DLXC_IP_LEN, "%s", ips[0]);
    for (size_t i = 0; ips[i]; i++)
        free(ips[i]);
    free(ips);
}

/* Fills everything but info->name. */
static void dh_inspect(const struct dhp_req *rq, struct lxc_container *c,
                       struct dlxc_info *info)
{
    const char *st;

    info->defined = c->is_defined(c);
    if (!info->defined) {
        snprintf(info->state, sizeof(info->state), "STOPPED");
        return;
    }
    st = c->state(c);
    snprintf(info->state, sizeof(info->state), "%s", st ? st : "UNKNOWN");
    info->selected = dh_selected(rq, c);
    if (info->selected && !strcmp(info->state, "RUNNING"))
        dh_first_ip(rq, c, info->ip);
}

static json_t *dh_probe(const struct dhp_req *rq)
{
    struct lxc_container *c = lxc_container_new(rq->name, rq->lxcpath);
    struct dlxc_info info = { 0 };
    json_t *ct;

    if (!c)
        snprintf(info.state, sizeof(info.state), "STOPPED");
    else
        dh_inspect(rq, c, &info);
    if (c)
        lxc_container_put(c);
    ct = dhp_info_json(rq->name, &info);
    return ct ? json_pack("{s:b, s:o}", "ok", 1, "container", ct) : NULL;
}

static json_t *dh_list(const struct dhp_req *rq)
{
    struct lxc_container **cts = NULL;
    char **names = NULL, why[DHP_ERR_MAX];
    int n = list_all_containers(rq->lxcpath, &names, &cts);
    json_t *arr;

    if (n < 0) {
        snprintf(why, sizeof(why), "cannot list the containers of %.400s", rq->lxcpath);
        return dhp_answer_error(why);
    }
    arr = json_array();
    for (int i = 0; i < n; i++) {
        if (arr && !fnmatch(rq->match, names[i], 0)) {
            struct dlxc_info info = { 0 };
            dh_inspect(rq, cts[i], &info);
            /* NULL for a name that is not UTF-8: lxlb could not track it. */
            json_t *ct = dhp_info_json(names[i], &info);
            if (ct)
                json_array_append_new(arr, ct);
        }
        free(names[i]);
        lxc_container_put(cts[i]);
    }
    free(names);
    free(cts);
    return arr ? json_pack("{s:b, s:o}", "ok", 1, "containers", arr) : NULL;
}

/* One running container's cgroup figures; not running: running false. */
static json_t *dh_stats_one(const char *lxcpath, const char *name)
{
    struct lxc_container *c = lxc_container_new(name, lxcpath);
    struct dlxc_res r = { false, DLXC_RES_NONE, DLXC_RES_NONE, DLXC_RES_NONE, DLXC_RES_NONE };
    char why[DHP_ERR_MAX];
    pid_t pid;

    if (c && c->is_running(c) && (pid = c->init_pid(c)) > 0) {
        r.running = true;
        if (dcg_of_pid(pid, &r, why, sizeof(why)) < 0)
            log_event(LOG_LVL_WARN, "lxc helper: container %s: %s", name, why);
    }
    if (c)
        lxc_container_put(c);
    return dhp_res_json(name, &r);
}

static json_t *dh_stats(const struct dhp_req *rq)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < rq->nnames; i++) {
        json_t *one = dh_stats_one(rq->lxcpath, rq->names[i]);
        if (!one || json_array_append_new(arr, one) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr ? json_pack("{s:b, s:o}", "ok", 1, "containers", arr) : NULL;
}

/* ============================================================ lxcpath === */

/* One component of the resolved lxcpath; last: the lxcpath itself. */
static int dh_check_dir(const char *path, const char *dir, bool last, char *err,
                        size_t errlen)
{
    struct stat st;

    if (stat(dir, &st) < 0) {
        snprintf(err, errlen, "lxcpath %s: %s: %s", path, dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "lxcpath %s: %s is not a directory", path, dir);
        return -1;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        snprintf(err, errlen, "lxcpath %s: %s belongs to uid %u, not root: refused", path, dir,
                 (unsigned)st.st_uid);
        return -1;
    }
    /* In a sticky directory others cannot rename or remove what is ours. */
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && (last || !(st.st_mode & S_ISVTX))) {
        snprintf(err, errlen, "lxcpath %s: %s is writable by others: refused", path, dir);
        return -1;
    }
    return 0;
}

int dh_check_lxcpath(const char *lxcpath, char *err, size_t errlen)
{
    char *real = realpath(lxcpath, NULL);
    int rc = -1;

    if (!real) {
        snprintf(err, errlen, "lxcpath %s: %s", lxcpath, strerror(errno));
        return -1;
    }
    if (dh_check_dir(lxcpath, "/", !real[1], err, errlen) < 0)
        goto out;
    /* Then "/var", "/var/lib", "/var/lib/lxc": cut after each component. */
    for (char *p = real + 1; *p; p++) {
        if (p[1] != '/' && p[1] != '\0')
            continue;
        char save = p[1];
        p[1] = '\0';
        int r = dh_check_dir(lxcpath, real, save == '\0', err, errlen);
        p[1] = save;
        if (r < 0)
            goto out;
    }
    rc = 0;
out:
    free(real);
    return rc;
}

/* ============================================================ monitors == */

char *dh_find_exe(const char *exe)
{
    const char *path = getenv("PATH");
    char buf[4096];

    if (!path || !*path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        if (n > 0 && (size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, exe) < sizeof(buf)
            && access(buf, X_OK) == 0)
            return strdup(buf);
        path += n + (colon ? 1 : 0);
    }
    return NULL;
}

/* In the child, between fork and exec. */
static void dh_spawn_child(const char *exe, char *const argv[], int out_fd, int err_fd,
                           pid_t parent)
{
    sigset_t none;
    int devnull;

    /* Die with the helper, even on SIGKILL; and if it died before this line. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(127);
    /* The helper ignores the signals meant for lxlb; its children should not. */
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    devnull = open("/dev/null", O_RDWR);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 ||
        dup2(out_fd >= 0 ? out_fd : devnull, STDOUT_FILENO) < 0 ||
        dup2(err_fd >= 0 ? err_fd : devnull, STDERR_FILENO) < 0)
        _exit(127);
    /* Not the helper's socket, nor another monitor's output. */
    if (syscall(SYS_close_range, 3, ~0U, 0) < 0)
        for (int fd = 3; fd < 4096; fd++)
            close(fd);
    execv(exe, argv);
    _exit(127);
}

pid_t dh_spawn(const char *exe, char *const argv[], int out_fd, int err_fd)
{
    pid_t parent = getpid(), pid = fork();

    if (pid == 0)
        dh_spawn_child(exe, argv, out_fd, err_fd, parent);
    return pid;
}

static json_t *dh_monitor(struct dh *h, const struct dhp_req *rq, int *pass)
{
    char *argv[] = { "lxc-monitor", "-P", (char *)rq->lxcpath, "-n", ".*", NULL };
    char *exe, why[DHP_ERR_MAX];
    int sv[2];
    pid_t pid;

    if (h->nmons >= DH_MAX_MONITORS) {
        snprintf(why, sizeof(why), "already %d lxc-monitor processes", DH_MAX_MONITORS);
        return dhp_answer_error(why);
    }
    if (!(exe = dh_find_exe("lxc-monitor")))
        return dhp_answer_error("lxc-monitor not found in PATH (install lxc)");
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(why, sizeof(why), "socketpair: %s", strerror(errno));
        free(exe);
        return dhp_answer_error(why);
    }
    pid = dh_spawn(exe, argv, sv[1], STDERR_FILENO);
    free(exe);
    if (pid < 0) {
        snprintf(why, sizeof(why), "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return dhp_answer_error(why);
    }
    h->mons[h->nmons].pid = pid;
    h->mons[h->nmons].fd = sv[1];
    h->nmons++;
    *pass = sv[0];
    return json_pack("{s:b, s:i}", "ok", 1, "pid", (int)pid);
}

/* Kill (it may be alive) and reap monitor i, close our end: lxlb reads end
 * of file if it still listens. */
static void dh_mon_end(struct dh *h, size_t i)
{
    struct dh_mon *m = &h->mons[i];

    kill(m->pid, SIGKILL);
    while (waitpid(m->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    close(m->fd);
    h->mons[i] = h->mons[--h->nmons];
}

/* SIGCHLD: a monitor ended, or a clone's lxc-start daemon (re-parented to
 * us: we are a subreaper) after its container stopped. Reaping any child is
 * safe here, between requests: liblxc and the scale operations wait for
 * their own children before a request is answered. */
static void dh_reap(struct dh *h)
{
    struct signalfd_siginfo si;
    pid_t pid;

    while (read(h->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        ;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
        for (size_t i = h->nmons; i-- > 0;) {
            if (h->mons[i].pid != pid)
                continue;
            close(h->mons[i].fd);
            h->mons[i] = h->mons[--h->nmons];
        }
    }
}

/* ============================================================ requests == */

static json_t *dh_answer(struct dh *h, const char *buf, size_t len, int *pass)
{
    struct dhp_req rq;
    char why[DHP_ERR_MAX];

    /* lxlb never sends a malformed request: say so, it is a bug or worse.
     * An lxcpath refused is a configuration matter: lxlb logs the answer. */
    if (dhp_decode_request(buf, len, &rq, why, sizeof(why)) < 0) {
        log_event(LOG_LVL_WARN, "lxc helper: malformed request refused: %s", why);
        return dhp_answer_error(why);
    }
    if (dh_check_lxcpath(rq.lxcpath, why, sizeof(why)) < 0)
        return dhp_answer_error(why);
    switch (rq.op) {
    case DHP_OP_LIST:
        return dh_list(&rq);
    case DHP_OP_PROBE:
        return dh_probe(&rq);
    case DHP_OP_MONITOR:
        return dh_monitor(h, &rq, pass);
    case DHP_OP_STATS:
        return dh_stats(&rq);
    case DHP_OP_SCALE_ALLOW:
    case DHP_OP_CLONES:
    case DHP_OP_CLONE:
    case DHP_OP_START:
    case DHP_OP_STOP:
    case DHP_OP_DESTROY:
        return dh_scale(h, &rq);
    }
    return dhp_answer_error("unknown operation");
}

/* One request answered. -1: the channel is broken. */
static int dh_handle(struct dh *h, const char *buf, size_t len)
{
    char err[256] = "out of memory";
    int pass = -1, rc = -1;
    json_t *ans = dh_answer(h, buf, len, &pass);

    if (!ans)
        ans = dhp_answer_error("the helper is out of memory");
    if (ans)
        rc = dhp_send(h->fd, ans, DHP_MAX_RESPONSE, pass, err, sizeof(err));
    if (rc < 0 && ans && errno == EMSGSIZE) {
        json_decref(ans);
        ans = dhp_answer_error("answer too long");
        rc = ans ? dhp_send(h->fd, ans, DHP_MAX_RESPONSE, -1, err, sizeof(err)) : -1;
    }
    json_decref(ans);
    /* lxlb has its own copy of the monitor's output now (or none: then the
     * monitor's peer is gone and the next poll ends it). */
    if (pass >= 0)
        close(pass);
    if (rc < 0)
        log_event(LOG_LVL_ERR, "lxc helper: cannot answer: %s: exiting", err);
    return rc;
}

/* Read and answer one request. 1: lxlb closed the socket; -1: broken. */
static int dh_request(struct dh *h)
{
    char *buf, err[256];
    size_t len;
    int rc = dhp_recv(h->fd, DHP_MAX_REQUEST, -1, &buf, &len, NULL, err, sizeof(err));

    if (rc > 0)
        return 1;
    if (rc < 0) {
        log_event(LOG_LVL_ERR, "lxc helper: bad request frame: %s: exiting", err);
        return -1;
    }
    rc = dh_handle(h, buf, len);
    free(buf);
    return rc;
}

int dh_serve(int fd)
{
    struct dh h = { .fd = fd, .sigfd = -1 };
    struct pollfd pfd[2 + DH_MAX_MONITORS];
    sigset_t chld;
    int rc = 0;

    /* A clone's lxc-start daemon is re-parented to us, not to a pid 1 that
     * may never reap it. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    h.sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (h.sigfd < 0) {
        log_event(LOG_LVL_ERR, "lxc helper: signalfd: %s", strerror(errno));
        return 1;
    }
    for (;;) {
        size_t n = h.nmons;
        pfd[0] = (struct pollfd){ h.fd, POLLIN, 0 };
        pfd[1] = (struct pollfd){ h.sigfd, POLLIN, 0 };
        /* No POLLIN: we never read a monitor's socket, only hear it hang up. */
        for (size_t i = 0; i < n; i++)
            pfd[2 + i] = (struct pollfd){ h.mons[i].fd, 0, 0 };
        if (poll(pfd, 2 + n, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_event(LOG_LVL_ERR, "lxc helper: poll: %s", strerror(errno));
            rc = 1;
            break;
        }
        /* Backwards: dh_mon_end moves the last monitor into the freed slot. */
        for (size_t i = n; i-- > 0;)
            if (pfd[2 + i].revents & (POLLHUP | POLLERR))
                dh_mon_end(&h, i);
        if (pfd[1].revents & POLLIN)
            dh_reap(&h);
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            int r = dh_request(&h);
            if (r != 0) {
                rc = r < 0 ? 1 : 0;
                break;
            }
        }
    }
    while (h.nmons > 0)
        dh_mon_end(&h, h.nmons - 1);
    close(h.sigfd);
    return rc;
}

static bool dh_is_socket(int fd)
{
    int type;
    socklen_t len = sizeof(type);

    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

int dh_main(int argc, char **argv)
{
    /* Signals for the whole process group: lxlb decides when we go. */
    static const int ignored[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

    (void)argv;
    if (argc != 1 || !dh_is_socket(DH_FD)) {
        fprintf(stderr, "lxlb lxc-helper: internal command, started by lxlb for "
                        "discovery.lxc\n");
        return 2;
    }
    fcntl(DH_FD, F_SETFD, FD_CLOEXEC);
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
        signal(ignored[i], SIG_IGN);
    prctl(PR_SET_NAME, "lxlb-helper");
    return dh_serve(DH_FD);
}
