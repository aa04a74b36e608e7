/* acme/acme-int.h - what the files of acme/ share among themselves (and the
 * unit tests); nothing outside acme/ includes this. */
#ifndef LXLB_ACME_INT_H
#define LXLB_ACME_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "acme/acme-t.h"

#define ACME_ACCOUNT_FILE "account.key"
#define ACME_BACKOFF_FIRST_S 5u     /* first retry after a failed order */
#define ACME_BACKOFF_MAX_S 3600u    /* retries at most this far apart */
#define ACME_RETRY_AFTER_MAX_S (7 * 86400) /* a CA's Retry-After is honoured up to this */

/* ---- jws.c: base64url, JWK, RFC 7638 thumbprint, JWS ES256 ---- */

/* base64url without padding (RFC 7515 2), malloc'd; NULL out of memory. */
char *acme_b64url(const void *data, size_t len);
/* Decoded bytes, malloc'd (NUL-terminated, *len without it); NULL: not
 * base64url (padding, '+', '/', bad length) or out of memory. */
unsigned char *acme_b64url_decode(const char *s, size_t slen, size_t *len);
/* The public JWK of an EC P-256 key: {"crv","kty","x","y"}; NULL: not P-256. */
json_t *acme_jwk(struct evp_pkey_st *key);
/* RFC 7638: base64url(SHA-256(the JWK's required members, sorted, no
 * white space)). malloc'd; NULL: not P-256. */
char *acme_thumbprint(struct evp_pkey_st *key);
/* RFC 8555 8.1: token "." thumbprint. malloc'd. */
char *acme_keyauth(const char *token, const char *thumbprint);
/* An ECDSA signature from DER (as OpenSSL makes it) to JWS's fixed-size
 * r || s (RFC 7518 3.4): 64 bytes for P-256. -1 when der is not one. */
int acme_ecdsa_raw(const unsigned char *der, size_t len, unsigned char out[64]);
/* The flattened JWS (RFC 8555 6.2) of payload (NULL: POST-as-GET, an empty
 * payload) to url, signed with key: protected header {alg ES256, nonce,
 * url, and kid, or jwk when kid is NULL}. JSON text, malloc'd; NULL with err. */
char *acme_jws(struct evp_pkey_st *key, const char *kid, const char *nonce, const char *url,
               const char *payload, char *err, size_t errlen);

/* ---- pki.c: keys, CSRs, certificates, state files ---- */

struct evp_pkey_st *acme_key_new(void);                /* ECDSA P-256, NULL: failed */
/* PKCS#8 PEM of key, malloc'd (*len bytes). NULL out of memory. */
char *acme_key_pem(struct evp_pkey_st *key, size_t *len);
/* The account key file: an ECDSA P-256 private key in PEM. NULL with err. */
struct evp_pkey_st *acme_key_parse(const char *pem, size_t len, char *err, size_t errlen);
/* DER CSR for names (the first also as CN), signed by key. -1 with err. */
int acme_csr(struct evp_pkey_st *key, char *const *names, size_t n, unsigned char **der,
             size_t *len, char *err, size_t errlen);
/* A chain as the CA sends it (PEM, leaf first), for key (NULL: the PEM must
 * hold the key first, as a state file does), which must certify name.
 * NULL with err (corrupted, wrong key, wrong name). */
struct acme_cert *acme_cert_parse(const char *pem, size_t len, struct evp_pkey_st *key,
                                  const char *name, char *err, size_t errlen);
/* A state file: comment lines (name, directory), the key, the chain.
 * malloc'd (*len bytes); NULL out of memory. */
char *acme_cert_file(const struct acme_cert *c, const char *name, const char *directory,
                     size_t *len);
void acme_cert_free(struct acme_cert *c);

/* ---- challenge.c: the tokens answered on the plain frontends ---- */

int acme_challenge_add(const char *token, const char *keyauth); /* -1: out of memory */
void acme_challenge_del(const char *token);
void acme_challenge_clear(void);

/* ---- ca-https.c: one HTTPS request to the CA ---- */

/* method "GET", "HEAD" or "POST" (body of blen bytes, ctype). accept: the
 * Accept header (NULL: JSON). done is called once, within timeout_ms, never
 * from inside this call. NULL with err when it cannot even start. */
struct acme_http *acme_http_start(struct acme *a, const char *method, const char *url,
                                  const char *ctype, const char *body, size_t blen,
                                  const char *accept, uint32_t timeout_ms, acme_http_cb done,
                                  void *arg, char *err, size_t errlen);
/* A client context trusting ca_file (NULL: the system's CA bundle), read
 * now. NULL with err. */
struct ssl_ctx_st *acme_client_ctx(const char *ca_file, char *err, size_t errlen);
/* Close it; no callback follows. Safe from inside its own callback. */
void acme_http_cancel(struct acme_http *h);
/* "https://host[:port]/path": host (brackets removed) and port. -1 bad. */
int acme_url_split(const char *url, char *host, size_t hostlen, unsigned *port,
                   const char **path);

/* ---- io.c: the file worker thread ---- */

int acme_io_start(struct acme_io *io, struct event_base *base, char *err, size_t errlen);
/* Queue j (ownership passes); done() runs on the loop later. */
void acme_io_post(struct acme_io *io, struct acme_job *j);
/* Finish what is queued (writes are not lost), join, free what is left. */
void acme_io_stop(struct acme_io *io);
struct acme_job *acme_job_new(int dirfd, const char *file, const char *name);
void acme_job_free(struct acme_job *j);
/* Job bodies (worker thread; also called directly at start). */
void acme_job_write(struct acme_job *j);   /* data -> file, atomically, 0600 */
void acme_job_read(struct acme_job *j);    /* file -> data (rc 1: absent) */
void acme_job_read_cert(struct acme_job *j); /* read, then parse into cert */
/* Atomic replace of dirfd/file: temp file, fsync, rename, fsync of the dir. */
int acme_write_atomic(int dirfd, const char *file, const char *data, size_t len,
                      char *err, size_t errlen);

/* ---- load.c: files read with the configuration ---- */

/* The state file of a name. */
void acme_cert_file_name(const char *name, char *buf, size_t n);
/* What the running client uses (NULL state_dir: nothing), so a reload after
 * a chroot can reuse the open state_dir and the trust store. */
void acme_running(const char *state_dir, int fd, const char *ca_file, struct ssl_ctx_st *tls);
void acme_loaded_free(void *p);

/* ---- client.c: the protocol ---- */

/* Start an order for n (state ACME_N_ORDER); the result comes to
 * acme_order_done(). */
void acme_order_start(struct acme *a, struct acme_name *n);
/* Give up the order in progress (reload, stop): nothing more is called. */
void acme_order_abort(struct acme *a);
/* Forget the account and directory (the CA or the account changed). */
void acme_client_reset(struct acme *a);

/* ---- acme.c: scheduling ---- */

/* The order for n ended: cert (ownership passes) or why not, with the
 * CA's Retry-After (Unix seconds, 0: none). */
void acme_order_done(struct acme *a, struct acme_name *n, struct acme_cert *cert,
                     const char *err, int64_t retry_at);
/* Seconds to wait after the failures-th failure in a row (1, 2, ...). */
uint32_t acme_backoff_s(unsigned failures);
/* Retry-After (delta seconds or an HTTP-date) as Unix seconds, given now;
 * -1 when absent or unreadable. */
int64_t acme_retry_after(const char *v, int64_t now);
/* When to order next for a certificate valid until not_after. */
int64_t acme_renew_at(int64_t not_after, uint64_t renew_before_s);

#endif
