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

#include "discovery/cgroup.h"
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

/* ------------------------------------------------- autoscale and stats -- */

#define SCALE(op, extra) "{\"op\":\"" op "\",\"lxcpath\":\"/var/lib/lxc\"," \
    "\"template\":\"web-tpl\",\"prefix\":\"web-auto-\"" extra "}"
#define CLONE(name, extra) SCALE("clone", ",\"name\":" name extra)
#define CLONE_OK(name) CLONE(name, ",\"group\":\"web\",\"address\":\"10.0.3.100/24\"," \
                             "\"snapshot\":true")

static void helper_scale_requests(void)
{
    struct dlxc_scale sc = { "/var/lib/lxc", "web-tpl", "web-auto-" };
    char *names[] = { "web1", "web-auto-3" };
    json_t *reqs[4] = { dhp_req_clone(&sc, "web-auto-12", "web", "10.0.3.100/24", true),
                        dhp_req_scale(DHP_OP_DESTROY, &sc, "web-auto-7"),
                        dhp_req_scale(DHP_OP_SCALE_ALLOW, &sc, NULL),
                        dhp_req_stats("/var/lib/lxc", names, 2) };
    enum dhp_op ops[4] = { DHP_OP_CLONE, DHP_OP_DESTROY, DHP_OP_SCALE_ALLOW, DHP_OP_STATS };
    struct dhp_req rq;
    unsigned num = 0;

    for (int i = 0; i < 4; i++) {
        char *text = reqs[i] ? json_dumps(reqs[i], JSON_COMPACT) : NULL;
        CHECK(text && decode(text, &rq) == 0 && rq.op == ops[i]);
        if (i == 0) {
            CHECK_STR(rq.name, "web-auto-12");
            CHECK_STR(rq.tmpl, "web-tpl");
            CHECK_STR(rq.prefix, "web-auto-");
            CHECK_STR(rq.group, "web");
            CHECK_STR(rq.address, "10.0.3.100/24");
            CHECK(rq.snapshot && rq.has_group);
        }
        free(text);
        json_decref(reqs[i]);
    }
    CHECK(rq.nnames == 2);
    CHECK_STR(rq.names[1], "web-auto-3");
    CHECK(decode(CLONE("\"web-auto-1\"", ",\"group\":null,\"address\":null,"
                       "\"snapshot\":false"), &rq) == 0);
    CHECK(!rq.has_group && !rq.address[0] && !rq.snapshot);
    CHECK(dhp_clone_name("web-auto-", "web-auto-42", &num) && num == 42);
    CHECK(!dhp_clone_name("web-auto-", "web-auto-", NULL));
    CHECK(!dhp_clone_name("web-auto-", "web-auto-042", NULL));
    CHECK(!dhp_clone_name("web-auto-", "web-auto-1234567", NULL));
    CHECK(!dhp_clone_name("web-auto-", "web-auto-1x", NULL));
    CHECK(!dhp_clone_name("web-auto-", "web1", NULL));
}

static void helper_scale_refused(void)
{
    /* Only the prefix and a number: nothing else can be named. */
    CHECK_REFUSED(SCALE("destroy", ",\"name\":\"web1\""), "is not the prefix");
    CHECK_REFUSED(SCALE("stop", ",\"name\":\"web-auto-1/../../x\""), "is not the prefix");
    CHECK_REFUSED(SCALE("start", ",\"name\":\"web-auto-01\""), "is not the prefix");
    CHECK_REFUSED(SCALE("start", ",\"name\":\"web-auto-1234567\""), "is not the prefix");
    CHECK_REFUSED(SCALE("start", ""), "missing \"name\"");
    CHECK_REFUSED("{\"op\":\"start\",\"lxcpath\":\"/l\",\"template\":\"t\","
                  "\"prefix\":\"../\",\"name\":\"../1\"}", "bad prefix");
    CHECK_REFUSED("{\"op\":\"start\",\"lxcpath\":\"/l\",\"template\":\"t\","
                  "\"prefix\":\"*\",\"name\":\"*1\"}", "bad prefix");
    CHECK_REFUSED("{\"op\":\"clones\",\"lxcpath\":\"/l\",\"template\":\"../t\","
                  "\"prefix\":\"w\"}", "bad template");
    CHECK_REFUSED("{\"op\":\"start\",\"lxcpath\":\"/l\",\"template\":\"w1\","
                  "\"prefix\":\"w\",\"name\":\"w1\"}", "the template is not a clone");
    CHECK_REFUSED(SCALE("clones", ",\"name\":\"web-auto-1\""), "unknown key \"name\"");
    CHECK_REFUSED(SCALE("stop", ",\"name\":\"web-auto-1\",\"snapshot\":true"), "unknown key");
    CHECK_REFUSED(CLONE("\"web-auto-1\"", ",\"group\":\"web\",\"address\":null"),
                  "\"snapshot\" must be");
    CHECK_REFUSED(CLONE("\"web-auto-1\"", ",\"group\":\"web,db\",\"address\":null,"
                        "\"snapshot\":true"), "bad group");
    CHECK_REFUSED(CLONE("\"web-auto-1\"", ",\"group\":null,\"address\":\"10.0.3.1\","
                        "\"snapshot\":true"), "bad address");
    CHECK_REFUSED(CLONE("\"web-auto-1\"", ",\"group\":null,\"address\":\"10.0.3.1/33\","
                        "\"snapshot\":true"), "bad address");
    CHECK_REFUSED(CLONE("\"web-auto-1\"", ",\"group\":null,\"address\":\"10.0.3/24\","
                        "\"snapshot\":true"), "bad address");
    CHECK_REFUSED(CLONE("\"web-auto-1\"", ",\"group\":null,\"address\":null,"
                        "\"snapshot\":\"yes\""), "\"snapshot\" must be");
    CHECK_REFUSED("{\"op\":\"stats\",\"lxcpath\":\"/l\",\"names\":\"web1\"}", "\"names\" must be");
    CHECK_REFUSED("{\"op\":\"stats\",\"lxcpath\":\"/l\",\"names\":[\"..\"]}", "bad container");
    CHECK_REFUSED("{\"op\":\"stats\",\"lxcpath\":\"/l\",\"names\":[3]}", "bad container");
}

static void helper_res_answers(void)
{
    struct dlxc_res r = { true, 1500000000, 3 << 20, DLXC_RES_NONE, 7 }, back;
    json_t *j = dhp_res_json("web1", &r);
    char name[DLXC_NAME_LEN];

    CHECK(j && dhp_res_decode(j, name, &back, err, sizeof(err)) == 0);
    CHECK_STR(name, "web1");
    CHECK(back.running && back.cpu_ns == 1500000000 && back.mem_bytes == 3 << 20);
    CHECK(back.mem_limit == DLXC_RES_NONE && back.pids == 7);
    CHECK(json_is_null(json_object_get(j, "memory_limit")));
    json_object_set_new(j, "memory", json_integer(-5));
    CHECK(dhp_res_decode(j, name, &back, err, sizeof(err)) < 0);
    json_decref(j);
}

/* The real loop: nothing changes before scale-allow; only marked clones. */
static void helper_loop_scale_rules(void)
{
    char dir[] = "/tmp/lxlb-unit-XXXXXX", req[1024], path[512];
    struct child c = helper_fork();
    json_t *ans;
    FILE *f;

    CHECK(c.pid > 0 && mkdtemp(dir) != NULL);
#define SREQ(op, extra) (snprintf(req, sizeof(req), "{\"op\":\"" op "\",\"lxcpath\":\"%s\"," \
    "\"template\":\"tpl\",\"prefix\":\"w-\"" extra "}", dir), req)
    CHECK(ask(&c, SREQ("clones", ""), &ans) == 0);
    CHECK_CONTAINS(err, "was not allowed");
    CHECK(ask(&c, SREQ("clone", ",\"name\":\"w-1\",\"group\":null,\"address\":null,"
                       "\"snapshot\":true"), &ans) == 0);
    CHECK_CONTAINS(err, "was not allowed");
    /* Our parent (this test) is root when the suite runs as root. */
    if (geteuid() != 0) {
        CHECK(ask(&c, SREQ("scale-allow", ""), &ans) == 0);
        CHECK_CONTAINS(err, "dropped its privileges");
        CHECK(helper_wait(&c) == 0);
        rmdir(dir);
        return;
    }
    CHECK(ask(&c, SREQ("scale-allow", ""), &ans) == 1);
    json_decref(ans);
    /* Two containers named like clones; only w-1 carries the mark. */
    for (int i = 1; i <= 2; i++) {
        snprintf(path, sizeof(path), "%s/w-%d", dir, i);
        CHECK(mkdir(path, 0755) == 0);
        snprintf(path, sizeof(path), "%s/w-%d/config", dir, i);
        CHECK((f = fopen(path, "w")) != NULL);
        if (f) {
            fprintf(f, "lxc.uts.name = w-%d\n", i);
            fclose(f);
        }
    }
    snprintf(path, sizeof(path), "%s/w-1/" DHP_CLONE_MARK, dir);
    CHECK((f = fopen(path, "w")) != NULL);
    if (f) {
        fputs("template=tpl\n", f);
        fclose(f);
    }
    CHECK(ask(&c, SREQ("clones", ""), &ans) == 1);
    CHECK(json_array_size(json_object_get(ans, "clones")) == 1);
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(ans, "clones"), 0), "name")), "w-1");
    json_decref(ans);
    CHECK(ask(&c, SREQ("destroy", ",\"name\":\"w-2\""), &ans) == 0);
    CHECK_CONTAINS(err, "no clone of tpl made by lxlb");
    CHECK(ask(&c, SREQ("clone", ",\"name\":\"w-1\",\"group\":null,\"address\":null,"
                       "\"snapshot\":true"), &ans) == 0);
    CHECK_CONTAINS(err, "exists already");
    CHECK(ask(&c, SREQ("clone", ",\"name\":\"w-3\",\"group\":null,\"address\":null,"
                       "\"snapshot\":true"), &ans) == 0);
    CHECK_CONTAINS(err, "no template container tpl");
    /* Another template or prefix was never allowed. */
    snprintf(req, sizeof(req), "{\"op\":\"clones\",\"lxcpath\":\"%s\",\"template\":\"w-2\","
             "\"prefix\":\"w-\"}", dir);
    CHECK(ask(&c, req, &ans) == 0);
    CHECK_CONTAINS(err, "was not allowed");
    snprintf(req, sizeof(req), "{\"op\":\"stats\",\"lxcpath\":\"%s\",\"names\":[\"w-1\"]}",
             dir);
    CHECK(ask(&c, req, &ans) == 1);
    CHECK(json_is_false(json_object_get(json_array_get(json_object_get(ans, "containers"), 0),
                                         "running")));
    json_decref(ans);
#undef SREQ
    CHECK(helper_wait(&c) == 0);
    for (int i = 1; i <= 2; i++) {
        snprintf(path, sizeof(path), "%s/w-%d/config", dir, i);
        unlink(path);
        snprintf(path, sizeof(path), "%s/w-%d/" DHP_CLONE_MARK, dir, i);
        unlink(path);
        snprintf(path, sizeof(path), "%s/w-%d", dir, i);
        rmdir(path);
    }
    rmdir(dir);
    snprintf(req, sizeof(req), "/run/lxc/lock%s", dir);
    rmdir(req);
    rmdir("/run/lxc/lock/tmp");
}

/* ------------------------------------------------------------- cgroup -- */

static void helper_cgroup_paths(void)
{
    static const char hybrid_cg[] =
        "9:name=systemd:/lxc.payload.web1\n8:pids:/lxc.payload.web1\n"
        "4:memory:/lxc.payload.web1\n2:cpu,cpuacct:/lxc.payload.web1\n0::/lxc.payload.web1\n";
    static const char hybrid_mi[] =
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime shared:5 - cgroup cgroup rw,pids\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
    static const char v2_cg[] = "0::/lxc.payload.web 2\n";
    static const char v2_mi[] =
        "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "30 22 0:26 /sub /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
    struct dcg_paths p;

    dcg_paths(hybrid_cg, hybrid_mi, &p);
    CHECK_STR(p.unified, "/sys/fs/cgroup/unified/lxc.payload.web1");
    CHECK_STR(p.cpuacct, "/sys/fs/cgroup/cpu,cpuacct/lxc.payload.web1");
    CHECK_STR(p.memory, "/sys/fs/cgroup/memory/lxc.payload.web1");
    CHECK_STR(p.pids, "/sys/fs/cgroup/pids/lxc.payload.web1");
    /* A mount of a sub-tree: its root is cut from the path; outside it, none. */
    dcg_paths("0::/sub/lxc.payload.web\\0402\n", v2_mi, &p);
    CHECK_STR(p.unified, "/sys/fs/cgroup/lxc.payload.web\\0402");
    dcg_paths(v2_cg, v2_mi, &p);
    CHECK_STR(p.unified, "");
    CHECK_STR(p.memory, "");
}

static void put_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "w"))) {
        fputs(text, f);
        fclose(f);
    }
}

static void helper_cgroup_read(void)
{
    char v2[] = "/tmp/lxlb-cg2-XXXXXX", v1[] = "/tmp/lxlb-cg1-XXXXXX";
    struct dcg_paths p;
    struct dlxc_res r;

    CHECK(mkdtemp(v2) && mkdtemp(v1));
    memset(&p, 0, sizeof(p));
    snprintf(p.unified, sizeof(p.unified), "%s", v2);
    put_file(v2, "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n");
    put_file(v2, "memory.current", "52428800\n");
    put_file(v2, "memory.max", "max\n");
    put_file(v2, "pids.current", "12\n");
    dcg_read(&p, &r);
    CHECK(r.cpu_ns == 2500000000ULL && r.mem_bytes == 52428800 && r.pids == 12);
    CHECK(r.mem_limit == DLXC_RES_NONE);
    put_file(v2, "memory.max", "268435456\n");
    dcg_read(&p, &r);
    CHECK(r.mem_limit == 268435456);
    /* Hybrid: v2 has only cpu.stat; the rest from the v1 controllers. */
    snprintf(p.memory, sizeof(p.memory), "%s", v1);
    snprintf(p.pids, sizeof(p.pids), "%s", v1);
    snprintf(p.cpuacct, sizeof(p.cpuacct), "%s", v1);
    put_file(v1, "memory.usage_in_bytes", "3293184\n");
    put_file(v1, "memory.limit_in_bytes", "9223372036854771712\n");
    put_file(v1, "pids.current", "20\n");
    put_file(v1, "cpuacct.usage", "29870982\n");
    unlink(strcat(strcpy((char[64]){ 0 }, v2), "/memory.current"));
    unlink(strcat(strcpy((char[64]){ 0 }, v2), "/memory.max"));
    unlink(strcat(strcpy((char[64]){ 0 }, v2), "/pids.current"));
    dcg_read(&p, &r);
    CHECK(r.cpu_ns == 2500000000ULL); /* v2's cpu.stat first */
    CHECK(r.mem_bytes == 3293184 && r.pids == 20 && r.mem_limit == DLXC_RES_NONE);
    unlink(strcat(strcpy((char[64]){ 0 }, v2), "/cpu.stat"));
    dcg_read(&p, &r);
    CHECK(r.cpu_ns == 29870982);
    /* Nothing readable: every figure unknown. */
    memset(&p, 0, sizeof(p));
    dcg_read(&p, &r);
    CHECK(r.cpu_ns == DLXC_RES_NONE && r.mem_bytes == DLXC_RES_NONE);
    CHECK(r.pids == DLXC_RES_NONE && r.mem_limit == DLXC_RES_NONE);
    const char *files[] = { "memory.usage_in_bytes", "memory.limit_in_bytes", "pids.current",
                            "cpuacct.usage" };
    for (size_t i = 0; i < 4; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", v1, files[i]);
        unlink(path);
    }
    rmdir(v1);
    rmdir(v2);
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
    { "helper_scale_requests", helper_scale_requests },
    { "helper_scale_refused", helper_scale_refused },
    { "helper_res_answers", helper_res_answers },
    { "helper_loop_scale_rules", helper_loop_scale_rules },
    { "helper_cgroup_paths", helper_cgroup_paths },
    { "helper_cgroup_read", helper_cgroup_read },
    UNIT_END
};
