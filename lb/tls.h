/* lb/tls.h - TLS termination: one OpenSSL context per frontend, shared by its
 * connections.
 *
 * Certificates are files, so they are read with the configuration (at start,
 * and on the reload worker thread, never on the loop) and hang off the
 * generation that named them (conf_tls.loaded). A frontend holds a reference
 * to its generation's context; each connection's SSL holds one through
 * OpenSSL, so a context replaced by a reload lives until its last handshake
 * and connection are over. */
#ifndef LXLB_TLS_H
#define LXLB_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct bufferevent;
struct conf;
struct evp_pkey_st;
struct stack_st_X509;
struct x509_st;
struct event_base;
struct tls_ctx;

/* Load the certificates of every TLS frontend of c (file I/O: off the loop).
 * 0 ok; -1 with one line per error in err (frontend and file named). Either
 * way c owns what was loaded and releases it with conf_free(). */
int tls_conf_load(struct conf *c, char *err, size_t errlen);

/* Automatic HTTPS: serve leaf (then chain, NULL: none) with key for name in
 * every TLS frontend that lists name in tls.acme, in every generation and on
 * every loop, from the next handshake on; open connections keep theirs.
 * Any thread. 0 ok, -1 with err (a frontend kept its previous certificate). */
int tls_acme_install(const char *name, struct x509_st *leaf, struct stack_st_X509 *chain,
                     struct evp_pkey_st *key, char *err, size_t errlen);

/* References (NULL-safe). */
struct tls_ctx *tls_ref(struct tls_ctx *t);
void tls_unref(struct tls_ctx *t);

/* Let t decrypt the session tickets old issued, so a client resumes across
 * a reload. Call on the loop before t serves a connection. */
void tls_keep_tickets(struct tls_ctx *t, const struct tls_ctx *old);

/* A client bufferevent on fd that starts with the server handshake; it
 * closes fd when freed. NULL (fd left open) when out of memory or t is NULL. */
struct bufferevent *tls_bev_new(struct tls_ctx *t, struct event_base *base, int fd);

/* Log, at debug level, why the handshake of this bufferevent failed. */
void tls_log_failure(struct bufferevent *bev, short what, const char *fe, const char *client);

/* For the access log: " TLSv1.3/TLS_AES_256_GCM_SHA384" on a TLS connection,
 * "" on a plain one. buf (32+ bytes) holds the text when needed. */
const char *tls_log_suffix(struct bufferevent *bev, char *buf, size_t n);

/* Did the handshake settle on ALPN "h2"? */
bool tls_alpn_h2(struct bufferevent *bev);

#endif
