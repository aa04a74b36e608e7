/* discovery/monitor.c - the lxc-monitor child.
 *
 * lxc-monitor prints one line per state change of every container of the
 * lxcpath whose name matches a regex (it connects to lxc-monitord, which it
 * starts when needed). We run it with its stdout on a pipe read by a
 * bufferevent, so lines arrive as events like any socket. Its death shows as
 * EOF on the pipe: we then reap it (this machine's pid 1 reaps nothing, and a
 * zombie per restart would add up) and start it again with backoff. With
 * PR_SET_PDEATHSIG it dies with us even when we are killed with SIGKILL. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "discovery/monitor.h"
#include "lb/log.h"

#define DMON_BACKOFF_MIN_MS 100
#define DMON_BACKOFF_MAX_MS 10000
/* A child that ran this long died of something new: restart it quickly. */
#define DMON_STABLE_MS 30000
/* Longest line we accept: a container name is at most a path component. */
#define DMON_MAX_LINE 1024

static int64_t dmon_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dmon_parse_line(const char *line, char *name, size_t namelen,
                    char *state, size_t statelen)
{
    static const char changed[] = "' changed state to [";
    static const char exited[] = "' exited with status [";
    const char *end, *st;
    size_t n;

    if (line[0] != '\'')
        return -1;
    /* The last marker: a name may hold anything but a slash. */
    if ((end = strstr(line + 1, changed))) {
        st = end + sizeof(changed) - 1;
        const char *close = strchr(st, ']');
        if (!close || close == st || (size_t)(close - st) >= statelen)
            return -1;
        memcpy(state, st, (size_t)(close - st));
        state[close - st] = '\0';
    } else if ((end = strstr(line + 1, exited))) {
        snprintf(state, statelen, "EXITED");
    } else {
        return -1;
    }
    n = (size_t)(end - (line + 1));
    if (n == 0 || n >= namelen)
        return -1;
    memcpy(name, line + 1, n);
    name[n] = '\0';
    return 0;
}

/* PATH lookup once, at start, so the child only has to execv(). */
static char *dmon_find_exe(const char *exe)
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

/* In the child, between fork and exec: async-signal-safe calls only. */
static void dmon_child(const struct dmon *m, int out_fd, pid_t parent)
{
    char *argv[] = { "lxc-monitor", "-P", m->lxcpath, "-n", ".*", NULL };
    struct sigaction sa;
    sigset_t none;
    int devnull;

    /* Die with lxlb, even on SIGKILL; and if lxlb died before this line. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(127);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &sa, NULL); /* lxlb ignores it; lxc-monitor should not */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(out_fd, STDOUT_FILENO) < 0)
        _exit(127);
    devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, STDIN_FILENO);
    /* No listener or client socket of ours may outlive us in the child. */
    if (syscall(SYS_close_range, 3, ~0U, 0) < 0)
        for (int fd = 3; fd < 4096; fd++)
            close(fd);
    execv(m->exe, argv);
    _exit(127);
}

static void dmon_read_cb(struct bufferevent *bev, void *arg);
static void dmon_event_cb(struct bufferevent *bev, short what, void *arg);

static int dmon_spawn(struct dmon *m)
{
    int fds[2];
    pid_t parent = getpid(), pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        log_event(LOG_LVL_ERR, "lxc-monitor: pipe: %s", strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        log_event(LOG_LVL_ERR, "lxc-monitor: fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0)
        dmon_child(m, fds[1], parent);
    close(fds[1]);
    evutil_make_socket_nonblocking(fds[0]);
    m->bev = bufferevent_socket_new(m->base, fds[0], BEV_OPT_CLOSE_ON_FREE);
    if (!m->bev) {
        close(fds[0]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    m->pid = pid;
    m->started_ms = dmon_now_ms();
    bufferevent_setcb(m->bev, dmon_read_cb, NULL, dmon_event_cb, m);
    bufferevent_enable(m->bev, EV_READ);
    log_event(LOG_LVL_INFO, "lxc-monitor started for %s (pid %d)", m->lxcpath, (int)pid);
    return 0;
}

/* Kill (it may be alive with its stdout closed) and reap. After SIGKILL the
 * wait is at most a few microseconds. Returns the wait status. */
static int dmon_reap(struct dmon *m)
{
    int status = 0;

    if (m->bev) {
        bufferevent_free(m->bev);
        m->bev = NULL;
    }
    if (m->pid > 0) {
        kill(m->pid, SIGKILL);
        while (waitpid(m->pid, &status, 0) < 0 && errno == EINTR)
            ;
        m->pid = 0;
    }
    return status;
}

static void dmon_schedule(struct dmon *m)
{
    struct timeval tv = { m->backoff_ms / 1000, (m->backoff_ms % 1000) * 1000 };

    evtimer_add(m->restart, &tv);
}

static void dmon_died(struct dmon *m, const char *why)
{
    int64_t ran = dmon_now_ms() - m->started_ms;
    int status = dmon_reap(m);
    char how[64];

    if (WIFSIGNALED(status))
        snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
    if (ran >= DMON_STABLE_MS)
        m->backoff_ms = DMON_BACKOFF_MIN_MS;
    log_event(LOG_LVL_WARN, "lxc-monitor for %s died (%s, %s) after %lldms; restarting in %ums",
              m->lxcpath, why, how, (long long)ran, m->backoff_ms);
    dmon_schedule(m);
}

static void dmon_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dmon *m = arg;

    (void)fd; (void)what;
    if (m->backoff_ms < DMON_BACKOFF_MAX_MS)
        m->backoff_ms = m->backoff_ms * 2 > DMON_BACKOFF_MAX_MS ? DMON_BACKOFF_MAX_MS
                                                                : m->backoff_ms * 2;
    if (dmon_spawn(m) < 0) {
        dmon_schedule(m);
        return;
    }
    m->restarts++;
    log_event(LOG_LVL_INFO, "lxc-monitor for %s restarted (%u restarts): resyncing",
              m->lxcpath, m->restarts);
    m->on_restart(m->arg, false);
}

static void dmon_read_cb(struct bufferevent *bev, void *arg)
{
    struct dmon *m = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char name[DMON_MAX_LINE], state[32];
    char *line;
    size_t n;

    while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF))) {
        if (dmon_parse_line(line, name, sizeof(name), state, sizeof(state)) == 0)
            m->on_line(m->arg, name, state);
        else if (n > 0)
            log_event(LOG_LVL_DEBUG, "lxc-monitor: ignored line: %.200s", line);
        free(line);
    }
    /* A line this long is no state line: drop it rather than grow forever. */
    if (evbuffer_get_length(in) > DMON_MAX_LINE)
        evbuffer_drain(in, evbuffer_get_length(in));
}

static void dmon_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    dmon_died(arg, (what & BEV_EVENT_EOF) ? "end of output" : "read error");
}

int dmon_start(struct dmon *m, struct event_base *base, const char *lxcpath,
               dmon_line_cb on_line, dmon_restart_cb on_restart, void *arg,
               char *err, size_t errlen)
{
    m->base = base;
    m->on_line = on_line;
    m->on_restart = on_restart;
    m->arg = arg;
    m->backoff_ms = DMON_BACKOFF_MIN_MS;
    m->exe = dmon_find_exe("lxc-monitor");
    if (!m->exe) {
        snprintf(err, errlen, "discovery.lxc: lxc-monitor not found in PATH (install lxc)");
        return -1;
    }
    m->lxcpath = strdup(lxcpath);
    m->restart = evtimer_new(base, dmon_timer_cb, m);
    if (!m->lxcpath || !m->restart) {
        snprintf(err, errlen, "discovery.lxc: out of memory");
        return -1;
    }
    if (dmon_spawn(m) < 0) {
        snprintf(err, errlen, "discovery.lxc: cannot start lxc-monitor for %s", lxcpath);
        return -1;
    }
    on_restart(arg, true);
    return 0;
}

void dmon_stop(struct dmon *m)
{
    dmon_reap(m);
    if (m->restart)
        event_free(m->restart);
    m->restart = NULL;
    free(m->exe);
    free(m->lxcpath);
    m->exe = m->lxcpath = NULL;
}
