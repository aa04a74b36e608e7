/* discovery/cgroup.c - a container's figures from its cgroup files.
 *
 * Which files: v2 gives cpu.stat (usage_usec, present whatever controllers
 * are on), memory.current, memory.max and pids.current where its controllers
 * are enabled; v1 gives cpuacct.usage (ns), memory.usage_in_bytes,
 * memory.limit_in_bytes and pids.current, each in its controller's mount.
 * A hybrid host (v1 controllers, v2 without them) mixes the two, so each
 * figure is looked for in v2 first, then in its v1 controller. Memory is
 * what the cgroup is charged, page cache included, as lxc-info shows it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discovery/cgroup.h"

/* v1 says "no limit" with the largest page-aligned counter (2^63 - 4096). */
#define DCG_V1_UNLIMITED (1ULL << 62)

/* ------------------------------------------------------------- parsing -- */

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void dcg_unescape(char *s)
{
    char *o = s;

    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* Is word one of the comma-separated items of list? */
static bool dcg_has(const char *list, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, word, n) && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

/* dir = the mount point plus the cgroup's path below the mount's root. */
static void dcg_join(char *dir, const char *mnt, const char *root, const char *path)
{
    size_t rl = strlen(root);

    if (!strcmp(root, "/"))
        rl = 0;
    else if (strncmp(path, root, rl) || (path[rl] != '/' && path[rl] != '\0'))
        return; /* outside what is mounted here */
    snprintf(dir, DCG_PATH_MAX, "%s%s", mnt, path + rl);
}

/* The cgroup path of the process in hierarchy want ("" for v2, else a
 * controller), from /proc/PID/cgroup: "ID:CONTROLLERS:PATH" lines. */
static bool dcg_proc_path(const char *proc_cgroup, const char *want, char *path, size_t size)
{
    const char *line = proc_cgroup;

    while (line && *line) {
        const char *end = strchr(line, '\n'), *c1 = strchr(line, ':');
        const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        size_t len = end ? (size_t)(end - line) : strlen(line);

        if (c2 && c2 < line + len) {
            char ctrls[256];
            size_t cl = (size_t)(c2 - c1 - 1);
            snprintf(ctrls, sizeof(ctrls), "%.*s", (int)cl, c1 + 1);
            if ((!*want && !cl && !strncmp(line, "0:", 2)) || (*want && dcg_has(ctrls, want))) {
                snprintf(path, size, "%.*s", (int)(line + len - c2 - 1), c2 + 1);
                return true;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return false;
}

/* One mountinfo line: root, mount point, fstype and super options. */
struct dcg_mount {
    char root[DCG_PATH_MAX];
    char mnt[DCG_PATH_MAX];
    char fstype[32];
    char opts[512];
};

static bool dcg_mount_parse(const char *line, size_t len, struct dcg_mount *m)
{
    char buf[2 * DCG_PATH_MAX + 1024], *sep;

    if (len >= sizeof(buf))
        return false;
    memcpy(buf, line, len);
    buf[len] = '\0';
    sep = strstr(buf, " - ");
    if (!sep || sscanf(buf, "%*s %*s %*s %4095s %4095s", m->root, m->mnt) != 2 ||
        sscanf(sep + 3, "%31s %*s %511s", m->fstype, m->opts) != 2)
        return false;
    dcg_unescape(m->root);
    dcg_unescape(m->mnt);
    return true;
}

void dcg_paths(const char *proc_cgroup, const char *mountinfo, struct dcg_paths *out)
{
    static const char *const ctrl[] = { "cpuacct", "memory", "pids" };
    char path[DCG_PATH_MAX];
    struct dcg_mount m;

    memset(out, 0, sizeof(*out));
    for (const char *line = mountinfo; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *dst[] = { out->cpuacct, out->memory, out->pids };

        if (dcg_mount_parse(line, len, &m)) {
            if (!strcmp(m.fstype, "cgroup2") && !out->unified[0] &&
                dcg_proc_path(proc_cgroup, "", path, sizeof(path)))
                dcg_join(out->unified, m.mnt, m.root, path);
            for (size_t i = 0; !strcmp(m.fstype, "cgroup") && i < 3; i++)
                if (!dst[i][0] && dcg_has(m.opts, ctrl[i]) &&
                    dcg_proc_path(proc_cgroup, ctrl[i], path, sizeof(path)))
                    dcg_join(dst[i], m.mnt, m.root, path);
        }
        line = end ? end + 1 : NULL;
    }
}

/* -------------------------------------------------------------- files -- */

/* The start of dir/file, NUL-terminated; -1 when it cannot be read. */
static int dcg_slurp(const char *dir, const char *file, char *buf, size_t size)
{
    char path[DCG_PATH_MAX + 64];
    ssize_t n;
    int fd;

    if (!dir[0])
        return -1;
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    do
        n = read(fd, buf, size - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

/* A file holding one number; "max" gives max_is. */
static uint64_t dcg_number(const char *dir, const char *file, uint64_t max_is)
{
    char buf[64], *end;
    unsigned long long v;

    if (dcg_slurp(dir, file, buf, sizeof(buf)) < 0)
        return DLXC_RES_NONE;
    if (!strncmp(buf, "max", 3))
        return max_is;
    errno = 0;
    v = strtoull(buf, &end, 10);
    if (errno || end == buf)
        return DLXC_RES_NONE;
    return (uint64_t)v;
}

/* v2 cpu.stat: "usage_usec N" among other lines. */
static uint64_t dcg_cpu_v2(const char *dir)
{
    char buf[1024];
    const char *p;
    unsigned long long us;

    if (dcg_slurp(dir, "cpu.stat", buf, sizeof(buf)) < 0 || !(p = strstr(buf, "usage_usec ")) ||
        (p != buf && p[-1] != '\n') || sscanf(p + 11, "%llu", &us) != 1)
        return DLXC_RES_NONE;
    return (uint64_t)us * 1000;
}

static uint64_t dcg_or(uint64_t a, uint64_t b) { return a != DLXC_RES_NONE ? a : b; }

void dcg_read(const struct dcg_paths *p, struct dlxc_res *r)
{
    uint64_t lim;

    r->cpu_ns = dcg_or(dcg_cpu_v2(p->unified), dcg_number(p->cpuacct, "cpuacct.usage", 0));
    r->mem_bytes = dcg_or(dcg_number(p->unified, "memory.current", DLXC_RES_NONE),
                          dcg_number(p->memory, "memory.usage_in_bytes", DLXC_RES_NONE));
    r->pids = dcg_or(dcg_number(p->unified, "pids.current", DLXC_RES_NONE),
                     dcg_number(p->pids, "pids.current", DLXC_RES_NONE));
    /* A v2 memory.max of "max", like a v1 limit near 2^63, is no limit. */
    lim = dcg_number(p->unified, "memory.max", DLXC_RES_NONE);
    if (lim == DLXC_RES_NONE)
        lim = dcg_number(p->memory, "memory.limit_in_bytes", DLXC_RES_NONE);
    r->mem_limit = lim >= DCG_V1_UNLIMITED ? DLXC_RES_NONE : lim;
}

/* ---------------------------------------------------------------- pid -- */

/* A whole /proc file (they are small, but mountinfo may be long). */
static char *dcg_proc_file(const char *path)
{
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (!buf || fd < 0)
        goto err;
    for (;;) {
        if (len + 1 >= cap) {
            char *nb = cap < (8u << 20) ? realloc(buf, cap * 2) : NULL;
            if (!nb)
                goto err;
            buf = nb;
            cap *= 2;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto err;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return buf;
err:
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

int dcg_of_pid(pid_t pid, struct dlxc_res *r, char *err, size_t errlen)
{
    char path[64];
    char *cg, *mi;
    struct dcg_paths *p = malloc(sizeof(*p));
    int rc = -1;

    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    cg = dcg_proc_file(path);
    mi = dcg_proc_file("/proc/self/mountinfo");
    if (!p || !cg || !mi) {
        snprintf(err, errlen, "cannot read %s or the mount table: %s", path, strerror(errno));
        goto out;
    }
    dcg_paths(cg, mi, p);
    if (!p->unified[0] && !p->cpuacct[0] && !p->memory[0] && !p->pids[0]) {
        snprintf(err, errlen, "no cgroup mount holds the cgroup of pid %d", (int)pid);
        goto out;
    }
    dcg_read(p, r);
    rc = 0;
out:
    free(cg);
    free(mi);
    free(p);
    return rc;
}
