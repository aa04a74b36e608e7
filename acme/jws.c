/* acme/jws.c - what RFC 8555 signs with: base64url (RFC 4648 5), the JWK of
 * an EC P-256 key and its thumbprint (RFC 7638), and flattened JWS with
 * ES256 (RFC 7515, RFC 7518 3.4). Pure functions of their inputs (and of
 * OpenSSL's random ECDSA nonce), so the unit tests cover all of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "acme/acme-int.h"

#define P256_BYTES 32 /* one coordinate, r or s */

/* ----------------------------------------------------------- base64url */

static const char b64u[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *acme_b64url(const void *data, size_t len)
{
    const unsigned char *p = data;
    char *out = malloc(len / 3 * 4 + 5), *o = out;
    size_t i = 0;

    if (!out)
        return NULL;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = b64u[v >> 18];
        *o++ = b64u[(v >> 12) & 63];
        *o++ = b64u[(v >> 6) & 63];
        *o++ = b64u[v & 63];
    }
    if (len - i == 1) {
        *o++ = b64u[p[i] >> 2];
        *o++ = b64u[(p[i] & 3) << 4];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];
        *o++ = b64u[v >> 10];
        *o++ = b64u[(v >> 4) & 63];
        *o++ = b64u[(v & 15) << 2];
    }
    *o = '\0';
    return out;
}

static int b64u_val(char c)
{
    const char *p = c ? strchr(b64u, c) : NULL;
    return p ? (int)(p - b64u) : -1;
}

unsigned char *acme_b64url_decode(const char *s, size_t slen, size_t *len)
{
    unsigned char *out;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (slen % 4 == 1) /* one leftover character cannot encode a byte */
        return NULL;
    if (!(out = malloc(slen / 4 * 3 + 3)))
        return NULL;
    for (size_t i = 0; i < slen; i++) {
        int v = b64u_val(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        if ((bits += 6) >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* The bits left over must be zero: a canonical encoding. */
    if (acc & ((1u << bits) - 1)) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    *len = o;
    return out;
}

/* ------------------------------------------------------------- the JWK */

/* x and y of a P-256 public key, base64url. -1: not a P-256 EC key. */
static int ec_xy(EVP_PKEY *key, char **x, char **y)
{
    char curve[32] = "";
    BIGNUM *bx = NULL, *by = NULL;
    unsigned char bx_bin[P256_BYTES], by_bin[P256_BYTES];
    int rc = -1;

    *x = *y = NULL;
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve,
                                        sizeof(curve), NULL) ||
        strcmp(curve, SN_X9_62_prime256v1) != 0)
        return -1;
    if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) ||
        !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) ||
        BN_bn2binpad(bx, bx_bin, P256_BYTES) != P256_BYTES ||
        BN_bn2binpad(by, by_bin, P256_BYTES) != P256_BYTES)
        goto out;
    *x = acme_b64url(bx_bin, P256_BYTES);
    *y = acme_b64url(by_bin, P256_BYTES);
    if (*x && *y)
        rc = 0;
out:
    BN_free(bx);
    BN_free(by);
    if (rc < 0) {
        free(*x);
        free(*y);
        *x = *y = NULL;
    }
    return rc;
}

json_t *acme_jwk(EVP_PKEY *key)
{
    char *x, *y;
    json_t *o;

    if (ec_xy(key, &x, &y) < 0)
        return NULL;
    o = json_pack("{s:s, s:s, s:s, s:s}", "crv", "P-256", "kty", "EC", "x", x, "y", y);
    free(x);
    free(y);
    return o;
}

char *acme_thumbprint(EVP_PKEY *key)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char *x, *y, *json;
    int n;

    if (ec_xy(key, &x, &y) < 0)
        return NULL;
    /* RFC 7638 3.2: the required members only, in lexicographic order, no
     * white space; written out because a JSON library's order and escaping
     * are not part of its contract. */
    n = asprintf(&json, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    free(x);
    free(y);
    if (n < 0)
        return NULL;
    SHA256((const unsigned char *)json, (size_t)n, md);
    free(json);
    return acme_b64url(md, sizeof(md));
}

char *acme_keyauth(const char *token, const char *thumbprint)
{
    char *s;

    return asprintf(&s, "%s.%s", token, thumbprint) < 0 ? NULL : s;
}

/* ------------------------------------------------------------------ JWS */

int acme_ecdsa_raw(const unsigned char *der, size_t len, unsigned char out[64])
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r, *s;
    int rc = -1;

    if (!sig)
        return -1;
    ECDSA_SIG_get0(sig, &r, &s);
    /* Fixed width, zero-padded on the left: a short r or s is common. */
    if (p == der + len && BN_bn2binpad(r, out, P256_BYTES) == P256_BYTES &&
        BN_bn2binpad(s, out + P256_BYTES, P256_BYTES) == P256_BYTES)
        rc = 0;
    ECDSA_SIG_free(sig);
    return rc;
}

/* ES256 over input: base64url(r || s). */
static char *es256(EVP_PKEY *key, const char *input, char *err, size_t errlen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[128], raw[2 * P256_BYTES];
    size_t dlen = sizeof(der);
    char *out = NULL;

    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, der, &dlen, (const unsigned char *)input, strlen(input)) != 1 ||
        acme_ecdsa_raw(der, dlen, raw) < 0)
        snprintf(err, errlen, "cannot sign the request (ES256)");
    else if (!(out = acme_b64url(raw, sizeof(raw))))
        snprintf(err, errlen, "out of memory");
    EVP_MD_CTX_free(md);
    return out;
}

static json_t *protected_header(EVP_PKEY *key, const char *kid, const char *nonce,
                                const char *url)
{
    json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "nonce", nonce, "url", url);

    if (!h)
        return NULL;
    if (kid ? json_object_set_new(h, "kid", json_string(kid)) < 0
            : json_object_set_new(h, "jwk", acme_jwk(key)) < 0) {
        json_decref(h);
        return NULL;
    }
    return h;
}

char *acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
               const char *payload, char *err, size_t errlen)
{
    json_t *h = protected_header(key, kid, nonce, url), *jws = NULL;
    char *htext = h ? json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *hb64 = htext ? acme_b64url(htext, strlen(htext)) : NULL;
    /* POST-as-GET (RFC 8555 6.3) signs an empty payload, not "{}". */
    char *pb64 = acme_b64url(payload ? payload : "", payload ? strlen(payload) : 0);
    char *input = NULL, *sig = NULL, *out = NULL;

    if (!hb64 || !pb64 || asprintf(&input, "%s.%s", hb64, pb64) < 0) {
        input = NULL;
        snprintf(err, errlen, h ? "out of memory" : "the account key is not EC P-256");
        goto out;
    }
    if (!(sig = es256(key, input, err, errlen)))
        goto out;
    jws = json_pack("{s:s, s:s, s:s}", "protected", hb64, "payload", pb64, "signature", sig);
    if (!jws || !(out = json_dumps(jws, JSON_COMPACT)))
        snprintf(err, errlen, "out of memory");
out:
    json_decref(h);
    json_decref(jws);
    free(htext);
    free(hb64);
    free(pb64);
    free(input);
    free(sig);
    return out;
}
