/* tests/unit/test_pp.c - lb/pp.c: PROXY protocol v1/v2 headers as HAProxy
 * 2.6 sends them (captured from `send-proxy` and `send-proxy-v2`, with and
 * without TLVs), fed whole and byte by byte; malformed and truncated ones;
 * and the builders, which must produce HAProxy's very bytes. The vectors
 * were captured with tests/unit/pp_capture.py (run it to see them again). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "lb/pp.h"
#include "tests/unit/unit.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"

/* Captured from HAProxy 2.6.12: a client 127.0.0.1:48690 (resp. [::1]:37762,
 * 127.0.0.1:52804, [::1]:52162, 127.0.0.1:37452) connected to frontends on
 * ports 28111/28121/28112/28122, whose servers had send-proxy or
 * send-proxy-v2 (the last one with proxy-v2-options crc32c,unique-id). */
static const char hap_v1_4[] = "PROXY TCP4 127.0.0.1 127.0.0.1 48690 28111\r\n";
static const char hap_v1_6[] = "PROXY TCP6 ::1 ::1 37762 28121\r\n";
static const uint8_t hap_v2_4[] = SIG "\x21\x11\x00\x0c\x7f\x00\x00\x01\x7f\x00\x00\x01"
                                      "\xce\x44\x6d\xd0";
static const uint8_t hap_v2_6[] = SIG "\x21\x21\x00\x24"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\xcb\xc2\x6d\xda";
static const uint8_t hap_v2_tlv[] = SIG "\x21\x11\x00\x23\x7f\x00\x00\x01\x7f\x00\x00\x01"
    "\x92\x4c\x6d\xd0\x03\x00\x04\xca\xea\x41\x7e\x05\x00\x0d" "abc-127.0.0.1";

struct vec {
    const void *p;   /* header bytes */
    size_t n;        /* bytes */
    int family;      /* of both addresses */
    const char *src; /* client address */
    unsigned sport;  /* client port */
    unsigned dport;  /* port it connected to */
    int version;     /* 1 or 2 */
};

static const struct vec vecs[] = {
    { hap_v1_4, sizeof(hap_v1_4) - 1, AF_INET, "127.0.0.1", 48690, 28111, 1 },
    { hap_v1_6, sizeof(hap_v1_6) - 1, AF_INET6, "::1", 37762, 28121, 1 },
    { hap_v2_4, sizeof(hap_v2_4) - 1, AF_INET, "127.0.0.1", 52804, 28112, 2 },
    { hap_v2_6, sizeof(hap_v2_6) - 1, AF_INET6, "::1", 52162, 28122, 2 },
    { hap_v2_tlv, sizeof(hap_v2_tlv) - 1, AF_INET, "127.0.0.1", 37452, 28112, 2 },
};

static void addr_of(const struct sockaddr_storage *ss, char *buf, unsigned *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, buf, INET6_ADDRSTRLEN);
        *port = ntohs(in->sin_port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, buf, INET6_ADDRSTRLEN);
        *port = ntohs(in6->sin6_port);
    }
}

static void check_vec(const struct vec *v, const struct pp_result *r)
{
    char a[INET6_ADDRSTRLEN];
    unsigned port;

    CHECK(r->version == v->version && !r->local);
    CHECK(r->len == v->n);
    CHECK(r->src.ss_family == v->family && r->dst.ss_family == v->family);
    CHECK(r->src_len == (v->family == AF_INET ? sizeof(struct sockaddr_in)
                                              : sizeof(struct sockaddr_in6)));
    addr_of(&r->src, a, &port);
    CHECK_STR(a, v->src);
    CHECK(port == v->sport);
    addr_of(&r->dst, a, &port);
    CHECK(port == v->dport);
}

static void test_haproxy_vectors(void)
{
    uint8_t buf[256];
    struct pp_result r;

    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
        const struct vec *v = &vecs[i];

        CHECK(pp_parse(v->p, v->n, &r) == PP_DONE);
        check_vec(v, &r);
        /* The request follows in the same read: only the header is taken. */
        memcpy(buf, v->p, v->n);
        memcpy(buf + v->n, "GET / HTTP/1.1\r\n", 16);
        CHECK(pp_parse(buf, v->n + 16, &r) == PP_DONE);
        check_vec(v, &r);
    }
}

/* Every split of a header is "more", with a need that is never more than
 * the header and always more than what was given. */
static void test_incremental(void)
{
    struct pp_result r;

    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
        const struct vec *v = &vecs[i];
        size_t have = 0, calls = 0;

        for (size_t k = 0; k < v->n; k++) {
            CHECK(pp_parse(v->p, k, &r) == PP_MORE);
            CHECK(r.need > k && r.need <= v->n);
        }
        /* As a caller would: read up to need each time. */
        while (pp_parse(v->p, have, &r) == PP_MORE && calls++ < 200)
            have = r.need;
        CHECK(r.len == v->n && have == v->n);
        if (v->version == 2)
            CHECK(calls == 3); /* a byte, the fixed part, then the rest at once */
    }
}

#define BAD(bytes, n, frag) do { struct pp_result r_; \
    CHECK(pp_parse(bytes, n, &r_) == PP_ERROR); CHECK_CONTAINS(r_.why, frag); \
    for (size_t k_ = 0; k_ < (size_t)(n); k_++) \
        CHECK(pp_parse(bytes, k_, &r_) != PP_DONE); } while (0)
#define BAD1(s, frag) BAD(s, sizeof(s) - 1, frag)

static void test_v1_bad(void)
{
    BAD1("GET / HTTP/1.1\r\n", "not a PROXY protocol header");
    BAD1("G", "not a PROXY protocol header");
    BAD1("PROXZ", "not a PROXY protocol header");
    BAD1("PROXYTCP4", "not a PROXY protocol header");
    BAD1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "control");
    BAD1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", "CR without LF");
    BAD1("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", "control");
    BAD1("PROXY TCP4 1.2.3.\xc4 5.6.7.8 1 2\r\n", "8-bit");
    BAD1("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol");
    BAD1("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol");
    BAD1("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "bad port");
    BAD1("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "bad port");
    BAD1("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "bad port");
    BAD1("PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", "bad port");
    BAD1("PROXY TCP4 ::1 ::1 1 2\r\n", "bad address");
    BAD1("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", "bad address");
    BAD1("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "bad address");
    BAD1("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "too many fields");
    BAD1("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "expected PROXY TCP4|TCP6");
    BAD1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "too many fields");
    BAD1("PROXY UNKNOWNX\r\n", "expected PROXY");
    BAD1("PROXY \r\n", "expected PROXY");
    /* 107 bytes at most, CRLF included */
    char line[200];
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    memcpy(line + 105, "\r\n", 2);
    struct pp_result r;
    CHECK(pp_parse(line, 107, &r) == PP_DONE && r.local && r.len == 107);
    memcpy(line + 105, "x\r\n", 3);
    BAD(line, 108, "no CRLF within 107 bytes");
    memset(line + 14, 'x', 150);
    BAD(line, 107, "no CRLF within 107 bytes");
    CHECK(pp_parse(line, 106, &r) == PP_MORE);
}

static void test_v1_unknown(void)
{
    struct pp_result r;

    CHECK(pp_parse("PROXY UNKNOWN\r\nGET", 18, &r) == PP_DONE);
    CHECK(r.local && r.len == 15 && r.version == 1 && r.src_len == 0);
    CHECK(pp_parse("PROXY UNKNOWN ffff:f::1 ::1 1 2\r\n", 33, &r) == PP_DONE);
    CHECK(r.local && r.len == 33);
    CHECK(pp_parse("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", 44, &r) == PP_DONE);
    CHECK(!r.local && ntohs(((struct sockaddr_in *)&r.dst)->sin_port) == 65535);
}

static void test_v2_bad(void)
{
    BAD(SIG "\x11\x11\x00\x0c", 16, "v2: unknown version");
    BAD(SIG "\x22\x11\x00\x0c", 16, "v2: unknown command");
    BAD(SIG "\x21\x12\x00\x0c", 16, "datagram");
    BAD(SIG "\x21\x22\x00\x24", 16, "datagram");
    BAD(SIG "\x21\x41\x00\x0c", 16, "unknown address family");
    BAD(SIG "\x21\x13\x00\x0c", 16, "unknown address family");
    BAD(SIG "\x21\x11\x00\x04" "\x01\x02\x03\x04", 20, "shorter than its family");
    BAD(SIG "\x21\x21\x00\x0c", 16, "shorter than its family");
    BAD(SIG "\x21\x31\x00\x10", 16, "shorter than its family");
    /* a TLV longer than what is left, then a lone byte */
    BAD(SIG "\x21\x11\x00\x10" "\x7f\0\0\1\x7f\0\0\1\0\1\0\2" "\x04\x00\x09\x00", 32,
        "malformed TLV");
    BAD(SIG "\x21\x11\x00\x0d" "\x7f\0\0\1\x7f\0\0\1\0\1\0\2" "\x04", 29, "malformed TLV");
    BAD("\r\n\r\n\0\r\nQUIX\n", 12, "not a PROXY protocol header");
    BAD("\r\nX", 3, "not a PROXY protocol header");
}

static void test_v2_local_and_others(void)
{
    struct pp_result r;
    uint8_t buf[16 + 216 + 8];

    /* LOCAL (a health check from the sender): the block is skipped unread. */
    CHECK(pp_parse(SIG "\x20\x00\x00\x00", 16, &r) == PP_DONE);
    CHECK(r.local && r.len == 16 && r.version == 2);
    CHECK(pp_parse(SIG "\x20\x7f\x00\x03xyz", 19, &r) == PP_DONE);
    CHECK(r.local && r.len == 19);
    CHECK(pp_parse(SIG "\x21\x00\x00\x00", 16, &r) == PP_DONE && r.local);
    /* A unix socket's addresses: no client address for us. */
    memcpy(buf, SIG "\x21\x31\x00\xd8", 16);
    memset(buf + 16, 0, 216);
    CHECK(pp_parse(buf, 16 + 215, &r) == PP_MORE && r.need == 16 + 216);
    CHECK(pp_parse(buf, 16 + 216, &r) == PP_DONE && r.local && r.len == 232);
    /* Truncated: more, and how much. */
    CHECK(pp_parse(hap_v2_tlv, 5, &r) == PP_MORE && r.need == 16);
    CHECK(pp_parse(hap_v2_tlv, 16, &r) == PP_MORE && r.need == 16 + 35);
    CHECK(pp_parse("", 0, &r) == PP_MORE && r.need == 1);
    /* The longest header there is. */
    static uint8_t big[PP_V2_MAX + 1];
    memcpy(big, SIG "\x21\x11\xff\xff", 16);
    memcpy(big + 16, "\x7f\0\0\1\x7f\0\0\1\0\1\0\2", 12);
    big[28] = 0x04; /* one NOOP TLV filling the rest */
    big[29] = (uint8_t)((65535 - 12 - 3) >> 8);
    big[30] = (uint8_t)(65535 - 12 - 3);
    CHECK(pp_parse(big, sizeof(big), &r) == PP_DONE && r.len == PP_V2_MAX && !r.local);
}

/* ------------------------------------------------ builders */

static struct sockaddr_storage sa4(const char *ip, unsigned port)
{
    struct sockaddr_storage ss = { 0 };
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;

    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &in->sin_addr);
    return ss;
}

static struct sockaddr_storage sa6(const char *ip, unsigned port)
{
    struct sockaddr_storage ss = { 0 };
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    inet_pton(AF_INET6, ip, &in6->sin6_addr);
    return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

static void test_build_like_haproxy(void)
{
    char out[PP_BUILD_MAX];
    uint8_t bin[PP_BUILD_MAX];
    struct sockaddr_storage s4 = sa4("127.0.0.1", 48690), d4 = sa4("127.0.0.1", 28111);
    struct sockaddr_storage s6 = sa6("::1", 37762), d6 = sa6("::1", 28121);
    size_t n;

    n = pp_build_v1(SA(s4), SA(d4), out, sizeof(out));
    CHECK(n == strlen(hap_v1_4) && memcmp(out, hap_v1_4, n) == 0);
    n = pp_build_v1(SA(s6), SA(d6), out, sizeof(out));
    CHECK(n == strlen(hap_v1_6) && memcmp(out, hap_v1_6, n) == 0);
    s4 = sa4("127.0.0.1", 52804);
    d4 = sa4("127.0.0.1", 28112);
    n = pp_build_v2(SA(s4), SA(d4), bin, sizeof(bin));
    CHECK(n == sizeof(hap_v2_4) - 1 && memcmp(bin, hap_v2_4, n) == 0);
    s6 = sa6("::1", 52162);
    d6 = sa6("::1", 28122);
    n = pp_build(CONF_SEND_PROXY_V2, SA(s6), SA(d6), bin, sizeof(bin));
    CHECK(n == sizeof(hap_v2_6) - 1 && memcmp(bin, hap_v2_6, n) == 0);
    CHECK(pp_build(CONF_SEND_PROXY_NONE, SA(s6), SA(d6), bin, sizeof(bin)) == 0);
}

static void test_build_families(void)
{
    char out[PP_BUILD_MAX];
    uint8_t bin[PP_BUILD_MAX];
    struct sockaddr_storage s4 = sa4("192.0.2.7", 1), d6 = sa6("2001:db8::1", 443);
    struct sockaddr_storage m4 = sa6("::ffff:192.0.2.8", 2), d4 = sa4("10.0.0.1", 80);
    struct sockaddr_storage un = { .ss_family = AF_UNIX };
    struct pp_result r;
    size_t n;

    /* Two families: both as IPv6, the IPv4 one mapped. */
    n = pp_build_v1(SA(s4), SA(d6), out, sizeof(out));
    out[n] = '\0';
    CHECK_STR(out, "PROXY TCP6 ::ffff:192.0.2.7 2001:db8::1 1 443\r\n");
    n = pp_build_v2(SA(s4), SA(d6), bin, sizeof(bin));
    CHECK(n == 52 && pp_parse(bin, n, &r) == PP_DONE && r.src.ss_family == AF_INET6);
    /* An IPv4-mapped client on a dual-stack listener is an IPv4 client. */
    n = pp_build_v1(SA(m4), SA(d4), out, sizeof(out));
    out[n] = '\0';
    CHECK_STR(out, "PROXY TCP4 192.0.2.8 10.0.0.1 2 80\r\n");
    n = pp_build_v2(SA(m4), SA(d4), bin, sizeof(bin));
    CHECK(n == 28 && bin[13] == 0x11);
    /* A unix socket listener: nothing to tell. */
    n = pp_build_v1(SA(un), SA(d4), out, sizeof(out));
    out[n] = '\0';
    CHECK_STR(out, "PROXY UNKNOWN\r\n");
    n = pp_build_v2(SA(un), SA(d4), bin, sizeof(bin));
    CHECK(n == 16 && bin[12] == 0x20 && bin[13] == 0x00); /* LOCAL: HAProxy takes it */
    CHECK(pp_parse(bin, n, &r) == PP_DONE && r.local);
    CHECK(pp_build_v1(NULL, NULL, out, sizeof(out)) == 15);
    /* Too small a buffer: nothing. */
    CHECK(pp_build_v1(SA(s4), SA(d6), out, 20) == 0);
    CHECK(pp_build_v2(SA(s4), SA(d6), bin, 51) == 0);
    /* The longest v1 header fits PP_BUILD_MAX. */
    struct sockaddr_storage l6 = sa6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
    n = pp_build_v1(SA(l6), SA(l6), out, sizeof(out));
    CHECK(n == 104 && pp_parse(out, n, &r) == PP_DONE);
}

/* Built then parsed, for many addresses: the same endpoints come back. */
static void test_round_trip(void)
{
    uint32_t x = 99;

    for (int i = 0; i < 2000; i++) {
        struct sockaddr_storage s, d;
        uint8_t buf[PP_BUILD_MAX];
        struct pp_result r;
        bool v6 = i & 1;

        if (v6) {
            s = sa6("::", 0);
            d = sa6("::", 0);
            for (int k = 0; k < 16; k++) {
                x = x * 1103515245u + 12345u;
                ((struct sockaddr_in6 *)&s)->sin6_addr.s6_addr[k] = (uint8_t)(x >> 16);
                ((struct sockaddr_in6 *)&d)->sin6_addr.s6_addr[k] = (uint8_t)(x >> 8);
            }
            ((struct sockaddr_in6 *)&s)->sin6_addr.s6_addr[0] |= 0x20; /* not v4-mapped */
            ((struct sockaddr_in6 *)&s)->sin6_port = (uint16_t)x;
        } else {
            x = x * 1103515245u + 12345u;
            s = sa4("0.0.0.0", x & 0xffff);
            d = sa4("0.0.0.0", x >> 16);
            ((struct sockaddr_in *)&s)->sin_addr.s_addr = x * 7;
            ((struct sockaddr_in *)&d)->sin_addr.s_addr = x * 13;
        }
        for (int ver = 1; ver <= 2; ver++) {
            size_t n = pp_build((enum conf_send_proxy)ver, SA(s), SA(d), buf, sizeof(buf));
            CHECK(n > 0 && pp_parse(buf, n, &r) == PP_DONE && r.len == n);
            CHECK(r.version == ver);
            CHECK(r.src_len && memcmp(&r.src, &s, r.src_len) == 0);
            CHECK(r.dst_len && memcmp(&r.dst, &d, r.dst_len) == 0);
        }
    }
}

UNIT_SUITE(pp_tests) = {
    { "pp_haproxy_vectors", test_haproxy_vectors },
    { "pp_incremental", test_incremental },
    { "pp_v1_bad", test_v1_bad },
    { "pp_v1_unknown", test_v1_unknown },
    { "pp_v2_bad", test_v2_bad },
    { "pp_v2_local_and_others", test_v2_local_and_others },
    { "pp_build_like_haproxy", test_build_like_haproxy },
    { "pp_build_families", test_build_families },
    { "pp_round_trip", test_round_trip },
    UNIT_END
};
