/* admin/admin.c - the admin listener's lifetime: bind admin.bind, serve it
 * with evhttp on the proxy's loop, and close it at exit.
 *
 * There is one admin listener per process, so its state is a static struct.
 * The token is read from px->conf on every request, so a reload that swaps
 * the configuration changes it at once. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/http.h>

#include "admin/admin-int.h"
#include "admin/admin.h"
#include "lb/log.h"
#include "lb/proxy-t.h"

static struct admin admin;

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t admin_now_ms(void) { return clock_ms(CLOCK_REALTIME); }
int64_t admin_mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

static const char *unix_path(const struct conf_addr *a)
{
    return ((const struct sockaddr_un *)&a->ss)->sun_path;
}

static int admin_listen_fd(const struct conf_addr *a, char *err, size_t errlen)
{
    int one = 1;
    int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct stat st;

    if (fd < 0)
        goto err;
    if (a->family == AF_UNIX) {
        /* A socket left by a previous run would make bind fail; never
         * remove anything that is not a socket. */
        if (stat(unix_path(a), &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(unix_path(a));
    } else {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (a->family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, 64) < 0)
        goto err;
    return fd;
err:
    snprintf(err, errlen, "admin: cannot listen on %s: %s", a->text, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static bool same_bind(const struct conf_addr *x, const struct conf_addr *y)
{
    return x->len == y->len && !memcmp(&x->ss, &y->ss, x->len);
}

static void admin_close(void)
{
    admin_history_stop(&admin);
    if (admin.http) {
        evhttp_free(admin.http); /* closes the socket and every admin connection */
        if (admin.bind.family == AF_UNIX)
            unlink(unix_path(&admin.bind));
    }
    admin.http = NULL;
    admin.sock = NULL;
    admin.px = NULL;
    admin.base = NULL;
}

static struct evhttp *admin_http_new(struct event_base *base)
{
    struct evhttp *http = evhttp_new(base);

    if (!http)
        return NULL;
    evhttp_set_max_headers_size(http, ADMIN_MAX_HEADERS);
    evhttp_set_max_body_size(http, ADMIN_MAX_BODY);
    evhttp_set_timeout(http, ADMIN_TIMEOUT_S);
    /* Let every method through: we answer 405 ourselves, with an Allow header. */
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                               EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                               EVHTTP_REQ_PATCH | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
    evhttp_set_gencb(http, admin_http_cb, &admin);
    return http;
}

/* Also called again by a reload with the new configuration: an unchanged bind
 * keeps its socket; a new one is bound before the old one closes, so a bad
 * new bind leaves the admin endpoint where it was. */
int admin_start(struct proxy *px, char *err, size_t errlen)
{
    const struct conf_admin *ca = &px->conf->admin;
    struct evhttp *http;
    struct evhttp_bound_socket *sock = NULL;
    int fd;

    if (!admin.started_ms)
        admin.started_ms = admin_mono_ms();
    if (!ca->enabled) {
        admin_close();
        return 0;
    }
    if (admin.http && admin.base == px->base && same_bind(&admin.bind, &ca->bind)) {
        admin.px = px;
        return 0;
    }
    if ((fd = admin_listen_fd(&ca->bind, err, errlen)) < 0)
        return -1;
    http = admin_http_new(px->base);
    if (!http || !(sock = evhttp_accept_socket_with_handle(http, fd))) {
        snprintf(err, errlen, "admin: cannot serve %s: out of memory", ca->bind.text);
        if (http)
            evhttp_free(http);
        close(fd);
        return -1;
    }
    admin_close();
    admin.http = http;
    admin.sock = sock;
    admin.px = px;
    admin.base = px->base;
    admin.bind = ca->bind;
    if (admin_history_start(&admin, px->base) < 0)
        log_event(LOG_LVL_WARN, "admin: out of memory: the dashboard draws no history");
    log_event(LOG_LVL_INFO, "admin listening on %s%s", ca->bind.text,
              ca->token ? " (token required)" : "");
    return 0;
}

void admin_stop(struct proxy *px)
{
    /* Only the proxy we serve may stop us: after a reload the old one is
     * freed while the new one keeps the listener. */
    if (admin.http && admin.px == px)
        admin_close();
}
