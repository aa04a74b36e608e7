/* lb/h1.c - HTTP/1.x messages read with llhttp and framed again (h1.h). */
#include <string.h>
#include <event2/buffer.h>

#include "lb/h1.h"
#include "lb/http.h"

#define H1_IOV 16 /* evbuffer segments parsed per call */

/* ------------------------------------------------------------ callbacks */

static int on_target(llhttp_t *p, const char *at, size_t len)
{
    struct h1r *r = p->data;
    return http_head_on_target(r->head, at, len);
}

static int on_field(llhttp_t *p, const char *at, size_t len)
{
    struct h1r *r = p->data;
    return http_head_on_field(r->head, at, len);
}

static int on_value(llhttp_t *p, const char *at, size_t len)
{
    struct h1r *r = p->data;
    return http_head_on_value(r->head, at, len);
}

/* Stop at the end of the head (to route it) and at the end of the message
 * (so the next pipelined one waits its turn). */
static int on_pause(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED;
}

static const llhttp_settings_t req_head_settings = {
    .on_url = on_target,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_pause,
    .on_message_complete = on_pause,
};

static const llhttp_settings_t resp_head_settings = {
    .on_status = on_target, /* the reason phrase */
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_pause,
    .on_message_complete = on_pause,
};

static int on_payload(llhttp_t *p, const char *at, size_t len)
{
    struct h1r *r = p->data;
    return evbuffer_add(r->payload, at, len) == 0 ? 0 : -1;
}

/* Trailer fields are dropped (nothing lxlb forwards needs them), but they
 * are parsed as strictly as a head and bounded like one. */
static int on_trailer(llhttp_t *p, const char *at, size_t len)
{
    struct h1r *r = p->data;

    (void)at;
    r->trailer_bytes += (uint32_t)len;
    return r->trailer_bytes > r->head->max ? -1 : 0;
}

static const llhttp_settings_t chunked_settings = {
    .on_body = on_payload,
    .on_header_field = on_trailer,
    .on_header_value = on_trailer,
    .on_message_complete = on_pause,
};

static const llhttp_settings_t probe_settings = {
    .on_message_complete = on_pause,
};

static const llhttp_settings_t *head_settings(const struct h1r *r)
{
    return r->parser.type == HTTP_REQUEST ? &req_head_settings : &resp_head_settings;
}

/* ------------------------------------------------------------- lifetime */

void h1r_init(struct h1r *r, llhttp_type_t type)
{
    memset(r, 0, sizeof(*r));
    llhttp_init(&r->parser, type,
                type == HTTP_REQUEST ? &req_head_settings : &resp_head_settings);
    r->parser.data = r;
}

void h1r_begin(struct h1r *r, struct http_head *head)
{
    h1r_reset(r); /* the last message (a bodiless one keeps its parser state until now) */
    r->head = head;
    r->scan = 0;
    r->in_body = false;
    r->body = H1_BODY_NONE;
    r->status = 0;
    r->why = NULL;
}

void h1r_reset(struct h1r *r)
{
    r->parser.settings = (void *)head_settings(r);
    llhttp_reset(&r->parser);
    r->parser.data = r;
    r->in_body = false;
}

/* ----------------------------------------------------------------- heads */

static enum h1_res head_error(struct h1r *r, llhttp_errno_t err, const char *bad_ending)
{
    const struct http_head *h = r->head;

    r->status = 400;
    if (err == HPE_USER && h->limit_status) {
        r->status = h->limit_status;
        r->why = h->limit_status == 414 ? "request line too long"
                 : h->limit_status == 431 ? "header fields too large or too many"
                                          : "out of memory";
    } else if (bad_ending) {
        r->why = bad_ending;
    } else {
        r->why = llhttp_get_error_reason(&r->parser);
        if (!r->why || !*r->why)
            r->why = llhttp_errno_name(err);
    }
    return H1_ERR;
}

enum h1_res h1r_head(struct h1r *r, struct evbuffer *in, size_t *used)
{
    struct evbuffer_iovec v[H1_IOV];
    int n = evbuffer_peek(in, -1, NULL, v, H1_IOV);
    enum h1_res res = H1_MORE;

    *used = 0;
    for (int i = 0; i < n && i < H1_IOV && res == H1_MORE; i++) {
        const char *base = v[i].iov_base;
        llhttp_errno_t e = llhttp_execute(&r->parser, base, v[i].iov_len);
        size_t take = v[i].iov_len;
        if (e == HPE_PAUSED || (e != HPE_OK && llhttp_get_error_pos(&r->parser)))
            take = (size_t)(llhttp_get_error_pos(&r->parser) - base);
        /* Line endings are checked on what llhttp took (a pause leaves the
         * body unread), and on the byte it stopped at when it failed: a
         * bare CR is the real cause of many llhttp errors. */
        size_t scan_len = e == HPE_OK || e == HPE_PAUSED ? take
                          : take + (take < v[i].iov_len ? 1 : 0);
        const char *bad = http_head_bytes_bad(&r->scan, base, scan_len);
        if (bad || (e != HPE_OK && e != HPE_PAUSED)) {
            res = head_error(r, e == HPE_OK || e == HPE_PAUSED ? HPE_CR_EXPECTED : e, bad);
            break;
        }
        *used += take;
        if (e == HPE_PAUSED)
            res = H1_HEAD;
    }
    evbuffer_drain(in, *used);
    return res;
}

enum h1_body h1r_request_body(const struct h1r *r)
{
    const llhttp_t *p = &r->parser;

    if (p->flags & F_CHUNKED)
        return H1_BODY_CHUNKED;
    if (p->content_length > 0)
        return H1_BODY_LENGTH;
    return H1_BODY_NONE;
}

enum h1_body h1r_response_body(const struct h1r *r, int req_method)
{
    const llhttp_t *p = &r->parser;
    int st = p->status_code;

    if (req_method == HTTP_HEAD || st == 204 || st == 304 || st < 200)
        return H1_BODY_NONE;
    if (p->flags & F_CHUNKED)
        return H1_BODY_CHUNKED;
    if (p->flags & F_TRANSFER_ENCODING)
        return H1_BODY_EOF; /* RFC 9112 6.3: not chunked last: read until close */
    if (p->flags & F_CONTENT_LENGTH)
        return p->content_length > 0 ? H1_BODY_LENGTH : H1_BODY_NONE;
    return H1_BODY_EOF;
}

void h1r_body_begin(struct h1r *r, enum h1_body kind)
{
    r->body = kind;
    r->trailer_bytes = 0;
    if (kind == H1_BODY_NONE)
        return; /* the parser keeps the head's flags for the caller until h1r_begin */
    r->in_body = true;
    r->left = kind == H1_BODY_LENGTH ? r->parser.content_length : 0;
    if (kind == H1_BODY_CHUNKED) {
        r->parser.settings = (void *)&chunked_settings;
        llhttp_resume(&r->parser);
    }
}

/* ------------------------------------------------------------------ bodies */

static enum h1_res body_chunked(struct h1r *r, struct evbuffer *in, struct evbuffer *out,
                                size_t max, size_t *used)
{
    struct evbuffer_iovec v[H1_IOV];
    int n = evbuffer_peek(in, -1, NULL, v, H1_IOV);
    enum h1_res res = H1_MORE;

    r->payload = out;
    for (int i = 0; i < n && i < H1_IOV && *used < max && res == H1_MORE; i++) {
        const char *base = v[i].iov_base;
        size_t len = v[i].iov_len < max - *used ? v[i].iov_len : max - *used;
        llhttp_errno_t e = llhttp_execute(&r->parser, base, len);
        if (e == HPE_PAUSED) {
            *used += (size_t)(llhttp_get_error_pos(&r->parser) - base);
            res = H1_DONE;
        } else if (e != HPE_OK) {
            r->status = 400;
            r->why = r->trailer_bytes > r->head->max ? "trailer fields too large"
                                                       : llhttp_get_error_reason(&r->parser);
            res = H1_ERR;
        } else {
            *used += len;
        }
    }
    r->payload = NULL;
    evbuffer_drain(in, *used);
    return res;
}

enum h1_res h1r_body(struct h1r *r, struct evbuffer *in, struct evbuffer *out, size_t max,
                     size_t *used)
{
    size_t have = evbuffer_get_length(in), n;
    enum h1_res res;

    *used = 0;
    switch (r->body) {
    case H1_BODY_NONE:
        return H1_DONE;
    case H1_BODY_EOF:
        n = have < max ? have : max;
        *used = (size_t)evbuffer_remove_buffer(in, out, n);
        return H1_MORE;
    case H1_BODY_LENGTH:
        n = have < max ? have : max;
        if (n > r->left)
            n = (size_t)r->left;
        *used = (size_t)evbuffer_remove_buffer(in, out, n);
        r->left -= *used;
        if (r->left > 0)
            return H1_MORE;
        h1r_reset(r);
        return H1_DONE;
    case H1_BODY_CHUNKED:
        res = body_chunked(r, in, out, max, used);
        if (res == H1_DONE)
            h1r_reset(r);
        return res;
    }
    return H1_ERR;
}

bool h1r_body_prefix_ok(const struct h1r *r, struct evbuffer *in)
{
    struct evbuffer_iovec v[H1_IOV];
    llhttp_t probe = r->parser;
    int n;

    if (!(r->parser.flags & F_CHUNKED))
        return true; /* a length is only counted: nothing to get wrong */
    probe.settings = (void *)&probe_settings;
    llhttp_resume(&probe);
    n = evbuffer_peek(in, -1, NULL, v, H1_IOV);
    for (int i = 0; i < n && i < H1_IOV; i++) {
        llhttp_errno_t e = llhttp_execute(&probe, v[i].iov_base, v[i].iov_len);
        if (e == HPE_PAUSED)
            return true;
        if (e != HPE_OK)
            return false;
    }
    return true;
}

/* --------------------------------------------------------------- writers */

void h1w_chunk(struct evbuffer *out, struct evbuffer *payload)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = evbuffer_get_length(payload);
    char line[24];
    int i = (int)sizeof(line);

    if (n == 0)
        return; /* a zero-size chunk would end the body */
    line[--i] = '\n';
    line[--i] = '\r';
    do {
        line[--i] = hex[n & 15];
        n >>= 4;
    } while (n);
    evbuffer_add(out, line + i, sizeof(line) - (size_t)i);
    evbuffer_add_buffer(out, payload);
    EVBUF_ADD_LIT(out, "\r\n");
}

void h1w_last_chunk(struct evbuffer *out)
{
    EVBUF_ADD_LIT(out, "0\r\n\r\n");
}
