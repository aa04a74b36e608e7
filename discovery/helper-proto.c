/* discovery/helper-proto.c - frames and messages between lxlb and its LXC
 * helper (discovery/helper-t.h has the protocol).
 *
 * Why a length prefix: the socket is a byte stream, and a frame whose length
 * is known first can be refused before anything is allocated. Why JSON: it is
 * what the rest of lxlb speaks (jansson), and a field added later cannot be
 * confused with another. The helper runs as root and lxlb may not: a request
 * is only accepted when it is exactly one known operation with every field
 * present, of the right type and size, and nothing else. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "discovery/helper-proto.h"

/* ------------------------------------------------------------- frames -- */

static int64_t dhp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dhp_send(int fd, const json_t *msg, size_t max, int pass_fd, char *err, size_t errlen)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    size_t n, off = 0;
    char *frame = NULL;
    int rc = -1;

    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    n = strlen(text);
    if (n > max) {
        snprintf(err, errlen, "message of %zu bytes (at most %zu)", n, max);
        free(text);
        errno = EMSGSIZE;
        return -1;
    }
    if (!(frame = malloc(n + 4))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    uint32_t be = htonl((uint32_t)n);
    memcpy(frame, &be, 4);
    memcpy(frame + 4, text, n);
    while (off < n + 4) {
        struct iovec iov = { frame + off, n + 4 - off };
        union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } cm;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        /* The descriptor rides on the first byte of the frame. */
        if (off == 0 && pass_fd >= 0) {
            memset(&cm, 0, sizeof(cm));
            mh.msg_control = cm.buf;
            mh.msg_controllen = sizeof(cm.buf);
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
        }
        ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            snprintf(err, errlen, "write: %s", k < 0 ? strerror(errno) : "nothing written");
            goto out;
        }
        off += (size_t)k;
    }
    rc = 0;
out:
    free(frame);
    free(text);
    return rc;
}

/* Keep the first descriptor that came with the data if the caller wants one;
 * close every other: a stray descriptor must not leak. */
static void dhp_take_fds(struct msghdr *mh, int *passed)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (passed && *passed < 0)
                *passed = fd;
            else
                close(fd);
        }
    }
}

/* Exactly n bytes. 0, 1 at end of file before the first byte, -1 with err. */
static int dhp_read(int fd, char *p, size_t n, int64_t deadline, int *passed, char *err,
                    size_t errlen)
{
    size_t got = 0;

    while (got < n) {
        union { struct cmsghdr h; char buf[CMSG_SPACE(4 * sizeof(int))]; } cm;
        struct iovec iov = { p + got, n - got };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf) };
        struct pollfd pfd = { fd, POLLIN, 0 };

        if (deadline >= 0) {
            int64_t left = deadline - dhp_now_ms();
            int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
            if (r < 0 && errno == EINTR)
                continue;
            if (r == 0) {
                snprintf(err, errlen, "no answer in time");
                errno = ETIMEDOUT;
                return -1;
            }
        }
        ssize_t k = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            snprintf(err, errlen, "read: %s", strerror(errno));
            return -1;
        }
        dhp_take_fds(&mh, passed);
        if (k == 0) {
            if (got == 0)
                return 1;
            snprintf(err, errlen, "end of file inside a frame");
            return -1;
        }
        got += (size_t)k;
    }
    return 0;
}

int dhp_recv(int fd, size_t max, int timeout_ms, char **buf, size_t *len, int *passed,
             char *err, size_t errlen)
{
    int64_t deadline = timeout_ms < 0 ? -1 : dhp_now_ms() + timeout_ms;
    uint32_t be;
    size_t n;
    int rc;

    *buf = NULL;
    if (passed)
        *passed = -1;
    if ((rc = dhp_read(fd, (char *)&be, 4, deadline, passed, err, errlen)) != 0)
        goto err;
    n = ntohl(be);
    if (n == 0 || n > max) {
        snprintf(err, errlen, "frame of %zu bytes (expected 1 to %zu)", n, max);
        rc = -1;
        goto err;
    }
    if (!(*buf = malloc(n + 1))) {
        snprintf(err, errlen, "out of memory for a frame of %zu bytes", n);
        rc = -1;
        goto err;
    }
    if ((rc = dhp_read(fd, *buf, n, deadline, passed, err, errlen)) != 0) {
        if (rc > 0)
            snprintf(err, errlen, "end of file inside a frame");
        rc = -1;
        goto err;
    }
    (*buf)[n] = '\0';
    *len = n;
    return 0;
err:
    free(*buf);
    *buf = NULL;
    if (passed && *passed >= 0) {
        close(*passed);
        *passed = -1;
    }
    return rc;
}

/* ----------------------------------------------------------- requests -- */

static const char *const dhp_ops[] = {
    [DHP_OP_LIST] = "list", [DHP_OP_PROBE] = "probe", [DHP_OP_MONITOR] = "monitor",
    [DHP_OP_STATS] = "stats", [DHP_OP_SCALE_ALLOW] = "scale-allow",
    [DHP_OP_CLONES] = "clones", [DHP_OP_CLONE] = "clone", [DHP_OP_START] = "start",
    [DHP_OP_STOP] = "stop", [DHP_OP_DESTROY] = "destroy",
};

#define DHP_SCALE_KEYS "op", "lxcpath", "template", "prefix"

/* The keys each operation takes: all required ("group" and "address" may
 * be null). */
static const char *const dhp_keys[][10] = {
    [DHP_OP_LIST] = { "op", "lxcpath", "group", "match", "interface", NULL },
    [DHP_OP_PROBE] = { "op", "lxcpath", "group", "interface", "name", NULL },
    [DHP_OP_MONITOR] = { "op", "lxcpath", NULL },
    [DHP_OP_STATS] = { "op", "lxcpath", "names", NULL },
    [DHP_OP_SCALE_ALLOW] = { DHP_SCALE_KEYS, NULL },
    [DHP_OP_CLONES] = { DHP_SCALE_KEYS, NULL },
    [DHP_OP_CLONE] = { DHP_SCALE_KEYS, "name", "group", "address", "snapshot", NULL },
    [DHP_OP_START] = { DHP_SCALE_KEYS, "name", NULL },
    [DHP_OP_STOP] = { DHP_SCALE_KEYS, "name", NULL },
    [DHP_OP_DESTROY] = { DHP_SCALE_KEYS, "name", NULL },
};

static json_t *dhp_req_new(enum dhp_op op, const char *lxcpath)
{
    return json_pack("{s:s, s:s}", "op", dhp_ops[op], "lxcpath", lxcpath);
}

/* The fields list and probe share: group (null: any) and interface. */
static json_t *dhp_req_conf(enum dhp_op op, const struct dlxc_conf *cf)
{
    json_t *r = dhp_req_new(op, cf->lxcpath);

    if (r && (json_object_set_new(r, "group", cf->group ? json_string(cf->group) : json_null()) ||
              json_object_set_new(r, "interface", json_string(cf->interface)))) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *dhp_req_list(const struct dlxc_conf *cf)
{
    json_t *r = dhp_req_conf(DHP_OP_LIST, cf);

    if (r && json_object_set_new(r, "match", json_string(cf->match))) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *dhp_req_probe(const struct dlxc_conf *cf, const char *name)
{
    json_t *r = dhp_req_conf(DHP_OP_PROBE, cf);

    if (r && json_object_set_new(r, "name", json_string(name))) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *dhp_req_monitor(const char *lxcpath)
{
    return dhp_req_new(DHP_OP_MONITOR, lxcpath);
}

json_t *dhp_req_stats(const char *lxcpath, char *const *names, size_t n)
{
    json_t *r = dhp_req_new(DHP_OP_STATS, lxcpath), *arr = json_array();

    if (!r || !arr || json_object_set(r, "names", arr) < 0)
        goto err;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, json_string(names[i])) < 0)
            goto err;
    json_decref(arr);
    return r;
err:
    json_decref(arr);
    json_decref(r);
    return NULL;
}

json_t *dhp_req_scale(enum dhp_op op, const struct dlxc_scale *sc, const char *name)
{
    json_t *r = dhp_req_new(op, sc->lxcpath);

    if (r && (json_object_set_new(r, "template", json_string(sc->tmpl)) < 0 ||
              json_object_set_new(r, "prefix", json_string(sc->prefix)) < 0 ||
              (name && json_object_set_new(r, "name", json_string(name)) < 0))) {
        json_decref(r);
        return NULL;
    }
    return r;
}

static json_t *dhp_str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

json_t *dhp_req_clone(const struct dlxc_scale *sc, const char *name, const char *group,
                      const char *address, bool snapshot)
{
    json_t *r = dhp_req_scale(DHP_OP_CLONE, sc, name);

    if (r && (json_object_set_new(r, "group", dhp_str_or_null(group)) < 0 ||
              json_object_set_new(r, "address", dhp_str_or_null(address)) < 0 ||
              json_object_set_new(r, "snapshot", json_boolean(snapshot)) < 0)) {
        json_decref(r);
        return NULL;
    }
    return r;
}

bool dhp_clone_name(const char *prefix, const char *name, unsigned *num)
{
    size_t pl = strlen(prefix), dl;
    const char *d = name + pl;

    if (strncmp(name, prefix, pl))
        return false;
    dl = strspn(d, "0123456789");
    if (dl < 1 || dl > DHP_CLONE_DIGITS || d[dl] || (d[0] == '0' && dl > 1))
        return false;
    if (num)
        *num = (unsigned)strtoul(d, NULL, 10);
    return true;
}

static bool dhp_has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

/* key of o, a string of 1 to size-1 bytes with no control character, into
 * out. null is allowed (out = "") only when *is_null is not NULL. */
static int dhp_field(const json_t *o, const char *key, char *out, size_t size, bool *is_null,
                     char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    const char *s;
    size_t n;

    out[0] = '\0';
    if (is_null)
        *is_null = json_is_null(v);
    if (is_null && *is_null)
        return 0;
    if (!v) {
        snprintf(err, errlen, "missing \"%s\"", key);
        return -1;
    }
    if (!json_is_string(v)) {
        snprintf(err, errlen, "\"%s\" is not a string", key);
        return -1;
    }
    s = json_string_value(v);
    n = json_string_length(v);
    if (n == 0 || n >= size || memchr(s, '\0', n) || dhp_has_ctl(s, n)) {
        snprintf(err, errlen, "\"%s\" must be 1 to %zu bytes with no control character",
                 key, size - 1);
        return -1;
    }
    memcpy(out, s, n + 1);
    return 0;
}

/* A container name or an interface is one path component. */
static bool dhp_component_ok(const char *s)
{
    return strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/');
}

static int dhp_op_of(const json_t *o, enum dhp_op *op, char *err, size_t errlen)
{
    const char *s = json_string_value(json_object_get(o, "op"));

    for (size_t i = 0; s && i < sizeof(dhp_ops) / sizeof(dhp_ops[0]); i++) {
        if (!strcmp(s, dhp_ops[i])) {
            *op = (enum dhp_op)i;
            return 0;
        }
    }
    snprintf(err, errlen, "\"op\" must be one of \"list\", \"probe\", \"monitor\", "
             "\"stats\", \"scale-allow\", \"clones\", \"clone\", \"start\", \"stop\", "
             "\"destroy\"");
    return -1;
}

static int dhp_only_keys(const json_t *o, enum dhp_op op, char *err, size_t errlen)
{
    const char *key;
    const json_t *v;

    json_object_foreach((json_t *)o, key, v) {
        size_t i = 0;
        while (dhp_keys[op][i] && strcmp(dhp_keys[op][i], key))
            i++;
        if (!dhp_keys[op][i]) {
            snprintf(err, errlen, "unknown key \"%.64s\" for \"%s\"", key, dhp_ops[op]);
            return -1;
        }
    }
    return 0;
}

/* stats: "names", an array of container names (maybe empty). */
static int dhp_names(const json_t *o, struct dhp_req *rq, char *err, size_t errlen)
{
    const json_t *arr = json_object_get(o, "names");
    size_t i;
    const json_t *v;

    if (!json_is_array(arr) || json_array_size(arr) > DHP_MAX_NAMES) {
        snprintf(err, errlen, "\"names\" must be an array of at most %d names", DHP_MAX_NAMES);
        return -1;
    }
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (!s || n == 0 || n >= DHP_NAME_MAX || memchr(s, '\0', n) || dhp_has_ctl(s, n) ||
            !dhp_component_ok(s)) {
            snprintf(err, errlen, "bad container name in \"names\"");
            return -1;
        }
        memcpy(rq->names[i], s, n + 1);
    }
    rq->nnames = json_array_size(arr);
    return 0;
}

/* A clone prefix: letters, digits, '-', '_', '.', not starting with '.'. */
static bool dhp_prefix_ok(const char *s)
{
    return s[0] != '.' && !s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_.")];
}

/* "A.B.C.D/LEN", LEN 1 to 32. */
static bool dhp_address_ok(const char *s)
{
    char ip[16];
    const char *slash = strchr(s, '/');
    struct in_addr a;
    char *end;
    unsigned long len;

    if (!slash || slash - s >= (long)sizeof(ip) || !slash[1])
        return false;
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = '\0';
    len = strtoul(slash + 1, &end, 10);
    return inet_pton(AF_INET, ip, &a) == 1 && !*end && slash[1] != '0' && len >= 1 &&
           len <= 32;
}

/* One group (lxc.group takes a list): no separator in it. */
static bool dhp_group_ok(const char *s) { return !strpbrk(s, ", \t\r\n"); }

static int dhp_clone_fields(const json_t *o, struct dhp_req *rq, char *err, size_t errlen)
{
    const json_t *snap = json_object_get(o, "snapshot");
    bool null_group, null_addr;

    if (dhp_field(o, "group", rq->group, sizeof(rq->group), &null_group, err, errlen) < 0 ||
        dhp_field(o, "address", rq->address, sizeof(rq->address), &null_addr, err, errlen) < 0)
        return -1;
    rq->has_group = !null_group;
    if (rq->has_group && !dhp_group_ok(rq->group)) {
        snprintf(err, errlen, "bad group: one name, no separator");
        return -1;
    }
    if (!null_addr && !dhp_address_ok(rq->address)) {
        snprintf(err, errlen, "bad address: expected A.B.C.D/LEN");
        return -1;
    }
    if (!json_is_boolean(snap)) {
        snprintf(err, errlen, "\"snapshot\" must be true or false");
        return -1;
    }
    rq->snapshot = json_is_true(snap);
    return 0;
}

/* The fields every scale operation has, and the clone's name. */
static int dhp_scale_fields(const json_t *o, struct dhp_req *rq, char *err, size_t errlen)
{
    if (dhp_field(o, "template", rq->tmpl, sizeof(rq->tmpl), NULL, err, errlen) < 0 ||
        dhp_field(o, "prefix", rq->prefix, sizeof(rq->prefix), NULL, err, errlen) < 0)
        return -1;
    if (!dhp_component_ok(rq->tmpl)) {
        snprintf(err, errlen, "bad template name");
        return -1;
    }
    if (!dhp_prefix_ok(rq->prefix)) {
        snprintf(err, errlen, "bad prefix: letters, digits, '-', '_' and '.' only");
        return -1;
    }
    if (rq->op == DHP_OP_SCALE_ALLOW || rq->op == DHP_OP_CLONES)
        return 0;
    if (dhp_field(o, "name", rq->name, sizeof(rq->name), NULL, err, errlen) < 0)
        return -1;
    if (!dhp_clone_name(rq->prefix, rq->name, NULL)) {
        snprintf(err, errlen, "\"%.64s\" is not the prefix \"%s\" and a number", rq->name,
                 rq->prefix);
        return -1;
    }
    if (!strcmp(rq->name, rq->tmpl)) {
        snprintf(err, errlen, "the template is not a clone");
        return -1;
    }
    return rq->op == DHP_OP_CLONE ? dhp_clone_fields(o, rq, err, errlen) : 0;
}

/* The fields of rq->op, checked. */
static int dhp_fields(const json_t *o, struct dhp_req *rq, char *err, size_t errlen)
{
    bool null_group;

    if (dhp_field(o, "lxcpath", rq->lxcpath, sizeof(rq->lxcpath), NULL, err, errlen) < 0)
        return -1;
    if (rq->op == DHP_OP_MONITOR)
        return 0;
    if (rq->op == DHP_OP_STATS)
        return dhp_names(o, rq, err, errlen);
    if (rq->op >= DHP_OP_SCALE_ALLOW)
        return dhp_scale_fields(o, rq, err, errlen);
    if (dhp_field(o, "group", rq->group, sizeof(rq->group), &null_group, err, errlen) < 0 ||
        dhp_field(o, "interface", rq->interface, sizeof(rq->interface), NULL, err, errlen) < 0)
        return -1;
    rq->has_group = !null_group;
    if (!dhp_component_ok(rq->interface) || strpbrk(rq->interface, " \t")) {
        snprintf(err, errlen, "bad interface name");
        return -1;
    }
    if (rq->op == DHP_OP_LIST)
        return dhp_field(o, "match", rq->match, sizeof(rq->match), NULL, err, errlen);
    if (dhp_field(o, "name", rq->name, sizeof(rq->name), NULL, err, errlen) < 0)
        return -1;
    if (!dhp_component_ok(rq->name)) {
        snprintf(err, errlen, "bad container name");
        return -1;
    }
    return 0;
}

int dhp_decode_request(const char *buf, size_t len, struct dhp_req *rq, char *err,
                       size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    int rc = -1;

    memset(rq, 0, sizeof(*rq));
    if (!o) {
        snprintf(err, errlen, "not JSON: %s", je.text);
        return -1;
    }
    if (!json_is_object(o)) {
        snprintf(err, errlen, "not a JSON object");
        goto out;
    }
    if (dhp_op_of(o, &rq->op, err, errlen) < 0 || dhp_only_keys(o, rq->op, err, errlen) < 0 ||
        dhp_fields(o, rq, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

/* ------------------------------------------------------------ answers -- */

json_t *dhp_answer_error(const char *why)
{
    return json_pack("{s:b, s:s}", "ok", 0, "error", why);
}

json_t *dhp_info_json(const char *name, const struct dlxc_info *info)
{
    return json_pack("{s:s, s:b, s:s, s:b, s:s}", "name", name, "defined", info->defined,
                     "state", info->state, "selected", info->selected, "ip", info->ip);
}

static json_t *dhp_figure(uint64_t v)
{
    return v == DLXC_RES_NONE || v > (uint64_t)INT64_MAX ? json_null()
                                                          : json_integer((json_int_t)v);
}

json_t *dhp_res_json(const char *name, const struct dlxc_res *r)
{
    return json_pack("{s:s, s:b, s:o, s:o, s:o, s:o}", "name", name, "running", r->running,
                     "cpu_ns", dhp_figure(r->cpu_ns), "memory", dhp_figure(r->mem_bytes),
                     "memory_limit", dhp_figure(r->mem_limit), "pids", dhp_figure(r->pids));
}

int dhp_decode_answer(const char *buf, size_t len, json_t **ans, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    const json_t *ok = json_object_get(o, "ok");
    const char *why;

    *ans = NULL;
    if (!o || !json_is_object(o) || !json_is_boolean(ok)) {
        snprintf(err, errlen, "bad answer from the helper%s%s", o ? "" : ": ",
                 o ? "" : je.text);
        json_decref(o);
        return -1;
    }
    if (json_is_false(ok)) {
        why = json_string_value(json_object_get(o, "error"));
        snprintf(err, errlen, "%.*s", DHP_ERR_MAX, why ? why : "refused, no reason given");
        json_decref(o);
        return -1;
    }
    *ans = o;
    return 0;
}

/* key of j, a string shorter than size, into out. */
static int dhp_info_str(const json_t *j, const char *key, char *out, size_t size, char *err,
                        size_t errlen)
{
    const json_t *v = json_object_get(j, key);

    if (!json_is_string(v) || json_string_length(v) >= size) {
        snprintf(err, errlen, "bad container \"%s\" in the helper's answer", key);
        return -1;
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

int dhp_info_decode(const json_t *j, struct dlxc_info *info, bool with_name, char *err,
                    size_t errlen)
{
    const json_t *def = json_object_get(j, "defined"), *sel = json_object_get(j, "selected");
    char name[DHP_NAME_MAX];

    if (!json_is_object(j) || !json_is_boolean(def) || !json_is_boolean(sel)) {
        snprintf(err, errlen, "bad container in the helper's answer");
        return -1;
    }
    if (dhp_info_str(j, "name", name, sizeof(name), err, errlen) < 0 ||
        dhp_info_str(j, "state", info->state, sizeof(info->state), err, errlen) < 0 ||
        dhp_info_str(j, "ip", info->ip, sizeof(info->ip), err, errlen) < 0)
        return -1;
    if (!name[0] || !dhp_component_ok(name)) {
        snprintf(err, errlen, "bad container name in the helper's answer");
        return -1;
    }
    info->defined = json_is_true(def);
    info->selected = json_is_true(sel);
    if (with_name && !(info->name = strdup(name))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* key of j: a non-negative integer, or null (DLXC_RES_NONE). */
static int dhp_res_figure(const json_t *j, const char *key, uint64_t *out, char *err,
                          size_t errlen)
{
    const json_t *v = json_object_get(j, key);

    if (json_is_null(v)) {
        *out = DLXC_RES_NONE;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(err, errlen, "bad container \"%s\" in the helper's answer", key);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int dhp_res_decode(const json_t *j, char *name, struct dlxc_res *r, char *err, size_t errlen)
{
    const json_t *run = json_object_get(j, "running");

    if (!json_is_object(j) || !json_is_boolean(run)) {
        snprintf(err, errlen, "bad container figures in the helper's answer");
        return -1;
    }
    if (dhp_info_str(j, "name", name, DLXC_NAME_LEN, err, errlen) < 0 ||
        dhp_res_figure(j, "cpu_ns", &r->cpu_ns, err, errlen) < 0 ||
        dhp_res_figure(j, "memory", &r->mem_bytes, err, errlen) < 0 ||
        dhp_res_figure(j, "memory_limit", &r->mem_limit, err, errlen) < 0 ||
        dhp_res_figure(j, "pids", &r->pids, err, errlen) < 0)
        return -1;
    r->running = json_is_true(run);
    return 0;
}

int dhp_clone_decode(const json_t *j, const char *prefix, struct dlxc_clone *c, char *err,
                     size_t errlen)
{
    if (dhp_info_str(j, "name", c->name, sizeof(c->name), err, errlen) < 0 ||
        dhp_info_str(j, "state", c->state, sizeof(c->state), err, errlen) < 0 ||
        dhp_info_str(j, "address", c->address, sizeof(c->address), err, errlen) < 0)
        return -1;
    if (!dhp_clone_name(prefix, c->name, NULL)) {
        snprintf(err, errlen, "the helper listed \"%.64s\", not a clone", c->name);
        return -1;
    }
    return 0;
}
