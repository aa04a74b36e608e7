/* lb/redirect-t.h - what a redirect reads of the request (lb/redirect.h). */
#ifndef LXLB_REDIRECT_T_H
#define LXLB_REDIRECT_T_H

#include <stdbool.h>
#include <stddef.h>

/* The request as the redirect needs it, all as received. */
struct redirect_req {
    bool https;          /* it came over TLS: its scheme is https */
    const char *host;    /* the Host field value, NULL: none */
    size_t host_len;     /* bytes */
    const char *target;  /* the request target (an absolute-form target's
                          * authority is used in place of host) */
    size_t target_len;   /* bytes */
    int http_minor;      /* HTTP/1.x: 1.0 needs "Connection: keep-alive" said */
    bool keepalive;      /* the connection stays open after this answer */
    bool head;           /* HEAD: the same head, no body */
};

#endif
