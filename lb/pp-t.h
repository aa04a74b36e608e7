/* lb/pp-t.h - PROXY protocol (HAProxy's proxy-protocol.txt, v1 and v2)
 * types; the functions are in lb/pp.h. */
#ifndef LXLB_PP_T_H
#define LXLB_PP_T_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define PP_V1_MAX   107             /* bytes of a v1 header, CRLF included */
#define PP_V2_HEAD  16              /* bytes of v2's fixed part (signature...length) */
#define PP_V2_MAX   (16 + 65535)    /* bytes of the longest v2 header */
#define PP_BUILD_MAX 108            /* bytes pp_build_v1/v2 may write (v1 + NUL) */

enum pp_status {
    PP_MORE,  /* a valid start: call again with more bytes (at least .need) */
    PP_DONE,  /* a whole header of .len bytes: drop them, the request follows */
    PP_ERROR, /* not a PROXY header, or a bad one (.why): close the connection */
};

struct pp_result {
    int version;                 /* 1 or 2 (PP_DONE) */
    bool local;                  /* no client address: v2 LOCAL, v1 UNKNOWN, an
                                  * unspecified or unix family; keep the
                                  * connection's own addresses */
    struct sockaddr_storage src; /* the client (AF_INET or AF_INET6), unless local */
    socklen_t src_len;           /* bytes of src in use, 0 when local */
    struct sockaddr_storage dst; /* the address the client connected to */
    socklen_t dst_len;           /* bytes of dst in use, 0 when local */
    size_t len;                  /* PP_DONE: bytes of the header */
    size_t need;                 /* PP_MORE: total bytes to have before calling again */
    const char *why;             /* PP_ERROR: a static reason, for the log */
};

#endif
