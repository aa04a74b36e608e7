/* lb/cookie.c - Cookie and Set-Cookie parsing and rewriting. */
#include <string.h>

#include "lb/cookie.h"
#include "lb/http.h"

static bool is_ws(char c) { return c == ' ' || c == '\t'; }

/* One "name=value" pair of a Cookie header, trimmed. */
struct pair {
    const char *name, *val; /* name; value (may be empty) */
    size_t nlen, vlen;      /* their lengths */
    bool has_eq;            /* an '=' was present */
};

/* Next pair starting at *pos, skipping empty ones; false at the end. */
static bool next_pair(const char *v, size_t len, size_t *pos, struct pair *p)
{
    size_t i = *pos;

    while (i < len) {
        while (i < len && (is_ws(v[i]) || v[i] == ';'))
            i++;
        if (i >= len)
            break;
        size_t start = i;
        while (i < len && v[i] != ';')
            i++;
        size_t end = i;
        while (end > start && is_ws(v[end - 1]))
            end--;
        const char *eq = memchr(v + start, '=', end - start);
        p->name = v + start;
        p->has_eq = eq != NULL;
        p->nlen = (eq ? (size_t)(eq - (v + start)) : end - start);
        while (p->nlen && is_ws(p->name[p->nlen - 1]))
            p->nlen--;
        p->val = eq ? eq + 1 : v + end;
        p->vlen = eq ? (size_t)(v + end - (eq + 1)) : 0;
        while (p->vlen && is_ws(*p->val))
            p->val++, p->vlen--;
        *pos = i;
        if (p->nlen)
            return true;
    }
    *pos = len;
    return false;
}

static bool pair_is(const struct pair *p, const char *name, size_t nlen)
{
    return p->has_eq && p->nlen == nlen && !memcmp(p->name, name, nlen);
}

bool cookie_find(const char *v, size_t len, const char *name, size_t nlen, const char **val,
                 size_t *vlen)
{
    struct pair p;
    size_t pos = 0;

    while (next_pair(v, len, &pos, &p)) {
        if (pair_is(&p, name, nlen)) {
            *val = p.val;
            *vlen = p.vlen;
            return true;
        }
    }
    return false;
}

bool cookie_server_part(const char *val, size_t vlen, bool prefix, const char **srv,
                        size_t *slen)
{
    if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"')
        val++, vlen -= 2; /* a quoted value designates the same server */
    if (prefix) {
        const char *tilde = memchr(val, '~', vlen);
        if (!tilde)
            return false;
        vlen = (size_t)(tilde - val);
    }
    *srv = val;
    *slen = vlen;
    return vlen > 0;
}

static void add_pair(struct hbuf *out, bool *first, const char *hname, size_t hlen,
                     const char *p, size_t n)
{
    if (*first) {
        hbuf_add(out, hname, hlen);
        HBUF_LIT(out, ": ");
        *first = false;
    } else {
        HBUF_LIT(out, "; ");
    }
    hbuf_add(out, p, n);
}

void cookie_write_request(struct hbuf *out, const char *hname, size_t hlen, const char *v,
                          size_t len, const char *name, size_t nlen, enum cookie_req_action act)
{
    struct pair p;
    size_t pos = 0;
    bool first = true;

    while (next_pair(v, len, &pos, &p)) {
        size_t whole = (size_t)(p.val + p.vlen - p.name);
        if (!pair_is(&p, name, nlen) || act == COOKIE_REQ_KEEP) {
            add_pair(out, &first, hname, hlen, p.name, whole);
            continue;
        }
        if (act == COOKIE_REQ_REMOVE)
            continue;
        const char *tilde = memchr(p.val, '~', p.vlen);
        if (!tilde) { /* not ours: the application's own value */
            add_pair(out, &first, hname, hlen, p.name, whole);
            continue;
        }
        add_pair(out, &first, hname, hlen, name, nlen);
        HBUF_LIT(out, "=");
        hbuf_add(out, tilde + 1, (size_t)(p.val + p.vlen - (tilde + 1)));
    }
    if (!first)
        HBUF_LIT(out, "\r\n");
}

bool cookie_set_is(const char *v, size_t len, const char *name, size_t nlen)
{
    size_t i = 0;

    while (i < len && is_ws(v[i]))
        i++;
    if (len - i <= nlen || memcmp(v + i, name, nlen))
        return false;
    i += nlen;
    while (i < len && is_ws(v[i]))
        i++;
    return i < len && v[i] == '=';
}

void cookie_set_value(struct hbuf *out, const char *v, size_t len, size_t nlen,
                      const char *srv, bool prefix)
{
    const char *eq = memchr(v, '=', len); /* cookie_set_is() said there is one */
    const char *end = v + len;
    const char *semi = memchr(eq, ';', (size_t)(end - eq));
    const char *val = eq + 1, *val_end = semi ? semi : end;

    while (val < val_end && is_ws(*val))
        val++;
    while (v < eq && is_ws(*v))
        v++;
    hbuf_add(out, v, nlen);
    HBUF_LIT(out, "=");
    hbuf_str(out, srv);
    if (prefix) {
        HBUF_LIT(out, "~");
        hbuf_add(out, val, (size_t)(val_end - val));
    }
    if (semi)
        hbuf_add(out, semi, (size_t)(end - semi));
}

void cookie_write_set(struct hbuf *out, const char *v, size_t len, size_t nlen,
                      const char *srv, bool prefix)
{
    HBUF_LIT(out, "Set-Cookie: ");
    cookie_set_value(out, v, len, nlen, srv, prefix);
    HBUF_LIT(out, "\r\n");
}
