/* acme/acme.h - automatic HTTPS (SPEC.md, "Automatic HTTPS"): certificates
 * for the tls.acme names, obtained and renewed from an ACME v2 CA (RFC 8555,
 * HTTP-01), installed live in the TLS frontends (lb/tls.h).
 *
 * The client runs on the main loop: HTTP to the CA is non-blocking (evdns,
 * bufferevent_openssl), file writes go to a worker thread, and no request
 * ever waits on any of it. */
#ifndef LXLB_ACME_H
#define LXLB_ACME_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "acme/acme-t.h"

/* HTTP-01: the CA fetches http://NAME/.well-known/acme-challenge/TOKEN. */
#define ACME_CHALLENGE_PREFIX "/.well-known/acme-challenge/"
#define ACME_KEYAUTH_MAX 256 /* bytes of a key authorization we answer */

/* With the configuration (at start, on the reload thread, and for -c with
 * check): read the CAs trusted for the directory's TLS (acme.ca_file, else
 * the system's); unless check, also create and open state_dir (0700, owned
 * by global.user) and read the account key and the stored certificates, so
 * the loop never reads a file. A missing or corrupted key or certificate is
 * no error (it is reported when used, and replaced). 0 ok; -1 with err.
 * c owns what was loaded either way. */
int acme_conf_load(struct conf *c, bool check, char *err, size_t errlen);

/* Main loop, before it runs: install the stored certificates (they serve
 * from the first handshake), make the account key if there is none, and
 * schedule what is due. -1 with err. */
int acme_start(struct proxy *px, char *err, size_t errlen);
/* Main loop, after a reload was applied: follow the new acme section and
 * names (kept names keep their certificate and their order in progress). */
void acme_reloaded(struct proxy *px);
/* At exit: cancel the order, finish pending file writes, free everything. */
void acme_stop(void);

/* Any loop thread, for a GET on a plain-HTTP frontend: when path is
 * ACME_CHALLENGE_PREFIX TOKEN of a challenge lxlb is answering, copy its key
 * authorization into body (cap bytes) and return true. Cheap when no
 * challenge is open (no lock). */
bool acme_challenge(const char *path, size_t len, char *body, size_t cap, size_t *blen);

/* For lb/tls.c: a fresh ECDSA P-256 key and a self-signed certificate for
 * name, the placeholder until a real one exists. -1 with err. */
int acme_self_signed(const char *name, struct x509_st **crt, struct evp_pkey_st **key,
                     char *err, size_t errlen);

/* For admin/: the running client (NULL when acme is off), the "acme" object
 * of /stats (NULL when off), and a name's state as /stats shows it:
 * "pending", "ordering", "valid", "renewing", "error". */
const struct acme *acme_get(void);
json_t *acme_stats_json(void);
const char *acme_name_state(const struct acme_name *n);
extern const char *const acme_name_states[]; /* every value above, NULL-terminated */

#endif
