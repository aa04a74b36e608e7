/* lb/worker-t.h - worker threads and the messages between their loops. */
#ifndef LXLB_WORKER_T_H
#define LXLB_WORKER_T_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/conf-t.h"
#include "lb/server-t.h"

struct event;
struct event_base;
struct proxy;

enum wk_msg_type {
    WK_SERVER,        /* main -> replica: add or update a server */
    WK_REMOVED,       /* main -> replica: a server left its backend */
    WK_RELOAD,        /* main -> replica: apply generation conf */
    WK_SUSPECT,       /* main -> replica: a server has failures in a row: report
                       * the next answer from it (WK_TRAFFIC_OK) */
    WK_STOP,          /* main -> replica: stop (graceful or now) */
    WK_TRAFFIC_FAIL,  /* replica -> main: real traffic to a server failed */
    WK_TRAFFIC_OK,    /* replica -> main: a server answered after failures */
    WK_EXITED,        /* replica -> main: its loop has ended */
};

struct wk_msg {
    enum wk_msg_type type;
    struct wk_msg *next;     /* inbox queue */
    char *be, *srv;          /* the server, by backend and server name (owned) */
    char *cookie;            /* WK_SERVER: its cookie value (owned) */
    char *why;               /* WK_TRAFFIC_FAIL: what failed (owned) */
    struct conf_addr addr;   /* the server's address (a new address: a new server) */
    uint32_t weight;         /* WK_SERVER */
    enum srv_source source;  /* WK_SERVER */
    enum srv_health health;  /* WK_SERVER */
    enum srv_admin admin;    /* WK_SERVER */
    bool retiring;           /* WK_SERVER */
    bool flag;               /* WK_REMOVED: gone for good; WK_STOP: graceful */
    struct conf *conf;       /* WK_RELOAD: the generation (referenced) */
};

/* Messages to one loop: posted from any thread, read on the loop. The lock
 * is taken per message batch, never per request. */
struct wk_inbox {
    pthread_mutex_t lock;    /* guards head and tail */
    struct wk_msg *head;     /* oldest first */
    struct wk_msg **tail;    /* where the next one goes */
    int efd;                 /* eventfd: wakes the loop */
    struct event *ev;        /* reads efd on the loop */
};

struct worker {
    unsigned id;             /* 0: the main loop */
    struct proxy *px;        /* its proxy (the main one for 0, a replica otherwise) */
    struct event_base *base; /* its loop (replicas: created and freed here) */
    pthread_t thread;        /* replicas, once started */
    bool started;            /* the thread runs (or ran) */
    struct wk_inbox in;      /* messages to this loop */
};

struct wk_group {
    struct worker *w;        /* n workers, [0] the main loop */
    unsigned n;              /* global.workers at start (a reload cannot change it) */
    unsigned running;        /* replica loops not yet ended (main thread's count) */
    bool started;            /* workers_start succeeded: publish changes */
    bool held;               /* a reload's swap: changes are not published one by
                              * one, the replicas get every server after it */
};

#endif
