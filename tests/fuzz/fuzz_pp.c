/* tests/fuzz/fuzz_pp.c - libFuzzer target over lb/pp.c, the PROXY protocol
 * parser a frontend with accept_proxy runs on a connection's first bytes,
 * and the builders a backend with send_proxy uses.
 *
 * Invariants (any violation aborts, so libFuzzer saves the input):
 *  - never a crash, leak or undefined behaviour (ASan + UBSan);
 *  - a result is coherent: done means a whole header of len <= input bytes
 *    (v1: at most 107, ending in CRLF; v2: 16 + its length field), with an
 *    IPv4/IPv6 client unless local; more asks for more than it was given;
 *    an error has a reason;
 *  - the answer does not depend on how the bytes arrived: every shorter
 *    prefix of a header is "more" with a need no larger than the header,
 *    every longer input gives the same header, a prefix of an error is never
 *    "done", a prefix of "more" is "more";
 *  - what the parser found, built again (v1 and v2) and parsed, gives the
 *    same endpoints; and headers built from endpoints made of the input's
 *    bytes parse back to those endpoints. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "lb/pp.h"

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "INVARIANT FAILED at %s:%d: %s\n  ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fprintf(stderr, "\n");                                                           \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* An endpoint as (family, 16 address bytes, port), IPv4-mapped IPv6 as IPv4:
 * the builders send those as IPv4, so that is what comes back. */
struct ep {
    int family;
    uint8_t addr[16];
    uint16_t port;
};

static struct ep ep_of(const struct sockaddr_storage *ss)
{
    struct ep e = { ss->ss_family, { 0 }, 0 };

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        memcpy(e.addr, &in->sin_addr, 4);
        e.port = in->sin_port;
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        e.port = in6->sin6_port;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            e.family = AF_INET;
            memcpy(e.addr, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            memcpy(e.addr, &in6->sin6_addr, 16);
        }
    }
    return e;
}

static bool ep_same(struct ep a, struct ep b)
{
    return a.family == b.family && a.port == b.port && !memcmp(a.addr, b.addr, 16);
}

static void check_result(const uint8_t *d, size_t n, enum pp_status st,
                         const struct pp_result *r)
{
    switch (st) {
    case PP_DONE:
        CHECK(r->len <= n && r->len >= 15, "len %zu of %zu", r->len, n);
        CHECK(r->version == 1 || r->version == 2, "version %d", r->version);
        if (r->version == 1)
            CHECK(r->len <= PP_V1_MAX && d[r->len - 2] == '\r' && d[r->len - 1] == '\n',
                  "v1 header of %zu bytes", r->len);
        else
            CHECK(r->len == PP_V2_HEAD + ((size_t)d[14] << 8 | d[15]), "v2 len %zu", r->len);
        if (!r->local) {
            CHECK((r->src.ss_family == AF_INET || r->src.ss_family == AF_INET6) &&
                  r->dst.ss_family == r->src.ss_family, "families %d %d",
                  r->src.ss_family, r->dst.ss_family);
            CHECK(r->src_len == (r->src.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                              : sizeof(struct sockaddr_in6)),
                  "src_len %u", (unsigned)r->src_len);
        } else {
            CHECK(r->src_len == 0 && r->dst_len == 0, "local with an address");
        }
        break;
    case PP_MORE:
        CHECK(r->need > n && r->need <= PP_V2_MAX, "need %zu with %zu", r->need, n);
        break;
    case PP_ERROR:
        CHECK(r->why && *r->why && n > 0, "error without a reason");
        break;
    }
}

/* Shorter prefixes (all of them for short inputs, a sample otherwise). */
static void check_prefixes(const uint8_t *d, size_t n, enum pp_status whole,
                           const struct pp_result *wr)
{
    size_t step = n <= 300 ? 1 : n / 97 + 1;

    for (size_t k = 0; k < n; k += (k < 300 ? 1 : step)) {
        struct pp_result r;
        enum pp_status st = pp_parse(d, k, &r);

        check_result(d, k, st, &r);
        if (whole == PP_MORE)
            CHECK(st == PP_MORE, "prefix %zu of a 'more' is %d", k, st);
        else if (whole == PP_ERROR)
            CHECK(st != PP_DONE, "prefix %zu of an error is a header", k);
        else if (k < wr->len)
            CHECK(st == PP_MORE && r.need <= wr->len, "prefix %zu of a %zu-byte header: "
                  "status %d need %zu", k, wr->len, st, r.need);
        else
            CHECK(st == PP_DONE && r.len == wr->len, "longer input, other header");
    }
}

static void check_rebuild(const struct pp_result *r)
{
    uint8_t buf[PP_BUILD_MAX];
    struct pp_result back;

    if (r->local)
        return;
    for (int v = 1; v <= 2; v++) {
        size_t n = pp_build((enum conf_send_proxy)v, (const struct sockaddr *)&r->src,
                            (const struct sockaddr *)&r->dst, buf, sizeof(buf));
        CHECK(n > 0 && pp_parse(buf, n, &back) == PP_DONE && back.len == n,
              "rebuilt v%d header does not parse", v);
        CHECK(ep_same(ep_of(&back.src), ep_of(&r->src)) &&
              ep_same(ep_of(&back.dst), ep_of(&r->dst)), "rebuilt v%d: other endpoints", v);
    }
}

/* Endpoints from raw bytes: family byte, 16 address bytes, 2 port bytes. */
static void sockaddr_from(const uint8_t *d, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    switch (d[0] % 4) {
    case 0: {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, d + 1, 4);
        memcpy(&in->sin_port, d + 17, 2);
        break;
    }
    case 1: case 2: {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, d + 1, 16);
        if (d[0] % 4 == 2) /* IPv4-mapped */
            memset(in6->sin6_addr.s6_addr, 0, 10), memset(in6->sin6_addr.s6_addr + 10, 0xff, 2);
        memcpy(&in6->sin6_port, d + 17, 2);
        break;
    }
    default:
        ss->ss_family = AF_UNIX;
    }
}

static void check_builders(const uint8_t *d, size_t n)
{
    struct sockaddr_storage s, t;
    uint8_t buf[PP_BUILD_MAX];
    struct pp_result r;

    if (n < 38)
        return;
    sockaddr_from(d, &s);
    sockaddr_from(d + 19, &t);
    for (int v = 1; v <= 2; v++) {
        size_t len = pp_build((enum conf_send_proxy)v, (struct sockaddr *)&s,
                              (struct sockaddr *)&t, buf, sizeof(buf));
        CHECK(len > 0 && pp_parse(buf, len, &r) == PP_DONE && r.len == len,
              "built v%d header does not parse", v);
        if (v == 1)
            for (size_t i = 0; i + 2 < len; i++)
                CHECK(buf[i] >= 0x20 && buf[i] < 0x7f, "v1 byte 0x%02x", buf[i]);
        bool unknown = s.ss_family == AF_UNIX || t.ss_family == AF_UNIX;
        CHECK(r.local == unknown, "local %d for families %d %d", r.local, s.ss_family,
              t.ss_family);
        if (unknown)
            continue;
        struct ep a = ep_of(&s), b = ep_of(&t), ra = ep_of(&r.src), rb = ep_of(&r.dst);
        CHECK(ep_same(a, ra) && ep_same(b, rb), "v%d: endpoints changed", v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pp_result r;
    enum pp_status st = pp_parse(data, size, &r);

    check_result(data, size, st, &r);
    check_prefixes(data, size, st, &r);
    if (st == PP_DONE)
        check_rebuild(&r);
    check_builders(data, size);
    return 0;
}
