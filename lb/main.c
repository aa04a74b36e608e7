/* lb/main.c - command line, signals, the event loop. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/event.h>
#include <jansson.h>
#include <llhttp.h>
#include <lxc/lxccontainer.h>
#include <openssl/crypto.h>

#include "acme/acme.h"
#include "conf/conf.h"
#include "conf/haproxy.h"
#include "discovery/agent.h"
#include "discovery/helper.h"
#include "lb/ctr.h"
#include "lb/log.h"
#include "lb/mem.h"
#include "lb/notify.h"
#include "lb/privs.h"
#include "lb/proxy.h"
#include "lb/reload.h"
#include "lb/route.h"
#include "lb/tls.h"
#include "lb/worker.h"

#ifndef LXLB_VERSION
#define LXLB_VERSION "dev"
#endif

struct opts {
    const char *file;    /* -f */
    const char *pidfile; /* -p */
    bool check;          /* -c */
    bool daemon;         /* -D */
    bool debug;          /* -d */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: lxlb -f FILE [-d]        run in the foreground, logging to stderr\n"
            "       lxlb -c -f FILE          check FILE and exit (0 valid, 1 invalid)\n"
            "       lxlb -D -p PIDFILE -f FILE  run as a daemon\n"
            "       lxlb -v                  versions\n"
            "       lxlb import-haproxy FILE|-  convert a haproxy.cfg to lxlb JSON\n");
}

static void print_versions(void)
{
    printf("lxlb %s\n", LXLB_VERSION);
    printf("libevent %s\n", event_get_version());
    printf("llhttp %d.%d.%d\n", LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR,
           LLHTTP_VERSION_PATCH);
    printf("jansson %s\n", jansson_version_str());
    printf("OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("liblxc %s\n", lxc_get_version());
}

/* 0 ok, 2 with a one-line error for the caller to exit with. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-f") || !strcmp(a, "-p")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "lxlb: option %s needs an argument\n", a);
                return 2;
            }
            *(a[1] == 'f' ? &o->file : &o->pidfile) = argv[++i];
        } else if (!strcmp(a, "-c")) {
            o->check = true;
        } else if (!strcmp(a, "-D")) {
            o->daemon = true;
        } else if (!strcmp(a, "-d")) {
            o->debug = true;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--version")) {
            print_versions();
            exit(0);
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "lxlb: unknown option '%s' (lxlb -h for help)\n", a);
            return 2;
        }
    }
    if (!o->file) {
        fprintf(stderr, "lxlb: no configuration file (use -f FILE)\n");
        return 2;
    }
    if (o->daemon && !o->pidfile) {
        fprintf(stderr, "lxlb: -D needs -p PIDFILE\n");
        return 2;
    }
    if (access(o->file, R_OK) < 0) {
        fprintf(stderr, "lxlb: cannot read %s: %s\n", o->file, strerror(errno));
        return 2;
    }
    return 0;
}

static void print_errors(const char *err)
{
    const char *p = err;

    while (*p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        if (n > 0)
            fprintf(stderr, "lxlb: %.*s\n", n, p);
        p += n + (nl ? 1 : 0);
    }
}

/* ---------------------------------------------------------------- daemon */

static int write_pidfile(const char *path)
{
    char buf[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0)
        return -1;
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    int rc = write(fd, buf, (size_t)n) == n ? 0 : -1;
    close(fd);
    return rc;
}

/* Double fork so the daemon is no session leader and cannot get a terminal.
 * The first parent waits for a word from the daemon, so a failure after the
 * fork still gives a non-zero exit status to whoever started us. */
static int daemonize(int *ready_fd)
{
    int p[2];

    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        char c = 1;
        close(p[1]);
        ssize_t n = read(p[0], &c, 1);
        _exit(n == 1 && c == 0 ? 0 : 1);
    }
    close(p[0]);
    setsid();
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (chdir("/") < 0)
        return -1;
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (null > 2)
            close(null);
    }
    *ready_fd = p[1];
    return 0;
}

/* A path relative to the current directory, made absolute (static storage). */
static const char *absolute(const char *path)
{
    static char buf[PATH_MAX];
    char cwd[PATH_MAX];

    if (!getcwd(cwd, sizeof(cwd)) ||
        snprintf(buf, sizeof(buf), "%s/%s", cwd, path) >= (int)sizeof(buf))
        return path;
    return buf;
}

static void tell_parent(int *ready_fd, char status)
{
    if (*ready_fd < 0)
        return;
    if (write(*ready_fd, &status, 1) < 0) {
        /* nothing to do: the parent is gone */
    }
    close(*ready_fd);
    *ready_fd = -1;
}

/* --------------------------------------------------------------- signals */

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    log_event(LOG_LVL_INFO, "received %s: graceful stop", sig == SIGINT ? "SIGINT" : "SIGTERM");
    notify_stopping();
    proxy_stop(arg);
}

static void on_reopen(evutil_socket_t sig, short what, void *arg)
{
    (void)sig; (void)what; (void)arg;
    if (log_access_reopen() < 0)
        log_event(LOG_LVL_ERR, "SIGUSR1: cannot reopen the access log: %s", strerror(errno));
    else
        log_event(LOG_LVL_INFO, "SIGUSR1: log files reopened");
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
    (void)sig; (void)what;
    reload_request(arg);
}

/* SIGTERM/SIGINT/SIGHUP/SIGUSR1 are blocked from before the first bind until
 * the loop's handlers exist: a reload or stop sent as soon as the port
 * answers waits for them instead of killing the process (SIGHUP's default). */
static const int handled[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
#define NHANDLED (sizeof(handled) / sizeof(handled[0]))

static void block_signals(int how)
{
    sigset_t set;

    sigemptyset(&set);
    for (size_t i = 0; i < NHANDLED; i++)
        sigaddset(&set, handled[i]);
    sigprocmask(how, &set, NULL);
}

static void free_signals(struct event **evs)
{
    for (size_t i = 0; i < NHANDLED; i++)
        if (evs[i])
            event_free(evs[i]);
}

/* Handlers on base, then the signals unblocked (pending ones are delivered
 * to them, and children forked from now on start with none blocked). */
static int setup_signals(struct event_base *base, struct proxy *px, struct event **evs)
{
    event_callback_fn cbs[] = { on_stop, on_stop, on_reload, on_reopen };

    for (size_t i = 0; i < NHANDLED; i++) {
        evs[i] = evsignal_new(base, handled[i], cbs[i], px);
        if (!evs[i] || evsignal_add(evs[i], NULL) < 0) {
            free_signals(evs);
            return -1;
        }
    }
    block_signals(SIG_UNBLOCK);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = { 0 };
    char err[CONF_ERRLEN];
    int ready_fd = -1, rc;

    if (argc > 1 && !strcmp(argv[1], "agent"))
        return agent_main(argc - 1, argv + 1); /* lxlb agent ...: no proxy */
    if (argc > 1 && !strcmp(argv[1], "import-haproxy"))
        return hap_main(argc - 1, argv + 1); /* haproxy.cfg -> JSON on stdout */
    if (argc > 1 && !strcmp(argv[1], "lxc-helper"))
        return dh_main(argc - 1, argv + 1); /* started by discovery: liblxc as root */
    if ((rc = parse_args(argc, argv, &o)))
        return rc;
    log_set_debug(o.debug);
    /* Reloads read the file again after a daemon's chdir("/"). */
    char *abs = realpath(o.file, NULL);
    if (abs)
        o.file = abs;
    /* So is the pid file, written and removed after chdir("/"). */
    if (o.pidfile && o.pidfile[0] != '/')
        o.pidfile = absolute(o.pidfile);
    struct conf *c = conf_load(o.file, err, sizeof(err));
    free(abs); /* conf keeps its own copy of the path */
    if (!c) {
        print_errors(err);
        return 1;
    }
    /* Certificates are part of the configuration: -c checks them too, and a
     * bad one stops the start before anything is bound. */
    if (tls_conf_load(c, err, sizeof(err)) < 0 ||
        acme_conf_load(c, o.check, err, sizeof(err)) < 0) {
        print_errors(err);
        conf_unref(c);
        return 1;
    }
    if (o.check) {
        printf("%s: configuration is valid\n", c->path);
        conf_unref(c);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    block_signals(SIG_BLOCK);
    notify_init(); /* before any thread or child: it unsets NOTIFY_SOCKET */
    if (log_access_open(c->global.access_log) < 0) {
        fprintf(stderr, "lxlb: cannot open access log %s: %s\n", c->global.access_log,
                strerror(errno));
        conf_unref(c);
        return 1;
    }
    ctr_init(c->global.workers); /* counter slots, before any object exists */
    /* Route indexes hold counters: after ctr_init. */
    if (route_conf_load(c, err, sizeof(err)) < 0) {
        print_errors(err);
        conf_unref(c);
        log_shutdown();
        return 1;
    }
    struct proxy *px = proxy_new(c, err, sizeof(err)); /* binds: before the fork */
    if (px && workers_new(px, err, sizeof(err)) < 0) {
        proxy_free(px);
        px = NULL;
    }
    if (!px) {
        fprintf(stderr, "lxlb: %s\n", err);
        log_shutdown();
        return 1;
    }
    if (o.daemon && (daemonize(&ready_fd) < 0 || write_pidfile(o.pidfile) < 0)) {
        fprintf(stderr, "lxlb: cannot daemonize (pid file %s): %s\n", o.pidfile,
                strerror(errno));
        tell_parent(&ready_fd, 1);
        workers_free();
        proxy_free(px);
        return 1;
    }
    struct event_base *base = event_base_new();
    struct event *sigs[NHANDLED] = { 0 };
    if (base && setup_signals(base, px, sigs) < 0) {
        event_base_free(base);
        base = NULL;
    }
    if (!base || proxy_attach(px, base, err, sizeof(err)) < 0) {
        fprintf(stderr, "lxlb: %s\n", base ? err : "cannot create the event loop");
        tell_parent(&ready_fd, 1);
        workers_free();
        proxy_free(px);
        return 1;
    }
    /* Everything that needs root is done: listeners and the admin socket are
     * bound, certificates and the access log are open. */
    log_attach(base); /* before the workers: the main loop batches in the static buffer */
    if (mem_attach(base, px, err, sizeof(err)) < 0 ||
        privs_drop(&px->conf->global, err, sizeof(err)) < 0 ||
        workers_start(err, sizeof(err)) < 0) {
        fprintf(stderr, "lxlb: %s\n", err);
        tell_parent(&ready_fd, 1);
        workers_free();
        mem_detach();
        proxy_free(px);
        log_shutdown();
        return 1;
    }
    log_event(LOG_LVL_INFO, "lxlb %s started (pid %d)", LXLB_VERSION, (int)getpid());
    tell_parent(&ready_fd, 0);
    notify_ready();
    rc = event_base_dispatch(base);
    log_event(LOG_LVL_INFO, "exiting");
    workers_free(); /* joins the other loops first: they share counters and the log */
    mem_detach();
    proxy_free(px);
    log_shutdown();
    notify_shutdown();
    free_signals(sigs);
    event_base_free(base);
    if (o.daemon)
        unlink(o.pidfile);
    return rc < 0 ? 1 : 0;
}
