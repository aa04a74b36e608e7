/* tests/unit/test_reload.c - a reload is all or nothing.
 *
 * A proxy is built from one configuration and attached to a real loop, with
 * two small HTTP servers on loopback ("A" and "B") behind it. It is then
 * reloaded to a different configuration (a frontend and its listener go, one
 * comes, a listener is added to a kept frontend, a backend goes, one comes, a
 * server is kept with a new weight and cookie, one moves to a new address,
 * one goes, one comes) with the Nth allocation failing, for N = 1, 2, 3...
 * until a reload succeeds without reaching the failure. After every rejected
 * reload the proxy must be exactly the old one (same objects, same
 * generation, same references, same listening sockets) and still serve
 * requests through real sockets; the reload that succeeds must give the new
 * one. Under SANITIZE=1 ASan checks that nothing leaks or is used after
 * being freed on any of these paths. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "conf/conf.h"
#include "lb/backend.h"
#include "lb/proxy.h"
#include "lb/reload.h"
#include "lb/server.h"
#include "tests/unit/failalloc.h"
#include "tests/unit/unit.h"

#define MAX_TRIES 2000 /* allocations a reload may make before we call it a runaway */

/* ------------------------------------------------ the servers behind it */

struct origin;

struct origin_conn {
    struct bufferevent *bev;
    struct origin *o;
    struct origin_conn *next;
};

struct origin {
    const char *name;           /* the body of every answer */
    struct evconnlistener *evl; /* on 127.0.0.1, any port */
    int port;
    struct origin_conn *conns;  /* open connections, freed at the end */
};

static void origin_read_cb(struct bufferevent *bev, void *arg)
{
    struct origin *o = ((struct origin_conn *)arg)->o;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr end;

    /* Heads only (GET): answer each one, keeping the connection. */
    while ((end = evbuffer_search(in, "\r\n\r\n", 4, NULL)).pos >= 0) {
        evbuffer_drain(in, (size_t)end.pos + 4);
        evbuffer_add_printf(bufferevent_get_output(bev),
                            "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                            strlen(o->name), o->name);
    }
}

/* Closed by lxlb (its pool let go, or the proxy was freed). */
static void origin_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct origin_conn *c = arg;

    (void)bev; (void)what;
    for (struct origin_conn **pp = &c->o->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    bufferevent_free(c->bev);
    free(c);
}

static void origin_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
                             struct sockaddr *sa, int salen, void *arg)
{
    struct origin *o = arg;
    struct origin_conn *c = calloc(1, sizeof(*c));

    (void)sa; (void)salen;
    c->bev = bufferevent_socket_new(evconnlistener_get_base(evl), fd, BEV_OPT_CLOSE_ON_FREE);
    c->o = o;
    bufferevent_setcb(c->bev, origin_read_cb, NULL, origin_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->next = o->conns;
    o->conns = c;
}

static void origin_start(struct origin *o, struct event_base *base)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    o->evl = evconnlistener_new_bind(base, origin_accept_cb, o, LEV_OPT_CLOSE_ON_FREE, 64,
                                     (struct sockaddr *)&sin, sizeof(sin));
    getsockname(evconnlistener_get_fd(o->evl), (struct sockaddr *)&sin, &len);
    o->port = ntohs(sin.sin_port);
}

static void origin_stop(struct origin *o)
{
    while (o->conns) {
        struct origin_conn *next = o->conns->next;
        bufferevent_free(o->conns->bev);
        free(o->conns);
        o->conns = next;
    }
    evconnlistener_free(o->evl);
}

/* ---------------------------------------------------------- the client */

struct client {
    struct event_base *base;
    char buf[4096];   /* the whole response */
    size_t n;         /* bytes in buf */
};

static void client_cb(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    ssize_t r = (what & EV_READ) ? recv(fd, c->buf + c->n, sizeof(c->buf) - 1 - c->n, 0) : 0;

    if (r > 0) {
        c->n += (size_t)r;
        return;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    event_base_loopbreak(c->base); /* closed (Connection: close), or timed out */
}

/* GET / through the proxy at sa, running the loop until the answer is in.
 * The body of a 200, or "refused", or "no answer". */
static const char *fetch(struct event_base *base, const struct sockaddr *sa, socklen_t salen,
                         char *out, size_t outlen)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    struct client c = { .base = base };
    struct timeval tv = { 5, 0 };
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (connect(fd, sa, salen) < 0) {
        close(fd);
        return "refused";
    }
    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
        goto none;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    struct event *ev = event_new(base, fd, EV_READ | EV_PERSIST, client_cb, &c);
    event_add(ev, &tv);
    event_base_dispatch(base);
    event_free(ev);
    c.buf[c.n] = '\0';
    const char *body = strstr(c.buf, "\r\n\r\n");
    if (strncmp(c.buf, "HTTP/1.1 200 ", 13) || !body)
        goto none;
    close(fd);
    snprintf(out, outlen, "%s", body + 4);
    return out;
none:
    close(fd);
    return "no answer";
}

static socklen_t tcp_addr(int port, struct sockaddr_storage *ss)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;

    memset(ss, 0, sizeof(*ss));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sizeof(*sin);
}

static socklen_t unix_addr(const char *path, struct sockaddr_storage *ss)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)ss;

    memset(ss, 0, sizeof(*ss));
    sun->sun_family = AF_UNIX;
    snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path);
    return sizeof(*sun);
}

static const char *get_tcp(struct event_base *base, int port, char *out, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = tcp_addr(port, &ss);
    return fetch(base, (struct sockaddr *)&ss, len, out, n);
}

static const char *get_unix(struct event_base *base, const char *path, char *out, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = unix_addr(path, &ss);
    return fetch(base, (struct sockaddr *)&ss, len, out, n);
}

static bool port_free(int port)
{
    struct sockaddr_storage ss;
    socklen_t len = tcp_addr(port, &ss);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = bind(fd, (struct sockaddr *)&ss, len) == 0;

    close(fd);
    return ok;
}

/* A free port below the kernel's ephemeral range, where the other tests on
 * this machine (bind to port 0) never pick theirs: the fresh addresses stay
 * ours between two reloads, while nothing listens on them. Never one of
 * taken[0..n). */
static int quiet_port(const int *taken, size_t n)
{
    static unsigned seed;
    int lo = 32768, hi;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

    if (f) {
        if (fscanf(f, "%d %d", &lo, &hi) != 2)
            lo = 32768;
        fclose(f);
    }
    lo = lo > 11024 ? lo - 10000 : 1024;
    if (!seed)
        seed = (unsigned)getpid();
    for (;;) {
        int port = lo + (int)(rand_r(&seed) % 10000);
        bool dup = false;
        for (size_t i = 0; i < n; i++)
            dup |= taken[i] == port;
        if (!dup && port_free(port))
            return port;
    }
}

/* ------------------------------------------------------------ the bed */

struct bed {
    struct event_base *base;
    struct origin a, b;
    int p_web, p_gone, p_added, p_new; /* frontend ports */
    char sock[64];                     /* a UNIX listener of frontend web */
    char old_json[2048], new_json[2048];
};

/* old: web (p_web, sock) -> b1 {s1, s2, s3 on A}; gone (p_gone) -> b2 {s4 on A}
 * new: web (p_web, sock, p_added) -> b1 {s1 weight 2 cookie c1 on A, s2 now on
 *      B, s5 on B}; new (p_new) -> b3 {s6, s7 on B}
 * health, when asked: b1 checked in both, every 1s in old, 2s in new. */
static void bed_configs(struct bed *t, bool health)
{
    const char *h_old = health ? "\"health\": {\"path\": \"/\", \"interval\": \"1s\"}, " : "";
    const char *h_new = health ? "\"health\": {\"path\": \"/\", \"interval\": \"2s\"}, " : "";
    int a = t->a.port, b = t->b.port;

    snprintf(t->old_json, sizeof(t->old_json),
             "{\"frontends\": ["
             "{\"name\": \"web\", \"bind\": [\"127.0.0.1:%d\", \"unix:%s\"], "
             "\"default_backend\": \"b1\"},"
             "{\"name\": \"gone\", \"bind\": [\"127.0.0.1:%d\"], \"default_backend\": \"b2\"}],"
             "\"backends\": ["
             "{\"name\": \"b1\", %s\"servers\": ["
             "{\"name\": \"s1\", \"address\": \"127.0.0.1:%d\"},"
             "{\"name\": \"s2\", \"address\": \"127.0.0.1:%d\"},"
             "{\"name\": \"s3\", \"address\": \"127.0.0.1:%d\"}]},"
             "{\"name\": \"b2\", \"servers\": [{\"name\": \"s4\", \"address\": \"127.0.0.1:%d\"}]}"
             "]}",
             t->p_web, t->sock, t->p_gone, h_old, a, a, a, a);
    snprintf(t->new_json, sizeof(t->new_json),
             "{\"frontends\": ["
             "{\"name\": \"web\", \"bind\": [\"127.0.0.1:%d\", \"unix:%s\", \"127.0.0.1:%d\"], "
             "\"default_backend\": \"b1\"},"
             "{\"name\": \"new\", \"bind\": [\"127.0.0.1:%d\"], \"default_backend\": \"b3\"}],"
             "\"backends\": ["
             "{\"name\": \"b1\", %s\"servers\": ["
             "{\"name\": \"s1\", \"address\": \"127.0.0.1:%d\", \"weight\": 2, \"cookie\": \"c1\"},"
             "{\"name\": \"s2\", \"address\": \"127.0.0.1:%d\"},"
             "{\"name\": \"s5\", \"address\": \"127.0.0.1:%d\"}]},"
             "{\"name\": \"b3\", \"servers\": ["
             "{\"name\": \"s6\", \"address\": \"127.0.0.1:%d\"},"
             "{\"name\": \"s7\", \"address\": \"127.0.0.1:%d\"}]}"
             "]}",
             t->p_web, t->sock, t->p_added, t->p_new, h_new, a, b, b, b, b);
}

static void bed_start(struct bed *t, bool health)
{
    memset(t, 0, sizeof(*t));
    t->base = event_base_new();
    t->a.name = "A";
    t->b.name = "B";
    origin_start(&t->a, t->base);
    origin_start(&t->b, t->base);
    int *p[] = { &t->p_web, &t->p_gone, &t->p_added, &t->p_new }, taken[4];
    for (size_t i = 0; i < 4; i++)
        *p[i] = taken[i] = quiet_port(taken, i);
    snprintf(t->sock, sizeof(t->sock), "/tmp/lxlb-unit-%d.sock", (int)getpid());
    bed_configs(t, health);
}

static void bed_stop(struct bed *t)
{
    origin_stop(&t->a);
    origin_stop(&t->b);
    event_base_free(t->base);
    unlink(t->sock);
}

static struct conf *load(const char *json)
{
    char err[1024];
    struct conf *c = conf_load_string("t.json", json, err, sizeof(err));

    if (!c)
        fprintf(stderr, "  config: %s\n", err);
    return c;
}

static struct proxy *bed_proxy(struct bed *t, bool replica)
{
    char err[512];
    struct conf *c = load(t->old_json);
    struct proxy *px = !c ? NULL : replica ? proxy_new_replica(c, 1, err, sizeof(err))
                                           : proxy_new(c, err, sizeof(err));

    if (px && proxy_attach(px, t->base, err, sizeof(err)) < 0) {
        proxy_free(px);
        px = NULL;
    }
    if (!px)
        fprintf(stderr, "  proxy: %s\n", err);
    return px;
}

/* ------------------------------------------------------- the snapshot */

#define SNAP_MAX 8

/* Everything a rejected reload must leave as it was. */
struct snap {
    struct conf *conf;
    uint32_t conf_refs;
    size_t nfe, nbe, nlis;
    struct {
        struct frontend *fe;
        const struct conf_frontend *conf;
        struct conf *gen;
        struct backend *backend;
        struct tls_ctx *tls;
        uint32_t refcnt;
    } fe[SNAP_MAX];
    struct {
        struct backend *be;
        const struct conf_backend *conf;
        struct conf *gen;
        uint32_t refcnt;
        size_t nservers;
        struct {
            struct server *s;
            uint32_t weight, refcnt;
            char *cookie;
            struct check *check;
            enum srv_health health;
            bool removed;
        } srv[SNAP_MAX];
    } be[SNAP_MAX];
    struct {
        struct listener *l;
        int fd;
        struct frontend *fe;
        struct evconnlistener *evl;
    } lis[SNAP_MAX];
};

static void snap_take(const struct proxy *px, struct snap *sn)
{
    memset(sn, 0, sizeof(*sn));
    sn->conf = px->conf;
    sn->conf_refs = px->conf->refcnt;
    sn->nfe = px->nfrontends;
    sn->nbe = px->nbackends;
    for (size_t i = 0; i < px->nfrontends && i < SNAP_MAX; i++) {
        struct frontend *fe = px->frontends[i];
        sn->fe[i].fe = fe;
        sn->fe[i].conf = fe->conf;
        sn->fe[i].gen = fe->gen;
        sn->fe[i].backend = fe->backend;
        sn->fe[i].tls = fe->tls;
        sn->fe[i].refcnt = fe->refcnt;
    }
    for (size_t i = 0; i < px->nbackends && i < SNAP_MAX; i++) {
        struct backend *be = px->backends[i];
        sn->be[i].be = be;
        sn->be[i].conf = be->conf;
        sn->be[i].gen = be->gen;
        sn->be[i].refcnt = be->refcnt;
        sn->be[i].nservers = be->nservers;
        for (size_t k = 0; k < be->nservers && k < SNAP_MAX; k++) {
            struct server *s = be->servers[k];
            sn->be[i].srv[k].s = s;
            sn->be[i].srv[k].weight = s->weight;
            sn->be[i].srv[k].refcnt = s->refcnt;
            sn->be[i].srv[k].cookie = s->cookie;
            sn->be[i].srv[k].check = s->check;
            sn->be[i].srv[k].health = s->health;
            sn->be[i].srv[k].removed = s->removed;
        }
    }
    for (struct listener *l = px->listeners; l && sn->nlis < SNAP_MAX; l = l->next) {
        sn->lis[sn->nlis].l = l;
        sn->lis[sn->nlis].fd = l->fd;
        sn->lis[sn->nlis].fe = l->fe;
        sn->lis[sn->nlis].evl = l->evl;
        sn->nlis++;
    }
}

static struct frontend *find_fe(struct proxy *px, const char *name)
{
    for (size_t i = 0; i < px->nfrontends; i++)
        if (!strcmp(px->frontends[i]->name, name))
            return px->frontends[i];
    return NULL;
}

static size_t listeners_of(struct proxy *px, const struct frontend *fe)
{
    size_t n = 0;

    for (struct listener *l = px->listeners; l; l = l->next)
        n += l->fe == fe;
    return n;
}

/* --------------------------------------------------------- the checks */

/* Log lines go to a file while a case runs; shown when it failed. */
static int saved_stderr = -1;
static char log_path[64];

static void quiet_begin(void)
{
    snprintf(log_path, sizeof(log_path), "/tmp/lxlb-unit-%d.log", (int)getpid());
    int fd = open(log_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    fflush(stderr);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

static bool log_has(const char *needle)
{
    static char text[1 << 16];
    int fd = open(log_path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof(text) - 1);

    if (fd >= 0)
        close(fd);
    text[n > 0 ? n : 0] = '\0';
    return strstr(text, needle) != NULL;
}

static void quiet_end(int failed_before)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    if (unit_failed_checks > failed_before) {
        char buf[4096];
        int fd = open(log_path, O_RDONLY | O_CLOEXEC);
        ssize_t n;
        off_t size = fd < 0 ? 0 : lseek(fd, 0, SEEK_END);
        if (fd >= 0)
            lseek(fd, size > 8192 ? size - 8192 : 0, SEEK_SET);
        fprintf(stderr, "  --- the end of the failing case's log:\n");
        while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
            fwrite(buf, 1, (size_t)n, stderr);
        if (fd >= 0)
            close(fd);
    }
    unlink(log_path);
}

/* The old generation, serving: through each of its listeners, to A. */
static void check_old_serves(struct bed *t, struct proxy *px, unsigned long n)
{
    char body[256];
    bool main_loop = px->role->listens_unix;

    if (strcmp(get_tcp(t->base, t->p_web, body, sizeof(body)), "A") ||
        strcmp(get_tcp(t->base, t->p_gone, body, sizeof(body)), "A") ||
        (main_loop && strcmp(get_unix(t->base, t->sock, body, sizeof(body)), "A")) ||
        strcmp(get_tcp(t->base, t->p_new, body, sizeof(body)), "refused") ||
        strcmp(get_tcp(t->base, t->p_added, body, sizeof(body)), "refused")) {
        fprintf(stderr, "  allocation %lu failed: the old configuration does not serve\n", n);
        unit_failed_checks++;
    }
    CHECK(proxy_find_backend(px, "b2") != NULL);
    CHECK(proxy_find_backend(px, "b3") == NULL);
}

/* The new generation, serving, with what was kept kept. */
static void check_new(struct bed *t, struct proxy *px, const struct snap *old)
{
    char body[256];
    struct frontend *web = find_fe(px, "web");
    struct backend *b1 = proxy_find_backend(px, "b1"), *b3 = proxy_find_backend(px, "b3");
    bool main_loop = px->role->listens_unix;

    CHECK(px->nfrontends == 2 && px->nbackends == 2);
    CHECK(px->conf != old->conf);
    CHECK(web == old->fe[0].fe); /* kept, pointing at the new generation */
    CHECK(web && web->gen == px->conf && web->backend == b1);
    CHECK(find_fe(px, "gone") == NULL && find_fe(px, "new") != NULL);
    CHECK(listeners_of(px, web) == (main_loop ? 3u : 2u));
    CHECK(b1 == old->be[0].be && b1->gen == px->conf);
    CHECK(proxy_find_backend(px, "b2") == NULL);
    if (b1) {
        struct server *s1 = be_find_server(b1, "s1"), *s2 = be_find_server(b1, "s2");
        CHECK(b1->nservers == 3 && be_find_server(b1, "s3") == NULL);
        CHECK(be_find_server(b1, "s5") != NULL);
        /* s1 kept (the same object, so its state and pool), s2 replaced. */
        CHECK(s1 && s1 == old->be[0].srv[0].s && s1->weight == 2 && !strcmp(s1->cookie, "c1"));
        CHECK(s2 && s2 != old->be[0].srv[1].s);
    }
    CHECK(b3 && b3->nservers == 2);
    CHECK(!strcmp(get_tcp(t->base, t->p_new, body, sizeof(body)), "B"));
    CHECK(strcmp(get_tcp(t->base, t->p_added, body, sizeof(body)), "refused") != 0);
    CHECK(!strcmp(get_tcp(t->base, t->p_gone, body, sizeof(body)), "refused"));
    if (main_loop)
        CHECK(strcmp(get_unix(t->base, t->sock, body, sizeof(body)), "refused") != 0);
}

/* One reload of a fresh proxy with allocation n failing. 1: rejected, 0:
 * applied without reaching the failure, -1: applied past an injected
 * failure (allowed only after the swap, in the services: lenient). */
static int reload_once(struct bed *t, bool replica, unsigned long n, bool lenient)
{
    struct proxy *px = bed_proxy(t, replica);
    struct conf *nc = load(t->new_json);
    struct snap before, after;
    char err[512] = "", body[64];
    int rc, outcome;

    if (!px || !nc) {
        unit_failed_checks++;
        conf_unref(nc);
        proxy_free(px);
        return 0;
    }
    /* One request first: a pooled connection to A stays through the reload. */
    CHECK(!strcmp(get_tcp(t->base, t->p_web, body, sizeof(body)), "A"));
    snap_take(px, &before);
    failalloc_arm(n);
    rc = proxy_reload(px, nc, err, sizeof(err));
    bool injected = failalloc_disarm();
    if (rc < 0) {
        CHECK(injected);
        CHECK_CONTAINS(err, "out of memory");
        CHECK(nc->refcnt == 1); /* nothing built from it survives */
        snap_take(px, &after);
        if (memcmp(&before, &after, sizeof(before))) {
            fprintf(stderr, "  allocation %lu failed: the proxy changed (%s)\n", n, err);
            unit_failed_checks++;
        }
        check_old_serves(t, px, n);
        conf_unref(nc);
        outcome = 1;
    } else {
        if (injected && !lenient) {
            fprintf(stderr, "  allocation %lu failed after the swap\n", n);
            unit_failed_checks++;
        }
        check_new(t, px, &before);
        outcome = injected ? -1 : 0;
    }
    proxy_free(px);
    return outcome;
}

/* N = 1, 2, ... until the reload reaches no failure. */
static void sweep(bool replica, bool health)
{
    struct bed t;
    unsigned long n, rejected = 0;
    int failed_before = unit_failed_checks;

    bed_start(&t, health);
    quiet_begin();
    for (n = 1; n < MAX_TRIES; n++) {
        int outcome = reload_once(&t, replica, n, health);
        rejected += outcome == 1;
        if (outcome == 0)
            break;
    }
    if (health)
        CHECK(log_has("cannot start health checks")); /* the services' own failures */
    quiet_end(failed_before);
    CHECK(n < MAX_TRIES);
    /* Every allocation of the first step was tried: there are that many. */
    CHECK(rejected >= 20);
    printf("  %s%s: %lu reloads rejected, one at each allocation of the first step\n",
           replica ? "replica" : "main loop", health ? " with checks" : "", rejected);
    bed_stop(&t);
}

static void main_loop_sweep(void) { sweep(false, false); }
static void replica_sweep(void) { sweep(true, false); }
static void checks_sweep(void) { sweep(false, true); }

/* Building a proxy fails cleanly at each of its allocations too (ASan:
 * nothing leaks, nothing freed is touched), and binds nothing it keeps. */
static void build_rejected_at_each_allocation(void)
{
    struct bed t;
    unsigned long n;
    int failed_before = unit_failed_checks;

    bed_start(&t, false);
    quiet_begin();
    for (n = 1; n < MAX_TRIES; n++) {
        char err[512] = "", body[64];
        struct conf *c = load(t.old_json);
        if (!c)
            break;
        failalloc_arm(n);
        struct proxy *px = proxy_new(c, err, sizeof(err));
        bool injected = failalloc_disarm();
        if (!px) {
            CHECK(injected && err[0]);
            CHECK(!strcmp(get_tcp(t.base, t.p_web, body, sizeof(body)), "refused"));
            continue;
        }
        CHECK(!injected);
        proxy_free(px);
        break;
    }
    quiet_end(failed_before);
    CHECK(n > 10 && n < MAX_TRIES);
    bed_stop(&t);
}

/* The wrapper is linked in and counts lxlb's own allocations. */
static void failalloc_works(void)
{
    struct conf_addr a = { .family = AF_INET };

    failalloc_arm(1);
    struct server *s = srv_new("x", NULL, &a, 1, SRV_SRC_STATIC);
    CHECK(failalloc_disarm() && s == NULL);
    failalloc_arm(3);
    char *p = strdup("1"), *q = strdup("2"), *r = strdup("3"), *u = strdup("4");
    CHECK(failalloc_disarm());
    CHECK(p && q && !r && u);
    free(p);
    free(q);
    free(u);
}

/* A reload the proxy cannot apply while stopping (a file read still under
 * way when SIGTERM came) changes nothing either. */
static void reload_while_stopping(void)
{
    struct bed t;
    int failed_before = unit_failed_checks;

    bed_start(&t, false);
    quiet_begin();
    struct proxy *px = bed_proxy(&t, false);
    struct conf *nc = load(t.new_json);
    char err[256];
    if (px && nc) {
        proxy_stop(px);
        CHECK(proxy_reload(px, nc, err, sizeof(err)) < 0);
        CHECK(px->listeners == NULL); /* none reopened */
    }
    conf_unref(nc);
    proxy_free(px);
    quiet_end(failed_before);
    bed_stop(&t);
}

UNIT_SUITE(reload_tests) = {
    { "failalloc_counts_lxlb_allocations", failalloc_works },
    { "reload_rejected_at_each_allocation", main_loop_sweep },
    { "reload_replica_rejected_at_each_allocation", replica_sweep },
    { "reload_with_checks_rejected_at_each_allocation", checks_sweep },
    { "reload_while_stopping_changes_nothing", reload_while_stopping },
    { "proxy_build_rejected_at_each_allocation", build_rejected_at_each_allocation },
    UNIT_END
};
