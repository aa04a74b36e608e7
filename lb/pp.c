/* lb/pp.c - PROXY protocol v1/v2 parser and builders (lb/pp.h).
 *
 * The parser is stateless: it is given every byte received so far and
 * answers from scratch, which costs at most a few hundred bytes of work per
 * read and cannot get out of step with the caller's buffer. Every check is
 * made as soon as its byte is there, so a connection that is not speaking
 * the protocol is refused on its first wrong byte, and a byte judged good
 * never turns bad later: more input can only complete a header or fail it. */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "lb/pp.h"

static const uint8_t pp_sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

enum { V2_LOCAL = 0x20, V2_PROXY = 0x21 };                 /* version 2, command */
enum { V2_UNSPEC = 0x00, V2_TCP4 = 0x11, V2_TCP6 = 0x21, V2_UNIX = 0x31 }; /* fam */
enum { V2_ADDR4 = 12, V2_ADDR6 = 36, V2_ADDRUNIX = 216 }; /* address block bytes */

static enum pp_status pp_err(struct pp_result *r, const char *why)
{
    r->why = why;
    return PP_ERROR;
}

static enum pp_status pp_more(struct pp_result *r, size_t need)
{
    r->need = need;
    return PP_MORE;
}

/* ---------------------------------------------------------------- v1 */

/* "0".."65535", no sign, no leading zero. */
static bool v1_port(const char *s, size_t n, uint16_t *port)
{
    unsigned v = 0;

    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *port = (uint16_t)v;
    return v <= 65535;
}

static bool v1_addr(int family, const char *s, size_t n, uint16_t port,
                    struct sockaddr_storage *ss, socklen_t *len)
{
    char buf[INET6_ADDRSTRLEN];

    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        *len = sizeof(*in);
        return inet_pton(AF_INET, buf, &in->sin_addr) == 1;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    *len = sizeof(*in6);
    return inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1;
}

/* The line "PROXY TCP4 src dst sport dport" (CRLF removed), split at single
 * spaces into exactly six fields. */
static enum pp_status v1_line(const char *s, size_t n, struct pp_result *r)
{
    const char *f[6];
    size_t fl[6], nf = 0, start = 0;
    uint16_t sport, dport;
    int family;

    if (n >= 13 && memcmp(s, "PROXY UNKNOWN", 13) == 0 && (n == 13 || s[13] == ' ')) {
        r->local = true; /* whatever follows is to be ignored */
        return PP_DONE;
    }
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != ' ')
            continue;
        if (nf == 6)
            return pp_err(r, "v1: too many fields");
        f[nf] = s + start;
        fl[nf++] = i - start;
        start = i + 1;
    }
    if (nf != 6)
        return pp_err(r, "v1: expected PROXY TCP4|TCP6 src dst sport dport");
    if (fl[1] == 4 && memcmp(f[1], "TCP4", 4) == 0)
        family = AF_INET;
    else if (fl[1] == 4 && memcmp(f[1], "TCP6", 4) == 0)
        family = AF_INET6;
    else
        return pp_err(r, "v1: unknown protocol (TCP4, TCP6 or UNKNOWN)");
    if (!v1_port(f[4], fl[4], &sport) || !v1_port(f[5], fl[5], &dport))
        return pp_err(r, "v1: bad port");
    if (!v1_addr(family, f[2], fl[2], sport, &r->src, &r->src_len) ||
        !v1_addr(family, f[3], fl[3], dport, &r->dst, &r->dst_len))
        return pp_err(r, "v1: bad address");
    return PP_DONE;
}

static enum pp_status v1_parse(const char *s, size_t len, struct pp_result *r)
{
    static const char magic[] = "PROXY ";
    size_t n = len < PP_V1_MAX ? len : PP_V1_MAX;

    r->version = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (i < sizeof(magic) - 1 && c != (unsigned char)magic[i])
            return pp_err(r, "not a PROXY protocol header");
        if (c == '\r') {
            if (i + 2 > PP_V1_MAX)
                return pp_err(r, "v1: no CRLF within 107 bytes");
            if (i + 1 == len)
                return pp_more(r, len + 1);
            if (s[i + 1] != '\n')
                return pp_err(r, "v1: CR without LF");
            r->len = i + 2;
            enum pp_status st = v1_line(s, i, r);
            if (st != PP_DONE)
                r->len = 0;
            return st;
        }
        if (c < 0x20 || c > 0x7e)
            return pp_err(r, "v1: control or 8-bit byte in the header");
    }
    if (len >= PP_V1_MAX)
        return pp_err(r, "v1: no CRLF within 107 bytes");
    return pp_more(r, len + 1);
}

/* ---------------------------------------------------------------- v2 */

/* TLVs fill the rest of the block exactly; their contents are not used. */
static bool v2_tlvs_ok(const uint8_t *p, size_t n)
{
    while (n) {
        if (n < 3)
            return false;
        size_t l = 3 + ((size_t)p[1] << 8 | p[2]);
        if (l > n)
            return false;
        p += l;
        n -= l;
    }
    return true;
}

static void v2_inet(const uint8_t *a, struct pp_result *r)
{
    struct sockaddr_in *s = (struct sockaddr_in *)&r->src, *d = (struct sockaddr_in *)&r->dst;

    s->sin_family = d->sin_family = AF_INET;
    memcpy(&s->sin_addr, a, 4);
    memcpy(&d->sin_addr, a + 4, 4);
    memcpy(&s->sin_port, a + 8, 2); /* both in network order already */
    memcpy(&d->sin_port, a + 10, 2);
    r->src_len = r->dst_len = sizeof(*s);
}

static void v2_inet6(const uint8_t *a, struct pp_result *r)
{
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&r->src;
    struct sockaddr_in6 *d = (struct sockaddr_in6 *)&r->dst;

    s->sin6_family = d->sin6_family = AF_INET6;
    memcpy(&s->sin6_addr, a, 16);
    memcpy(&d->sin6_addr, a + 16, 16);
    memcpy(&s->sin6_port, a + 32, 2);
    memcpy(&d->sin6_port, a + 34, 2);
    r->src_len = r->dst_len = sizeof(*s);
}

/* The fixed part's checks, each as soon as its byte is there. */
static enum pp_status v2_head(const uint8_t *p, size_t len, struct pp_result *r)
{
    for (size_t i = 0; i < len && i < sizeof(pp_sig); i++)
        if (p[i] != pp_sig[i])
            return pp_err(r, "not a PROXY protocol header");
    if (len > 12 && p[12] != V2_LOCAL && p[12] != V2_PROXY)
        return pp_err(r, (p[12] & 0xF0) != 0x20 ? "v2: unknown version"
                                                  : "v2: unknown command");
    if (len > 13 && p[12] == V2_PROXY && p[13] != V2_UNSPEC && p[13] != V2_TCP4 &&
        p[13] != V2_TCP6 && p[13] != V2_UNIX)
        return pp_err(r, (p[13] & 0x0F) == 2 ? "v2: a datagram (UDP) connection"
                                               : "v2: unknown address family");
    return len < PP_V2_HEAD ? pp_more(r, PP_V2_HEAD) : PP_DONE;
}

static enum pp_status v2_parse(const uint8_t *p, size_t len, struct pp_result *r)
{
    size_t blen, alen = 0;
    enum pp_status st = v2_head(p, len, r);

    r->version = 2;
    if (st != PP_DONE)
        return st;
    blen = (size_t)p[14] << 8 | p[15];
    if (p[12] == V2_PROXY)
        alen = p[13] == V2_TCP4 ? V2_ADDR4 : p[13] == V2_TCP6 ? V2_ADDR6
             : p[13] == V2_UNIX ? V2_ADDRUNIX : 0;
    if (blen < alen)
        return pp_err(r, "v2: address block shorter than its family");
    if (len < PP_V2_HEAD + blen)
        return pp_more(r, PP_V2_HEAD + blen);
    /* LOCAL (a health check) and UNSPEC: the receiver ignores the block. */
    if (alen && !v2_tlvs_ok(p + PP_V2_HEAD + alen, blen - alen))
        return pp_err(r, "v2: malformed TLV");
    r->len = PP_V2_HEAD + blen;
    if (p[12] == V2_PROXY && p[13] == V2_TCP4)
        v2_inet(p + PP_V2_HEAD, r);
    else if (p[12] == V2_PROXY && p[13] == V2_TCP6)
        v2_inet6(p + PP_V2_HEAD, r);
    else
        r->local = true; /* LOCAL, UNSPEC, or a unix socket: no client address */
    return PP_DONE;
}

enum pp_status pp_parse(const void *buf, size_t len, struct pp_result *out)
{
    const uint8_t *p = buf;

    memset(out, 0, sizeof(*out));
    if (len == 0)
        return pp_more(out, 1);
    if (p[0] == 'P')
        return v1_parse(buf, len, out);
    if (p[0] == pp_sig[0])
        return v2_parse(p, len, out);
    return pp_err(out, "not a PROXY protocol header");
}

/* ---------------------------------------------------------------- builders */

/* The pair as one family: AF_INET, AF_INET6 (an IPv4 side mapped), or
 * AF_UNSPEC. IPv4-mapped IPv6 addresses count as IPv4. */
struct pp_pair {
    int family;               /* AF_INET, AF_INET6 or AF_UNSPEC */
    uint8_t src[16], dst[16]; /* addresses, network order (4 bytes used for IPv4) */
    uint16_t sport, dport;    /* ports, host order */
};

static int pp_side(const struct sockaddr *sa, uint8_t *addr, uint16_t *port)
{
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memcpy(addr, &in->sin_addr, 4);
        *port = ntohs(in->sin_port);
        return AF_INET;
    }
    if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        *port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            memcpy(addr, in6->sin6_addr.s6_addr + 12, 4);
            return AF_INET;
        }
        memcpy(addr, &in6->sin6_addr, 16);
        return AF_INET6;
    }
    return AF_UNSPEC;
}

static void pp_map6(uint8_t *addr)
{
    memmove(addr + 12, addr, 4);
    memset(addr, 0, 10);
    addr[10] = addr[11] = 0xff;
}

static void pp_pair(const struct sockaddr *src, const struct sockaddr *dst, struct pp_pair *p)
{
    int fs = pp_side(src, p->src, &p->sport), fd = pp_side(dst, p->dst, &p->dport);

    if (fs == AF_UNSPEC || fd == AF_UNSPEC)
        p->family = AF_UNSPEC;
    else if (fs == fd)
        p->family = fs;
    else {
        p->family = AF_INET6;
        pp_map6(fs == AF_INET ? p->src : p->dst);
    }
}

size_t pp_build_v1(const struct sockaddr *src, const struct sockaddr *dst, char *out,
                   size_t outlen)
{
    char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
    struct pp_pair p;
    int n;

    pp_pair(src, dst, &p);
    if (p.family == AF_UNSPEC)
        n = snprintf(out, outlen, "PROXY UNKNOWN\r\n");
    else {
        inet_ntop(p.family, p.src, s, sizeof(s));
        inet_ntop(p.family, p.dst, d, sizeof(d));
        n = snprintf(out, outlen, "PROXY %s %s %s %u %u\r\n",
                     p.family == AF_INET ? "TCP4" : "TCP6", s, d, p.sport, p.dport);
    }
    return n < 0 || (size_t)n >= outlen ? 0 : (size_t)n;
}

size_t pp_build_v2(const struct sockaddr *src, const struct sockaddr *dst, uint8_t *out,
                   size_t outlen)
{
    struct pp_pair p;
    size_t alen, a;

    pp_pair(src, dst, &p);
    alen = p.family == AF_INET ? V2_ADDR4 : p.family == AF_INET6 ? V2_ADDR6 : 0;
    if (outlen < PP_V2_HEAD + alen)
        return 0;
    a = p.family == AF_INET ? 4 : 16;
    memcpy(out, pp_sig, sizeof(pp_sig));
    /* No addresses to give: LOCAL, as HAProxy sends it; HAProxy 2.6 refuses
     * a PROXY command with an unspecified family. */
    out[12] = alen ? V2_PROXY : V2_LOCAL;
    out[13] = p.family == AF_INET ? V2_TCP4 : p.family == AF_INET6 ? V2_TCP6 : V2_UNSPEC;
    out[14] = 0;
    out[15] = (uint8_t)alen;
    if (alen) {
        memcpy(out + 16, p.src, a);
        memcpy(out + 16 + a, p.dst, a);
        out[16 + 2 * a] = (uint8_t)(p.sport >> 8);
        out[17 + 2 * a] = (uint8_t)p.sport;
        out[18 + 2 * a] = (uint8_t)(p.dport >> 8);
        out[19 + 2 * a] = (uint8_t)p.dport;
    }
    return PP_V2_HEAD + alen;
}

size_t pp_build(enum conf_send_proxy v, const struct sockaddr *src,
                const struct sockaddr *dst, uint8_t *out, size_t outlen)
{
    if (v == CONF_SEND_PROXY_V1)
        return pp_build_v1(src, dst, (char *)out, outlen);
    if (v == CONF_SEND_PROXY_V2)
        return pp_build_v2(src, dst, out, outlen);
    return 0;
}
