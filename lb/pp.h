/* lb/pp.h - PROXY protocol v1 (text) and v2 (binary): the parser a frontend
 * with accept_proxy runs on the first bytes of a connection, and the headers
 * a backend or server with send_proxy writes first on a new connection.
 * No sockets, no state: the caller keeps the bytes.
 *
 *   on each read, before any HTTP:  switch (pp_parse(bytes so far, n, &res))
 *     PP_MORE:  wait for more (res.need bytes in all), within
 *               timeout.http_request; EOF here is a truncated header
 *     PP_DONE:  drain res.len bytes; unless res.local the client address is
 *               res.src (logs, X-Forwarded-For, stats); the rest is HTTP
 *     PP_ERROR: count it, log res.why, close the connection
 */
#ifndef LXLB_PP_H
#define LXLB_PP_H

#include <stdint.h>

#include "conf/conf-t.h"
#include "lb/pp-t.h"

/* Look at buf[0..len), always from the connection's first byte: the version
 * is told by the first byte, a wrong byte is an error as soon as it is seen,
 * and a header is only PP_DONE when whole (v2: its TLVs too, which are
 * checked for shape and skipped). */
enum pp_status pp_parse(const void *buf, size_t len, struct pp_result *out);

/* The header for a connection from src to dst, into out (at least
 * PP_BUILD_MAX bytes); its length, 0 when outlen is too small. Addresses of
 * two families are both sent as IPv6 (IPv4-mapped); a pair that is not
 * IPv4/IPv6 (a unix socket listener) is sent as v1 "UNKNOWN" or a v2 LOCAL
 * command, so the receiver keeps its own view. */
size_t pp_build_v1(const struct sockaddr *src, const struct sockaddr *dst, char *out,
                   size_t outlen);
size_t pp_build_v2(const struct sockaddr *src, const struct sockaddr *dst, uint8_t *out,
                   size_t outlen);
/* The one send_proxy asks for; 0 for CONF_SEND_PROXY_NONE. */
size_t pp_build(enum conf_send_proxy v, const struct sockaddr *src,
                const struct sockaddr *dst, uint8_t *out, size_t outlen);

#endif
