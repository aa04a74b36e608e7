/* lb/http.c - message heads and header helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>

#include "lb/http.h"

void hbuf_add(struct hbuf *b, const void *d, size_t n)
{
    if (n == 0)
        return; /* memcpy into a buffer not yet allocated would be UB, even for 0 */
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

void hbuf_str(struct hbuf *b, const char *s) { hbuf_add(b, s, strlen(s)); }

void hbuf_uint(struct hbuf *b, unsigned v)
{
    char tmp[16];
    int i = (int)sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    hbuf_add(b, tmp + i, sizeof(tmp) - (size_t)i);
}

void hbuf_to_evbuffer(struct hbuf *b, struct evbuffer *out)
{
    if (b->len)
        evbuffer_add(out, b->p, b->len);
    b->len = 0;
}

void hbuf_free(struct hbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void http_head_init(struct http_head *h, uint32_t max_target, uint32_t max_bytes,
                    uint32_t max_hdrs)
{
    memset(h, 0, sizeof(*h));
    h->max_target = max_target;
    h->max = max_bytes + max_target;
    h->max_hdrs = max_hdrs;
}

void http_head_reset(struct http_head *h)
{
    h->len = 0;
    h->nhdrs = 0;
    h->target = h->target_len = 0;
    h->in_value = false;
    h->limit_status = 0;
}

void http_head_free(struct http_head *h)
{
    free(h->buf);
    free(h->hdrs);
    h->buf = NULL;
    h->hdrs = NULL;
    h->cap = h->hcap = 0;
}

/* Append to the arena, growing it by doubling up to max: a small request
 * costs a small buffer, a large one is refused with limit_status. */
static int arena_append(struct http_head *h, const char *at, size_t len, int status)
{
    if (len == 0)
        return 0; /* llhttp may report an empty span at the start of a read */
    if ((size_t)h->len + len > h->max) {
        h->limit_status = status;
        return -1;
    }
    if (h->len + len > h->cap) {
        uint32_t cap = h->cap ? h->cap : 2048;
        while (cap < h->len + len)
            cap *= 2;
        char *n = realloc(h->buf, cap);
        if (!n) {
            h->limit_status = 500;
            return -1;
        }
        h->buf = n;
        h->cap = cap;
    }
    memcpy(h->buf + h->len, at, len);
    h->len += (uint32_t)len;
    return 0;
}

int http_head_on_target(struct http_head *h, const char *at, size_t len)
{
    if ((size_t)h->target_len + len > h->max_target) {
        h->limit_status = 414;
        return -1;
    }
    if (h->target_len == 0)
        h->target = h->len;
    h->target_len += (uint32_t)len;
    return arena_append(h, at, len, 414);
}

int http_head_on_field(struct http_head *h, const char *at, size_t len)
{
    if (h->in_value || h->nhdrs == 0) {
        if (h->nhdrs == h->max_hdrs) {
            h->limit_status = 431;
            return -1;
        }
        if (h->nhdrs == h->hcap) {
            uint32_t cap = h->hcap ? h->hcap * 2 : 32;
            struct http_hdr *n = realloc(h->hdrs, cap * sizeof(*n));
            if (!n) {
                h->limit_status = 500;
                return -1;
            }
            h->hdrs = n;
            h->hcap = cap;
        }
        h->hdrs[h->nhdrs++] = (struct http_hdr){ .name = h->len };
        h->in_value = false;
    }
    h->hdrs[h->nhdrs - 1].name_len += (uint32_t)len;
    return arena_append(h, at, len, 431);
}

int http_head_on_value(struct http_head *h, const char *at, size_t len)
{
    struct http_hdr *hd = &h->hdrs[h->nhdrs - 1];

    if (!h->in_value) {
        hd->value = h->len;
        h->in_value = true;
    }
    hd->value_len += (uint32_t)len;
    return arena_append(h, at, len, 431);
}

bool http_hdr_is(const struct http_head *h, uint32_t i, const char *name)
{
    size_t n = strlen(name);
    return h->hdrs[i].name_len == n && !strncasecmp(http_hdr_name(h, i), name, n);
}

int http_hdr_find(const struct http_head *h, const char *name, uint32_t from)
{
    for (uint32_t i = from; i < h->nhdrs; i++)
        if (http_hdr_is(h, i, name))
            return (int)i;
    return -1;
}

/* RFC 9110 5.6.2 tchar, as a table: one load per byte. */
static const bool tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

bool http_head_names_valid(const struct http_head *h)
{
    for (uint32_t i = 0; i < h->nhdrs; i++) {
        const char *n = http_hdr_name(h, i);
        if (h->hdrs[i].name_len == 0)
            return false;
        for (uint32_t k = 0; k < h->hdrs[i].name_len; k++)
            if (!tchar[(unsigned char)n[k]])
                return false;
    }
    return true;
}

/* RFC 3986 reg-name, IPv4 and IP-literal characters, and a port. */
static bool host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._~!$&'()*+,;=:[]%", c) != NULL;
}

static bool host_value_ok(const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!host_char((unsigned char)v[i]))
            return false;
    return true;
}

/* The authority of an absolute-form target ("http://HOST[:port]/..."), or
 * false when the target is not in absolute form. */
static bool absolute_authority(const struct http_head *h, const char **a, size_t *alen)
{
    const char *t = h->buf + h->target, *end = t + h->target_len, *p;
    size_t skip;

    if (h->target_len > 7 && !strncasecmp(t, "http://", 7))
        skip = 7;
    else if (h->target_len > 8 && !strncasecmp(t, "https://", 8))
        skip = 8;
    else
        return false;
    *a = t + skip;
    for (p = *a; p < end && *p != '/' && *p != '?' && *p != '#'; p++)
        ;
    *alen = (size_t)(p - *a);
    return true;
}

/* RFC 9112 3.2.2: the target's authority is the one that counts, so the
 * Host a server sees must say the same (compared case-insensitively; the
 * port as written: lxlb does not guess default ports). */
static const char *check_host(const struct http_head *h, int host)
{
    const char *a, *v = host >= 0 ? http_hdr_value(h, (uint32_t)host) : "";
    size_t alen, vlen = host >= 0 ? h->hdrs[host].value_len : 0;

    while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--; /* trailing OWS is not part of the value */
    if (!host_value_ok(v, vlen))
        return "bad Host value";
    if (!absolute_authority(h, &a, &alen))
        return NULL;
    if (alen == 0 || memchr(a, '@', alen) || !host_value_ok(a, alen))
        return "bad authority in an absolute-form target";
    if (host >= 0 && (vlen != alen || strncasecmp(v, a, alen)))
        return "Host disagrees with the absolute-form target";
    return NULL;
}

int http_request_verdict(const struct http_head *h, const llhttp_t *p, const char **why)
{
    if (p->http_major != 1 || p->http_minor > 1) {
        *why = "HTTP version not 1.0 or 1.1";
        return 400;
    }
    if (p->flags & F_TRANSFER_ENCODING && (!(p->flags & F_CHUNKED) || p->http_minor == 0)) {
        *why = "Transfer-Encoding not ending in chunked, or with HTTP/1.0"; /* RFC 9112 6.1 */
        return 400;
    }
    if (!http_head_names_valid(h)) {
        *why = "a field name that is not a token";
        return 400;
    }
    for (uint32_t i = 0; i < h->target_len; i++) {
        unsigned char c = (unsigned char)h->buf[h->target + i];
        if (c <= 0x20 || c >= 0x7f) {
            *why = "control or non-ASCII byte in the target";
            return 400;
        }
    }
    if (p->method == HTTP_CONNECT) {
        *why = "CONNECT is not served";
        return 405;
    }
    int host = http_hdr_find(h, "host", 0);
    if (host >= 0 && http_hdr_find(h, "host", (uint32_t)host + 1) >= 0) {
        *why = "more than one Host";
        return 400;
    }
    if (host < 0 && p->http_minor == 1) {
        *why = "no Host in an HTTP/1.1 request";
        return 400;
    }
    if ((*why = check_host(h, host)))
        return 400;
    return 0;
}

enum { SCAN_CR = 1, SCAN_CRLF = 2 }; /* http_head_bytes_bad state bits */

/* Checks the bytes around each CR and LF only (found with memchr, which
 * is vectorised): a head is mostly text between line ends. */
const char *http_head_bytes_bad(uint8_t *st, const char *p, size_t n)
{
    const char *end = p + n, *q = p;

    if (n == 0)
        return NULL;
    if (*st & SCAN_CR) {
        if (*p != '\n')
            return "bare CR in the head (lines must end with CRLF)";
    } else if ((*st & SCAN_CRLF) && (*p == ' ' || *p == '\t')) {
        return "obs-fold (a line starting with white space) in the head";
    } else if (*p == '\n') {
        return "bare LF in the head (lines must end with CRLF)";
    }
    for (q = p; (q = memchr(q, '\r', (size_t)(end - q))); q++)
        if (q + 1 < end && q[1] != '\n')
            return "bare CR in the head (lines must end with CRLF)";
    for (q = p; (q = memchr(q, '\n', (size_t)(end - q)));) {
        if (q > p && q[-1] != '\r')
            return "bare LF in the head (lines must end with CRLF)";
        if (++q < end && (*q == ' ' || *q == '\t'))
            return "obs-fold (a line starting with white space) in the head";
    }
    if (end[-1] == '\r')
        *st = SCAN_CR;
    else if (end[-1] == '\n')
        *st = SCAN_CRLF;
    else
        *st = 0;
    return NULL;
}

bool http_list_has(const char *v, size_t len, const char *token, size_t tlen)
{
    size_t i = 0;

    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == tlen && !strncasecmp(v + start, token, tlen))
            return true;
    }
    return false;
}

static bool name_in(const char *const *list, const char *name, size_t len)
{
    for (const char *const *p = list; *p; p++)
        if (strlen(*p) == len && !strncasecmp(*p, name, len))
            return true;
    return false;
}

bool http_is_end_to_end(const char *name, size_t len)
{
    static const char *const keep[] = { "content-length", "transfer-encoding", "host",
                                        "x-forwarded-for", "x-forwarded-proto",
                                        "x-forwarded-host", NULL };
    return name_in(keep, name, len);
}

bool http_is_hop_by_hop(const char *name, size_t len)
{
    /* Transfer-Encoding is hop-by-hop too, but lxlb forwards bodies with their
     * framing untouched, so the framing headers travel with them. */
    static const char *const hop[] = { "connection", "keep-alive", "proxy-connection",
                                       "te", "upgrade", "trailer", NULL };
    return name_in(hop, name, len);
}

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}

int http_error_body(char *buf, size_t n, int status)
{
    const char *reason = http_reason(status);
    int len = snprintf(buf, n, "<html><body><h1>%d %s</h1>\n%s.\n</body></html>\n", status,
                       reason, status == 503 ? "No server is available to handle this request"
                                             : reason);
    return len < 0 ? 0 : (size_t)len >= n ? (int)n - 1 : len;
}

void http_error_page(struct evbuffer *out, int status)
{
    char body[256];
    int n = http_error_body(body, sizeof(body), status);

    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                        "Cache-Control: no-cache\r\nConnection: close\r\n\r\n%s",
                        status, http_reason(status), n, body);
}
