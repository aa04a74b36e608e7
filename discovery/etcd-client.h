/* discovery/etcd-client.h - a small non-blocking client for etcd v3's JSON
 * gateway (etcd 3.4: POST /v3/kv/range, /v3/kv/put, /v3/watch, ...): one
 * HTTP/1.1 POST per connection, responses parsed with llhttp, bodies with
 * jansson. Shared by discovery.etcd (the balancer) and lxlb agent. */
#ifndef LXLB_DISCOVERY_ETCD_CLIENT_H
#define LXLB_DISCOVERY_ETCD_CLIENT_H

#include <stddef.h>

#include "discovery/etcd-t.h"

/* Endpoints "http://host:port" (port defaults to 2379). -1 with err. */
int ecl_init(struct ecl *cl, struct event_base *base, char *const *urls, size_t n,
             char *err, size_t errlen);
void ecl_free(struct ecl *cl);
/* Fail over to the next endpoint (round robin). */
void ecl_next(struct ecl *cl);
const char *ecl_url(const struct ecl *cl);

/* POST body (JSON, not consumed) to path on the current endpoint; done() is
 * called once, within timeout_ms. NULL when it cannot even start (err set). */
struct ecall *ecall_post(struct ecl *cl, const char *path, const json_t *body,
                         uint32_t timeout_ms, ecall_done_cb done, void *arg,
                         char *err, size_t errlen);
/* The same, for a streaming answer (watch): each JSON object of the body goes
 * to obj() as it arrives; done() once when the stream ends or breaks.
 * connect_ms bounds the connect and the response head only. */
struct ecall *ecall_stream(struct ecl *cl, const char *path, const json_t *body,
                           uint32_t connect_ms, ecall_obj_cb obj, ecall_done_cb done,
                           void *arg, char *err, size_t errlen);
/* Close it; no callback follows. Safe from inside its own callbacks. */
void ecall_cancel(struct ecall *c);

/* Split a byte stream into JSON objects: obj() for each complete one. -1 on
 * bytes that are no JSON object or one too large (err set). */
int ejs_feed(struct ejsplit *j, const char *data, size_t len, ecall_obj_cb obj, void *arg,
             char *err, size_t errlen);
void ejs_free(struct ejsplit *j);

/* base64 of len bytes, malloc'd. NULL out of memory. */
char *eb64_encode(const char *data, size_t len);
/* Decoded bytes, NUL-terminated, malloc'd; *len without the NUL. NULL: bad. */
char *eb64_decode(const char *b64, size_t *len);
/* The key just past every key that starts with prefix (etcd's range_end):
 * the prefix with its last byte incremented. malloc'd, *len set. */
char *eprefix_end(const char *prefix, size_t *len);
/* etcd's int64 fields come as JSON strings ("revision": "42"). 0 if absent. */
int64_t ejson_int(const json_t *o, const char *key);

#endif
