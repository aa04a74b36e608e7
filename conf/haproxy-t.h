/* conf/haproxy-t.h - types of `lxlb import-haproxy`: a haproxy.cfg read into
 * memory (sections, settings with the line that set them, ACLs and rules),
 * before it is mapped to lxlb JSON. Functions are in conf/haproxy.h.
 *
 * Everything of one conversion lives in one arena (struct hap_arena) and is
 * freed at once: settings inherited from a defaults section are plain struct
 * copies that share its strings. A line number of 0 means "not set" (the
 * HAProxy default applies). */
#ifndef LXLB_HAPROXY_T_H
#define LXLB_HAPROXY_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define HAP_MAX_WORDS 64      /* words on one line, as HAProxy's MAX_LINE_ARGS */
#define HAP_MAX_LINE  65536   /* bytes of one line; longer is an error */
#define HAP_MAX_NEST  32      /* nested .if blocks */
#define HAP_MAX_ROUTES 64     /* routes one rule may expand to (AND of ORs) */
#define HAP_MAX_ALTS  256     /* patterns one ACL term may stand for */

struct hap_chunk; /* one block of arena memory (conf/haproxy-lex.c) */

struct hap_arena {
    struct hap_chunk *head; /* newest block first */
    bool oom;               /* an allocation failed: the conversion fails */
};

/* One message for stderr, "FILE:LINE: text". */
struct hap_msg {
    int line;      /* line of the file it is about, 0: the file as a whole */
    unsigned seq;  /* order of emission, to sort stably by line */
    bool error;    /* an error (exit 1), else a warning */
    char *text;    /* the message without "FILE:LINE: " (arena) */
};

/* One line cut into words, quotes and escapes resolved. */
struct hap_words {
    int line;     /* 1-based line number */
    int argc;     /* words in argv */
    char **argv;  /* words (arena), argv[argc] is NULL */
};

/* A setting and the line that set it (line 0: unset). */
struct hap_time { uint32_t ms; int line; };   /* a duration in milliseconds */
struct hap_uint { uint32_t v; int line; };    /* a count */
struct hap_flag { bool on; int line; };       /* an option, on or off ("no option") */
struct hap_str  { const char *s; int line; }; /* a string (arena) */

enum hap_tmo {
    HAP_T_CONNECT, HAP_T_CLIENT, HAP_T_SERVER, HAP_T_KEEPALIVE, HAP_T_HTTP_REQUEST,
    HAP_T_TUNNEL, HAP_T_CHECK, HAP_T_N
};

/* Server options, also those of default-server (which servers start from). */
struct hap_srvopt {
    struct hap_flag check;      /* "check" / "no-check" */
    struct hap_time inter;      /* check interval, HAProxy default 2s */
    struct hap_uint rise;       /* HAProxy default 2 */
    struct hap_uint fall;       /* HAProxy default 3 */
    struct hap_uint weight;     /* 0-256, HAProxy default 1 */
    struct hap_str cookie;      /* the server's persistence cookie value */
    struct hap_uint send_proxy; /* 0 none, 1 PROXY v1, 2 PROXY v2 */
    struct hap_flag disabled;   /* "disabled": starts in maintenance */
    struct hap_flag backup;     /* "backup": only when all others are down */
};

struct hap_server {
    const char *name;   /* as written (may be made unique later) */
    const char *addr;   /* in lxlb's form ("host:port", "[v6]:port", "unix:/p") */
    int line;           /* the server line */
    struct hap_srvopt o; /* default-server, then this line's options */
};

struct hap_bind {
    const char *addr;     /* in lxlb's form */
    int line;             /* the bind line */
    bool ssl;             /* "ssl": TLS is terminated here */
    const char **crts;    /* "crt FILE" paths, crt-base applied (arena) */
    size_t ncrts;         /* entries in crts */
    bool accept_proxy;    /* "accept-proxy" */
};

/* What an ACL test looks at. */
enum hap_fetch {
    HAP_F_OTHER = 0, /* anything lxlb routes cannot look at (src, hdr(x-foo)...) */
    HAP_F_HOST,      /* hdr(host) and its hdr_* forms */
    HAP_F_PATH,      /* path, path_* */
    HAP_F_URL,       /* url, url_* (the path for origin-form requests) */
    HAP_F_METHOD,    /* method */
    HAP_F_SSL_FC,    /* ssl_fc: the connection came over TLS (known per frontend) */
    HAP_F_TRUE,      /* always_true, TRUE, HTTP... */
    HAP_F_FALSE,     /* always_false, FALSE */
};

/* How a test compares ("-m" or the fetch's suffix: hdr_beg = beg). */
enum hap_match {
    HAP_M_STR = 0, HAP_M_BEG, HAP_M_END, HAP_M_SUB, HAP_M_DOM, HAP_M_DIR, HAP_M_REG,
    HAP_M_OTHER, /* len, found, int...: nothing lxlb can express */
};

/* One test: an "acl" line or an anonymous "{ ... }" block. Several values
 * are ORed. */
struct hap_test {
    enum hap_fetch fetch;
    enum hap_match match;
    bool icase;          /* -i */
    const char *text;    /* the criterion as written, for messages */
    const char **vals;   /* patterns (arena) */
    size_t nvals;        /* entries in vals */
    int line;            /* where the test is written */
    const char *why;     /* set when the test cannot be carried over: the reason */
};

struct hap_acl {
    const char *name;    /* several acl lines with one name are ORed */
    struct hap_test t;
};

/* One term of a condition: a named ACL or an anonymous test, maybe negated.
 * Terms are ANDed; or_before starts a new OR branch. */
struct hap_term {
    bool neg;              /* "!" */
    bool or_before;        /* "||" or "or" came before this term */
    const char *acl;       /* a named ACL, or NULL */
    struct hap_test *anon; /* an anonymous test, or NULL */
};

struct hap_cond {
    bool present;          /* the rule has "if" or "unless" */
    bool unless;           /* "unless": the rule applies when the condition fails */
    struct hap_term *terms;
    size_t nterms;
};

enum hap_redir_kind { HAP_REDIR_LOCATION, HAP_REDIR_PREFIX, HAP_REDIR_SCHEME };

struct hap_redirect {
    enum hap_redir_kind kind;
    const char *to;        /* the location, prefix or scheme */
    int code;              /* 301, 302 (HAProxy's default), 303, 307, 308 */
};

enum hap_rule_kind {
    HAP_R_HTTPREQ_REDIRECT, /* http-request redirect: evaluated first */
    HAP_R_REDIRECT,         /* redirect: after http-request rules */
    HAP_R_USE_BACKEND,      /* use_backend: last */
    HAP_R_SET_HEADER,       /* http-request set-header, reqadd */
};

struct hap_rule {
    enum hap_rule_kind kind;
    int line;
    const char *keyword;       /* as written, for messages ("reqadd", ...) */
    const char *backend;       /* HAP_R_USE_BACKEND */
    struct hap_redirect redir; /* HAP_R_*REDIRECT */
    const char *hname;         /* HAP_R_SET_HEADER */
    const char *hvalue;        /* HAP_R_SET_HEADER, a literal value */
    struct hap_cond cond;
};

enum hap_kind { HAP_DEFAULTS, HAP_FRONTEND, HAP_BACKEND, HAP_LISTEN };
enum hap_mode { HAP_MODE_UNSET = 0, HAP_MODE_HTTP, HAP_MODE_TCP, HAP_MODE_OTHER };

/* A defaults, frontend, backend or listen section. A proxy starts as a copy
 * of the defaults section in effect (lists excepted). */
struct hap_proxy {
    enum hap_kind kind;
    const char *name;            /* NULL for an anonymous defaults */
    int line;                    /* the section line */
    struct hap_flag disabled;    /* "disabled" */
    enum hap_mode mode;          /* "mode" */
    int mode_line;               /* where mode was set, 0: unset */
    struct hap_time timeout[HAP_T_N];
    struct hap_uint retries;     /* HAProxy default 3 */
    struct hap_str balance;      /* "roundrobin" or "leastconn" (others warned) */
    struct hap_flag forwardfor;  /* option forwardfor */
    struct hap_flag httpclose;   /* option httpclose / forceclose */
    struct hap_flag server_close; /* option http-server-close (the last of the two wins) */
    struct hap_flag redispatch;  /* option redispatch (HAProxy default off) */
    struct hap_flag log;         /* "log global" or a log line: this proxy logs */
    bool log_own;                /* ...to its own target, not the global one */
    struct hap_flag httpchk;     /* option httpchk: checks are HTTP */
    const char *chk_path;        /* its URI, default "/" */
    struct hap_str chk_meth;     /* its method (option httpchk, http-check send) */
    struct hap_str expect;       /* http-check expect, in lxlb's syntax */
    struct hap_str cookie;       /* cookie NAME */
    const char *cookie_mode;     /* "insert", "prefix", "rewrite" */
    bool ck_indirect, ck_nocache, ck_httponly, ck_secure; /* cookie flags */
    struct hap_srvopt defsrv;    /* default-server */
    struct hap_bind *binds;      /* frontend/listen: bind lines, one per address */
    size_t nbinds, cbinds;       /* entries used, allocated */
    struct hap_str default_backend;
    struct hap_acl *acls;        /* acl lines in order */
    size_t nacls, cacls;
    struct hap_rule *rules;      /* rules in order of lines */
    size_t nrules, crules;
    struct hap_server *servers;  /* backend/listen: server lines */
    size_t nservers, cservers;
};

/* The whole file. */
struct hap_cfg {
    struct hap_arena arena;      /* everything below lives here */
    const char *file;            /* name used in messages */
    struct hap_msg *msgs;        /* messages (arena), sorted at the end */
    size_t nmsgs, cmsgs;
    unsigned seq;                /* next message's sequence number */
    int nwarn, nerr;             /* messages of each kind */
    /* global */
    struct hap_uint maxconn, nbthread;
    struct hap_str user, group, chroot;
    struct hap_time grace;       /* hard-stop-after */
    struct hap_str log;          /* the first global log line, as access_log */
    const char *crt_base;        /* crt-base, for relative crt paths */
    /* sections */
    struct hap_proxy *defaults;  /* the defaults in effect (an empty one at first) */
    struct hap_proxy **named;    /* named defaults sections, for "from" */
    size_t nnamed, cnamed;
    struct hap_proxy **proxies;  /* frontend, backend and listen sections in order */
    size_t nproxies, cproxies;
    struct hap_proxy *cur;       /* the section being read, NULL: global or other */
    int section;                 /* enum hap_section of the section being read */
    const char *section_name;    /* for $.SECTION */
    /* .if blocks */
    int nest;                    /* open .if levels (may exceed HAP_MAX_NEST after an error) */
    unsigned char cond[HAP_MAX_NEST]; /* per level: 0 no branch taken yet, 1 taking
                                       * this branch, 2 a branch was taken */
};

/* An address as HAProxy writes it, taken apart. */
struct hap_addr {
    const char *unix_path; /* a unix socket path, or NULL */
    const char *host;      /* "" (any IPv4), "1.2.3.4", "name", "[v6]" */
    unsigned port_lo;      /* first port, 0: none written */
    unsigned port_hi;      /* last port of a range (== port_lo for one) */
};

/* The result of one conversion (conf/haproxy.h). */
struct hap_result {
    json_t *json;  /* the lxlb configuration, NULL when nerr > 0 */
    char *msgs;    /* "FILE:LINE: ...\n" lines, by line (malloc'ed, never NULL
                    * after hap_convert returns) */
    int nwarn;     /* warnings in msgs */
    int nerr;      /* errors in msgs */
};

#endif
