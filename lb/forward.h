/* lb/forward.h - the heads lxlb sends: the request to the server and the
 * response to the client, rewritten per the frontend and backend config. */
#ifndef LXLB_FORWARD_H
#define LXLB_FORWARD_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf-t.h"
#include "lb/cookie.h"
#include "lb/http.h"

struct evbuffer;

/* What the request rewrite needs to know beyond the head itself. */
struct fwd_req_ctx {
    const char *method;                   /* method name */
    uint8_t major, minor;                 /* version to send */
    const struct conf_frontend *fe;       /* forwardfor, set_headers */
    const char *client_ip;                /* for X-Forwarded-For */
    bool close;                           /* ask the server to close after */
    const char *upgrade;                  /* the client's Upgrade value to pass on with
                                           * "Connection: upgrade", NULL: none */
    size_t upgrade_len;                   /* bytes of upgrade */
    const char *cookie_name;              /* persistence cookie, NULL: none */
    enum cookie_req_action cookie_act;    /* what to do with it on the way in */
};

/* Writes the request head to out. Hop-by-hop fields (and those named in
 * Connection) are dropped, set_headers replace fields of the same name,
 * X-Forwarded-For gets the client appended. */
void fwd_request_head(struct evbuffer *out, const struct http_head *req,
                      const struct fwd_req_ctx *ctx);

struct fwd_resp_ctx {
    int status;             /* status code */
    bool keepalive;         /* the client connection stays open */
    const char *upgrade;    /* 101: the server's Upgrade value, passed on with
                             * "Connection: upgrade"; NULL: none */
    size_t upgrade_len;     /* bytes of upgrade */
    bool client_http10;     /* HTTP/1.0 client: keep-alive must be explicit */
    const struct conf_cookie *cookie; /* persistence, NULL or mode NONE: none */
    const char *srv_cookie; /* the cookie value of the server that answered */
    bool insert;            /* insert mode: the client lacks the right cookie */
};

/* Where the fields of a rewritten response head go: HTTP/1 text
 * (fwd_response_head) or an HTTP/2 header list (lb/h2c.c). Names are as the
 * server wrote them; name and value live until field returns. */
struct fwd_sink {
    void (*field)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen);
    void *arg; /* the writer's */
};

/* The response's fields after the rewrite rules, in order, into sink:
 * hop-by-hop fields and those named in Connection dropped, the persistence
 * cookie inserted, prefixed or rewritten, Cache-Control made private for
 * nocache. Framing fields (Content-Length, Transfer-Encoding) pass as the
 * server sent them: the writer decides. The rules live here only. */
void fwd_response_fields(const struct http_head *resp, const struct fwd_resp_ctx *ctx,
                         const struct fwd_sink *sink);

/* The status line, the fields above as text, and the connection's fields
 * (keepalive, client_http10) to out. */
void fwd_response_head(struct evbuffer *out, const struct http_head *resp,
                       const struct fwd_resp_ctx *ctx);

/* Free the buffer heads are built in (exit). */
void fwd_cleanup(void);

#endif
