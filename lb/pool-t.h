/* lb/pool-t.h - a connection to a server, in use by a session or idle in the
 * server's pool. */
#ifndef LXLB_POOL_T_H
#define LXLB_POOL_T_H

#include <stdbool.h>
#include <stdint.h>
#include <llhttp.h>

#include "lb/rd.h"

struct bufferevent;
struct server;
struct session;

struct srv_conn {
    struct bufferevent *bev; /* the socket; owned (writes) */
    struct rd rd;            /* its reading (lb/rd.h) */
    struct server *srv;      /* referenced while the connection lives */
    struct session *owner;   /* the session using it, NULL while pooled */
    struct srv_conn *next;   /* next idle connection of srv */
    llhttp_t parser;         /* response parser: one per direction */
    uint32_t uses;           /* requests sent on it so far */
    bool connected;          /* the TCP connect completed */
};

#endif
