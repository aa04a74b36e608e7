/* conf/haproxy-acl.c - `lxlb import-haproxy`, part 3: ACLs and conditions
 * (acl lines, "if/unless" with named ACLs, "!", "||"/"or" and anonymous
 * "{ ... }" tests) -> lxlb routes (SPEC.md "Routing, redirects, tunnels").
 *
 * A condition is read as HAProxy does: terms ANDed, "||" between groups, an
 * ACL true when any of its lines and values matches. Each test becomes a set
 * of alternatives lxlb can match (an exact host or "*.suffix", a path
 * prefix, a set of methods), or a constant (ssl_fc is known per frontend:
 * lxlb splits TLS and plain binds into two frontends), or "cannot be
 * expressed" with the reason. An AND group is the product of its terms'
 * alternatives, each product narrowed to one route or found impossible; the
 * OR groups give the routes of the rule, in order. What cannot be expressed
 * is left out with one warning naming the test, never guessed. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf-int.h"
#include "conf/haproxy-int.h"

/* ------------------------------------------------------------ reading */

static const struct { const char *name; enum hap_fetch fetch; enum hap_match match; } fetches[] = {
    { "path", HAP_F_PATH, HAP_M_STR }, { "path_beg", HAP_F_PATH, HAP_M_BEG },
    { "path_end", HAP_F_PATH, HAP_M_END }, { "path_sub", HAP_F_PATH, HAP_M_SUB },
    { "path_dir", HAP_F_PATH, HAP_M_DIR }, { "path_dom", HAP_F_PATH, HAP_M_DOM },
    { "path_reg", HAP_F_PATH, HAP_M_REG }, { "path_len", HAP_F_PATH, HAP_M_OTHER },
    { "url", HAP_F_URL, HAP_M_STR }, { "url_beg", HAP_F_URL, HAP_M_BEG },
    { "url_end", HAP_F_URL, HAP_M_END }, { "url_sub", HAP_F_URL, HAP_M_SUB },
    { "url_dir", HAP_F_URL, HAP_M_DIR }, { "url_dom", HAP_F_URL, HAP_M_DOM },
    { "url_reg", HAP_F_URL, HAP_M_REG }, { "url_len", HAP_F_URL, HAP_M_OTHER },
    { "method", HAP_F_METHOD, HAP_M_STR }, { "ssl_fc", HAP_F_SSL_FC, HAP_M_STR },
    { "always_true", HAP_F_TRUE, HAP_M_STR }, { "always_false", HAP_F_FALSE, HAP_M_STR },
    { NULL, HAP_F_OTHER, HAP_M_STR },
};

static const struct { const char *suffix; enum hap_match match; } hdr_forms[] = {
    { "", HAP_M_STR }, { "_beg", HAP_M_BEG }, { "_end", HAP_M_END }, { "_sub", HAP_M_SUB },
    { "_dom", HAP_M_DOM }, { "_dir", HAP_M_DIR }, { "_reg", HAP_M_REG },
    { "_len", HAP_M_OTHER }, { "_cnt", HAP_M_OTHER }, { "_val", HAP_M_OTHER },
    { "_ip", HAP_M_OTHER }, { NULL, HAP_M_STR },
};

/* "hdr(host)", "hdr_dom(Host)", "req.hdr(host)", "req.fhdr(host)". */
static bool host_fetch(const char *crit, enum hap_match *m)
{
    const char *p = crit;

    if (!strncmp(p, "req.", 4))
        p += 4;
    if (!strncmp(p, "fhdr", 4))
        p += 4;
    else if (!strncmp(p, "hdr", 3))
        p += 3;
    else
        return false;
    for (int i = 0; hdr_forms[i].suffix; i++) {
        size_t n = strlen(hdr_forms[i].suffix);
        if (strncmp(p, hdr_forms[i].suffix, n) || p[n] != '(')
            continue;
        if (strcasecmp(p + n, "(host)") != 0)
            return false;
        *m = hdr_forms[i].match;
        return true;
    }
    return false;
}

static void classify(struct hap_test *t, const char *crit)
{
    char base[64];
    const char *conv = strchr(crit, ',');
    size_t n = conv ? (size_t)(conv - crit) : strlen(crit);

    t->fetch = HAP_F_OTHER;
    if (n >= sizeof(base)) {
        t->why = "lxlb routes look at Host, the path and the method only";
        return;
    }
    memcpy(base, crit, n);
    base[n] = '\0';
    if (conv && !strcmp(conv, ",lower")) {
        t->icase = true; /* lowercased input compares like -i for lowercase patterns */
        conv = NULL;
    }
    if (conv) {
        t->why = "converters (',...') are not supported in lxlb routes";
        return;
    }
    if (host_fetch(base, &t->match)) {
        t->fetch = HAP_F_HOST;
        return;
    }
    for (int i = 0; fetches[i].name; i++)
        if (!strcmp(fetches[i].name, base)) {
            t->fetch = fetches[i].fetch;
            t->match = fetches[i].match;
            return;
        }
    t->why = "lxlb routes look at Host, the path and the method only";
}

static const struct { const char *name; enum hap_match match; } match_names[] = {
    { "str", HAP_M_STR }, { "beg", HAP_M_BEG }, { "end", HAP_M_END }, { "sub", HAP_M_SUB },
    { "dom", HAP_M_DOM }, { "dir", HAP_M_DIR }, { "reg", HAP_M_REG }, { NULL, HAP_M_OTHER },
};

/* "CRITERION [flags] [--] VALUES..." from words[i] to words[end). */
static int test_parse(struct hap_cfg *c, const struct hap_words *w, int i, int end,
                      struct hap_test *t)
{
    size_t cap = 0;

    if (i >= end) {
        hap_error(c, w->line, "an ACL needs a criterion");
        return -1;
    }
    memset(t, 0, sizeof(*t));
    t->line = w->line;
    t->text = hap_strdup(&c->arena, w->argv[i]);
    classify(t, w->argv[i++]);
    while (i < end && w->argv[i][0] == '-' && w->argv[i][1]) {
        const char *f = w->argv[i++];

        if (!strcmp(f, "--"))
            break;
        if (!strcmp(f, "-i"))
            t->icase = true;
        else if (!strcmp(f, "-n") || !strcmp(f, "-M"))
            ;
        else if ((!strcmp(f, "-u") || !strcmp(f, "-f") || !strcmp(f, "-m")) && i < end) {
            const char *v = w->argv[i++];
            if (f[1] == 'f')
                t->why = "patterns read from a file (-f) are not read by the importer: "
                         "write them in the rule";
            else if (f[1] == 'm') {
                int k = 0;
                while (match_names[k].name && strcmp(match_names[k].name, v) != 0)
                    k++;
                t->match = match_names[k].match;
            }
        } else {
            hap_error(c, w->line, "ACL '%s': unknown flag '%s'", t->text, f);
            return -1;
        }
    }
    for (; i < end; i++) {
        const char **v = hap_push(&c->arena, (void **)&t->vals, &t->nvals, &cap,
                                  sizeof(*t->vals));
        if (v)
            *v = hap_strdup(&c->arena, w->argv[i]);
    }
    return 0;
}

void hap_acl_parse(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w)
{
    struct hap_acl a;

    if (w->argc < 3) {
        hap_error(c, w->line, "'acl' needs a name and a criterion");
        return;
    }
    if (!conf_name_ok(w->argv[1])) {
        hap_error(c, w->line, "bad ACL name '%s'", w->argv[1]);
        return;
    }
    if (test_parse(c, w, 2, w->argc, &a.t) < 0)
        return;
    a.name = hap_strdup(&c->arena, w->argv[1]);
    struct hap_acl *slot = hap_push(&c->arena, (void **)&p->acls, &p->nacls, &p->cacls,
                                    sizeof(*slot));
    if (slot)
        *slot = a;
}

/* HAProxy's predefined ACLs that lxlb can read. */
static const struct { const char *name; enum hap_fetch fetch; const char *methods; } predef[] = {
    { "TRUE", HAP_F_TRUE, NULL }, { "FALSE", HAP_F_FALSE, NULL }, { "HTTP", HAP_F_TRUE, NULL },
    { "METH_CONNECT", HAP_F_METHOD, "CONNECT" }, { "METH_DELETE", HAP_F_METHOD, "DELETE" },
    { "METH_GET", HAP_F_METHOD, "GET HEAD" }, { "METH_HEAD", HAP_F_METHOD, "HEAD" },
    { "METH_OPTIONS", HAP_F_METHOD, "OPTIONS" }, { "METH_POST", HAP_F_METHOD, "POST" },
    { "METH_PUT", HAP_F_METHOD, "PUT" }, { "METH_TRACE", HAP_F_METHOD, "TRACE" },
    { NULL, HAP_F_OTHER, NULL },
};

static const char *const predef_other[] = {
    "HTTP_1.0", "HTTP_1.1", "HTTP_2.0", "HTTP_CONTENT", "HTTP_URL_ABS", "HTTP_URL_SLASH",
    "HTTP_URL_STAR", "LOCALHOST", "RDP_COOKIE", "REQ_CONTENT", "WAIT_END", NULL,
};

static struct hap_test *predefined(struct hap_cfg *c, const char *name, int line)
{
    struct hap_test *t = NULL;

    for (int i = 0; predef[i].name && !t; i++) {
        if (strcmp(predef[i].name, name) != 0)
            continue;
        if (!(t = hap_alloc(&c->arena, sizeof(*t))))
            return NULL;
        t->fetch = predef[i].fetch;
        if (predef[i].methods) {
            bool two = strchr(predef[i].methods, ' ') != NULL;
            t->vals = hap_alloc(&c->arena, 2 * sizeof(*t->vals));
            if (t->vals) {
                t->vals[0] = two ? "GET" : predef[i].methods;
                t->vals[1] = "HEAD";
                t->nvals = two ? 2 : 1;
            }
        }
    }
    for (int i = 0; !t && predef_other[i]; i++)
        if (!strcmp(predef_other[i], name) && (t = hap_alloc(&c->arena, sizeof(*t))))
            t->why = "this predefined ACL looks at what lxlb routes do not";
    if (t) {
        t->text = name;
        t->line = line;
    }
    return t;
}

static bool acl_declared(const struct hap_proxy *p, const char *name)
{
    for (size_t i = 0; i < p->nacls; i++)
        if (!strcmp(p->acls[i].name, name))
            return true;
    return false;
}

/* One term at w->argv[*i] ("!x", "x", "{ ... }", "!{ ... }"), pushed on cond. */
static int term_parse(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w, int *i,
                      struct hap_cond *cond, size_t *cap, bool neg, bool or_before)
{
    const char *a = w->argv[*i];
    struct hap_term *t;

    if (a[0] == '!') {
        neg = !neg;
        a++;
    }
    if (!(t = hap_push(&c->arena, (void **)&cond->terms, &cond->nterms, cap, sizeof(*t))))
        return -1;
    t->neg = neg;
    t->or_before = or_before;
    if (!strcmp(a, "{")) {
        int end = *i + 1;
        while (end < w->argc && strcmp(w->argv[end], "}") != 0)
            end++;
        if (end >= w->argc) {
            hap_error(c, w->line, "'{' without '}' in the condition");
            return -1;
        }
        if (!(t->anon = hap_alloc(&c->arena, sizeof(*t->anon))) ||
            test_parse(c, w, *i + 1, end, t->anon) < 0)
            return -1;
        *i = end + 1;
        return 0;
    }
    if (!a[0]) {
        hap_error(c, w->line, "'!' must be followed by an ACL");
        return -1;
    }
    if (!acl_declared(p, a) && !(t->anon = predefined(c, a, w->line))) {
        hap_error(c, w->line, "no ACL named '%s' declared before this line", a);
        return -1;
    }
    if (!t->anon)
        t->acl = hap_strdup(&c->arena, a);
    (*i)++;
    return 0;
}

int hap_cond_parse(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w, int i,
                   struct hap_cond *cond)
{
    size_t cap = 0;
    bool neg = false, or_before = false;

    if (strcmp(w->argv[i], "if") != 0 && strcmp(w->argv[i], "unless") != 0) {
        hap_error(c, w->line, "'%s': expected 'if' or 'unless', got '%s'", w->argv[0],
                  w->argv[i]);
        return -1;
    }
    cond->present = true;
    cond->unless = w->argv[i][0] == 'u';
    for (i++; i < w->argc;) {
        const char *a = w->argv[i];

        if (!strcmp(a, "||") || !strcmp(a, "or")) {
            if (!cond->nterms || or_before || neg) {
                hap_error(c, w->line, "'%s' in the wrong place in the condition", a);
                return -1;
            }
            or_before = true;
            i++;
        } else if (!strcmp(a, "!")) {
            neg = !neg;
            i++;
        } else {
            if (term_parse(c, p, w, &i, cond, &cap, neg, or_before) < 0)
                return -1;
            neg = or_before = false;
        }
    }
    if (!cond->nterms || or_before || neg) {
        hap_error(c, w->line, "'%s': incomplete condition", w->argv[0]);
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------- alternatives */

enum hap_alt_kind { ALT_TRUE, ALT_FALSE, ALT_HOST, ALT_PATH, ALT_METHODS, ALT_NO };

/* One way a test can match, as an lxlb route criterion. */
struct hap_alt {
    enum hap_alt_kind kind;
    const char *s;         /* ALT_HOST: "name" or "*.suffix"; ALT_PATH: prefix */
    const char **methods;  /* ALT_METHODS (arena) */
    size_t nmethods;
    const char *why;       /* ALT_NO: the reason */
    const char *text;      /* ALT_NO: the test as written */
};

struct hap_alts {
    struct hap_alt *v;
    size_t n, cap;
};

static void alt_add(struct hap_cfg *c, struct hap_alts *out, struct hap_alt a)
{
    struct hap_alt *slot = hap_push(&c->arena, (void **)&out->v, &out->n, &out->cap,
                                    sizeof(*slot));
    if (slot)
        *slot = a;
}

static bool host_ok(const char *h)
{
    if (!strncmp(h, "*.", 2))
        h += 2;
    if (!*h)
        return false;
    for (; *h; h++)
        if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.')
            return false;
    return true;
}

static void host_alts(struct hap_cfg *c, const struct hap_test *t, const char *v,
                      struct hap_alts *out)
{
    struct hap_alt no = { .kind = ALT_NO, .text = t->text };

    if (t->match == HAP_M_END && v[0] == '.')
        v = hap_printf(&c->arena, "*%s", v);
    else if (t->match == HAP_M_DOM || t->match == HAP_M_END) {
        if (t->match == HAP_M_END)
            hap_warn(c, t->line, "'%s %s' also matches names such as 'x%s' in HAProxy; lxlb "
                     "matches '%s' and '*.%s'", t->text, v, v, v, v);
        if (host_ok(v))
            alt_add(c, out, (struct hap_alt){ .kind = ALT_HOST, .s = v });
        v = hap_printf(&c->arena, "*.%s", v);
    } else if (t->match != HAP_M_STR) {
        no.why = "lxlb matches a host exactly or by '*.suffix'";
        alt_add(c, out, no);
        return;
    }
    if (!v || !host_ok(v)) {
        no.why = strchr(v ? v : "", ':') ? "lxlb compares hosts without their port"
                                         : "not a host name lxlb can match";
        alt_add(c, out, no);
        return;
    }
    alt_add(c, out, (struct hap_alt){ .kind = ALT_HOST, .s = v });
}

static void path_alts(struct hap_cfg *c, const struct hap_test *t, const char *v,
                      struct hap_alts *out)
{
    if (t->match != HAP_M_BEG) {
        alt_add(c, out, (struct hap_alt){ .kind = ALT_NO, .text = t->text,
                .why = t->match == HAP_M_STR ? "lxlb routes match path prefixes, not whole "
                       "paths" : "lxlb routes match path prefixes only" });
        return;
    }
    if (!v[0]) { /* an empty prefix matches every path */
        alt_add(c, out, (struct hap_alt){ .kind = ALT_TRUE });
        return;
    }
    if (v[0] != '/') {
        if (t->fetch == HAP_F_URL)
            alt_add(c, out, (struct hap_alt){ .kind = ALT_NO, .text = t->text,
                    .why = "lxlb routes match the path, not absolute URLs" });
        else /* a path always starts with '/': this never matches */
            alt_add(c, out, (struct hap_alt){ .kind = ALT_FALSE });
        return;
    }
    if (!hap_utf8_ok(v)) {
        alt_add(c, out, (struct hap_alt){ .kind = ALT_NO, .text = t->text,
                .why = "the prefix is not valid UTF-8" });
        return;
    }
    if (t->icase)
        hap_warn(c, t->line, "'%s -i %s': lxlb compares path prefixes case-sensitively", t->text,
                 v);
    alt_add(c, out, (struct hap_alt){ .kind = ALT_PATH, .s = v });
}

static void method_alts(struct hap_cfg *c, const struct hap_test *t, struct hap_alts *out)
{
    struct hap_alt a = { .kind = ALT_METHODS };

    if (t->match != HAP_M_STR) {
        alt_add(c, out, (struct hap_alt){ .kind = ALT_NO, .text = t->text,
                .why = "lxlb matches methods exactly" });
        return;
    }
    a.methods = hap_alloc(&c->arena, (t->nvals + 1) * sizeof(*a.methods));
    if (!a.methods)
        return;
    for (size_t i = 0; i < t->nvals; i++) {
        char *m = hap_strdup(&c->arena, t->vals[i]);
        for (char *q = m; q && *q && t->icase; q++)
            *q = (char)toupper((unsigned char)*q);
        if (m && conf_token_ok(m))
            a.methods[a.nmethods++] = m;
    }
    alt_add(c, out, a.nmethods ? a : (struct hap_alt){ .kind = ALT_FALSE });
}

static void test_alts1(struct hap_cfg *c, const struct hap_test *t, bool tls,
                       struct hap_alts *out);

/* The alternatives of one test (ORed), each knowing the test it comes from. */
static void test_alts(struct hap_cfg *c, const struct hap_test *t, bool tls, struct hap_alts *out)
{
    size_t from = out->n;

    test_alts1(c, t, tls, out);
    for (size_t i = from; i < out->n; i++)
        if (!out->v[i].text)
            out->v[i].text = t->text;
}

static void test_alts1(struct hap_cfg *c, const struct hap_test *t, bool tls, struct hap_alts *out)
{
    if (t->why) {
        alt_add(c, out, (struct hap_alt){ .kind = ALT_NO, .why = t->why, .text = t->text });
        return;
    }
    switch (t->fetch) {
    case HAP_F_TRUE:
        alt_add(c, out, (struct hap_alt){ .kind = ALT_TRUE });
        return;
    case HAP_F_FALSE:
        alt_add(c, out, (struct hap_alt){ .kind = ALT_FALSE });
        return;
    case HAP_F_SSL_FC:
        alt_add(c, out, (struct hap_alt){ .kind = tls ? ALT_TRUE : ALT_FALSE });
        return;
    case HAP_F_METHOD:
        method_alts(c, t, out);
        return;
    default:
        break;
    }
    if (t->match == HAP_M_OTHER) {
        alt_add(c, out, (struct hap_alt){ .kind = ALT_NO, .text = t->text,
                .why = "lxlb routes compare strings only" });
        return;
    }
    if (t->nvals == 0) /* a string test without patterns never matches */
        alt_add(c, out, (struct hap_alt){ .kind = ALT_FALSE });
    for (size_t i = 0; i < t->nvals; i++) {
        if (t->fetch == HAP_F_HOST)
            host_alts(c, t, t->vals[i], out);
        else
            path_alts(c, t, t->vals[i], out);
    }
}

/* A term's alternatives, simplified: a TRUE makes the term TRUE, FALSEs
 * drop out, a negated term must be constant. */
static void term_alts(struct hap_cfg *c, const struct hap_proxy *p, const struct hap_term *tm,
                      int line, bool tls, struct hap_alts *out)
{
    struct hap_alts raw = { 0 };
    bool any_true = false;

    if (tm->anon)
        test_alts(c, tm->anon, tls, &raw);
    for (size_t i = 0; tm->acl && i < p->nacls && raw.n <= HAP_MAX_ALTS; i++)
        if (!strcmp(p->acls[i].name, tm->acl) && p->acls[i].t.line < line)
            test_alts(c, &p->acls[i].t, tls, &raw);
    if (raw.n > HAP_MAX_ALTS) { /* bounded work per term, whatever the ACL */
        alt_add(c, out, (struct hap_alt){ .kind = ALT_NO, .text = tm->acl ? tm->acl : "?",
                .why = "more patterns than lxlb's import expands (256)" });
        return;
    }
    for (size_t i = 0; i < raw.n; i++)
        any_true |= raw.v[i].kind == ALT_TRUE;
    if (any_true) {
        alt_add(c, out, (struct hap_alt){ .kind = tm->neg ? ALT_FALSE : ALT_TRUE });
        return;
    }
    for (size_t i = 0; i < raw.n; i++) {
        if (raw.v[i].kind == ALT_FALSE)
            continue;
        if (!tm->neg) {
            alt_add(c, out, raw.v[i]);
            continue;
        }
        out->n = 0; /* "!test" on the request: lxlb routes have no negation */
        alt_add(c, out, (struct hap_alt){ .kind = ALT_NO, .text = hap_printf(&c->arena, "!%s",
                tm->acl ? tm->acl : tm->anon->text), .why = "lxlb routes cannot negate a test "
                "on the request ('!' or 'unless')" });
        return;
    }
    if (out->n == 0)
        alt_add(c, out, (struct hap_alt){ .kind = tm->neg ? ALT_TRUE : ALT_FALSE });
}

/* ----------------------------------------------------------- products */

/* One route being narrowed: the AND of one alternative of each term. */
struct hap_route {
    const char *host;
    const char *path;
    const char **methods; /* NULL: any */
    size_t nmethods;
    bool never;           /* the AND can never hold */
};

/* Does host a lie within pattern b (exact, or "*.suffix")? */
static bool host_within(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);

    if (strncmp(b, "*.", 2) != 0)
        return strncmp(a, "*.", 2) != 0 && !strcasecmp(a, b);
    if (!strncmp(a, "*.", 2)) /* "*.x.example.com" within "*.example.com" */
        return na >= nb && !strcasecmp(a + na - (nb - 1), b + 1);
    return na > nb - 1 && !strcasecmp(a + na - (nb - 1), b + 1);
}

static void route_and(struct hap_cfg *c, struct hap_route *r, const struct hap_alt *a)
{
    switch (a->kind) {
    case ALT_TRUE:
        return;
    case ALT_HOST:
        if (!r->host || host_within(a->s, r->host))
            r->host = a->s;
        else if (!host_within(r->host, a->s))
            r->never = true;
        return;
    case ALT_PATH:
        if (!r->path || !strncmp(a->s, r->path, strlen(r->path)))
            r->path = a->s;
        else if (strncmp(r->path, a->s, strlen(a->s)) != 0)
            r->never = true;
        return;
    case ALT_METHODS:
        if (!r->methods) {
            r->methods = a->methods;
            r->nmethods = a->nmethods;
            return;
        }
        const char **both = hap_alloc(&c->arena, (r->nmethods + 1) * sizeof(*both));
        size_t n = 0;
        for (size_t i = 0; both && i < r->nmethods; i++)
            for (size_t k = 0; k < a->nmethods; k++)
                if (!strcmp(r->methods[i], a->methods[k])) {
                    both[n++] = r->methods[i];
                    break;
                }
        r->methods = both;
        r->nmethods = n;
        r->never |= n == 0;
        return;
    default:
        r->never = true;
        return;
    }
}

static json_t *route_json(const struct hap_route *r)
{
    json_t *o = json_object();

    if (!o)
        return NULL;
    if (r->host)
        json_object_set_new(o, "host", json_string(r->host));
    if (r->path)
        json_object_set_new(o, "path_prefix", json_string(r->path));
    if (r->methods) {
        json_t *m = json_array();
        for (size_t i = 0; i < r->nmethods; i++)
            json_array_append_new(m, json_string(r->methods[i]));
        json_object_set_new(o, "methods", m);
    }
    return o;
}

/* One AND group (terms [from, to)): its routes appended to out, or the
 * first test that cannot be expressed in *no. Returns -1 when the product
 * is too large. */
static int group_routes(struct hap_cfg *c, const struct hap_proxy *p, const struct hap_cond *cond,
                        size_t from, size_t to, int line, bool tls, json_t *out,
                        const struct hap_alt **no)
{
    struct hap_alts alts[HAP_MAX_WORDS];
    size_t idx[HAP_MAX_WORDS] = { 0 }, nterms = to - from, total = 1;

    if (nterms > HAP_MAX_WORDS)
        return -1;
    for (size_t i = 0; i < nterms; i++) {
        alts[i] = (struct hap_alts){ 0 };
        term_alts(c, p, &cond->terms[from + i], line, tls, &alts[i]);
        for (size_t k = 0; k < alts[i].n; k++)
            if (alts[i].v[k].kind == ALT_FALSE)
                return 0; /* this group never matches */
    }
    for (size_t i = 0; i < nterms; i++) {
        for (size_t k = 0; k < alts[i].n; k++)
            if (alts[i].v[k].kind == ALT_NO) {
                *no = &alts[i].v[k];
                return 0;
            }
        if (alts[i].n == 0)
            return 0;
        total *= alts[i].n;
        if (total > HAP_MAX_ROUTES)
            return -1;
    }
    for (size_t done = 0; done < total; done++) {
        struct hap_route r = { 0 };

        if (json_array_size(out) >= HAP_MAX_ROUTES)
            return -1; /* the rule as a whole expands to too many routes */

        for (size_t i = 0; i < nterms; i++)
            route_and(c, &r, &alts[i].v[idx[i]]);
        if (!r.never) {
            json_t *j = route_json(&r);
            bool dup = false;
            for (size_t k = 0; j && k < json_array_size(out); k++)
                dup |= json_equal(json_array_get(out, k), j);
            if (j && !dup)
                json_array_append(out, j);
            json_decref(j);
        }
        for (size_t i = nterms; i-- > 0;) { /* next combination */
            if (++idx[i] < alts[i].n)
                break;
            idx[i] = 0;
        }
    }
    return 0;
}

/* Static value of one AND group: 1 true, 0 false, -1 depends (*no set). */
static int group_static(struct hap_cfg *c, const struct hap_proxy *p, const struct hap_cond *cond,
                        size_t from, size_t to, int line, bool tls, const struct hap_alt **no)
{
    int v = 1;

    for (size_t i = from; i < to; i++) {
        struct hap_alts a = { 0 };

        term_alts(c, p, &cond->terms[i], line, tls, &a);
        if (a.n == 1 && a.v[0].kind == ALT_FALSE)
            return 0;
        if (a.n == 1 && a.v[0].kind == ALT_TRUE)
            continue;
        if (v == 1) {
            v = -1;
            for (size_t k = 0; k < a.n && !*no; k++)
                *no = a.v[k].kind == ALT_NO ? &a.v[k] : NULL;
            if (!*no && a.n)
                *no = &a.v[0];
        }
    }
    return v;
}

static size_t group_end(const struct hap_cond *cond, size_t from)
{
    size_t to = from + 1;

    while (to < cond->nterms && !cond->terms[to].or_before)
        to++;
    return to;
}

int hap_cond_static(struct hap_cfg *c, const struct hap_proxy *p, const struct hap_cond *cond,
                    int line, bool tls, const char **why)
{
    const struct hap_alt *no = NULL;
    int v = 0;

    *why = NULL;
    if (!cond->present)
        return 1;
    for (size_t from = 0; from < cond->nterms && v != 1;) {
        size_t to = group_end(cond, from);
        int g = group_static(c, p, cond, from, to, line, tls, &no);
        if (g == 1 || (g == -1 && v == 0))
            v = g;
        from = to;
    }
    if (v == -1) {
        *why = no && no->text ? no->text : "a test on the request";
        return -1;
    }
    return cond->unless ? !v : v;
}

size_t hap_rule_routes(struct hap_cfg *c, const struct hap_proxy *p, const struct hap_rule *r,
                       bool tls, json_t *routes)
{
    const struct hap_cond *cond = &r->cond;
    json_t *mine = json_array();
    const struct hap_alt *no = NULL;
    size_t n;
    bool big = false;

    if (!mine)
        return 0;
    if (!cond->present) {
        json_array_append_new(mine, json_object());
    } else if (cond->unless) {
        const char *why;
        int v = hap_cond_static(c, p, cond, r->line, tls, &why);
        if (v == 1)
            json_array_append_new(mine, json_object());
        else if (v == -1)
            hap_warn(c, r->line, "'%s ... unless ...' cannot be expressed as lxlb routes "
                     "(routes cannot negate a test on the request); rule left out", r->keyword);
    } else {
        for (size_t from = 0; from < cond->nterms;) {
            size_t to = group_end(cond, from);
            const struct hap_alt *gno = NULL;
            if (group_routes(c, p, cond, from, to, r->line, tls, mine, &gno) < 0)
                big = true;
            if (gno && !no)
                no = gno;
            from = to;
        }
    }
    if (big)
        hap_warn(c, r->line, "'%s': the condition expands to more than %d routes; the "
                 "rest is left out", r->keyword, HAP_MAX_ROUTES);
    if (no)
        hap_warn(c, r->line, "'%s': '%s' cannot be expressed as an lxlb route (%s); requests "
                 "that only it matches go to the next route or the default backend",
                 r->keyword, no->text ? no->text : "?", no->why ? no->why : "");
    n = json_array_size(mine);
    for (size_t i = 0; i < n; i++)
        json_array_append(routes, json_array_get(mine, i));
    json_decref(mine);
    return n;
}
