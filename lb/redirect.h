/* lb/redirect.h - the answer to a route with "redirect" (SPEC.md "Routing,
 * redirects, tunnels, PROXY protocol"), built by lxlb itself.
 *
 * The Location value is never made of unchecked bytes: the Host copied into
 * it must be a valid host[:port] (conf_authority_ok), the path and query
 * only visible ASCII; anything else is the caller's 400. No sockets: the
 * response goes into a struct hbuf (lb/http.h) the caller sends. */
#ifndef LXLB_REDIRECT_H
#define LXLB_REDIRECT_H

#include "conf/conf-t.h"
#include "lb/redirect-t.h"

struct hbuf;

/* The Location value for rd and rq, appended to out. 0, or 400 (out as it
 * was) when what it would copy from the request is not safe: no host or a
 * bad one for a scheme redirect, a path not starting with '/', a byte of the
 * path or query that is not visible ASCII (CR, LF, controls, space, 8-bit).
 * A scheme redirect keeps the Host's port only when the scheme stays the
 * same (http:80 -> https:443, as nginx's `return 301 https://$host...`). */
int redirect_location(const struct conf_redirect *rd, const struct redirect_req *rq,
                      struct hbuf *out);

/* The whole response appended to out: status line, Location, Content-Type,
 * Content-Length, Connection (close unless keepalive), then a short HTML body
 * (none for HEAD). 0, or 400 as redirect_location (out as it was). */
int redirect_response(const struct conf_redirect *rd, const struct redirect_req *rq,
                      struct hbuf *out);

#endif
