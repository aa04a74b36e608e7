/* discovery/helper-scale.c - the autoscaler's container operations, in the
 * privileged LXC helper: clone the template, start, stop and destroy its
 * clones, list them.
 *
 * These are the only requests that change anything on the host, so they
 * are held to the configuration (discovery/helper-t.h): a (lxcpath,
 * template, prefix) must have been allowed while lxlb was still root, a
 * clone's name is the prefix and a number, and only containers that carry
 * the mark this file writes into each clone it makes (a file naming the
 * template) are started, stopped, destroyed or listed. A subverted lxlb
 * that dropped its privileges can thus clone one template and remove its
 * own clones, nothing else.
 *
 * Clones are made with liblxc's clone (what lxc-copy does): a snapshot
 * (overlay on a directory-backed template, the native snapshot on btrfs,
 * zfs or lvm) when asked and possible, else a full copy. Start execs
 * lxc-start -d, so that the container's monitor begins with no state of
 * ours (signals, descriptors); it is re-parented to us and reaped. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "discovery/helper-int.h"
#include "discovery/helper-proto.h"
#include "discovery/helper.h"
#include "lb/log.h"

#define DH_START_TIMEOUT_MS 30000 /* lxc-start -d returns once the container runs */
#define DH_STOP_TIMEOUT_S 10      /* a killed container is STOPPED within this */
#define DH_MAC_OUI "0a:4c:58"     /* locally administered, unicast: clones' MACs */

static int64_t dh_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *dh_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *dh_fail(const char *fmt, ...)
{
    char why[DHP_ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return dhp_answer_error(why);
}

static json_t *dh_ok_ms(int64_t since)
{
    return json_pack("{s:b, s:I}", "ok", 1, "ms", (json_int_t)(dh_ms() - since));
}

/* -------------------------------------------------------------- grants -- */

static bool dh_grant_is(const struct dh_grant *g, const struct dhp_req *rq)
{
    return !strcmp(g->lxcpath, rq->lxcpath) && !strcmp(g->tmpl, rq->tmpl) &&
           !strcmp(g->prefix, rq->prefix);
}

static bool dh_granted(const struct dh *h, const struct dhp_req *rq)
{
    for (size_t i = 0; i < h->ngrants; i++)
        if (dh_grant_is(&h->grants[i], rq))
            return true;
    return false;
}

/* Does lxlb, our parent, still run as root (effective uid 0)? */
static bool dh_parent_root(void)
{
    char path[64], line[256];
    unsigned ruid, euid;
    bool root = false;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)getppid());
    if (!(f = fopen(path, "re")))
        return false;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Uid: %u %u", &ruid, &euid) == 2) {
            root = euid == 0;
            break;
        }
    fclose(f);
    return root;
}

static json_t *dh_allow(struct dh *h, const struct dhp_req *rq)
{
    struct dh_grant *g;

    if (dh_granted(h, rq))
        return json_pack("{s:b}", "ok", 1);
    if (!dh_parent_root())
        return dh_fail("lxlb has dropped its privileges: template %s with prefix %s can only "
                       "be allowed at start (restart lxlb)", rq->tmpl, rq->prefix);
    if (h->ngrants >= DH_MAX_GRANTS)
        return dh_fail("already %d autoscaled backends", DH_MAX_GRANTS);
    g = &h->grants[h->ngrants++];
    memcpy(g->lxcpath, rq->lxcpath, sizeof(g->lxcpath));
    memcpy(g->tmpl, rq->tmpl, sizeof(g->tmpl));
    memcpy(g->prefix, rq->prefix, sizeof(g->prefix));
    log_event(LOG_LVL_INFO, "lxc helper: autoscale allowed in %s: clones of %s named %s<n>",
              rq->lxcpath, rq->tmpl, rq->prefix);
    return json_pack("{s:b}", "ok", 1);
}

/* ---------------------------------------------------------------- mark -- */

static void dh_mark_path(const struct dhp_req *rq, const char *name, char *path, size_t size)
{
    snprintf(path, size, "%s/%s/%s", rq->lxcpath, name, DHP_CLONE_MARK);
}

static void dh_mark_text(const struct dhp_req *rq, char *text, size_t size)
{
    snprintf(text, size, "template=%s\n", rq->tmpl);
}

/* Did we make it, from this template? */
static bool dh_marked(const struct dhp_req *rq, const char *name)
{
    char path[DHP_PATH_MAX + 2 * DHP_NAME_MAX], want[DHP_NAME_MAX + 16], got[sizeof(want)];
    int fd;
    ssize_t n;

    dh_mark_path(rq, name, path, sizeof(path));
    dh_mark_text(rq, want, sizeof(want));
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return false;
    n = read(fd, got, sizeof(got) - 1);
    close(fd);
    if (n < 0)
        return false;
    got[n] = '\0';
    return !strcmp(got, want);
}

static int dh_mark(const struct dhp_req *rq)
{
    char path[DHP_PATH_MAX + 2 * DHP_NAME_MAX], text[DHP_NAME_MAX + 16];
    int fd = -1, rc = -1;
    size_t n;

    dh_mark_path(rq, rq->name, path, sizeof(path));
    dh_mark_text(rq, text, sizeof(text));
    n = strlen(text);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0 && write(fd, text, n) == (ssize_t)n && fsync(fd) == 0)
        rc = 0;
    if (fd >= 0)
        close(fd);
    return rc;
}

/* -------------------------------------------------------------- clones -- */

/* key of c into buf ("" when unset). */
static void dh_item(struct lxc_container *c, const char *key, char *buf, size_t size)
{
    int n = c->get_config_item(c, key, buf, (int)size);

    if (n < 0 || (size_t)n >= size)
        buf[0] = '\0';
}

static json_t *dh_clones(const struct dhp_req *rq)
{
    char **names = NULL;
    int n = list_defined_containers(rq->lxcpath, &names, NULL);
    json_t *arr = json_array();

    if (n < 0) {
        json_decref(arr);
        return dh_fail("cannot list the containers of %.400s", rq->lxcpath);
    }
    for (int i = 0; i < n; i++) {
        if (arr && dhp_clone_name(rq->prefix, names[i], NULL) && dh_marked(rq, names[i])) {
            struct lxc_container *c = lxc_container_new(names[i], rq->lxcpath);
            const char *st = c ? c->state(c) : NULL;
            char addr[64] = "";
            if (c)
                dh_item(c, "lxc.net.0.ipv4.address", addr, sizeof(addr));
            addr[strcspn(addr, "\n")] = '\0'; /* the first, when there are several */
            json_t *one = json_pack("{s:s, s:s, s:s}", "name", names[i], "state",
                                    st ? st : "UNKNOWN", "address", addr);
            if (!one || json_array_append_new(arr, one) < 0) {
                json_decref(arr);
                arr = NULL;
            }
            if (c)
                lxc_container_put(c);
        }
        free(names[i]);
    }
    free(names);
    return arr ? json_pack("{s:b, s:o}", "ok", 1, "clones", arr) : NULL;
}

/* The clone's MAC, from its address: the same address always has the same
 * MAC, so the host's ARP entry of a clone destroyed earlier is still right
 * for the next one at that address. */
static void dh_mac_of(const char *address, char *mac, size_t size)
{
    unsigned a, b, c, d;

    if (sscanf(address, "%u.%u.%u.%u", &a, &b, &c, &d) != 4)
        a = b = c = d = 0;
    snprintf(mac, size, DH_MAC_OUI ":%02x:%02x:%02x", b & 0xff, c & 0xff, d & 0xff);
}

/* The backend's group, its address, its own log file; saved. */
static int dh_clone_setup(struct lxc_container *c, const struct dhp_req *rq, char *why,
                          size_t whylen)
{
    char buf[DHP_PATH_MAX + DHP_NAME_MAX + 16], tdir[DHP_PATH_MAX + DHP_NAME_MAX + 2], mac[32];
    size_t tl;

    dh_item(c, "lxc.group", buf, sizeof(buf));
    if (rq->has_group && !dh_group_has(buf, rq->group) &&
        !c->set_config_item(c, "lxc.group", rq->group)) {
        snprintf(why, whylen, "cannot set lxc.group");
        return -1;
    }
    if (rq->address[0]) {
        dh_mac_of(rq->address, mac, sizeof(mac));
        if (!c->clear_config_item(c, "lxc.net.0.ipv4.address") ||
            !c->set_config_item(c, "lxc.net.0.ipv4.address", rq->address) ||
            !c->clear_config_item(c, "lxc.net.0.hwaddr") ||
            !c->set_config_item(c, "lxc.net.0.hwaddr", mac)) {
            snprintf(why, whylen, "cannot set the address of lxc.net.0");
            return -1;
        }
    }
    /* The copied config still logs into the template's directory. */
    snprintf(tdir, sizeof(tdir), "%s/%s/", rq->lxcpath, rq->tmpl);
    tl = strlen(tdir);
    dh_item(c, "lxc.log.file", buf, sizeof(buf));
    if (!strncmp(buf, tdir, tl)) {
        snprintf(buf, sizeof(buf), "%s/%s/lxc.log", rq->lxcpath, rq->name);
        c->clear_config_item(c, "lxc.log.file");
        c->set_config_item(c, "lxc.log.file", buf);
    }
    if (!c->save_config(c, NULL)) {
        snprintf(why, whylen, "cannot save its configuration");
        return -1;
    }
    return 0;
}

static bool dh_exists(const struct dhp_req *rq)
{
    char path[DHP_PATH_MAX + DHP_NAME_MAX + 2];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", rq->lxcpath, rq->name);
    return lstat(path, &st) == 0;
}

/* t cloned into rq->name, snapshot or copy. NULL: it failed. */
static struct lxc_container *dh_do_clone(struct lxc_container *t, const struct dhp_req *rq,
                                         bool *snap)
{
    struct lxc_container *c = NULL;

    if (*snap && !(c = t->clone(t, rq->name, rq->lxcpath, LXC_CLONE_SNAPSHOT, NULL, NULL, 0,
                                NULL))) {
        log_event(LOG_LVL_WARN, "lxc helper: no snapshot clone of %s possible: copying it",
                  rq->tmpl);
        *snap = false;
    }
    if (!c && !*snap)
        c = t->clone(t, rq->name, rq->lxcpath, 0, NULL, NULL, 0, NULL);
    return c;
}

static json_t *dh_clone(const struct dhp_req *rq)
{
    struct lxc_container *t = NULL, *c = NULL;
    int64_t t0 = dh_ms();
    bool snap = rq->snapshot;
    char why[DHP_ERR_MAX] = "";
    json_t *ans;

    if (dh_exists(rq))
        return dh_fail("%s exists already", rq->name);
    t = lxc_container_new(rq->tmpl, rq->lxcpath);
    if (!t || !t->is_defined(t)) {
        ans = dh_fail("no template container %s in %s", rq->tmpl, rq->lxcpath);
        goto out;
    }
    if (t->is_running(t)) {
        ans = dh_fail("template %s is running: clones copy its root file system, stop it",
                      rq->tmpl);
        goto out;
    }
    if (!(c = dh_do_clone(t, rq, &snap))) {
        ans = dh_fail("cannot clone %s into %s (see the lxc log)", rq->tmpl, rq->name);
        goto out;
    }
    if (dh_clone_setup(c, rq, why, sizeof(why)) == 0 && dh_mark(rq) < 0)
        snprintf(why, sizeof(why), "cannot mark it as lxlb's clone: %s", strerror(errno));
    if (why[0]) {
        c->destroy(c);
        ans = dh_fail("clone %s of %s: %s; removed again", rq->name, rq->tmpl, why);
        goto out;
    }
    ans = json_pack("{s:b, s:b, s:I}", "ok", 1, "snapshot", snap, "ms",
                    (json_int_t)(dh_ms() - t0));
out:
    if (c)
        lxc_container_put(c);
    if (t)
        lxc_container_put(t);
    return ans;
}

/* ------------------------------------------------------ start and stop -- */

/* Wait for pid up to ms; kill it then. Its wait status, or -1. */
static int dh_wait(pid_t pid, int ms)
{
    struct timespec step = { 0, 10 * 1000000 };
    int status;

    for (int waited = 0;; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (waited >= ms) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
        nanosleep(&step, NULL);
    }
}

/* What lxc-start said on stderr, without waiting for more (its daemon may
 * keep the pipe open). */
static void dh_drain_pipe(int fd, char *buf, size_t size)
{
    ssize_t n = read(fd, buf, size - 1);

    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

static json_t *dh_start(const struct dhp_req *rq)
{
    char *argv[] = { "lxc-start", "-P", (char *)rq->lxcpath, "-n", (char *)rq->name, "-d", NULL };
    char *exe = dh_find_exe("lxc-start"), msg[256];
    int64_t t0 = dh_ms();
    int ep[2], status;
    pid_t pid;

    if (!exe)
        return dhp_answer_error("lxc-start not found in PATH (install lxc)");
    if (pipe2(ep, O_CLOEXEC | O_NONBLOCK) < 0) {
        free(exe);
        return dh_fail("pipe: %s", strerror(errno));
    }
    pid = dh_spawn(exe, argv, -1, ep[1]);
    free(exe);
    close(ep[1]);
    if (pid < 0) {
        close(ep[0]);
        return dh_fail("fork: %s", strerror(errno));
    }
    status = dh_wait(pid, DH_START_TIMEOUT_MS);
    dh_drain_pipe(ep[0], msg, sizeof(msg));
    close(ep[0]);
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return dh_fail("lxc-start %s failed%s%s", rq->name, msg[0] ? ": " : "", msg);
    return dh_ok_ms(t0);
}

static json_t *dh_stop(struct lxc_container *c, const struct dhp_req *rq)
{
    int64_t t0 = dh_ms();

    if (c->is_running(c) && !c->stop(c))
        return dh_fail("cannot stop %s", rq->name);
    if (!c->wait(c, "STOPPED", DH_STOP_TIMEOUT_S))
        return dh_fail("%s did not stop within %ds", rq->name, DH_STOP_TIMEOUT_S);
    return dh_ok_ms(t0);
}

static json_t *dh_destroy(struct lxc_container *c, const struct dhp_req *rq)
{
    int64_t t0 = dh_ms();

    if (c->is_running(c))
        return dh_fail("%s is running: stop it first", rq->name);
    if (!c->destroy(c))
        return dh_fail("cannot destroy %s (see the lxc log)", rq->name);
    return dh_ok_ms(t0);
}

/* start, stop, destroy: only one of our clones. */
static json_t *dh_on_clone(const struct dhp_req *rq)
{
    struct lxc_container *c;
    json_t *ans;

    if (!dh_marked(rq, rq->name))
        return dh_fail("%s is no clone of %s made by lxlb: refused", rq->name, rq->tmpl);
    if (rq->op == DHP_OP_START)
        return dh_start(rq);
    if (!(c = lxc_container_new(rq->name, rq->lxcpath)))
        return dh_fail("cannot open container %s", rq->name);
    ans = rq->op == DHP_OP_STOP ? dh_stop(c, rq) : dh_destroy(c, rq);
    lxc_container_put(c);
    return ans;
}

json_t *dh_scale(struct dh *h, const struct dhp_req *rq)
{
    if (rq->op == DHP_OP_SCALE_ALLOW)
        return dh_allow(h, rq);
    if (!dh_granted(h, rq))
        return dh_fail("autoscale of %s with prefix %s in %s was not allowed at start",
                       rq->tmpl, rq->prefix, rq->lxcpath);
    switch (rq->op) {
    case DHP_OP_CLONES:
        return dh_clones(rq);
    case DHP_OP_CLONE:
        return dh_clone(rq);
    default:
        return dh_on_clone(rq);
    }
}
