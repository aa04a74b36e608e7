/* conf/conf-t.h - the validated, immutable configuration: one "generation" per
 * load or reload. Types only; the functions are in conf/conf.h.
 *
 * Everything here is plain data built by conf_load(): no sockets, no libevent.
 * Strings are owned by the struct conf and freed by conf_free(). Durations are
 * milliseconds. Defaults are filled in, so users of a struct conf never have to
 * ask "was this key present?" (except where a field says so). */
#ifndef LXLB_CONF_T_H
#define LXLB_CONF_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONF_ERRLEN 8192 /* a good size for the caller-owned error buffer */

/* An address as written in the config ("host:port", ":port", "[v6]:port",
 * "unix:/path"), resolved once at load time. */
struct conf_addr {
    struct sockaddr_storage ss; /* ready for bind()/connect() */
    socklen_t len;              /* bytes of ss in use */
    int family;                 /* AF_INET, AF_INET6 or AF_UNIX */
    char text[120];             /* as written, for logs and stats */
};

struct conf_timeouts {
    uint32_t connect_ms;      /* server connect, default 5000 */
    uint32_t client_ms;       /* client inactivity mid-transfer, default 50000 */
    uint32_t server_ms;       /* server inactivity / response wait, default 50000 */
    uint32_t keepalive_ms;    /* idle client between requests, default 10000 */
    uint32_t http_request_ms; /* whole request head must arrive in, default 10000 */
    uint32_t tunnel_ms;       /* an Upgrade tunnel (after 101) idle in both directions,
                               * default 3600000 */
};

/* Request-size limits (an lxlb extension under defaults.limits). */
struct conf_limits {
    uint32_t request_line; /* bytes of method+target+version, default 8192 (414) */
    uint32_t header_size;  /* bytes of the whole header block, default 32768 (431) */
    uint32_t header_count; /* number of header fields, default 100 (431) */
};

/* HTTP/2 to clients (an lxlb extension: defaults.h2, and frontends[].h2 for
 * one frontend, key by key over the defaults). */
struct conf_h2 {
    uint32_t max_concurrent_streams; /* streams open at once per connection, default 100 */
    uint32_t initial_window;         /* bytes a stream's request body may run ahead of
                                      * lxlb's reading (its flow-control window),
                                      * default 65535 */
    uint32_t max_header_list;        /* bytes of a request's header list as RFC 9113
                                      * counts them (name + value + 32 each), default 32768 */
};

struct conf_global {
    uint32_t maxconn;   /* client connections at once, default 20000 */
    uint32_t workers;   /* event loops (threads), default 1 */
    uint32_t grace_ms;  /* graceful stop limit, default 10000 */
    char *user;         /* drop to this user after binding, NULL: stay */
    char *group;        /* drop to this group after binding, NULL: stay */
    char *chroot;       /* chroot here after binding, NULL: none */
    char *access_log;   /* "stderr" (default), "off", "syslog" or a file path */
};

struct conf_admin {
    bool enabled;          /* false when "admin" is absent or has no bind */
    struct conf_addr bind; /* where the admin listener binds */
    char *token;           /* Bearer token, NULL: none (loopback/unix only) */
};

struct conf_cert {
    char *cert; /* PEM certificate file (chain allowed) */
    char *key;  /* PEM private key file */
};

struct conf_tls {
    bool enabled;           /* false when "tls" is absent */
    struct conf_cert *certs; /* [0] is the default ("cert"/"key"), then "certs" */
    size_t ncerts;          /* entries in certs; >= 1 when enabled without acme */
    char **acme;            /* "acme": DNS names whose certificates lxlb obtains
                             * (lower case, no duplicates); the default certificate
                             * when there is no "cert" is acme[0]'s */
    size_t nacme;           /* entries in acme (0: none); ncerts + nacme >= 1 */
    void *loaded;           /* the certificates in memory (lb/tls.c's struct tls_ctx),
                             * NULL until tls_conf_load(); conf never looks inside */
    void (*loaded_free)(void *); /* releases loaded when the generation is freed */
};

struct conf_header {
    char *name;  /* header field name as written */
    char *value; /* value to set (replaces any existing field) */
};

struct conf_backend;
struct route_table;

/* A PROXY protocol header lxlb sends first on a new server connection. */
enum conf_send_proxy {
    CONF_SEND_PROXY_NONE = 0, /* absent: none */
    CONF_SEND_PROXY_V1,       /* "v1": the text header */
    CONF_SEND_PROXY_V2,       /* "v2": the binary header */
};

/* A route's answer when lxlb redirects instead of forwarding. */
struct conf_redirect {
    bool enabled;       /* false: the route names a backend */
    char *scheme;       /* "http" or "https" (keep host and path), NULL: location */
    char *location;     /* absolute http(s) URL as written, NULL: scheme */
    size_t base_len;    /* bytes of location the request's path is appended to
                         * (keep_path): a trailing '/' is left out */
    uint16_t code;      /* 301, 302, 303, 307 or 308; default 301 */
    bool keep_path;     /* append the request's path and query, default true */
};

enum conf_host_match {
    CONF_HOST_ANY = 0, /* no "host": every request */
    CONF_HOST_EXACT,   /* "shop.example.com": that name */
    CONF_HOST_SUFFIX,  /* "*.example.com": any name ending in ".example.com" */
};

#define CONF_HOST_MAX 255 /* bytes of a host name in a route (DNS: 253) */

/* frontends[].routes[]: checked in order, the first that matches wins. */
struct conf_route {
    uint32_t index;                 /* position in its frontend's routes */
    char *host;                     /* as written, NULL: any host */
    enum conf_host_match host_match; /* how host_key is compared */
    char *host_key;                 /* lowercased, no trailing dot; SUFFIX: with its
                                     * leading dot (".example.com"); NULL: any host */
    size_t host_key_len;            /* bytes of host_key */
    char *path_prefix;              /* compared with the path before '?', byte for
                                     * byte; NULL: any path */
    size_t path_prefix_len;         /* bytes of path_prefix */
    uint64_t methods;               /* bit n set: llhttp method n (enum llhttp_method)
                                     * matches; 0: any method */
    char *backend_name;             /* as written, NULL: a redirect */
    struct conf_backend *backend;   /* resolved backend_name, NULL: a redirect */
    struct conf_redirect redirect;  /* .enabled: lxlb answers with a redirect */
};

struct conf_frontend {
    char *name;                     /* unique among frontends */
    struct conf_addr *binds;        /* listen addresses */
    size_t nbinds;                  /* entries in binds, >= 1 */
    struct conf_tls tls;            /* TLS termination, .enabled false: plain */
    char *default_backend;          /* name as written, NULL: none (only with routes) */
    struct conf_backend *backend;   /* resolved default_backend, NULL: none, so a
                                     * request no route matches gets 404 */
    bool forwardfor;                /* append client address to X-Forwarded-For */
    struct conf_header *set_headers; /* request headers set before forwarding */
    size_t nset_headers;            /* entries in set_headers */
    bool accept_proxy;              /* a PROXY protocol header (v1 or v2) comes
                                     * first on each connection */
    bool http_close;                /* as HAProxy "option httpclose" in a frontend:
                                     * close the client connection after each
                                     * response (and the server's, as a backend's) */
    struct conf_route *routes;      /* in order; the first that matches wins */
    size_t nroutes;                 /* entries in routes */
    struct route_table *route_table; /* routes indexed for matching (lb/route.c),
                                     * NULL until route_conf_load(); conf never
                                     * looks inside */
    void (*route_table_free)(struct route_table *); /* releases route_table */
    bool http2;                     /* TLS: offer ALPN h2 (default true); plain: also
                                     * accept prior-knowledge h2c (default false) */
    struct conf_h2 h2;              /* its HTTP/2 limits (defaults.h2 where not set) */
};

/* One passing status range of health.expect, e.g. 200-399. */
struct conf_status_range {
    uint16_t lo; /* first passing status */
    uint16_t hi; /* last passing status (inclusive) */
};

#define CONF_MAX_EXPECT 16 /* status ranges in health.expect */

struct conf_health {
    bool enabled;           /* false when "health" is absent */
    char *path;             /* GET this path, default "/" */
    uint32_t interval_ms;   /* between checks, default 5000 */
    uint32_t timeout_ms;    /* one check must answer within, default 2000 */
    uint32_t rise;          /* passes in a row to go up, default 2 */
    uint32_t fall;          /* failures in a row to go down, default 3 */
    struct conf_status_range expect[CONF_MAX_EXPECT]; /* default 200-399 */
    size_t nexpect;         /* entries in expect, >= 1 */
};

enum conf_cookie_mode {
    CONF_COOKIE_NONE = 0, /* "cookie" absent: no stickiness */
    CONF_COOKIE_INSERT,   /* lxlb adds NAME=<server cookie> */
    CONF_COOKIE_PREFIX,   /* server's NAME=v becomes NAME=<srv>~v */
    CONF_COOKIE_REWRITE,  /* server's NAME value replaced by <srv> */
};

struct conf_cookie {
    enum conf_cookie_mode mode; /* CONF_COOKIE_NONE: off */
    char *name;                 /* cookie name, default "JSESSIONID"... required when on */
    bool indirect;              /* as HAProxy's "indirect" */
    bool nocache;               /* as HAProxy's "nocache" */
    bool httponly;              /* add HttpOnly to inserted cookies */
    bool secure;                /* add Secure to inserted cookies */
};

struct conf_server {
    char *name;            /* unique within its backend */
    struct conf_addr addr; /* where to connect */
    uint32_t weight;       /* 0..256, default 1; 0 = never picked by the balancer */
    char *cookie;          /* sticky cookie value, default: the name */
    enum conf_send_proxy send_proxy; /* PROXY header to this server, default:
                                      * its backend's */
};

struct conf_lxc {
    bool enabled;          /* false when discovery.lxc is absent */
    char *lxcpath;         /* default "/var/lib/lxc" */
    char *group;           /* lxc.group to select, NULL: any */
    char *match;           /* glob on the container name, default "*" */
    uint16_t port;         /* server port, default 80 */
    char *interface;       /* take the first IPv4 of this, default "eth0" */
    uint32_t ip_timeout_ms; /* wait this long for an address, default 30000 */
};

struct conf_etcd {
    bool enabled;       /* false when discovery.etcd is absent */
    char **endpoints;   /* "http://host:port", default ["http://127.0.0.1:2379"] */
    size_t nendpoints;  /* entries in endpoints, >= 1 when enabled */
    char *prefix;       /* key prefix, default "/lxlb/<backend name>/" */
};

/* One side of autoscale: "up" (either figure held for for_ms) or "down"
 * (every figure given held for for_ms). A figure not given is not used. */
struct conf_scale_rule {
    bool has_active;            /* active_per_server given */
    double active_per_server;   /* mean requests in flight per usable server */
    bool has_cpu;               /* cpu_percent given */
    double cpu_percent;         /* mean CPU of the backend's containers (% of one CPU) */
    uint32_t for_ms;            /* how long the figures must hold */
};

/* autoscale (an lxlb extension, SPEC "Autoscaling"): clones of a template
 * container join and leave the backend with its load. */
struct conf_autoscale {
    bool enabled;               /* false when "autoscale" is absent */
    bool paused;                /* "enabled": false: starts paused (admin resumes) */
    char *tmpl;                 /* the template container (stopped) */
    char *prefix;               /* clones are prefix + number, default "<backend>-auto-" */
    uint32_t min;               /* usable servers at least, default 1 */
    uint32_t max;               /* servers at most, default 4 */
    struct conf_scale_rule up;  /* default: active_per_server 20 for 10s */
    struct conf_scale_rule down; /* default: active_per_server 2 for 60s */
    uint32_t cooldown_ms;       /* between actions, default 30000 */
    bool has_addresses;         /* "addresses" given: clones get static addresses */
    uint32_t addr_first;        /* first address of the range (host order) */
    uint32_t addr_last;         /* last address of the range (host order) */
    uint32_t addr_len;          /* prefix length of the clones' network, 1-32 */
    bool snapshot;              /* "clone": "snapshot" (default) or "copy" */
    uint32_t drain_timeout_ms;  /* wait at most this for a leaving clone's requests,
                                 * default 60000 */
};

enum conf_balance {
    CONF_BALANCE_ROUNDROBIN = 0, /* smooth weighted round robin */
    CONF_BALANCE_LEASTCONN,      /* fewest active connections per weight */
};

struct conf_backend {
    char *name;                 /* unique among backends */
    enum conf_balance balance;  /* default roundrobin */
    bool http_close;            /* as HAProxy "option httpclose" in a backend: a
                                 * new server connection per request (the
                                 * client's stays open as it asks) */
    bool redispatch;            /* default true */
    uint32_t retries;           /* default: defaults.retries */
    struct conf_health health;  /* active checks, .enabled false: none */
    struct conf_cookie cookie;  /* stickiness, .mode NONE: none */
    struct conf_server *servers; /* static servers */
    size_t nservers;            /* entries in servers */
    struct conf_lxc lxc;        /* discovery.lxc */
    struct conf_etcd etcd;      /* discovery.etcd */
    enum conf_send_proxy send_proxy; /* PROXY header on each new server connection
                                      * (discovered servers too), default none */
    struct conf_autoscale autoscale; /* .enabled false: none */
};

/* Automatic HTTPS: the top-level "acme" section (conf/acme.c). */
struct conf_acme {
    bool enabled;            /* false when "acme" is absent */
    char *directory;         /* the CA's directory URL (https://) */
    char *email;             /* account contact, without "mailto:", NULL: none */
    char *state_dir;         /* keys and certificates, default "/var/lib/lxlb/acme" */
    char *ca_file;           /* PEM CAs trusted for the directory's TLS, NULL: the
                              * system's */
    uint64_t renew_before_s; /* renew when expiry is this close, seconds, default 30d */
    void *loaded;            /* the client TLS context (acme/ca-https.c), NULL until
                              * acme_conf_load(); conf never looks inside */
    void (*loaded_free)(void *); /* releases loaded when the generation is freed */
};

struct conf {
    char *path;                      /* file this was read from */
    uint32_t refcnt;                 /* holders of this generation (conf_ref) */
    struct conf_global global;
    struct conf_admin admin;
    struct conf_timeouts timeout;    /* defaults.timeout */
    struct conf_limits limits;       /* defaults.limits */
    struct conf_h2 h2;               /* defaults.h2 */
    uint32_t retries;                /* defaults.retries, default 3 */
    struct conf_frontend *frontends; /* >= 1 */
    size_t nfrontends;
    struct conf_backend *backends;   /* >= 1 */
    size_t nbackends;
    struct conf_acme acme;           /* "acme", .enabled false: absent */
};

#endif
