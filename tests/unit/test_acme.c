/* tests/unit/test_acme.c - acme/'s pure parts: base64url, the JWK and its
 * RFC 7638 thumbprint, JWS ES256 (checked against RFC 7515 A.3 and by
 * verifying our own signatures), key authorizations, the CSR, state files
 * (round trip and every kind of damage), the challenge table, the retry
 * schedule, Retry-After, and the configuration of automatic HTTPS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme/acme-int.h"
#include "acme/acme.h"
#include "conf/conf.h"
#include "tests/unit/unit.h"

/* RFC 7515 A.3: an ES256 key, and a JWS signed with it. */
#define A3_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define A3_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define A3_D "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
#define A3_INPUT "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQog" \
                 "Imh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
#define A3_SIG "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-" \
               "Kg6NU1Q"
/* SHA-256 of {"crv":"P-256","kty":"EC","x":A3_X,"y":A3_Y}, base64url, computed
 * apart (Python's hashlib). */
#define A3_THUMBPRINT "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"

static unsigned char *dec(const char *s, size_t *len)
{
    return acme_b64url_decode(s, strlen(s), len);
}

/* The A.3 key as an EVP_PKEY (private, so it can sign too). */
static EVP_PKEY *a3_key(void)
{
    size_t xl, yl, dl;
    unsigned char *x = dec(A3_X, &xl), *y = dec(A3_Y, &yl), *d = dec(A3_D, &dl);
    unsigned char pub[65];
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    BIGNUM *priv = d ? BN_bin2bn(d, (int)dl, NULL) : NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *key = NULL;

    if (x && y && xl == 32 && yl == 32) {
        pub[0] = 4;
        memcpy(pub + 1, x, 32);
        memcpy(pub + 33, y, 32);
    }
    if (b && priv && x && y &&
        OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)) &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, priv) &&
        (params = OSSL_PARAM_BLD_to_param(b)) && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(ctx);
    BN_free(priv);
    free(x);
    free(y);
    free(d);
    return key;
}

/* JWS's r || s back to DER, verified with key over input. */
static bool es256_verifies(EVP_PKEY *key, const char *input, const unsigned char *raw)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    unsigned char *der = NULL;
    int dlen;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = false;

    if (sig && r && s && ECDSA_SIG_set0(sig, r, s)) {
        r = s = NULL;
        if ((dlen = i2d_ECDSA_SIG(sig, &der)) > 0 && md &&
            EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1)
            ok = EVP_DigestVerify(md, der, (size_t)dlen, (const unsigned char *)input,
                                  strlen(input)) == 1;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    return ok;
}

/* --------------------------------------------------------------- tests */

static void test_b64url(void)
{
    /* RFC 4648 10, without padding, and the two characters base64url changes. */
    static const char *const v[][2] = { { "", "" }, { "f", "Zg" }, { "fo", "Zm8" },
        { "foo", "Zm9v" }, { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
        { "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" } };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *e = acme_b64url(v[i][0], strlen(v[i][0]));
        size_t n = 99;
        unsigned char *d = dec(v[i][1], &n);

        CHECK_STR(e, v[i][1]);
        CHECK(d && n == strlen(v[i][0]) && !memcmp(d, v[i][0], n));
        free(e);
        free(d);
    }
    /* Not base64url: padding, the base64 alphabet, a lone char, loose bits. */
    static const char *const bad[] = { "Zg==", "Zm+v", "Zm/v", "Z", "Zh", "Zm9", "Zm9v\n" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n;
        unsigned char *d = dec(bad[i], &n);
        CHECK(d == NULL);
        free(d);
    }
    /* Every byte value survives. */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    char *e = acme_b64url(all, sizeof(all));
    size_t n;
    unsigned char *d = e ? dec(e, &n) : NULL;
    CHECK(e && strspn(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
               strlen(e));
    CHECK(d && n == sizeof(all) && !memcmp(d, all, n));
    free(e);
    free(d);
}

static void test_jwk_thumbprint(void)
{
    EVP_PKEY *k = a3_key();
    json_t *jwk = k ? acme_jwk(k) : NULL;
    char *tp = k ? acme_thumbprint(k) : NULL, *ka = tp ? acme_keyauth("tok-EN_123", tp) : NULL;

    CHECK(k != NULL);
    CHECK_STR(json_string_value(json_object_get(jwk, "kty")), "EC");
    CHECK_STR(json_string_value(json_object_get(jwk, "crv")), "P-256");
    CHECK_STR(json_string_value(json_object_get(jwk, "x")), A3_X);
    CHECK_STR(json_string_value(json_object_get(jwk, "y")), A3_Y);
    CHECK(json_object_size(jwk) == 4); /* no private part, nothing extra */
    CHECK_STR(tp, A3_THUMBPRINT);
    CHECK_STR(ka, "tok-EN_123." A3_THUMBPRINT);
    json_decref(jwk);
    free(tp);
    free(ka);
    EVP_PKEY_free(k);

    /* Not P-256: no JWK, no thumbprint. */
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    CHECK(p384 && !acme_jwk(p384) && !acme_thumbprint(p384));
    EVP_PKEY_free(p384);
}

static void test_ecdsa_raw(void)
{
    EVP_PKEY *k = a3_key();
    size_t n;
    unsigned char *sig = dec(A3_SIG, &n), raw[64], *der = NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    int dlen = 0;

    /* RFC 7515 A.3's signature verifies through our r || s reading... */
    CHECK(sig && n == 64 && k && es256_verifies(k, A3_INPUT, sig));
    /* ...and its DER form comes back to exactly those 64 bytes. */
    if (sig && es && ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL)))
        dlen = i2d_ECDSA_SIG(es, &der);
    CHECK(dlen > 0 && acme_ecdsa_raw(der, (size_t)dlen, raw) == 0 && !memcmp(raw, sig, 64));
    CHECK(dlen > 0 && acme_ecdsa_raw(der, (size_t)dlen - 1, raw) < 0); /* truncated */
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    /* Short r and s are padded on the left, not shifted. */
    es = ECDSA_SIG_new();
    der = NULL;
    dlen = 0;
    if (es && ECDSA_SIG_set0(es, BN_bin2bn((const unsigned char *)"\x01\x02", 2, NULL),
                             BN_bin2bn((const unsigned char *)"\x03", 1, NULL)))
        dlen = i2d_ECDSA_SIG(es, &der);
    CHECK(dlen > 0 && acme_ecdsa_raw(der, (size_t)dlen, raw) == 0);
    CHECK(raw[30] == 1 && raw[31] == 2 && raw[63] == 3 && raw[0] == 0 && raw[32] == 0);
    CHECK(acme_ecdsa_raw((const unsigned char *)"junk", 4, raw) < 0);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    free(sig);
    EVP_PKEY_free(k);
}

/* Decode part of a flattened JWS's member as JSON. */
static json_t *jws_part(const json_t *jws, const char *member)
{
    const char *s = json_string_value(json_object_get(jws, member));
    size_t n;
    unsigned char *d = s ? dec(s, &n) : NULL;
    json_t *o = d && n ? json_loadb((const char *)d, n, 0, NULL) : NULL;

    free(d);
    return o;
}

static void test_jws(void)
{
    EVP_PKEY *k = acme_key_new();
    char err[200];
    char *t1 = acme_jws(k, NULL, "nonce-1", "https://ca/new-acct", "{\"a\":1}", err, sizeof(err));
    char *t2 = acme_jws(k, "https://ca/acct/7", "nonce-2", "https://ca/order/1", NULL, err,
                        sizeof(err));
    json_t *j1 = t1 ? json_loads(t1, 0, NULL) : NULL, *j2 = t2 ? json_loads(t2, 0, NULL) : NULL;
    json_t *h1 = jws_part(j1, "protected"), *h2 = jws_part(j2, "protected");
    json_t *p1 = jws_part(j1, "payload");
    char *tp = acme_thumbprint(k);

    CHECK(t1 && t2 && j1 && j2 && h1 && h2);
    /* newAccount: the key itself (jwk), no kid. */
    CHECK_STR(json_string_value(json_object_get(h1, "alg")), "ES256");
    CHECK_STR(json_string_value(json_object_get(h1, "nonce")), "nonce-1");
    CHECK_STR(json_string_value(json_object_get(h1, "url")), "https://ca/new-acct");
    CHECK(json_object_get(h1, "jwk") && !json_object_get(h1, "kid"));
    CHECK(json_integer_value(json_object_get(p1, "a")) == 1);
    /* Later requests: kid, no jwk; POST-as-GET signs an empty payload. */
    CHECK_STR(json_string_value(json_object_get(h2, "kid")), "https://ca/acct/7");
    CHECK(!json_object_get(h2, "jwk"));
    CHECK_STR(json_string_value(json_object_get(j2, "payload")), "");
    /* The signature is r || s (64 bytes) over protected "." payload. */
    for (int i = 0; i < 2; i++) {
        json_t *j = i ? j2 : j1;
        const char *prot = json_string_value(json_object_get(j, "protected"));
        const char *pay = json_string_value(json_object_get(j, "payload"));
        size_t n;
        unsigned char *sig = dec(json_string_value(json_object_get(j, "signature")), &n);
        char input[2048];

        snprintf(input, sizeof(input), "%s.%s", prot, pay);
        CHECK(sig && n == 64 && es256_verifies(k, input, sig));
        if (sig && n == 64) {
            sig[10] ^= 1;
            CHECK(!es256_verifies(k, input, sig)); /* a checker that can fail */
        }
        free(sig);
    }
    /* The jwk in the header is the key whose thumbprint authorizes challenges. */
    json_t *jwk = json_object_get(h1, "jwk");
    char canon[300];
    snprintf(canon, sizeof(canon), "%s%s", json_string_value(json_object_get(jwk, "x")),
             json_string_value(json_object_get(jwk, "y")));
    json_t *mine = acme_jwk(k);
    char canon2[300];
    snprintf(canon2, sizeof(canon2), "%s%s", json_string_value(json_object_get(mine, "x")),
             json_string_value(json_object_get(mine, "y")));
    CHECK_STR(canon, canon2);
    CHECK(tp && strlen(tp) == 43);
    json_decref(mine);
    json_decref(j1);
    json_decref(j2);
    json_decref(h1);
    json_decref(h2);
    json_decref(p1);
    free(t1);
    free(t2);
    free(tp);
    EVP_PKEY_free(k);
}

static void test_csr(void)
{
    EVP_PKEY *k = acme_key_new();
    char *names[] = { "www.example.test", "example.test" };
    unsigned char *der = NULL;
    const unsigned char *p;
    size_t len = 0;
    char err[200], cn[128] = "";
    X509_REQ *req = NULL;
    EVP_PKEY *pub = NULL;
    GENERAL_NAMES *gens = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;

    CHECK(acme_csr(k, names, 2, &der, &len, err, sizeof(err)) == 0);
    p = der;
    req = der ? d2i_X509_REQ(NULL, &p, (long)len) : NULL;
    CHECK(req && p == der + len);
    if (req) {
        pub = X509_REQ_get_pubkey(req);
        CHECK(X509_REQ_verify(req, pub) == 1);                /* signed by its key */
        CHECK(EVP_PKEY_eq(pub, k) == 1);                       /* which is ours */
        X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof(cn));
        CHECK_STR(cn, "www.example.test");
        exts = X509_REQ_get_extensions(req);
        for (int i = 0; exts && i < sk_X509_EXTENSION_num(exts); i++) {
            X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
            if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name)
                gens = X509V3_EXT_d2i(e);
        }
        CHECK(gens && sk_GENERAL_NAME_num(gens) == 2);
        for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && i < 2; i++) {
            GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
            CHECK(gn->type == GEN_DNS);
            CHECK_STR((const char *)ASN1_STRING_get0_data(gn->d.dNSName), names[i]);
        }
    }
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    EVP_PKEY_free(pub);
    X509_REQ_free(req);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
}

/* A state file for name: key, self-signed certificate (issued to
 * cert_name), and a directory line. malloc'd. */
static char *state_file(const char *name, const char *cert_name, size_t *len)
{
    X509 *crt = NULL;
    EVP_PKEY *key = NULL;
    char err[200], *pem = NULL, *out;
    BIO *b = BIO_new(BIO_s_mem());
    struct acme_cert *c;
    long n;

    if (acme_self_signed(cert_name, &crt, &key, err, sizeof(err)) < 0 || !b ||
        !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_X509(b, crt) || (n = BIO_get_mem_data(b, &pem)) <= 0)
        return NULL;
    c = acme_cert_parse(pem, (size_t)n, NULL, cert_name, err, sizeof(err));
    out = c ? acme_cert_file(c, name, "https://ca.test/dir", len) : NULL;
    acme_cert_free(c);
    BIO_free(b);
    X509_free(crt);
    EVP_PKEY_free(key);
    return out;
}

static void test_state_file(void)
{
    size_t len = 0;
    char *f = state_file("a.test", "a.test", &len), err[512];
    struct acme_cert *c = f ? acme_cert_parse(f, len, NULL, "a.test", err, sizeof(err)) : NULL;

    CHECK(f && c);
    CHECK_CONTAINS(f, "# directory: https://ca.test/dir\n");
    if (c) {
        CHECK_STR(c->directory, "https://ca.test/dir");
        CHECK(c->not_after - c->not_before > 80 * 86400);
        CHECK(strlen(c->serial) > 8);
        CHECK(c->chain && sk_X509_num(c->chain) == 0);
    }
    /* Wrong name, someone else's key, nothing but a key, empty, garbage. */
    struct acme_cert *x = f ? acme_cert_parse(f, len, NULL, "b.test", err, sizeof(err)) : NULL;
    CHECK(!x);
    CHECK_CONTAINS(err, "not for b.test");
    EVP_PKEY *other = acme_key_new();
    x = f ? acme_cert_parse(f + strcspn(f, "-"), len - strcspn(f, "-"), other, "a.test", err,
                            sizeof(err))
          : NULL;
    CHECK(!x); /* with a key given, the file's key block is no certificate */
    EVP_PKEY_free(other);
    const char *endkey = f ? strstr(f, "-----END PRIVATE KEY-----\n") : NULL;
    if (endkey) {
        size_t keylen = (size_t)(endkey - f) + strlen("-----END PRIVATE KEY-----\n");
        CHECK(!acme_cert_parse(f, keylen, NULL, "a.test", err, sizeof(err)));
        CHECK_CONTAINS(err, "no certificate");
    }
    CHECK(!acme_cert_parse("", 0, NULL, "a.test", err, sizeof(err)));
    CHECK(!acme_cert_parse("\x00\xff garbage", 10, NULL, "a.test", err, sizeof(err)));
    /* Every truncation of the file: refused with a reason, never a crash. */
    int accepted = 0;
    for (size_t cut = 0; f && cut < len; cut += 7) {
        err[0] = '\0';
        x = acme_cert_parse(f, cut, NULL, "a.test", err, sizeof(err));
        if (x)
            accepted++;
        else
            CHECK(err[0] != '\0');
        acme_cert_free(x);
    }
    CHECK(accepted == 0);
    /* Flipped bytes inside the base64 of the key or the certificate. */
    int refused = 0, tries = 0;
    for (size_t at = 80; f && at + 80 < len; at += 97) {
        char *g = malloc(len);
        if (!g)
            break;
        memcpy(g, f, len);
        g[at] = g[at] == 'A' ? 'B' : 'A';
        x = acme_cert_parse(g, len, NULL, "a.test", err, sizeof(err));
        refused += !x;
        tries++;
        acme_cert_free(x);
        free(g);
    }
    /* A flip may land in a signature or serial that nothing here checks, but
     * most land in the key or structure. */
    CHECK(tries > 5 && refused * 2 > tries);
    /* A second certificate after the leaf, damaged: refused. */
    if (f) {
        char *g = malloc(len + 64);
        if (g) {
            memcpy(g, f, len);
            strcpy(g + len, "-----BEGIN CERTIFICATE-----\nMIIBroken\n");
            CHECK(!acme_cert_parse(g, strlen(g), NULL, "a.test", err, sizeof(err)));
            free(g);
        }
    }
    acme_cert_free(c);
    free(f);
}

static void test_account_key(void)
{
    EVP_PKEY *k = acme_key_new(), *back;
    size_t len = 0;
    char *pem = k ? acme_key_pem(k, &len) : NULL, err[200];

    back = pem ? acme_key_parse(pem, len, err, sizeof(err)) : NULL;
    CHECK(back && EVP_PKEY_eq(k, back) == 1);
    EVP_PKEY_free(back);
    CHECK(!acme_key_parse(pem, len / 2, err, sizeof(err)));
    CHECK(!acme_key_parse("", 0, err, sizeof(err)));
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    char *rpem = rsa ? acme_key_pem(rsa, &len) : NULL;
    CHECK(rpem && !acme_key_parse(rpem, len, err, sizeof(err)));
    CHECK_CONTAINS(err, "not ECDSA P-256");
    free(rpem);
    EVP_PKEY_free(rsa);
    free(pem);
    EVP_PKEY_free(k);
}

static void test_self_signed(void)
{
    X509 *crt = NULL;
    EVP_PKEY *key = NULL;
    char err[200];

    CHECK(acme_self_signed("ph.example.test", &crt, &key, err, sizeof(err)) == 0);
    CHECK(crt && X509_check_host(crt, "ph.example.test", 0, 0, NULL) == 1);
    CHECK(crt && X509_check_host(crt, "other.test", 0, 0, NULL) != 1);
    CHECK(crt && X509_check_private_key(crt, key) == 1);
    CHECK(crt && X509_verify(crt, key) == 1); /* self-signed */
    X509_free(crt);
    EVP_PKEY_free(key);
}

static void test_challenge_table(void)
{
    char body[ACME_KEYAUTH_MAX];
    size_t n = 0;
    const char *p = "/.well-known/acme-challenge/TOKEN_abc-1";

    CHECK(!acme_challenge(p, strlen(p), body, sizeof(body), &n)); /* none open */
    CHECK(acme_challenge_add("TOKEN_abc-1", "TOKEN_abc-1.thumb") == 0);
    CHECK(acme_challenge_add("other", "other.thumb") == 0);
    CHECK(acme_challenge(p, strlen(p), body, sizeof(body), &n));
    CHECK(n == strlen("TOKEN_abc-1.thumb") && !memcmp(body, "TOKEN_abc-1.thumb", n));
    CHECK(!acme_challenge(p, strlen(p) - 1, body, sizeof(body), &n));  /* a prefix */
    CHECK(!acme_challenge("/.well-known/acme-challenge/TOKEN_abc-12", strlen(p) + 1, body,
                          sizeof(body), &n));
    CHECK(!acme_challenge("/.well-known/acme-challenge/", 28, body, sizeof(body), &n));
    CHECK(!acme_challenge("/x/.well-known/acme-challenge/other", 35, body, sizeof(body), &n));
    CHECK(!acme_challenge(p, strlen(p), body, 5, &n)); /* does not fit: not answered */
    acme_challenge_del("TOKEN_abc-1");
    CHECK(!acme_challenge(p, strlen(p), body, sizeof(body), &n));
    CHECK(acme_challenge("/.well-known/acme-challenge/other", 33, body, sizeof(body), &n));
    acme_challenge_clear();
    CHECK(!acme_challenge("/.well-known/acme-challenge/other", 33, body, sizeof(body), &n));
}

static void test_backoff(void)
{
    static const uint32_t want[] = { 5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600 };

    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        CHECK(acme_backoff_s(i + 1) == want[i]);
    CHECK(acme_backoff_s(1000) == 3600);
    /* Renewal: renew_before ahead of expiry, never before the epoch. */
    CHECK(acme_renew_at(1000000, 86400) == 1000000 - 86400);
    CHECK(acme_renew_at(1000, 86400) == 0);
}

static void test_retry_after(void)
{
    int64_t now = 1700000000; /* 2023-11-14T22:13:20Z */

    CHECK(acme_retry_after("120", now) == now + 120);
    CHECK(acme_retry_after("0", now) == now);
    CHECK(acme_retry_after("99999999", now) == now + 7 * 86400); /* capped */
    CHECK(acme_retry_after("Tue, 14 Nov 2023 22:23:20 GMT", now) == now + 600);
    CHECK(acme_retry_after("Mon, 13 Nov 2023 22:23:20 GMT", now) == now); /* past: now */
    CHECK(acme_retry_after("Fri, 14 Nov 2025 22:23:20 GMT", now) == now + 7 * 86400);
    CHECK(acme_retry_after(NULL, now) < 0);
    CHECK(acme_retry_after("", now) < 0);
    CHECK(acme_retry_after("soon", now) < 0);
    CHECK(acme_retry_after("-5", now) < 0);
    CHECK(acme_retry_after("12s", now) < 0);
    CHECK(acme_retry_after("Tue, 14 Nov 2023 22:23:20 GMT junk", now) < 0);
}

static void test_url_split(void)
{
    char host[64];
    unsigned port;
    const char *path;

    CHECK(acme_url_split("https://127.0.0.1:14000/dir", host, sizeof(host), &port, &path) == 0);
    CHECK_STR(host, "127.0.0.1");
    CHECK(port == 14000);
    CHECK_STR(path, "/dir");
    CHECK(acme_url_split("https://acme.test", host, sizeof(host), &port, &path) == 0);
    CHECK(port == 443);
    CHECK_STR(path, "/");
    CHECK(acme_url_split("https://[::1]:8443/a?b=1", host, sizeof(host), &port, &path) == 0);
    CHECK_STR(host, "::1");
    CHECK(port == 8443);
    CHECK_STR(path, "/a?b=1");
    CHECK(acme_url_split("http://acme.test/", host, sizeof(host), &port, &path) < 0);
    CHECK(acme_url_split("https://:443/", host, sizeof(host), &port, &path) < 0);
    CHECK(acme_url_split("https://a:0/", host, sizeof(host), &port, &path) < 0);
    CHECK(acme_url_split("https://a:99999/", host, sizeof(host), &port, &path) < 0);
    CHECK(acme_url_split("https://a:x/", host, sizeof(host), &port, &path) < 0);
    CHECK(acme_url_split("https://[::1/", host, sizeof(host), &port, &path) < 0);
}

/* ------------------------------------------------------ configuration */

#define PLAIN_FE "{\"name\":\"http\",\"bind\":\"127.0.0.1:18080\",\"default_backend\":\"b\"}"
#define TLS_FE(tls) "{\"name\":\"https\",\"bind\":\"127.0.0.1:18443\",\"default_backend\":\"b\"," \
                    "\"tls\":" tls "}"
#define ACME_DOC(acme, tls) "{" acme "\"frontends\":[" PLAIN_FE "," TLS_FE(tls) "]," \
                            "\"backends\":[{\"name\":\"b\"}]}"
#define ACME_SEC "\"acme\":{\"directory\":\"https://acme.test/dir\"},"

static char cerr[CONF_ERRLEN];

static struct conf *load(const char *json)
{
    return conf_load_string("t.json", json, cerr, sizeof(cerr));
}

#define CHECK_ERR(json, frag) do { struct conf *c_ = load(json); \
    CHECK(c_ == NULL); conf_free(c_); CHECK_CONTAINS(cerr, frag); } while (0)

static void test_conf_acme(void)
{
    struct conf *c = load(ACME_DOC(ACME_SEC, "{\"acme\":[\"WWW.Example.test\",\"b.test\"]}"));

    CHECK(c != NULL);
    if (c) {
        const struct conf_tls *t = &c->frontends[1].tls;
        CHECK(c->acme.enabled && t->enabled && t->ncerts == 0 && t->nacme == 2);
        CHECK_STR(t->acme[0], "www.example.test"); /* lower case */
        CHECK_STR(c->acme.state_dir, "/var/lib/lxlb/acme");
        CHECK(c->acme.renew_before_s == 30 * 86400);
        CHECK(c->acme.ca_file == NULL && c->acme.email == NULL);
        conf_free(c);
    }
    c = load(ACME_DOC("\"acme\":{\"directory\":\"https://a.test/d\",\"email\":\"mailto:o@x.test\","
                      "\"state_dir\":\"/tmp/s\",\"ca_file\":\"/tmp/ca.pem\","
                      "\"renew_before\":\"60d\"},",
                      "{\"cert\":\"/a.pem\",\"acme\":\"one.test\"}"));
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(c->acme.email, "o@x.test");
        CHECK(c->acme.renew_before_s == 60 * 86400);
        CHECK(c->frontends[1].tls.ncerts == 1 && c->frontends[1].tls.nacme == 1);
        conf_free(c);
    }
    /* tls.acme needs the section, a plain frontend, names a CA can validate. */
    CHECK_ERR(ACME_DOC("", "{\"acme\":[\"a.test\"]}"),
              "t.json:1: $.frontends[1].tls.acme: needs the top-level \"acme\" section");
    CHECK_ERR("{" ACME_SEC "\"frontends\":[" TLS_FE("{\"acme\":\"a.test\"}") "],"
              "\"backends\":[{\"name\":\"b\"}]}", "$.acme: tls.acme needs a plain-HTTP frontend");
    CHECK_ERR(ACME_DOC(ACME_SEC, "{\"acme\":[\"*.a.test\"]}"),
              "$.frontends[1].tls.acme[0]: \"*.a.test\" is not a host name");
    CHECK_ERR(ACME_DOC(ACME_SEC, "{\"acme\":[\"a.test\",\"10.0.0.1\"]}"),
              "$.frontends[1].tls.acme[1]: \"10.0.0.1\" is not a host name");
    CHECK_ERR(ACME_DOC(ACME_SEC, "{\"acme\":[\"a.test\",\"A.test\"]}"),
              "$.frontends[1].tls.acme[1]: \"A.test\" is listed twice");
    CHECK_ERR(ACME_DOC(ACME_SEC, "{\"acme\":[]}"), "$.frontends[1].tls.acme: must not be empty");
    CHECK_ERR(ACME_DOC(ACME_SEC, "{}"), "$.frontends[1].tls: needs \"cert\"");
    /* The section itself. */
    CHECK_ERR(ACME_DOC("\"acme\":{},", "{\"acme\":\"a.test\"}"),
              "$.acme: missing required key \"directory\"");
    CHECK_ERR(ACME_DOC("\"acme\":{\"directory\":\"http://a.test/dir\"},", "{\"acme\":\"a.test\"}"),
              "$.acme.directory: \"http://a.test/dir\": expected an https:// URL");
    CHECK_ERR(ACME_DOC("\"acme\":{\"directory\":\"https://a/d\",\"state_dir\":\"var/acme\"},",
                       "{\"acme\":\"a.test\"}"), "$.acme.state_dir: must be an absolute path");
    CHECK_ERR(ACME_DOC("\"acme\":{\"directory\":\"https://a/d\",\"email\":\"nobody\"},",
                       "{\"acme\":\"a.test\"}"), "$.acme.email: \"nobody\" is not an e-mail");
    CHECK_ERR(ACME_DOC("\"acme\":{\"directory\":\"https://a/d\",\"renew_before\":\"30 days\"},",
                       "{\"acme\":\"a.test\"}"), "$.acme.renew_before: bad duration \"30 days\"");
    CHECK_ERR(ACME_DOC("\"acme\":{\"directory\":\"https://a/d\",\"renew_before\":0},",
                       "{\"acme\":\"a.test\"}"), "$.acme.renew_before: expected a duration");
    CHECK_ERR(ACME_DOC("\"acme\":{\"directory\":\"https://a/d\",\"staging\":true},",
                       "{\"acme\":\"a.test\"}"), "$.acme.staging: unknown key");
}

static void test_conf_names_durations(void)
{
    static const char *const good[] = { "a.test", "www.example.com", "x", "a-b.c-d.test",
                                        "1.2.3.example", "xn--bcher-kva.test" };
    static const char *const bad[] = { "", ".a.test", "a.test.", "a..test", "-a.test",
                                       "a-.test", "A.test", "a_b.test", "*.a.test", "1.2.3.4",
                                       "a.123", "a b.test" };
    uint64_t s;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK(conf_dns_name_ok(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(!conf_dns_name_ok(bad[i]));
    CHECK(conf_parse_duration_s("30d", &s) == 0 && s == 30 * 86400);
    CHECK(conf_parse_duration_s("36h", &s) == 0 && s == 36 * 3600);
    CHECK(conf_parse_duration_s("90m", &s) == 0 && s == 5400);
    CHECK(conf_parse_duration_s("45s", &s) == 0 && s == 45);
    CHECK(conf_parse_duration_s("1500ms", &s) == 0 && s == 2); /* rounded up */
    CHECK(conf_parse_duration_s("10000d", &s) == 0 && s == 10000ull * 86400);
    CHECK(conf_parse_duration_s("30", &s) < 0); /* a unit is required in a string */
    CHECK(conf_parse_duration_s("d", &s) < 0);
    CHECK(conf_parse_duration_s("3w", &s) < 0);
    CHECK(conf_parse_duration_s("99999999999999999999d", &s) < 0);
}

UNIT_SUITE(acme_tests) = {
    { "acme_b64url", test_b64url },
    { "acme_jwk_thumbprint", test_jwk_thumbprint },
    { "acme_ecdsa_raw", test_ecdsa_raw },
    { "acme_jws", test_jws },
    { "acme_csr", test_csr },
    { "acme_state_file", test_state_file },
    { "acme_account_key", test_account_key },
    { "acme_self_signed", test_self_signed },
    { "acme_challenge_table", test_challenge_table },
    { "acme_backoff", test_backoff },
    { "acme_retry_after", test_retry_after },
    { "acme_url_split", test_url_split },
    { "acme_conf", test_conf_acme },
    { "acme_conf_names_durations", test_conf_names_durations },
    UNIT_END
};
