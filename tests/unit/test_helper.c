/* tests/unit/test_helper.c - the privileged LXC helper (discovery/helper*.c):
 * its request checks, the answers lxlb accepts, the lxcpath rule, and the
 * real helper loop in a child process, fed well-framed garbage (refused, and
 * it keeps answering) and broken frames (it exits, without crashing). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "discovery/helper-proto.h"
#include "discovery/helper.h"
#include "tests/unit/unit.h"

static char err[DHP_ERR_MAX];

static int decode(const char *json, struct dhp_req *rq)
{
    return dhp_decode_request(json, strlen(json), rq, err, sizeof(err));
}

/* Fails the test when json is accepted, or when the reason lacks frag. */
#define CHECK_REFUSED(json, frag) do { struct dhp_req rq_; \
    CHECK(decode(json, &rq_) < 0); CHECK_CONTAINS(err, frag); } while (0)

#define LIST(extra) "{\"op\":\"list\",\"lxcpath\":\"/var/lib/lxc\",\"group\":\"web\"," \
                    "\"match\":\"*\",\"interface\":\"eth0\"" extra "}"
#define PROBE(name) "{\"op\":\"probe\",\"lxcpath\":\"/var/lib/lxc\",\"group\":null," \
                    "\"interface\":\"eth0\",\"name\":" name "}"

static void helper_requests_valid(void)
{
    struct dhp_req rq;

    CHECK(decode(LIST(""), &rq) == 0);
    CHECK(rq.op == DHP_OP_LIST && rq.has_group);
    CHECK_STR(rq.lxcpath, "/var/lib/lxc");
    CHECK_STR(rq.group, "web");
    CHECK_STR(rq.match, "*");
    CHECK_STR(rq.interface, "eth0");
    CHECK(decode(PROBE("\"web1\""), &rq) == 0);
    CHECK(rq.op == DHP_OP_PROBE && !rq.has_group);
    CHECK_STR(rq.name, "web1");
    CHECK(decode("{\"op\":\"monitor\",\"lxcpath\":\"/srv/lxc\"}", &rq) == 0);
    CHECK(rq.op == DHP_OP_MONITOR);
    CHECK_STR(rq.lxcpath, "/srv/lxc");
}

/* What lxlb builds is what the helper accepts. */
static void helper_requests_round_trip(void)
{
    struct dlxc_conf cf = { .lxcpath = "/var/lib/lxc", .group = NULL, .match = "web*",
                            .interface = "eth1" };
    json_t *reqs[3] = { dhp_req_list(&cf), dhp_req_probe(&cf, "web-1.a"),
                        dhp_req_monitor("/var/lib/lxc") };
    enum dhp_op ops[3] = { DHP_OP_LIST, DHP_OP_PROBE, DHP_OP_MONITOR };
    struct dhp_req rq;

    for (int i = 0; i < 3; i++) {
        char *text = reqs[i] ? json_dumps(reqs[i], JSON_COMPACT) : NULL;
        CHECK(text && decode(text, &rq) == 0 && rq.op == ops[i]);
        free(text);
        json_decref(reqs[i]);
    }
    CHECK_STR(rq.lxcpath, "/var/lib/lxc");
}

static void helper_requests_refused(void)
{
    char big[DHP_PATH_MAX + 64];

    CHECK_REFUSED("", "not JSON");
    CHECK_REFUSED("{\"op\":", "not JSON");
    CHECK_REFUSED("[\"list\"]", "not a JSON object");
    CHECK_REFUSED("{}", "\"op\" must be");
    CHECK_REFUSED("{\"op\":\"exec\",\"lxcpath\":\"/\"}", "\"op\" must be");
    CHECK_REFUSED("{\"op\":7}", "\"op\" must be");
    CHECK_REFUSED(LIST(",\"cmd\":\"id\""), "unknown key \"cmd\"");
    CHECK_REFUSED("{\"op\":\"monitor\",\"lxcpath\":\"/a\",\"name\":\"x\"}", "unknown key");
    CHECK_REFUSED("{\"op\":\"monitor\",\"op\":\"list\",\"lxcpath\":\"/a\"}", "not JSON");
    CHECK_REFUSED("{\"op\":\"monitor\"}", "missing \"lxcpath\"");
    CHECK_REFUSED("{\"op\":\"monitor\",\"lxcpath\":null}", "\"lxcpath\" is not a string");
    CHECK_REFUSED("{\"op\":\"monitor\",\"lxcpath\":[\"/\"]}", "not a string");
    CHECK_REFUSED("{\"op\":\"monitor\",\"lxcpath\":\"\"}", "must be 1 to");
    CHECK_REFUSED("{\"op\":\"monitor\",\"lxcpath\":\"/a\\u0000b\"}", "not JSON");
    CHECK_REFUSED("{\"op\":\"monitor\",\"lxcpath\":\"/a\\nb\"}", "no control character");
    snprintf(big, sizeof(big), "{\"op\":\"monitor\",\"lxcpath\":\"/%0*d\"}", DHP_PATH_MAX, 0);
    CHECK_REFUSED(big, "must be 1 to 4095 bytes");
    CHECK_REFUSED("{\"op\":\"list\",\"lxcpath\":\"/a\",\"group\":null,\"interface\":\"eth0\"}",
                  "missing \"match\"");
    CHECK_REFUSED("{\"op\":\"list\",\"lxcpath\":\"/a\",\"match\":\"*\",\"interface\":\"eth0\"}",
                  "missing \"group\"");
    CHECK_REFUSED("{\"op\":\"list\",\"lxcpath\":\"/a\",\"group\":1,\"match\":\"*\","
                  "\"interface\":\"eth0\"}", "\"group\" is not a string");
    CHECK_REFUSED("{\"op\":\"list\",\"lxcpath\":\"/a\",\"group\":null,\"match\":\"*\","
                  "\"interface\":\"a-very-long-interface\"}", "\"interface\" must be 1 to 15");
    CHECK_REFUSED("{\"op\":\"list\",\"lxcpath\":\"/a\",\"group\":null,\"match\":\"*\","
                  "\"interface\":\"../x\"}", "bad interface");
    CHECK_REFUSED("{\"op\":\"list\",\"lxcpath\":\"/a\",\"group\":null,\"match\":\"*\","
                  "\"interface\":\"eth 0\"}", "bad interface");
    CHECK_REFUSED(PROBE("\"../../etc\""), "bad container name");
    CHECK_REFUSED(PROBE("\"..\""), "bad container name");
    CHECK_REFUSED(PROBE("\"\""), "\"name\" must be 1 to 255");
    CHECK_REFUSED(PROBE("\"a\\u001bb\""), "no control character");
    CHECK_REFUSED(PROBE("null"), "\"name\" is not a string");
}

static int answer(const char *text, json_t **ans)
{
    return dhp_decode_answer(text, strlen(text), ans, err, sizeof(err));
}

static void helper_answers(void)
{
    struct dlxc_info in = { .defined = true, .state = "RUNNING", .selected = true,
                            .ip = "10.0.3.7" }, out;
    json_t *j = dhp_info_json("web1", &in), *ans;
    const char *bad[] = {
        "{\"name\":\"x\",\"defined\":1,\"state\":\"RUNNING\",\"selected\":true,\"ip\":\"\"}",
        "{\"name\":\"x\",\"defined\":true,\"state\":\"RUNNINGRUNNINGRUNNING\","
        "\"selected\":true,\"ip\":\"\"}",
        "{\"name\":\"x\",\"defined\":true,\"state\":\"RUNNING\",\"selected\":true,"
        "\"ip\":\"1111.2222.3333.4444\"}",
        "{\"name\":\"a/b\",\"defined\":true,\"state\":\"RUNNING\",\"selected\":true,\"ip\":\"\"}",
        "{\"defined\":true,\"state\":\"RUNNING\",\"selected\":true,\"ip\":\"\"}",
        "[]",
    };

    memset(&out, 0, sizeof(out));
    CHECK(j && dhp_info_decode(j, &out, true, err, sizeof(err)) == 0);
    CHECK_STR(out.name, "web1");
    CHECK_STR(out.state, "RUNNING");
    CHECK_STR(out.ip, "10.0.3.7");
    CHECK(out.defined && out.selected);
    free(out.name);
    json_decref(j);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = json_loads(bad[i], 0, NULL);
        memset(&out, 0, sizeof(out));
        CHECK(dhp_info_decode(b, &out, true, err, sizeof(err)) < 0);
        CHECK(out.name == NULL);
        json_decref(b);
    }
    CHECK(answer("{\"ok\":false,\"error\":\"no\"}", &ans) < 0);
    CHECK_STR(err, "no");
    CHECK(answer("{\"ok\":1}", &ans) < 0);
    CHECK(answer("{\"ok\":true} x", &ans) < 0);
    CHECK(answer("{\"ok\":true}", &ans) == 0 && ans);
    json_decref(ans);
}

static void helper_group_has(void)
{
    CHECK(dh_group_has("web", "web"));
    CHECK(dh_group_has("blue,web", "web"));
    CHECK(dh_group_has("blue, web\n", "web"));
    CHECK(dh_group_has("blue\nweb", "web"));
    CHECK(!dh_group_has("webby", "web"));
    CHECK(!dh_group_has("", "web"));
    CHECK(!dh_group_has(NULL, "web"));
    CHECK(dh_group_has(NULL, NULL));
    CHECK(dh_group_has("blue", ""));
}

static void helper_lxcpath(void)
{
    char dir[] = "/tmp/lxlb-unit-XXXXXX", sub[64], file[64];

    CHECK(dh_check_lxcpath("/", err, sizeof(err)) == 0);
    CHECK(dh_check_lxcpath("/tmp", err, sizeof(err)) < 0); /* world-writable itself */
    CHECK_CONTAINS(err, "writable by others");
    CHECK(dh_check_lxcpath("/no/such/dir", err, sizeof(err)) < 0);
    CHECK_CONTAINS(err, "No such file");
    CHECK(mkdtemp(dir) != NULL);
    CHECK(dh_check_lxcpath(dir, err, sizeof(err)) == 0); /* in sticky /tmp: fine */
    snprintf(sub, sizeof(sub), "%s/lxc", dir);
    snprintf(file, sizeof(file), "%s/f", dir);
    CHECK(mkdir(sub, 0755) == 0);
    CHECK(dh_check_lxcpath(sub, err, sizeof(err)) == 0);
    CHECK(chmod(dir, 0777) == 0); /* a parent anyone may rename things in */
    CHECK(dh_check_lxcpath(sub, err, sizeof(err)) < 0);
    CHECK_CONTAINS(err, "writable by others");
    CHECK(chmod(dir, 0700) == 0);
    CHECK(close(open(file, O_CREAT | O_WRONLY, 0600)) == 0);
    CHECK(dh_check_lxcpath(file, err, sizeof(err)) < 0);
    CHECK_CONTAINS(err, "not a directory");
    unlink(file);
    rmdir(sub);
    rmdir(dir);
}

/* ------------------------------------------------- the real helper loop -- */

struct child {
    pid_t pid;
    int fd;                         /* our end of its socket */
};

static struct child helper_fork(void)
{
    struct child c = { -1, -1 };
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return c;
    c.pid = fork();
    if (c.pid == 0) {
        /* Its refusals are logged; the test checks them in the answers. */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDERR_FILENO);
        close(sv[0]);
        _exit(dh_serve(sv[1]));
    }
    close(sv[1]);
    c.fd = sv[0];
    return c;
}

/* The helper's exit status, or -1 when it was killed by a signal (crashed). */
static int helper_wait(struct child *c)
{
    int status;

    if (c->fd >= 0)
        close(c->fd);
    if (waitpid(c->pid, &status, 0) != c->pid)
        return -2;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int send_raw(int fd, const void *p, size_t n)
{
    return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

static int send_frame(int fd, const char *text)
{
    uint32_t be = htonl((uint32_t)strlen(text));

    return send_raw(fd, &be, 4) < 0 ? -1 : send_raw(fd, text, strlen(text));
}

/* Send a request, read the answer: 1 ok, 0 refused (err says why), -1 no answer. */
static int ask(struct child *c, const char *text, json_t **ans)
{
    char *buf;
    size_t len;
    int rc;

    *ans = NULL;
    if (send_frame(c->fd, text) < 0 ||
        dhp_recv(c->fd, DHP_MAX_RESPONSE, 10000, &buf, &len, NULL, err, sizeof(err)) != 0)
        return -1;
    rc = dhp_decode_answer(buf, len, ans, err, sizeof(err)) == 0;
    free(buf);
    return rc;
}

static void helper_loop_refuses_and_goes_on(void)
{
    char dir[] = "/tmp/lxlb-unit-XXXXXX", req[512];
    struct child c = helper_fork();
    json_t *ans;
    int p[2];

    CHECK(c.pid > 0 && mkdtemp(dir) != NULL);
    CHECK(ask(&c, "garbage", &ans) == 0);
    CHECK_CONTAINS(err, "not JSON");
    CHECK(ask(&c, "{\"op\":\"exec\",\"cmd\":\"/bin/sh\"}", &ans) == 0);
    CHECK_CONTAINS(err, "\"op\" must be");
    CHECK(ask(&c, PROBE("\"../../../etc\""), &ans) == 0);
    CHECK_CONTAINS(err, "bad container name");
    CHECK(ask(&c, "{\"op\":\"monitor\",\"lxcpath\":\"/tmp\"}", &ans) == 0);
    CHECK_CONTAINS(err, "writable by others");
    /* Still answering, and right: an empty lxcpath has no container. */
    snprintf(req, sizeof(req), "{\"op\":\"list\",\"lxcpath\":\"%s\",\"group\":null,"
             "\"match\":\"*\",\"interface\":\"eth0\"}", dir);
    CHECK(ask(&c, req, &ans) == 1);
    CHECK(json_array_size(json_object_get(ans, "containers")) == 0);
    CHECK(json_is_array(json_object_get(ans, "containers")));
    json_decref(ans);
    snprintf(req, sizeof(req), "{\"op\":\"probe\",\"lxcpath\":\"%s\",\"group\":\"web\","
             "\"interface\":\"eth0\",\"name\":\"nope\"}", dir);
    CHECK(ask(&c, req, &ans) == 1);
    CHECK(json_is_false(json_object_get(json_object_get(ans, "container"), "defined")));
    CHECK_STR(json_string_value(json_object_get(json_object_get(ans, "container"), "state")),
              "STOPPED");
    json_decref(ans);
    /* A descriptor sent along with a request is not kept: once the answer
     * is in, the pipe's write end is open nowhere, so its reader sees EOF. */
    CHECK(pipe(p) == 0);
    {
        json_t *r = json_loads(req, 0, NULL);
        char e2[128], b;
        CHECK(r && dhp_send(c.fd, r, DHP_MAX_REQUEST, p[1], e2, sizeof(e2)) == 0);
        json_decref(r);
        close(p[1]);
        char *buf = NULL;
        size_t len;
        CHECK(dhp_recv(c.fd, DHP_MAX_RESPONSE, 10000, &buf, &len, NULL, e2, sizeof(e2)) == 0);
        free(buf);
        CHECK(read(p[0], &b, 1) == 0);
        close(p[0]);
    }
    CHECK(helper_wait(&c) == 0); /* our end closed: it leaves, status 0 */
    rmdir(dir);
    /* liblxc's lock directory for that lxcpath (as root). */
    snprintf(req, sizeof(req), "/run/lxc/lock%s", dir);
    rmdir(req);
    rmdir("/run/lxc/lock/tmp"); /* only if no one else uses it */
}

/* A frame that breaks the stream ends the helper (status 1), never a crash. */
static void helper_loop_broken_frames(void)
{
    static const unsigned char zero[4] = { 0, 0, 0, 0 };
    static const unsigned char huge[4] = { 0xff, 0xff, 0xff, 0xff };
    static const unsigned char just_over[4] = { 0, 1, 0, 1 }; /* 64 KiB + 1 */
    static const unsigned char cut[6] = { 0, 0, 0, 100, '{', '"' };
    const struct { const void *p; size_t n; } frames[] = {
        { zero, 4 }, { huge, 4 }, { just_over, 4 }, { cut, 6 },
    };

    for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        struct child c = helper_fork();
        CHECK(c.pid > 0);
        CHECK(send_raw(c.fd, frames[i].p, frames[i].n) == 0);
        if (i == 3)
            shutdown(c.fd, SHUT_WR); /* end of file inside the frame */
        CHECK(helper_wait(&c) == 1);
    }
}

UNIT_SUITE(helper_tests) = {
    { "helper_requests_valid", helper_requests_valid },
    { "helper_requests_round_trip", helper_requests_round_trip },
    { "helper_requests_refused", helper_requests_refused },
    { "helper_answers", helper_answers },
    { "helper_group_has", helper_group_has },
    { "helper_lxcpath", helper_lxcpath },
    { "helper_loop_refuses_and_goes_on", helper_loop_refuses_and_goes_on },
    { "helper_loop_broken_frames", helper_loop_broken_frames },
    UNIT_END
};
