/* discovery/helper-client.c - starting the LXC helper and asking it.
 *
 * The helper is this very binary, exec'ed as `lxlb lxc-helper` with its end
 * of a socketpair on fd 3: a fresh process image holds none of lxlb's
 * listeners, keys or threads, and a fork from a threaded process may run
 * nothing but exec anyway. The exec is checked through a close-on-exec pipe,
 * so that a helper that cannot start is an error at once, not a silence.
 *
 * Reloads stop and start discovery, not the helper. At exit we close its
 * socket, which tells it to go, and reap it: this machine's pid 1 may reap
 * nothing, and a zombie per run would add up. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "discovery/helper-client.h"
#include "discovery/helper-proto.h"
#include "lb/log.h"

#define DHC_TIMEOUT_MS 60000  /* no answer this long: the helper is stuck */
#define DHC_REAP_MS 2000      /* how long we wait for a helper told to go */

static struct dhc dhc = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

/* ------------------------------------------------------------- process -- */

/* A helper started now has our identity: only while it is the one lxlb was
 * started with (before privs_drop) can it do what the first one did. */
static bool dhc_may_spawn(void)
{
    return geteuid() == getauxval(AT_EUID) && getuid() == getauxval(AT_UID);
}

/* Our executable, by name: valgrind runs its own binary as /proc/self/exe
 * and follows an exec only by name. Once the file was replaced (an upgrade),
 * the name is another program: then /proc/self/exe, still this one. */
static void dhc_exe(char *out, size_t size)
{
    static const char deleted[] = " (deleted)";
    ssize_t n = readlink("/proc/self/exe", out, size - 1);
    size_t d = sizeof(deleted) - 1;

    if (n <= 0 || (size_t)n >= size - 1 || out[0] != '/' ||
        ((size_t)n >= d && !memcmp(out + n - d, deleted, d))) {
        snprintf(out, size, "/proc/self/exe");
        return;
    }
    out[n] = '\0';
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void dhc_child(const char *exe, int sock, int errfd)
{
    char *argv[] = { "lxlb", "lxc-helper", NULL };
    int s = fcntl(sock, F_DUPFD, 10), e = fcntl(errfd, F_DUPFD, 10), devnull, code;
    sigset_t none;

    if (s < 0 || e < 0 || dup2(s, DH_FD) < 0 || dup2(e, DH_FD + 1) < 0 ||
        fcntl(DH_FD + 1, F_SETFD, FD_CLOEXEC) < 0)
        _exit(127);
    devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, STDIN_FILENO);
    /* The worker thread, which may start a helper, blocks every signal. */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* No listener or client socket of ours may live on in the helper. */
    if (syscall(SYS_close_range, DH_FD + 2, ~0U, 0) < 0)
        for (int fd = DH_FD + 2; fd < 4096; fd++)
            close(fd);
    execv(exe, argv);
    code = errno;
    if (write(DH_FD + 1, &code, sizeof(code)) < 0)
        _exit(127);
    _exit(127);
}

/* Wait up to ms for pid. true when reaped, with its status. */
static bool dhc_reap(pid_t pid, int *status, int ms)
{
    struct timespec step = { 0, 10 * 1000000 };

    for (int waited = 0;; waited += 10) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return r == pid;
        if (waited >= ms)
            return false;
        nanosleep(&step, NULL);
    }
}

static void dhc_exit(void)
{
    pid_t pid = dhc.pid;
    int status;

    /* Held by a worker thread still asking: let the process end as it is. */
    if (pthread_mutex_trylock(&dhc.lock) != 0 || dhc.fd < 0)
        return;
    close(dhc.fd);
    dhc.fd = -1;
    if (!dhc_reap(pid, &status, DHC_REAP_MS) && kill(pid, SIGKILL) == 0)
        dhc_reap(pid, &status, 100);
    /* Left locked: nothing may start a helper now. */
}

static int dhc_spawn(char *err, size_t errlen)
{
    char exe[4096];
    int sv[2], ep[2], code;
    ssize_t n;
    pid_t pid;

    if (!dhc_may_spawn()) {
        snprintf(err, errlen, "no LXC helper, and lxlb cannot start one after dropping its "
                              "privileges: restart lxlb");
        return -1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(err, errlen, "LXC helper: socketpair: %s", strerror(errno));
        return -1;
    }
    if (pipe2(ep, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "LXC helper: pipe: %s", strerror(errno));
        goto err_sv;
    }
    dhc_exe(exe, sizeof(exe));
    pid = fork();
    if (pid == 0)
        dhc_child(exe, sv[1], ep[1]);
    close(ep[1]);
    if (pid < 0) {
        snprintf(err, errlen, "LXC helper: fork: %s", strerror(errno));
        close(ep[0]);
        goto err_sv;
    }
    /* End of file: the exec worked. An int: its errno. */
    do
        n = read(ep[0], &code, sizeof(code));
    while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n == (ssize_t)sizeof(code)) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        snprintf(err, errlen, "cannot start the LXC helper: exec %s: %s", exe, strerror(code));
        goto err_sv;
    }
    close(sv[1]);
    dhc.fd = sv[0];
    dhc.pid = pid;
    if (!dhc.exit_hook)
        dhc.exit_hook = atexit(dhc_exit) == 0;
    log_event(LOG_LVL_INFO, "lxc helper started (pid %d)", (int)pid);
    return 0;
err_sv:
    close(sv[0]);
    close(sv[1]);
    return -1;
}

/* The helper failed us (why): end it, reap it, say what became of it. */
static void dhc_lost(const char *why)
{
    pid_t pid = dhc.pid;
    char how[64] = "still running";
    int status;

    close(dhc.fd);
    dhc.fd = -1;
    dhc.pid = 0;
    kill(pid, SIGKILL); /* EPERM once we are not root: end of file ends it */
    if (dhc_reap(pid, &status, DHC_REAP_MS)) {
        if (WIFSIGNALED(status))
            snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
        else
            snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
    }
    log_event(LOG_LVL_ERR, "lxc helper (pid %d) lost: %s (%s); %s", (int)pid, why, how,
              dhc_may_spawn() ? "starting another"
                              : "lxlb dropped its privileges and cannot start another: "
                                "discovery.lxc follows no container until lxlb restarts");
}

/* ------------------------------------------------------------ requests -- */

/* One exchange with the running helper. 0 ok, -1 refused (err), -2 the
 * helper is gone or broken (err). */
static int dhc_exchange(const json_t *req, json_t **ans, int *passed, char *err,
                        size_t errlen)
{
    char *buf;
    size_t len;
    int rc;

    if (dhp_send(dhc.fd, req, DHP_MAX_REQUEST, -1, err, errlen) < 0)
        return errno == EMSGSIZE ? -1 : -2;
    rc = dhp_recv(dhc.fd, DHP_MAX_RESPONSE, DHC_TIMEOUT_MS, &buf, &len, passed, err, errlen);
    if (rc > 0)
        snprintf(err, errlen, "it closed its socket");
    if (rc != 0)
        return -2;
    rc = dhp_decode_answer(buf, len, ans, err, errlen);
    free(buf);
    if (rc < 0 && passed && *passed >= 0) {
        close(*passed);
        *passed = -1;
    }
    return rc;
}

/* Ask req (consumed). 0 with *ans (a new reference), or -1 with err. */
static int dhc_call(json_t *req, json_t **ans, int *passed, char *err, size_t errlen)
{
    int rc = -1;

    *ans = NULL;
    if (!req) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&dhc.lock);
    /* A helper lost during the exchange is replaced and asked again, once. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (dhc.fd < 0 && dhc_spawn(err, errlen) < 0)
            break;
        rc = dhc_exchange(req, ans, passed, err, errlen);
        if (rc != -2)
            break;
        dhc_lost(err);
        rc = -1;
    }
    pthread_mutex_unlock(&dhc.lock);
    json_decref(req);
    return rc;
}

int dhc_start(char *err, size_t errlen)
{
    int rc = 0;

    /* Busy: a worker is talking to it, so it runs. */
    if (pthread_mutex_trylock(&dhc.lock) != 0)
        return 0;
    if (dhc.fd < 0)
        rc = dhc_spawn(err, errlen);
    pthread_mutex_unlock(&dhc.lock);
    return rc;
}

int dhc_list(const struct dlxc_conf *cf, struct dlxc_info **infos, size_t *n, char *err,
             size_t errlen)
{
    json_t *ans, *arr;
    size_t count;

    *infos = NULL;
    *n = 0;
    if (dhc_call(dhp_req_list(cf), &ans, NULL, err, errlen) < 0)
        return -1;
    arr = json_object_get(ans, "containers");
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "bad answer from the LXC helper: no \"containers\"");
        goto err;
    }
    count = json_array_size(arr);
    if (!(*infos = calloc(count + 1, sizeof(**infos)))) {
        snprintf(err, errlen, "out of memory for %zu containers", count);
        goto err;
    }
    for (; *n < count; (*n)++)
        if (dhp_info_decode(json_array_get(arr, *n), &(*infos)[*n], true, err, errlen) < 0)
            goto err;
    json_decref(ans);
    return 0;
err:
    for (size_t i = 0; i < *n; i++)
        free((*infos)[i].name);
    free(*infos);
    *infos = NULL;
    *n = 0;
    json_decref(ans);
    return -1;
}

int dhc_probe(const struct dlxc_conf *cf, struct dlxc_info *info, char *err, size_t errlen)
{
    json_t *ans;
    int rc;

    if (dhc_call(dhp_req_probe(cf, info->name), &ans, NULL, err, errlen) < 0)
        return -1;
    rc = dhp_info_decode(json_object_get(ans, "container"), info, false, err, errlen);
    json_decref(ans);
    return rc;
}

int dhc_monitor(const char *lxcpath, int *fd, pid_t *pid, char *err, size_t errlen)
{
    json_t *ans;
    json_int_t p;

    *fd = -1;
    if (dhc_call(dhp_req_monitor(lxcpath), &ans, fd, err, errlen) < 0)
        return -1;
    p = json_integer_value(json_object_get(ans, "pid"));
    json_decref(ans);
    if (*fd < 0 || p <= 0) {
        snprintf(err, errlen, "bad answer from the LXC helper: no monitor output or pid");
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        return -1;
    }
    *pid = (pid_t)p;
    return 0;
}

int dhc_stats(const char *lxcpath, char *const *names, size_t n, struct dlxc_res *res,
              char *err, size_t errlen)
{
    json_t *ans, *arr;
    char name[DLXC_NAME_LEN];
    int rc = -1;

    if (dhc_call(dhp_req_stats(lxcpath, names, n), &ans, NULL, err, errlen) < 0)
        return -1;
    arr = json_object_get(ans, "containers");
    if (!json_is_array(arr) || json_array_size(arr) != n) {
        snprintf(err, errlen, "bad answer from the LXC helper: not %zu containers", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (dhp_res_decode(json_array_get(arr, i), name, &res[i], err, errlen) < 0)
            goto out;
        if (strcmp(name, names[i])) {
            snprintf(err, errlen, "bad answer from the LXC helper: %s for %s", name, names[i]);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(ans);
    return rc;
}

/* One scale request (consumed); *ms from the answer when wanted. */
static int dhc_scale_call(json_t *req, uint32_t *ms, json_t **keep, char *err, size_t errlen)
{
    json_t *ans;

    if (dhc_call(req, &ans, NULL, err, errlen) < 0)
        return -1;
    if (ms)
        *ms = (uint32_t)json_integer_value(json_object_get(ans, "ms"));
    if (keep)
        *keep = ans;
    else
        json_decref(ans);
    return 0;
}

int dhc_scale_allow(const struct dlxc_scale *sc, char *err, size_t errlen)
{
    return dhc_scale_call(dhp_req_scale(DHP_OP_SCALE_ALLOW, sc, NULL), NULL, NULL, err, errlen);
}

int dhc_clones(const struct dlxc_scale *sc, struct dlxc_clone **out, size_t *n, char *err,
               size_t errlen)
{
    json_t *ans, *arr;
    size_t count;

    *out = NULL;
    *n = 0;
    if (dhc_scale_call(dhp_req_scale(DHP_OP_CLONES, sc, NULL), NULL, &ans, err, errlen) < 0)
        return -1;
    arr = json_object_get(ans, "clones");
    count = json_array_size(arr);
    if (!json_is_array(arr) || !(*out = calloc(count + 1, sizeof(**out)))) {
        snprintf(err, errlen, json_is_array(arr) ? "out of memory"
                                                 : "bad answer from the LXC helper: no clones");
        goto err;
    }
    for (; *n < count; (*n)++)
        if (dhp_clone_decode(json_array_get(arr, *n), sc->prefix, &(*out)[*n], err, errlen) < 0)
            goto err;
    json_decref(ans);
    return 0;
err:
    free(*out);
    *out = NULL;
    *n = 0;
    json_decref(ans);
    return -1;
}

int dhc_clone(const struct dlxc_scale *sc, const char *name, const char *group,
              const char *address, bool *snapshot, uint32_t *ms, char *err, size_t errlen)
{
    json_t *ans;

    if (dhc_scale_call(dhp_req_clone(sc, name, group, address, *snapshot), ms, &ans, err,
                       errlen) < 0)
        return -1;
    *snapshot = json_is_true(json_object_get(ans, "snapshot"));
    json_decref(ans);
    return 0;
}

int dhc_clone_start(const struct dlxc_scale *sc, const char *name, uint32_t *ms, char *err,
                    size_t errlen)
{
    return dhc_scale_call(dhp_req_scale(DHP_OP_START, sc, name), ms, NULL, err, errlen);
}

int dhc_clone_stop(const struct dlxc_scale *sc, const char *name, uint32_t *ms, char *err,
                   size_t errlen)
{
    return dhc_scale_call(dhp_req_scale(DHP_OP_STOP, sc, name), ms, NULL, err, errlen);
}

int dhc_clone_destroy(const struct dlxc_scale *sc, const char *name, uint32_t *ms, char *err,
                      size_t errlen)
{
    return dhc_scale_call(dhp_req_scale(DHP_OP_DESTROY, sc, name), ms, NULL, err, errlen);
}
