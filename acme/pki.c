/* acme/pki.c - keys, certificate requests and certificates with OpenSSL 3's
 * EVP APIs: the ECDSA P-256 keys lxlb makes (account, one per certificate),
 * the CSR sent at finalize, the chain the CA returns, the state file that
 * keeps a certificate across restarts, and the self-signed placeholder.
 *
 * Parsing treats every byte as hostile (a state file may be truncated or
 * edited by hand): anything that does not check out is an error with a
 * reason, never a crash and never a half-filled certificate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme/acme-int.h"
#include "acme/acme.h"

#define CN_MAX 64                 /* ub-common-name: longer names go in the SAN only */
#define SELF_SIGNED_DAYS 90       /* the placeholder's validity */
#define DIRECTORY_TAG "# directory: "

/* ---------------------------------------------------------------- keys */

EVP_PKEY *acme_key_new(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* The bytes a memory BIO holds, copied and NUL-terminated. */
static char *bio_text(BIO *b, size_t *len)
{
    char *p, *out;
    long n = BIO_get_mem_data(b, &p);

    if (n < 0 || !(out = malloc((size_t)n + 1)))
        return NULL;
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    *len = (size_t)n;
    return out;
}

char *acme_key_pem(EVP_PKEY *key, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;

    if (b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1)
        out = bio_text(b, len);
    BIO_free(b);
    return out;
}

/* The first OpenSSL error's reason (the queue is emptied). */
static const char *ssl_why(void)
{
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return r ? r : "invalid";
}

EVP_PKEY *acme_key_parse(const char *pem, size_t len, char *err, size_t errlen)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    json_t *jwk;

    BIO_free(b);
    if (!key) {
        snprintf(err, errlen, "no private key in it (%s)", ssl_why());
        return NULL;
    }
    if (!(jwk = acme_jwk(key))) {
        snprintf(err, errlen, "the key is not ECDSA P-256");
        EVP_PKEY_free(key);
        return NULL;
    }
    json_decref(jwk);
    return key;
}

/* --------------------------------------------------------------- names */

static GENERAL_NAMES *dns_names(char *const *names, size_t n)
{
    GENERAL_NAMES *gens = GENERAL_NAMES_new();

    for (size_t i = 0; gens && i < n; i++) {
        GENERAL_NAME *gn = GENERAL_NAME_new();
        ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

        if (!gn || !ia5 || !ASN1_STRING_set(ia5, names[i], (int)strlen(names[i]))) {
            GENERAL_NAME_free(gn);
            ASN1_IA5STRING_free(ia5);
            GENERAL_NAMES_free(gens);
            return NULL;
        }
        GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
        if (!sk_GENERAL_NAME_push(gens, gn)) {
            GENERAL_NAME_free(gn);
            GENERAL_NAMES_free(gens);
            return NULL;
        }
    }
    return gens;
}

static X509_NAME *cn_name(const char *cn)
{
    X509_NAME *xn = X509_NAME_new();

    if (xn && strlen(cn) <= CN_MAX &&
        !X509_NAME_add_entry_by_NID(xn, NID_commonName, MBSTRING_UTF8,
                                    (const unsigned char *)cn, -1, -1, 0)) {
        X509_NAME_free(xn);
        return NULL;
    }
    return xn;
}

/* ---------------------------------------------------------------- CSR */

int acme_csr(EVP_PKEY *key, char *const *names, size_t n, unsigned char **der, size_t *len,
             char *err, size_t errlen)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *subj = n ? cn_name(names[0]) : NULL;
    GENERAL_NAMES *gens = dns_names(names, n);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *san = gens ? X509V3_EXT_i2d(NID_subject_alt_name, 0, gens) : NULL;
    int dlen, rc = -1;

    *der = NULL;
    if (!req || !subj || !san || !exts || !sk_X509_EXTENSION_push(exts, san) ||
        !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
        !X509_REQ_set_subject_name(req, subj) || !X509_REQ_add_extensions(req, exts) ||
        !X509_REQ_set_pubkey(req, key) || !X509_REQ_sign(req, key, EVP_sha256()) ||
        (dlen = i2d_X509_REQ(req, der)) <= 0) {
        snprintf(err, errlen, "cannot make the certificate request: %s", ssl_why());
        if (san && (!exts || sk_X509_EXTENSION_find(exts, san) < 0))
            X509_EXTENSION_free(san);
        goto out;
    }
    *len = (size_t)dlen;
    rc = 0;
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(gens);
    X509_NAME_free(subj);
    X509_REQ_free(req);
    return rc;
}

/* ---------------------------------------------------------- self-signed */

static int add_ext(X509 *crt, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, crt, crt, NULL, NULL, 0);
    if (!(ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)))
        return 0;
    ok = X509_add_ext(crt, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

int acme_self_signed(const char *name, X509 **crt, EVP_PKEY **key, char *err, size_t errlen)
{
    unsigned char serial[16];
    X509 *c = X509_new();
    EVP_PKEY *k = acme_key_new();
    X509_NAME *xn = cn_name(name);
    BIGNUM *bn = NULL;
    char san[300];
    int ok;

    snprintf(san, sizeof(san), "DNS:%s", name);
    ok = c && k && xn && RAND_bytes(serial, sizeof(serial)) == 1;
    serial[0] &= 0x7f; /* a positive serial */
    ok = ok && (bn = BN_bin2bn(serial, sizeof(serial), NULL)) &&
         BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) && X509_set_version(c, X509_VERSION_3) &&
         X509_gmtime_adj(X509_getm_notBefore(c), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(c), (long)SELF_SIGNED_DAYS * 86400) &&
         X509_set_subject_name(c, xn) && X509_set_issuer_name(c, xn) && X509_set_pubkey(c, k) &&
         add_ext(c, NID_subject_alt_name, san) &&
         add_ext(c, NID_basic_constraints, "critical,CA:FALSE") &&
         add_ext(c, NID_ext_key_usage, "serverAuth") && X509_sign(c, k, EVP_sha256()) > 0;
    BN_free(bn);
    X509_NAME_free(xn);
    if (!ok) {
        snprintf(err, errlen, "cannot make a self-signed certificate for %s: %s", name,
                 ssl_why());
        X509_free(c);
        EVP_PKEY_free(k);
        return -1;
    }
    *crt = c;
    *key = k;
    return 0;
}

/* -------------------------------------------------------- certificates */

void acme_cert_free(struct acme_cert *c)
{
    if (!c)
        return;
    EVP_PKEY_free(c->key);
    X509_free(c->leaf);
    sk_X509_pop_free(c->chain, X509_free);
    free(c->directory);
    free(c);
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;

    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* The "# directory: URL" comment line of a state file, if any. */
static char *directory_of(const char *pem, size_t len)
{
    size_t tl = strlen(DIRECTORY_TAG);

    for (const char *p = pem, *end = pem + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);

        if (n > tl && !memcmp(p, DIRECTORY_TAG, tl))
            return strndup(p + tl, n - tl);
        if (n && p[0] != '#')
            break; /* comments come first */
        p += n + 1;
    }
    return NULL;
}

/* Reading PEM blocks until there are none: "no start line" is the end, any
 * other error is a damaged block. */
static bool pem_clean_end(void)
{
    unsigned long e = ERR_peek_last_error();
    bool clean = !e || (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE);

    ERR_clear_error();
    return clean;
}

static int read_chain(BIO *b, struct acme_cert *c, char *err, size_t errlen)
{
    X509 *x;

    if (!(c->leaf = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        snprintf(err, errlen, "no certificate in it (%s)", ssl_why());
        return -1;
    }
    if (!(c->chain = sk_X509_new_null()))
        goto oom;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
        if (!sk_X509_push(c->chain, x)) {
            X509_free(x);
            goto oom;
        }
    if (!pem_clean_end()) {
        snprintf(err, errlen, "a damaged certificate after the first");
        return -1;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static void describe(struct acme_cert *c)
{
    ASN1_INTEGER *sn = X509_get_serialNumber(c->leaf);
    BIGNUM *bn = sn ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
    char *hex = bn ? BN_bn2hex(bn) : NULL;

    snprintf(c->serial, sizeof(c->serial), "%s", hex ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
    X509_NAME_oneline(X509_get_issuer_name(c->leaf), c->issuer, sizeof(c->issuer));
    c->not_before = asn1_unix(X509_get0_notBefore(c->leaf));
    c->not_after = asn1_unix(X509_get0_notAfter(c->leaf));
}

struct acme_cert *acme_cert_parse(const char *pem, size_t len, EVP_PKEY *key, const char *name,
                                  char *err, size_t errlen)
{
    struct acme_cert *c = calloc(1, sizeof(*c));
    BIO *b = BIO_new_mem_buf(pem, (int)len);

    ERR_clear_error();
    if (!c || !b) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    if (key && EVP_PKEY_up_ref(key))
        c->key = key;
    else if (!key && !(c->key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL))) {
        snprintf(err, errlen, "no private key in it (%s)", ssl_why());
        goto err;
    }
    if (read_chain(b, c, err, errlen) < 0)
        goto err;
    if (X509_check_private_key(c->leaf, c->key) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "the certificate is not for our key");
        goto err;
    }
    if (X509_check_host(c->leaf, name, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) != 1) {
        snprintf(err, errlen, "the certificate is not for %s", name);
        goto err;
    }
    describe(c);
    if (!c->not_after || c->not_after <= c->not_before) {
        snprintf(err, errlen, "the certificate has no usable validity period");
        goto err;
    }
    c->directory = directory_of(pem, len);
    BIO_free(b);
    return c;
err:
    BIO_free(b);
    acme_cert_free(c);
    ERR_clear_error();
    return NULL;
}

char *acme_cert_file(const struct acme_cert *c, const char *name, const char *directory,
                     size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    bool ok = b && BIO_printf(b, "# lxlb: ACME certificate for %s\n" DIRECTORY_TAG "%s\n",
                              name, directory ? directory : "") > 0 &&
              PEM_write_bio_PrivateKey(b, c->key, NULL, NULL, 0, NULL, NULL) == 1 &&
              PEM_write_bio_X509(b, c->leaf) == 1;

    for (int i = 0; ok && c->chain && i < sk_X509_num(c->chain); i++)
        ok = PEM_write_bio_X509(b, sk_X509_value(c->chain, i)) == 1;
    if (ok)
        out = bio_text(b, len);
    BIO_free(b);
    return out;
}
