/* conf/parse.c - the small text formats found inside the JSON: durations,
 * addresses, health.expect status lists and names. No JSON here, so each
 * parser can be tested (and reused by `lxlb agent` options) on its own. */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "conf/conf.h"

static void parse_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void parse_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Digits only: strtoul would also take "+5", " 5" and "-5" (wrapped). */
static int parse_digits(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > max)
            return -1;
    }
    *out = v;
    return 0;
}

int conf_parse_duration(const char *s, uint32_t *ms)
{
    static const struct { const char *unit; uint64_t mul; } units[] = {
        { "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
    };
    size_t n = 0;
    uint64_t v;

    if (!s)
        return -1;
    while (isdigit((unsigned char)s[n]))
        n++;
    if (parse_digits(s, n, UINT32_MAX, &v) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s + n, units[i].unit) != 0)
            continue;
        if (v > UINT32_MAX / units[i].mul)
            return -1;
        *ms = (uint32_t)(v * units[i].mul);
        return 0;
    }
    return -1;
}

static int parse_port(const char *s, uint16_t *port, char *err, size_t errlen)
{
    uint64_t v;

    if (!*s) {
        parse_err(err, errlen, "missing port");
        return -1;
    }
    if (parse_digits(s, strlen(s), 65535, &v) < 0 || v == 0) {
        parse_err(err, errlen, "port must be 1-65535");
        return -1;
    }
    *port = (uint16_t)v;
    return 0;
}

static int parse_unix(const char *path, struct conf_addr *out, char *err, size_t errlen)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
    size_t n = strlen(path);

    if (n == 0) {
        parse_err(err, errlen, "empty unix socket path");
        return -1;
    }
    if (n >= sizeof(sun->sun_path)) {
        parse_err(err, errlen, "unix socket path longer than %zu bytes",
                  sizeof(sun->sun_path) - 1);
        return -1;
    }
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n + 1);
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    out->family = AF_UNIX;
    return 0;
}

/* Numeric hosts never touch the resolver; names take the first answer, as
 * HAProxy does at start-up. No AI_ADDRCONFIG: a container with only lo
 * would otherwise fail to resolve "localhost". */
static int parse_host(const char *host, int family, uint16_t port,
                      struct conf_addr *out, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL, *ai;
    int rc;

    if (family == AF_INET6)
        hints.ai_flags = AI_NUMERICHOST;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        parse_err(err, errlen, "cannot resolve \"%s\": %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
            break;
    if (!ai) {
        freeaddrinfo(res);
        parse_err(err, errlen, "no IPv4 or IPv6 address for \"%s\"", host);
        return -1;
    }
    memcpy(&out->ss, ai->ai_addr, ai->ai_addrlen);
    out->len = ai->ai_addrlen;
    out->family = ai->ai_family;
    freeaddrinfo(res);
    if (out->family == AF_INET)
        ((struct sockaddr_in *)&out->ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&out->ss)->sin6_port = htons(port);
    return 0;
}

static int parse_any4(uint16_t port, struct conf_addr *out)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_ANY);
    sin->sin_port = htons(port);
    out->len = sizeof(*sin);
    out->family = AF_INET;
    return 0;
}

/* "[v6]:port": the brackets are the only way to tell the port apart. */
static int parse_v6(const char *s, struct conf_addr *out, char *err, size_t errlen)
{
    const char *end = strchr(s, ']');
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    uint16_t port;

    if (!end) {
        parse_err(err, errlen, "missing ']'");
        return -1;
    }
    if (end[1] != ':') {
        parse_err(err, errlen, end[1] ? "expected ':' after ']'" : "missing port");
        return -1;
    }
    if ((size_t)(end - s - 1) >= sizeof(host) || end == s + 1) {
        parse_err(err, errlen, "bad IPv6 address");
        return -1;
    }
    memcpy(host, s + 1, (size_t)(end - s - 1));
    host[end - s - 1] = '\0';
    if (parse_port(end + 2, &port, err, errlen) < 0)
        return -1;
    if (parse_host(host, AF_INET6, port, out, err, errlen) < 0) {
        parse_err(err, errlen, "bad IPv6 address \"%s\"", host);
        return -1;
    }
    return 0;
}

static int parse_hostport(const char *s, struct conf_addr *out, char *err, size_t errlen)
{
    const char *colon = strrchr(s, ':');
    char host[NI_MAXHOST];
    uint16_t port;

    if (!colon) {
        parse_err(err, errlen, "missing port");
        return -1;
    }
    if (memchr(s, ':', (size_t)(colon - s))) {
        parse_err(err, errlen, "IPv6 addresses must be written [addr]:port");
        return -1;
    }
    if ((size_t)(colon - s) >= sizeof(host)) {
        parse_err(err, errlen, "host name too long");
        return -1;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (parse_port(colon + 1, &port, err, errlen) < 0)
        return -1;
    if (!host[0] || strcmp(host, "*") == 0)
        return parse_any4(port, out);
    return parse_host(host, AF_UNSPEC, port, out, err, errlen);
}

int conf_parse_addr(const char *s, struct conf_addr *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!s || !*s) {
        parse_err(err, errlen, "empty address");
        return -1;
    }
    if (strlen(s) >= sizeof(out->text)) {
        parse_err(err, errlen, "longer than %zu bytes", sizeof(out->text) - 1);
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p)) {
            parse_err(err, errlen, "contains white space or control characters");
            return -1;
        }
    }
    strcpy(out->text, s);
    if (strncmp(s, "unix:", 5) == 0)
        return parse_unix(s + 5, out, err, errlen);
    if (s[0] == '[')
        return parse_v6(s, out, err, errlen);
    return parse_hostport(s, out, err, errlen);
}

bool conf_addr_same(const struct conf_addr *a, const struct conf_addr *b)
{
    if (a->family != b->family)
        return false;
    if (a->family == AF_UNIX)
        return strcmp(((const struct sockaddr_un *)&a->ss)->sun_path,
                      ((const struct sockaddr_un *)&b->ss)->sun_path) == 0;
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* Two listeners clash when they are the same, or when one is the wildcard of
 * the other's family on the same port (bind() would fail with EADDRINUSE). */
bool conf_addr_overlap(const struct conf_addr *a, const struct conf_addr *b)
{
    if (conf_addr_same(a, b))
        return true;
    if (a->family != b->family)
        return false;
    if (a->family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return x->sin_port == y->sin_port &&
               (x->sin_addr.s_addr == htonl(INADDR_ANY) ||
                y->sin_addr.s_addr == htonl(INADDR_ANY));
    }
    if (a->family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return x->sin6_port == y->sin6_port &&
               (IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) ||
                IN6_IS_ADDR_UNSPECIFIED(&y->sin6_addr));
    }
    return false;
}

bool conf_addr_is_local(const struct conf_addr *a)
{
    if (a->family == AF_UNIX)
        return true;
    if (a->family == AF_INET) {
        const struct sockaddr_in *sin = (const void *)&a->ss;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const void *)&a->ss;
        const uint8_t *b = sin6->sin6_addr.s6_addr;
        if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && b[12] == 127;
    }
    return false;
}

/* One side of a range: "200" is itself, "2xx" is 200..299. */
static int parse_status(const char *s, size_t n, uint16_t *lo, uint16_t *hi)
{
    uint64_t v;

    if (n != 3 || s[0] < '1' || s[0] > '5')
        return -1;
    if (s[1] == 'x' && s[2] == 'x') {
        *lo = (uint16_t)((s[0] - '0') * 100);
        *hi = (uint16_t)(*lo + 99);
        return 0;
    }
    if (parse_digits(s, 3, 599, &v) < 0)
        return -1;
    *lo = *hi = (uint16_t)v;
    return 0;
}

static int parse_expect_item(const char *s, size_t n, struct conf_status_range *r)
{
    const char *dash;
    uint16_t lo, hi;

    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    dash = memchr(s, '-', n);
    if (!dash)
        return parse_status(s, n, &r->lo, &r->hi);
    if (parse_status(s, (size_t)(dash - s), &r->lo, &hi) < 0 ||
        parse_status(dash + 1, n - (size_t)(dash - s) - 1, &lo, &r->hi) < 0 ||
        r->lo > r->hi)
        return -1;
    return 0;
}

int conf_parse_expect(const char *s, struct conf_status_range *out, size_t *n,
                      char *err, size_t errlen)
{
    size_t count = 0;

    if (!s || !*s) {
        parse_err(err, errlen, "empty status list");
        return -1;
    }
    for (;;) {
        size_t len = strcspn(s, ",");

        if (count == CONF_MAX_EXPECT) {
            parse_err(err, errlen, "more than %d status ranges", CONF_MAX_EXPECT);
            return -1;
        }
        if (parse_expect_item(s, len, &out[count]) < 0) {
            parse_err(err, errlen, "bad status range \"%.*s\": expected 100-599, "
                      "Nxx or A-B", (int)len, s);
            return -1;
        }
        count++;
        if (!s[len])
            break;
        s += len + 1;
    }
    *n = count;
    return 0;
}

bool conf_status_expected(const struct conf_health *h, int status)
{
    for (size_t i = 0; i < h->nexpect; i++)
        if (status >= h->expect[i].lo && status <= h->expect[i].hi)
            return true;
    return false;
}

/* ---- host names, authorities and URLs (routes and redirects) ---- */

static bool hexdig(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 reg-name (which covers IPv4address): unreserved, pct-encoded,
 * sub-delims. None of these can end a header line or a URL's authority. */
static bool reg_name_ok(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '%') {
            if (i + 2 >= n || !hexdig(s[i + 1]) || !hexdig(s[i + 2]))
                return false;
            i += 2;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9') || (c && strchr("-._~!$&'()*+,;=", c)))) {
            return false;
        }
    }
    return true;
}

/* "[" IPv6 "]": hex digits, ':' and '.' (an embedded IPv4) only; IPvFuture
 * and zone identifiers are not accepted. */
static bool ip_literal_ok(const char *s, size_t n)
{
    if (n < 4 || s[0] != '[' || s[n - 1] != ']')
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!hexdig(s[i]) && s[i] != ':' && s[i] != '.')
            return false;
    return true;
}

bool conf_authority_ok(const char *s, size_t len)
{
    const char *colon;
    size_t hostlen;

    if (len && s[0] == '[') {
        const char *end = memchr(s, ']', len);
        hostlen = end ? (size_t)(end - s) + 1 : len;
        if (!ip_literal_ok(s, hostlen))
            return false;
    } else {
        colon = memchr(s, ':', len);
        hostlen = colon ? (size_t)(colon - s) : len;
        if (!reg_name_ok(s, hostlen))
            return false;
    }
    if (hostlen == len)
        return true;
    if (s[hostlen] != ':' || len - hostlen - 1 > 5)
        return false;
    uint64_t port = 0;
    /* RFC 3986 allows an empty port ("host:"). */
    return hostlen + 1 == len || parse_digits(s + hostlen + 1, len - hostlen - 1, 65535,
                                               &port) == 0;
}

/* A DNS name as routes write it: labels of letters, digits, '-' and '_'
 * (internal names use it), 1-63 bytes each. */
static int dns_name_ok(const char *s, size_t n, char *err, size_t errlen)
{
    size_t label = 0;

    if (n == 0 || n > 253) {
        parse_err(err, errlen, "a host name is 1-253 bytes");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '.') {
            if (label == 0) {
                parse_err(err, errlen, "empty label (\"..\" or a leading dot)");
                return -1;
            }
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '-' || c == '_') {
            if (++label > 63) {
                parse_err(err, errlen, "a label is at most 63 bytes");
                return -1;
            }
        } else if (c == '*') {
            parse_err(err, errlen, "'*' is only allowed as the whole first label, "
                      "as in \"*.example.com\"");
            return -1;
        } else if (c == ':') {
            parse_err(err, errlen, "no port here: a route matches the host on any port");
            return -1;
        } else {
            parse_err(err, errlen, "character 0x%02x not allowed in a host name "
                      "(letters, digits, '-', '_' and '.')", c);
            return -1;
        }
    }
    if (label == 0) {
        parse_err(err, errlen, "empty label at the end");
        return -1;
    }
    return 0;
}

int conf_parse_host_pattern(const char *s, enum conf_host_match *kind, char *key,
                            size_t *keylen, char *err, size_t errlen)
{
    size_t n = strlen(s), off = 0;

    *kind = CONF_HOST_EXACT;
    if (strcmp(s, "*") == 0) {
        parse_err(err, errlen, "\"*\" alone: leave \"host\" out to match every host");
        return -1;
    }
    if (n && s[n - 1] == '.') /* the root's dot: "example.com." is "example.com" */
        n--;
    if (n >= 2 && s[0] == '*' && s[1] == '.') {
        *kind = CONF_HOST_SUFFIX;
        off = 1; /* the key keeps its dot: ".example.com" */
        if (dns_name_ok(s + 2, n - 2, err, errlen) < 0)
            return -1;
    } else if (n && s[0] == '[') {
        char a[INET6_ADDRSTRLEN];
        struct in6_addr in6;

        if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(a)) {
            parse_err(err, errlen, "an IPv6 host is written [addr], with no port");
            return -1;
        }
        memcpy(a, s + 1, n - 2);
        a[n - 2] = '\0';
        if (inet_pton(AF_INET6, a, &in6) != 1) {
            parse_err(err, errlen, "bad IPv6 address");
            return -1;
        }
    } else if (dns_name_ok(s, n, err, errlen) < 0) {
        return -1;
    }
    *keylen = n - off;
    for (size_t i = 0; i < *keylen; i++)
        key[i] = (char)tolower((unsigned char)s[off + i]);
    key[*keylen] = '\0';
    return 0;
}

/* Location bytes go into a header line: visible ASCII only. */
static bool visible_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

int conf_parse_location(const char *s, bool keep_path, size_t *base_len, char *err,
                        size_t errlen)
{
    size_t n = strlen(s), skip, alen;

    if (!visible_ascii(s)) {
        parse_err(err, errlen, "only visible ASCII (no space, CR, LF, control or 8-bit "
                  "byte: percent-encode them)");
        return -1;
    }
    if (strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else {
        parse_err(err, errlen, "not an absolute http:// or https:// URL");
        return -1;
    }
    alen = strcspn(s + skip, "/?#");
    if (!conf_authority_ok(s + skip, alen)) {
        parse_err(err, errlen, "bad host[:port] \"%.*s\"", (int)alen, s + skip);
        return -1;
    }
    if (keep_path && strpbrk(s + skip, "?#")) {
        parse_err(err, errlen, "has a query or fragment: the request's path cannot be "
                  "appended (set \"keep_path\": false)");
        return -1;
    }
    /* "https://a/" + "/x" must give "https://a/x". */
    *base_len = keep_path && n > skip + alen && s[n - 1] == '/' ? n - 1 : n;
    return 0;
}
