/* lb/http.h - an HTTP message head collected from llhttp callbacks, and
 * small header helpers. Offsets, not pointers, so the arena can grow. */
#ifndef LXLB_HTTP_H
#define LXLB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <llhttp.h>

struct evbuffer;

/* Append a string literal: its length is counted by the compiler, not by hand. */
#define EVBUF_ADD_LIT(out, lit) evbuffer_add((out), (lit), sizeof(lit) - 1)

/* A growable buffer to build a head in one piece: it then goes out with one
 * evbuffer_add, where adding field by field ran the evbuffer's callbacks (and
 * its chain bookkeeping) some sixty times per request. Out of memory aborts:
 * a head is at most limits.header_size, so this never grows without bound. */
struct hbuf {
    char *p;    /* bytes */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
};

void hbuf_add(struct hbuf *b, const void *d, size_t n);
void hbuf_str(struct hbuf *b, const char *s);
void hbuf_uint(struct hbuf *b, unsigned v);
/* Move the contents to out and empty b (its memory is kept for reuse). */
void hbuf_to_evbuffer(struct hbuf *b, struct evbuffer *out);
void hbuf_free(struct hbuf *b);
#define HBUF_LIT(b, lit) hbuf_add((b), (lit), sizeof(lit) - 1)

struct http_hdr {
    uint32_t name;      /* offset of the name in buf */
    uint32_t name_len;  /* bytes */
    uint32_t value;     /* offset of the value in buf */
    uint32_t value_len; /* bytes */
};

struct http_head {
    char *buf;              /* arena: target/reason, then names and values */
    uint32_t len;           /* bytes used in buf */
    uint32_t cap;           /* bytes allocated for buf */
    uint32_t max;           /* bytes allowed (header_size + request_line) */
    struct http_hdr *hdrs;  /* header fields in arrival order */
    uint32_t nhdrs;         /* entries used in hdrs */
    uint32_t hcap;          /* entries allocated in hdrs */
    uint32_t max_hdrs;      /* entries allowed */
    uint32_t target;        /* offset of the request target (or status reason) */
    uint32_t target_len;    /* bytes */
    uint32_t max_target;    /* bytes allowed for the request target */
    bool in_value;          /* the last callback was a header value */
    int limit_status;       /* 414 or 431 when a limit was crossed, else 0 */
};

void http_head_init(struct http_head *h, uint32_t max_target, uint32_t max_bytes,
                    uint32_t max_hdrs);
void http_head_reset(struct http_head *h);
void http_head_free(struct http_head *h);

/* llhttp span callbacks land here. -1 when a limit is crossed (limit_status set). */
int http_head_on_target(struct http_head *h, const char *at, size_t len);
int http_head_on_field(struct http_head *h, const char *at, size_t len);
int http_head_on_value(struct http_head *h, const char *at, size_t len);

static inline const char *http_hdr_name(const struct http_head *h, uint32_t i)
{
    return h->buf + h->hdrs[i].name;
}
static inline const char *http_hdr_value(const struct http_head *h, uint32_t i)
{
    return h->buf + h->hdrs[i].value;
}
bool http_hdr_is(const struct http_head *h, uint32_t i, const char *name);
/* Index of the first/next field called name at or after from, or -1. */
int http_hdr_find(const struct http_head *h, const char *name, uint32_t from);

/* Every field name is a token (RFC 9110 5.1). llhttp lets some through
 * ("Bad Name:"); forwarding those is how requests get smuggled. */
bool http_head_names_valid(const struct http_head *h);

/* What llhttp lets through but a front end must not: anything that could
 * make lxlb and the server read different requests (HTTP/0.9 or 2.0 lines,
 * untrustworthy framing, bad names, controls or 8-bit bytes in the target,
 * CONNECT, a missing or doubled Host, a Host that disagrees with an
 * absolute-form target). 0 to forward, else the status and *why. */
int http_request_verdict(const struct http_head *h, const llhttp_t *p, const char **why);

/* Line endings in a head must be CRLF, and no line may start with white
 * space (obs-fold); llhttp 8 accepts both. Feed the raw head bytes in order;
 * *st (0 at the start of a head) carries state across reads. NULL when the
 * bytes are fine, else what is wrong (for the access log). */
const char *http_head_bytes_bad(uint8_t *st, const char *p, size_t n);

/* Is token (case-insensitive) an element of the comma list v[0..len)? */
bool http_list_has(const char *v, size_t len, const char *token, size_t tlen);
/* Fields a client may not make lxlb drop by naming them in Connection:
 * framing (the body travels as is), Host, and what lxlb itself adds. */
bool http_is_end_to_end(const char *name, size_t len);
/* Hop-by-hop for a proxy: never forwarded (RFC 9110 7.6.1). */
bool http_is_hop_by_hop(const char *name, size_t len);

const char *http_reason(int status);
/* The short HTML body of an error response in buf (n bytes): its length. */
int http_error_body(char *buf, size_t n, int status);
/* A short HTML error response with Connection: close. */
void http_error_page(struct evbuffer *out, int status);

#endif
