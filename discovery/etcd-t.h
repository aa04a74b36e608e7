/* discovery/etcd-t.h - etcd v3 through its JSON gateway (HTTP/1.1 + JSON):
 * the client (endpoints, one call per connection) and the balancer's
 * per-backend watcher. Types only; functions are in etcd-client.h and etcd.h.
 *
 * Everything here lives on the loop thread. */
#ifndef LXLB_DISCOVERY_ETCD_T_H
#define LXLB_DISCOVERY_ETCD_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <llhttp.h>

struct event_base;
struct evdns_base;
struct event;
struct bufferevent;
struct evbuffer;
struct backend;

/* ------------------------------------------------------------- client ---- */

/* One member of the cluster, from "http://host:port". */
struct ecl_ep {
    char *url;                     /* as configured, for logs */
    char *host;                    /* IP literal or name (resolved with evdns) */
    uint16_t port;                 /* TCP port, default 2379 */
};

/* A cluster: its endpoints and the one we talk to. Failover = ecl_next(). */
struct ecl {
    struct event_base *base;       /* the loop */
    struct evdns_base *dns;        /* only when some host is not an IP literal */
    struct ecl_ep *eps;            /* >= 1 */
    size_t neps;
    size_t cur;                    /* index in eps of the endpoint in use */
};

struct ecall;

/* Unary call finished: status is the HTTP status, 0 when the call failed
 * before an answer (err says why); body is the parsed JSON answer, NULL when
 * there is none or it is not JSON. The call is freed after this returns. */
typedef void (*ecall_done_cb)(void *arg, int status, json_t *body, const char *err);
/* Streaming call: one complete JSON object of the body (the gateway writes
 * one per message). Borrowed: decref'd after the callback. */
typedef void (*ecall_obj_cb)(void *arg, json_t *obj);

/* Splits a byte stream into top-level JSON objects ({...}{...}\n{...}). */
struct ejsplit {
    char *buf;                     /* bytes of the object being received */
    size_t len;                    /* bytes in buf */
    size_t cap;                    /* allocated */
    size_t scan;                   /* bytes of buf already scanned */
    uint32_t depth;                /* brace/bracket nesting at buf[scan] */
    bool in_str;                   /* inside a string */
    bool esc;                      /* after a backslash inside a string */
};

/* One POST on its own connection ("Connection: close"). */
struct ecall {
    struct ecl *cl;
    struct bufferevent *bev;       /* the connection */
    struct event *timer;           /* unary: whole-call deadline */
    llhttp_t parser;               /* the response */
    llhttp_settings_t settings;
    int status;                    /* HTTP status once the head is in, else 0 */
    bool stream;                   /* body objects go to on_obj as they come */
    bool connected;                /* TCP connect succeeded */
    bool complete;                 /* llhttp saw the end of the response */
    bool busy;                     /* inside one of our callbacks: free later */
    bool dead;                     /* cancelled or finished: free when not busy */
    struct evbuffer *body;         /* unary: the body so far */
    struct ejsplit split;          /* stream: object splitter */
    ecall_done_cb on_done;         /* unary result, or stream end (body NULL) */
    ecall_obj_cb on_obj;           /* stream only */
    void *arg;                     /* for the callbacks */
};

/* ------------------------------------------------ balancer: the watcher -- */

enum detcd_phase {
    DETCD_IDLE = 0,                /* waiting for the retry timer */
    DETCD_RANGE,                   /* initial (or re-) read of the prefix */
    DETCD_WATCH,                   /* watch stream open */
};

/* One backend with discovery.etcd: keys under prefix are its servers. */
struct detcd {
    struct backend *be;            /* whose servers we manage */
    struct ecl cl;                 /* the cluster */
    char *prefix;                  /* key prefix (owned copy) */
    size_t prefix_len;
    enum detcd_phase phase;
    struct ecall *call;            /* the range or watch in flight, NULL: none */
    int64_t rev;                   /* etcd revision the servers reflect */
    struct event *retry;           /* timer: reconnect after a failure */
    uint32_t backoff_ms;           /* next reconnect delay: 100 ms doubling to 2 s */
    int64_t lost_ms;               /* monotonic ms the watch broke, 0: not broken */
    struct detcd *next;            /* next watcher */
};

#endif
