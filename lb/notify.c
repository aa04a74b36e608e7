/* lb/notify.c - sd_notify(3) in a few lines: one datagram per state change.
 *
 * We speak the protocol ourselves rather than link libsystemd: it is a single
 * sendto() of text, and keeping the binary free of libsystemd keeps it the
 * same on hosts without systemd. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lb/log.h"
#include "lb/notify.h"

static struct {
    int fd;                   /* datagram socket, -1 when not under systemd */
    struct sockaddr_un addr;  /* where NOTIFY_SOCKET points */
    socklen_t addrlen;
} nt = { .fd = -1 };

void notify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    size_t n;

    if (!path || (path[0] != '/' && path[0] != '@'))
        goto out;
    n = strlen(path);
    if (n >= sizeof(nt.addr.sun_path)) {
        log_event(LOG_LVL_WARN, "NOTIFY_SOCKET too long, systemd will not hear from us");
        goto out;
    }
    nt.addr.sun_family = AF_UNIX;
    memcpy(nt.addr.sun_path, path, n);
    /* An abstract address starts with NUL and its length is exact (no NUL end). */
    if (path[0] == '@')
        nt.addr.sun_path[0] = '\0';
    nt.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
    nt.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (nt.fd < 0)
        log_event(LOG_LVL_WARN, "NOTIFY_SOCKET: socket: %s", strerror(errno));
out:
    unsetenv("NOTIFY_SOCKET");
}

int notify_send(const char *msg)
{
    if (nt.fd < 0)
        return 0;
    if (sendto(nt.fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&nt.addr,
               nt.addrlen) < 0) {
        log_event(LOG_LVL_WARN, "NOTIFY_SOCKET: cannot send \"%.*s\": %s",
                  (int)strcspn(msg, "\n"), msg, strerror(errno));
        return -1;
    }
    return 0;
}

void notify_ready(void)
{
    char msg[64];

    /* MAINPID matters when we daemonized: the pid systemd forked is gone. */
    snprintf(msg, sizeof(msg), "READY=1\nSTATUS=serving\nMAINPID=%d\n", (int)getpid());
    notify_send(msg);
}

void notify_reloading(void)
{
    struct timespec ts;
    char msg[96];

    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof(msg), "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu\n",
             (unsigned long long)ts.tv_sec * 1000000ULL +
                 (unsigned long long)ts.tv_nsec / 1000ULL);
    notify_send(msg);
}

void notify_stopping(void)
{
    notify_send("STOPPING=1\nSTATUS=stopping\n");
}

void notify_shutdown(void)
{
    if (nt.fd >= 0)
        close(nt.fd);
    nt.fd = -1;
}
