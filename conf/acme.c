/* conf/acme.c - automatic HTTPS in the configuration (SPEC.md, "Automatic
 * HTTPS"): the top-level "acme" section and a TLS frontend's "acme" names.
 *
 * Only syntax and consistency are checked here; the CA's trust store is
 * read with the certificates (acme_conf_load), and state_dir is created by
 * the running lxlb, never by `lxlb -c`. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/conf-int.h"

#define ACME_DEFAULT_STATE_DIR "/var/lib/lxlb/acme"
#define ACME_DEFAULT_RENEW_S (30u * 86400u)
#define ACME_MAX_URL 2048 /* a directory URL longer than this is a mistake */
#define DNS_MAX_NAME 253  /* RFC 1035, without the root's dot */
#define DNS_MAX_LABEL 63

/* ------------------------------------------------------------- syntax */

int conf_parse_duration_s(const char *s, uint64_t *sec)
{
    static const struct { const char *unit; uint64_t ms; } units[] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
    };
    uint64_t v = 0;
    size_t n = 0;

    if (!s)
        return -1;
    for (; isdigit((unsigned char)s[n]); n++) {
        v = v * 10 + (uint64_t)(s[n] - '0');
        if (v > 1000000000000ull) /* 30000 years in seconds: surely a typo */
            return -1;
    }
    if (n == 0)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcmp(s + n, units[i].unit)) {
            *sec = (v * units[i].ms + 999) / 1000; /* "500ms" is a second, not none */
            return 0;
        }
    return -1;
}

/* A host name a CA can validate over HTTP-01: LDH labels, no wildcard (that
 * needs DNS-01), not an IP address (no label is all digits at the end). */
bool conf_dns_name_ok(const char *s)
{
    size_t len = strlen(s), label = 0;
    const char *last = s;

    if (!len || len > DNS_MAX_NAME || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (!label || p[-1] == '-')
                return false;
            label = 0;
            last = p + 1;
            continue;
        }
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
            return false;
        if ((!label && *p == '-') || ++label > DNS_MAX_LABEL)
            return false;
    }
    if (s[len - 1] == '-')
        return false;
    /* The top-level label is never numeric: "10.0.0.1" is an address. */
    return strspn(last, "0123456789") != strlen(last);
}

/* ------------------------------------------------------------- section */

static void acme_renew_before(struct conf_ctx *x, struct conf_acme *a, const json_t *o,
                              const char *path)
{
    char p[CONF_PATHLEN];
    json_t *v = conf_member(o, "renew_before");

    a->renew_before_s = ACME_DEFAULT_RENEW_S;
    if (!v)
        return;
    conf_key_path(p, path, "renew_before");
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        a->renew_before_s = ((uint64_t)json_integer_value(v) + 999) / 1000;
        return;
    }
    if (json_is_string(v) && conf_parse_duration_s(json_string_value(v), &a->renew_before_s) == 0
        && a->renew_before_s > 0)
        return;
    a->renew_before_s = ACME_DEFAULT_RENEW_S;
    if (json_is_string(v))
        conf_err(x, p, "bad duration \"%s\": expected an integer with unit ms, s, m, h or d "
                 "(e.g. \"30d\"), more than 0", json_string_value(v));
    else
        conf_err(x, p, "expected a duration (e.g. \"30d\") or a number of ms above 0, got %s",
                 conf_type(v));
}

static void acme_directory(struct conf_ctx *x, struct conf_acme *a, const char *path)
{
    char p[CONF_PATHLEN];
    const char *d = a->directory;

    if (!d)
        return;
    conf_key_path(p, path, "directory");
    if (strncmp(d, "https://", 8) != 0 || !d[8] || d[8] == '/' || d[8] == ':')
        conf_err(x, p, "\"%s\": expected an https:// URL (RFC 8555 requires HTTPS)", d);
    else if (strlen(d) > ACME_MAX_URL || strpbrk(d, " \t\r\n\"\\"))
        conf_err(x, p, "\"%.64s...\": not a usable URL", d);
}

/* "ops@example.com" or "mailto:ops@example.com": kept without the scheme. */
static void acme_email(struct conf_ctx *x, struct conf_acme *a, const char *path)
{
    char p[CONF_PATHLEN];
    char *e = a->email, *at;

    if (!e)
        return;
    if (!strncmp(e, "mailto:", 7))
        memmove(e, e + 7, strlen(e + 7) + 1);
    at = strchr(e, '@');
    if (!at || at == e || !at[1] || strchr(at + 1, '@') || strpbrk(e, " \t\r\n,<>\"\\?&"))
        conf_err(x, conf_key_path(p, path, "email"), "\"%s\" is not an e-mail address", e);
}

void conf_parse_acme(struct conf_ctx *x, struct conf *c, const json_t *root)
{
    static const char *const keys[] = { "directory", "email", "state_dir", "ca_file",
                                        "renew_before", NULL };
    char path[CONF_PATHLEN], p[CONF_PATHLEN];
    const json_t *o = conf_object(x, root, "$", "acme", path, keys);
    struct conf_acme *a = &c->acme;

    if (!o)
        return;
    a->enabled = true;
    conf_require(x, o, path, "directory");
    conf_str(x, o, path, "directory", NULL, &a->directory);
    conf_str(x, o, path, "email", NULL, &a->email);
    conf_str(x, o, path, "state_dir", ACME_DEFAULT_STATE_DIR, &a->state_dir);
    conf_str(x, o, path, "ca_file", NULL, &a->ca_file);
    acme_renew_before(x, a, o, path);
    acme_directory(x, a, path);
    acme_email(x, a, path);
    /* The daemon works from "/", and a chroot changes what a relative path means. */
    if (a->state_dir && a->state_dir[0] != '/')
        conf_err(x, conf_key_path(p, path, "state_dir"), "must be an absolute path");
}

/* ------------------------------------------------------ frontend names */

void conf_parse_tls_acme(struct conf_ctx *x, struct conf_tls *tls, const json_t *o,
                         const char *tlspath)
{
    char path[CONF_PATHLEN], ipath[CONF_PATHLEN];
    json_t *v = conf_member(o, "acme");
    size_t n;

    conf_key_path(path, tlspath, "acme");
    if (!v || !(n = conf_list(x, v, path)))
        return;
    if (!(tls->acme = conf_calloc(x, path, n, sizeof(*tls->acme))))
        return;
    for (size_t i = 0; i < n; i++) {
        const char *s = conf_string_value(x, conf_list_item(v, i),
                                          conf_list_path(ipath, v, path, i));
        char *name;
        bool dup = false;

        if (!s || !(name = conf_strdup(x, ipath, s)))
            continue;
        for (char *q = name; *q; q++) /* DNS names are case-insensitive */
            *q = (char)tolower((unsigned char)*q);
        for (size_t k = 0; k < tls->nacme; k++)
            dup |= !strcmp(tls->acme[k], name);
        if (!conf_dns_name_ok(name))
            conf_err(x, ipath, "\"%s\" is not a host name a CA can validate over HTTP-01 "
                     "(letters, digits, '-' and '.'; no wildcard, no IP address)", s);
        else if (dup)
            conf_err(x, ipath, "\"%s\" is listed twice", s);
        else {
            tls->acme[tls->nacme++] = name;
            continue;
        }
        free(name);
    }
}

/* ---------------------------------------------------------- consistency */

void conf_check_acme(struct conf_ctx *x, const struct conf *c)
{
    char p[CONF_PATHLEN];
    bool wanted = false, plain = false;

    for (size_t i = 0; i < c->nfrontends; i++) {
        const struct conf_frontend *f = &c->frontends[i];

        plain |= !f->tls.enabled;
        if (!f->tls.nacme)
            continue;
        wanted = true;
        if (!c->acme.enabled)
            conf_err(x, conf_path_fmt(p, "$.frontends[%zu].tls.acme", i),
                     "needs the top-level \"acme\" section (the CA's directory)");
    }
    /* HTTP-01: the CA fetches http://NAME/.well-known/acme-challenge/... and
     * only a plain frontend of ours can answer it. */
    if (wanted && c->acme.enabled && !plain)
        conf_err(x, "$.acme", "tls.acme needs a plain-HTTP frontend (port 80 as the CA sees "
                 "it) to answer HTTP-01 challenges");
}

void conf_free_tls_acme(struct conf_tls *tls)
{
    for (size_t i = 0; i < tls->nacme; i++)
        free(tls->acme[i]);
    free(tls->acme);
}

void conf_free_acme(struct conf *c)
{
    struct conf_acme *a = &c->acme;

    if (a->loaded_free) /* set by acme/ca-https.c: conf itself links no OpenSSL */
        a->loaded_free(a->loaded);
    free(a->directory);
    free(a->email);
    free(a->state_dir);
    free(a->ca_file);
}
