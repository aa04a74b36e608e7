/* lb/cookie.h - persistence cookies (HAProxy's "cookie NAME insert|prefix|rewrite").
 *
 * Parsing is forgiving of spaces, empty pairs and quotes, and never trusts a
 * length it did not check: a malformed Cookie header is passed through (or
 * trimmed), never made worse. */
#ifndef LXLB_COOKIE_H
#define LXLB_COOKIE_H

#include <stdbool.h>
#include <stddef.h>

struct hbuf;

/* Find the pair called name in one Cookie header value. */
bool cookie_find(const char *v, size_t len, const char *name, size_t nlen, const char **val,
                 size_t *vlen);

/* The server a cookie value designates: the whole value, or in prefix mode
 * the part before '~' (none without a '~'). */
bool cookie_server_part(const char *val, size_t vlen, bool prefix, const char **srv,
                        size_t *slen);

enum cookie_req_action {
    COOKIE_REQ_KEEP = 0,    /* forward the pair as is */
    COOKIE_REQ_UNPREFIX,    /* NAME=srv~v -> NAME=v (prefix mode) */
    COOKIE_REQ_REMOVE,      /* drop NAME (insert mode with indirect) */
};

/* Write "<hname>: <pairs>\r\n" with NAME handled per act; other pairs keep
 * their order. Nothing at all when no pair is left. */
void cookie_write_request(struct hbuf *out, const char *hname, size_t hlen, const char *v,
                          size_t len, const char *name, size_t nlen, enum cookie_req_action act);

/* Does this Set-Cookie value set the cookie called name? */
bool cookie_set_is(const char *v, size_t len, const char *name, size_t nlen);

/* Write "Set-Cookie: NAME=<srv>~<value>..." (prefix) or "NAME=<srv>..."
 * (rewrite), attributes kept. */
void cookie_write_set(struct hbuf *out, const char *v, size_t len, size_t nlen,
                      const char *srv, bool prefix);
/* The same value alone, without the field name and line end (a header
 * list that is not HTTP/1 text: lb/forward.h's sinks). */
void cookie_set_value(struct hbuf *out, const char *v, size_t len, size_t nlen,
                      const char *srv, bool prefix);

#endif
