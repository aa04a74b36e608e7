/* conf/conf.h - read and validate a JSON configuration (SPEC.md). */
#ifndef LXLB_CONF_H
#define LXLB_CONF_H

#include "conf/conf-t.h"

/* Read FILE, validate the whole schema and return a new generation, or NULL
 * with every error written to err, one per line, each naming the file and the
 * JSON path ("lxlb.json:12: $.backends[0].servers[1].address: ...").
 * Does file I/O and name resolution: never call it on the event loop. */
struct conf *conf_load(const char *path, char *err, size_t errlen);

/* Same, from a string; name is used in messages in place of the file. */
struct conf *conf_load_string(const char *name, const char *json, char *err, size_t errlen);

void conf_free(struct conf *c);

/* A generation is shared by the proxy and by the frontends and backends
 * built from it; it is freed when the last of them lets go (after a reload,
 * a removed frontend keeps the old one alive until its connections end). */
struct conf *conf_ref(struct conf *c);
void conf_unref(struct conf *c);

/* "500ms", "5s", "2m", "1h", or a plain number of ms. 0 on success, -1 bad. */
int conf_parse_duration(const char *s, uint32_t *ms);

/* The same with days ("30d") and no 49-day ceiling, in whole seconds
 * (rounded up). 0 on success, -1 bad. */
int conf_parse_duration_s(const char *s, uint64_t *sec);

/* A lower-case host name a CA can validate over HTTP-01 (no wildcard, no
 * IP address). */
bool conf_dns_name_ok(const char *s);

/* "host:port", ":port", "[v6]:port", "unix:/path". 0 on success, -1 with a
 * reason in err. A host name is resolved (blocking). */
int conf_parse_addr(const char *s, struct conf_addr *out, char *err, size_t errlen);

/* health.expect syntax: "2xx-3xx", "200", "200-299", "200,301-302,4xx".
 * Fills out[0..*n) (at most CONF_MAX_EXPECT). 0 on success, -1 with err. */
int conf_parse_expect(const char *s, struct conf_status_range *out, size_t *n,
                      char *err, size_t errlen);

/* True when status passes health.expect. */
bool conf_status_expected(const struct conf_health *h, int status);

/* Same socket address (family, address, port; unix: same path). A reload
 * keeps a listener whose address is the same in both generations. */
bool conf_addr_same(const struct conf_addr *a, const struct conf_addr *b);

/* Same address, or one is the wildcard of the other's family on one port. */
bool conf_addr_overlap(const struct conf_addr *a, const struct conf_addr *b);

/* Loopback (127/8, ::1, ::ffff:127/104) or unix: reachable from this host only. */
bool conf_addr_is_local(const struct conf_addr *a);

/* host[:port] as a URL's authority may hold it (RFC 3986): reg-name (which
 * covers IPv4) or [IPv6], then an optional port of at most 5 digits. Such
 * bytes are safe to copy into a Location header. */
bool conf_authority_ok(const char *s, size_t len);

/* A route's "host": "name", "*.suffix" or "[v6]", no port. key (CONF_HOST_MAX
 * + 1 bytes) gets the lowercased key without a trailing dot, with the
 * suffix's leading dot (".example.com"). 0 on success, -1 with err. */
int conf_parse_host_pattern(const char *s, enum conf_host_match *kind, char *key,
                            size_t *keylen, char *err, size_t errlen);

/* A redirect's "location": an absolute http(s) URL of visible ASCII with a
 * valid host[:port]; with keep_path, no query or fragment. *base_len: the
 * bytes the request's path is appended to. 0 on success, -1 with err. */
int conf_parse_location(const char *s, bool keep_path, size_t *base_len, char *err,
                        size_t errlen);

struct conf_backend *conf_find_backend(const struct conf *c, const char *name);

#endif
