/* conf/haproxy-lex.c - the bottom of `lxlb import-haproxy`: the arena every
 * conversion allocates from, its messages, HAProxy's line tokenizer (quotes,
 * escapes, environment variables), the .if/.elif/.else/.endif blocks, and
 * the small value formats (times, addresses). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "conf/haproxy-int.h"

/* ------------------------------------------------------------------ arena */

#define HAP_CHUNK 65536 /* bytes of an ordinary arena block */

struct hap_chunk {
    struct hap_chunk *next; /* older block */
    size_t used;            /* bytes of data handed out */
    size_t size;            /* bytes of data */
    _Alignas(16) unsigned char data[];
};

void *hap_alloc(struct hap_arena *a, size_t size)
{
    struct hap_chunk *k = a->head;

    size = (size + 15) & ~(size_t)15;
    if (size == 0)
        size = 16;
    if (!k || k->size - k->used < size) {
        size_t n = size > HAP_CHUNK ? size : HAP_CHUNK;

        if (size > HAP_MAX_LINE * 64 || !(k = calloc(1, sizeof(*k) + n))) {
            a->oom = true;
            return NULL;
        }
        k->size = n;
        k->next = a->head;
        a->head = k;
    }
    k->used += size;
    return k->data + k->used - size;
}

char *hap_strndup(struct hap_arena *a, const char *s, size_t n)
{
    char *p = hap_alloc(a, n + 1);

    if (p && n)
        memcpy(p, s, n);
    return p;
}

char *hap_strdup(struct hap_arena *a, const char *s)
{
    return s ? hap_strndup(a, s, strlen(s)) : NULL;
}

char *hap_printf(struct hap_arena *a, const char *fmt, ...)
{
    va_list ap;
    char small[256], *p;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    if ((size_t)n < sizeof(small))
        return hap_strndup(a, small, (size_t)n);
    if (!(p = hap_alloc(a, (size_t)n + 1)))
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void hap_arena_free(struct hap_arena *a)
{
    while (a->head) {
        struct hap_chunk *k = a->head;
        a->head = k->next;
        free(k);
    }
}

void *hap_push(struct hap_arena *a, void **items, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        unsigned char *p = hap_alloc(a, ncap * size);

        if (!p)
            return NULL;
        if (*n)
            memcpy(p, *items, *n * size);
        *items = p;
        *cap = ncap;
    }
    /* Zeroed even when it reuses the slot of an item taken back (*n--). */
    unsigned char *item = (unsigned char *)*items + (*n)++ * size;
    memset(item, 0, size);
    return item;
}

/* --------------------------------------------------------------- messages */

/* Messages quote the file's words, which may hold any byte: control
 * characters are written as escapes, so a message stays one line. */
static void msg_escape(char *out, size_t outlen, const char *in)
{
    size_t o = 0;

    for (; *in && o + 5 < outlen; in++) {
        unsigned char ch = (unsigned char)*in;
        if (ch >= 0x20 && ch != 0x7f)
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, outlen - o, ch == '\n' ? "\\n" : ch == '\r'
                                  ? "\\r" : ch == '\t' ? "\\t" : "\\x%02x", ch);
    }
    out[o] = '\0';
}

static void hap_vmsg(struct hap_cfg *c, int line, bool error, const char *fmt, va_list ap)
{
    struct hap_msg *m = hap_push(&c->arena, (void **)&c->msgs, &c->nmsgs, &c->cmsgs,
                                 sizeof(*c->msgs));
    char raw[1024], buf[4096];

    vsnprintf(raw, sizeof(raw), fmt, ap);
    msg_escape(buf, sizeof(buf), raw);
    /* The same words about the same line once (a rule is mapped once per
     * frontend it ends up in). */
    for (size_t i = 0; m && i + 1 < c->nmsgs; i++)
        if (c->msgs[i].line == line && c->msgs[i].error == error && c->msgs[i].text &&
            !strcmp(c->msgs[i].text, buf)) {
            c->nmsgs--;
            return;
        }
    if (!m)
        return;
    m->line = line;
    m->seq = c->seq++;
    m->error = error;
    m->text = hap_strdup(&c->arena, buf);
    if (error)
        c->nerr++;
    else
        c->nwarn++;
}

void hap_warn(struct hap_cfg *c, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    hap_vmsg(c, line, false, fmt, ap);
    va_end(ap);
}

void hap_error(struct hap_cfg *c, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    hap_vmsg(c, line, true, fmt, ap);
    va_end(ap);
}

void hap_unsupported(struct hap_cfg *c, int line, const char *keyword, const char *instead)
{
    hap_warn(c, line, "'%s' is not supported: %s", keyword, instead);
}

bool hap_utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2
              : (*p & 0xf8) == 0xf0 ? 3 : -1;
        uint32_t cp = n == 0 ? *p : n == 1 ? (*p & 0x1fu) : n == 2 ? (*p & 0x0fu) : (*p & 0x07u);

        if (n < 0)
            return false;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3fu);
        }
        /* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        p += n + 1;
    }
    return true;
}

/* -------------------------------------------------------------- tokenizer */

/* The words being built: one growing buffer, words separated by NULs. */
struct hap_tok {
    char *buf;               /* output bytes */
    size_t len, cap;         /* bytes used, allocated */
    size_t start[HAP_MAX_WORDS + 1]; /* offset of each word in buf */
    int nwords;              /* words started */
    bool too_many;           /* more than HAP_MAX_WORDS */
};

static int tok_put(struct hap_tok *t, char ch)
{
    if (t->len == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 256;
        char *p;

        if (ncap > (size_t)HAP_MAX_LINE * 16 || !(p = realloc(t->buf, ncap)))
            return -1;
        t->buf = p;
        t->cap = ncap;
    }
    t->buf[t->len++] = ch;
    return 0;
}

/* Close the current word and start the next one. */
static int tok_next(struct hap_tok *t)
{
    if (tok_put(t, '\0') < 0)
        return -1;
    if (t->nwords >= HAP_MAX_WORDS) {
        t->too_many = true;
        return 0;
    }
    t->start[t->nwords++] = t->len;
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)tolower((unsigned char)ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

struct hap_lexpos {
    const char *p;   /* next input byte */
    const char *end; /* end of the line */
};

/* A backslash outside single quotes at l->p; dquote: inside double quotes. */
static int tok_escape(struct hap_tok *t, struct hap_lexpos *l, bool dquote, const char **why)
{
    const char *p = l->p;
    char next = p + 1 < l->end ? p[1] : '\0';
    char out = '\\';
    size_t used = 1;

    switch (next) {
    case ' ': case '\\': case '#': case '\'': case '"':
        out = next, used = 2;
        break;
    case 't': out = '\t', used = 2; break;
    case 'n': out = '\n', used = 2; break;
    case 'r': out = '\r', used = 2; break;
    case '$':
        if (dquote)
            out = '$', used = 2;
        break;
    case 'x':
        if (p + 3 >= l->end || hexval(p[2]) < 0 || hexval(p[3]) < 0) {
            *why = "truncated or invalid hexadecimal sequence";
            return -1;
        }
        out = (char)(hexval(p[2]) * 16 + hexval(p[3]));
        used = 4;
        break;
    default: /* not an escape: the backslash stays, the next byte is read as usual */
        break;
    }
    l->p += used;
    return tok_put(t, out);
}

static const char *pseudo_var(struct hap_cfg *c, const char *name, size_t n, int lineno,
                              char *num, size_t numlen)
{
    if (n == 5 && !memcmp(name, ".LINE", 5)) {
        snprintf(num, numlen, "%d", lineno);
        return num;
    }
    if (n == 5 && !memcmp(name, ".FILE", 5))
        return c->file;
    if (n == 8 && !memcmp(name, ".SECTION", 8))
        return c->section_name ? c->section_name : "";
    return NULL;
}

/* "$NAME", "${NAME}", "${NAME-default}", "${NAME[*]}" inside double quotes. */
static int tok_var(struct hap_cfg *c, struct hap_tok *t, struct hap_lexpos *l, int lineno,
                   const char **why)
{
    const char *p = l->p + 1, *name, *value, *def = NULL;
    size_t n, ndef = 0;
    bool brace = false, expand = false;
    char num[16], var[256];

    if (p < l->end && *p == '{')
        brace = true, p++;
    if (p >= l->end || (!isalpha((unsigned char)*p) && *p != '_' && *p != '.')) {
        *why = "bad environment variable name";
        return -1;
    }
    name = p;
    if (*p == '.')
        p++;
    while (p < l->end && (isalnum((unsigned char)*p) || *p == '_'))
        p++;
    n = (size_t)(p - name);
    if (brace && p < l->end && *p == '[') {
        if (p + 2 >= l->end || p[1] != '*' || p[2] != ']') {
            *why = "bad word expansion (expected [*])";
            return -1;
        }
        expand = true;
        p += 3;
    }
    if (brace) {
        if (p < l->end && *p == '-') {
            def = ++p;
            while (p < l->end && *p != '}')
                p++;
            ndef = (size_t)(p - def);
        }
        if (p >= l->end || *p != '}') {
            *why = "unmatched brace in an environment variable";
            return -1;
        }
        p++;
    }
    l->p = p;
    if (*name == '.') {
        if (!(value = pseudo_var(c, name, n, lineno, num, sizeof(num)))) {
            *why = "unknown pseudo-variable (expected .FILE, .LINE or .SECTION)";
            return -1;
        }
    } else {
        if (n >= sizeof(var)) {
            *why = "environment variable name too long";
            return -1;
        }
        memcpy(var, name, n);
        var[n] = '\0';
        value = getenv(var);
        if (!value && !def)
            hap_warn(c, lineno, "environment variable '%s' is not set: expanded to nothing, "
                     "as HAProxy does", var);
        else if (value)
            hap_warn(c, lineno, "environment variable '%s' expanded to its value now "
                     "(lxlb's JSON has no variables)", var);
    }
    if (!value) { /* the default value is taken as written */
        for (size_t i = 0; i < ndef; i++)
            if (tok_put(t, def[i]) < 0)
                return -1;
        return 0;
    }
    for (const char *v = value; *v; v++) {
        if (expand && isspace((unsigned char)*v)) {
            while (isspace((unsigned char)v[1]))
                v++;
            if (tok_next(t) < 0)
                return -1;
            continue;
        }
        if (tok_put(t, *v) < 0)
            return -1;
    }
    return 0;
}

static int tok_line(struct hap_cfg *c, struct hap_tok *t, struct hap_lexpos *l, int lineno,
                    const char **why)
{
    bool squote = false, dquote = false;

    t->start[t->nwords++] = 0;
    while (l->p < l->end) {
        char ch = *l->p;
        int rc = 0;

        if (ch == '\0' || ch == '\n' || ch == '\r')
            break;
        if (ch == '#' && !squote && !dquote)
            break;
        if (ch == '"' && !squote) {
            dquote = !dquote;
            l->p++;
        } else if (ch == '\'' && !dquote) {
            squote = !squote;
            l->p++;
        } else if (ch == '\\' && !squote) {
            rc = tok_escape(t, l, dquote, why);
        } else if (isspace((unsigned char)ch) && !squote && !dquote) {
            while (l->p < l->end && isspace((unsigned char)*l->p) && *l->p != '\r' &&
                   *l->p != '\n')
                l->p++;
            rc = tok_next(t);
        } else if (ch == '$' && dquote) {
            rc = tok_var(c, t, l, lineno, why);
        } else {
            rc = tok_put(t, ch);
            l->p++;
        }
        if (rc < 0) {
            if (!*why)
                *why = "out of memory";
            return -1;
        }
    }
    if (squote || dquote) {
        *why = "unmatched quote";
        return -1;
    }
    return tok_put(t, '\0') < 0 ? (*why = "out of memory", -1) : 0;
}

int hap_tokenize(struct hap_cfg *c, const char *line, size_t len, int lineno,
                 struct hap_words *w, char *err, size_t errlen)
{
    struct hap_tok t = { 0 };
    struct hap_lexpos l = { line, line + len };
    const char *why = NULL;
    int rc = -1;

    memset(w, 0, sizeof(*w));
    w->line = lineno;
    while (l.p < l.end && (*l.p == ' ' || *l.p == '\t'))
        l.p++;
    if (tok_line(c, &t, &l, lineno, &why) < 0)
        goto err;
    if (t.too_many) {
        why = "too many words (HAProxy takes at most 64)";
        goto err;
    }
    /* The last word counts only when it is not empty ("a # x", trailing blanks). */
    if (t.nwords > 0 && t.buf[t.start[t.nwords - 1]] == '\0')
        t.nwords--;
    w->argv = hap_alloc(&c->arena, sizeof(char *) * ((size_t)t.nwords + 1));
    if (!w->argv) {
        why = "out of memory";
        goto err;
    }
    for (int i = 0; i < t.nwords; i++)
        if (!(w->argv[i] = hap_strdup(&c->arena, t.buf + t.start[i]))) {
            why = "out of memory";
            goto err;
        }
    w->argc = t.nwords;
    rc = 0;
err:
    if (rc < 0) {
        snprintf(err, errlen, "%s", why ? why : "cannot parse the line");
        w->argc = 0;
    }
    free(t.buf);
    return rc;
}

/* ------------------------------------------------------ conditional blocks */

/* .if states of one level. */
enum { HAP_IF_SEARCH = 0, HAP_IF_TAKE = 1, HAP_IF_DONE = 2 };

struct hap_cexpr {
    struct hap_cfg *c;
    const char *p;  /* next byte of the expression */
    int line;
    bool bad;       /* syntax error seen */
};

static void cx_blank(struct hap_cexpr *x)
{
    while (*x->p == ' ')
        x->p++;
}

/* "2.4-dev19" against HAProxy 2.6, whose semantics lxlb's import follows. */
static int version_cmp(const char *v)
{
    static const int ours[] = { 2, 6, 0, 0 };

    for (int i = 0; i < 4; i++) {
        int n = 0;

        if (isdigit((unsigned char)*v)) {
            while (isdigit((unsigned char)*v) && n < 100000)
                n = n * 10 + (*v++ - '0');
        }
        if (n != ours[i])
            return ours[i] < n ? -1 : 1;
        if (*v != '.')
            break;
        v++;
    }
    return 0;
}

/* A predicate "name(args)" at x->p. */
static bool cx_pred(struct hap_cexpr *x)
{
    char name[32], args[2][256];
    size_t n = 0, na = 0, k = 0;

    while (isalnum((unsigned char)*x->p) || *x->p == '_') {
        if (n + 1 < sizeof(name))
            name[n++] = *x->p;
        x->p++;
    }
    name[n] = '\0';
    if (*x->p != '(') {
        x->bad = true;
        return false;
    }
    x->p++;
    args[0][0] = args[1][0] = '\0';
    for (; *x->p && *x->p != ')'; x->p++) {
        if (*x->p == ',') {
            args[na][k] = '\0';
            if (++na > 1) {
                x->bad = true;
                return false;
            }
            k = 0;
            continue;
        }
        if (k + 1 < sizeof(args[0]))
            args[na][k++] = *x->p;
    }
    args[na][k] = '\0';
    if (*x->p != ')') {
        x->bad = true;
        return false;
    }
    x->p++;
    if (!strcmp(name, "defined"))
        return getenv(args[0]) != NULL;
    if (!strcmp(name, "streq"))
        return strcmp(args[0], args[1]) == 0;
    if (!strcmp(name, "strneq"))
        return strcmp(args[0], args[1]) != 0;
    if (!strcmp(name, "version_atleast"))
        return version_cmp(args[0]) >= 0;
    if (!strcmp(name, "version_before"))
        return version_cmp(args[0]) < 0;
    if (!strcmp(name, "feature")) {
        bool ssl = !strcmp(args[0], "OPENSSL");
        hap_warn(x->c, x->line, "'.if feature(%s)' taken as %s (lxlb %s)", args[0],
                 ssl ? "true" : "false", ssl ? "terminates TLS with OpenSSL"
                                             : "has no such HAProxy build feature");
        return ssl;
    }
    x->bad = true;
    return false;
}

static bool cx_or(struct hap_cexpr *x, int depth);

static bool cx_unary(struct hap_cexpr *x, int depth)
{
    cx_blank(x);
    if (depth > 64) {
        x->bad = true;
        return false;
    }
    if (*x->p == '!') {
        x->p++;
        return !cx_unary(x, depth + 1);
    }
    if (*x->p == '(') {
        x->p++;
        bool v = cx_or(x, depth + 1);
        cx_blank(x);
        if (*x->p != ')')
            x->bad = true;
        else
            x->p++;
        return v;
    }
    if (isdigit((unsigned char)*x->p) || *x->p == '-') {
        char *end;
        long v = strtol(x->p, &end, 10);
        x->p = end;
        return v != 0;
    }
    return cx_pred(x);
}

static bool cx_and(struct hap_cexpr *x, int depth)
{
    bool v = cx_unary(x, depth);

    for (;;) {
        cx_blank(x);
        if (x->p[0] != '&' || x->p[1] != '&')
            return v;
        x->p += 2;
        v = cx_unary(x, depth) && v;
    }
}

static bool cx_or(struct hap_cexpr *x, int depth)
{
    bool v = cx_and(x, depth);

    for (;;) {
        cx_blank(x);
        if (x->p[0] != '|' || x->p[1] != '|')
            return v;
        x->p += 2;
        v = cx_and(x, depth) || v;
    }
}

static bool hap_eval_cond(struct hap_cfg *c, const struct hap_words *w)
{
    struct hap_cexpr x = { .c = c, .line = w->line };
    char buf[4096];
    size_t n = 0;
    bool v;

    buf[0] = '\0';
    for (int i = 1; i < w->argc; i++)
        n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, "%s%s",
                              i > 1 ? " " : "", w->argv[i]);
    if (n >= sizeof(buf)) {
        hap_error(c, w->line, "'%s' condition too long", w->argv[0]);
        return false;
    }
    x.p = buf;
    cx_blank(&x);
    if (!*x.p)
        return false; /* an empty condition is false */
    v = cx_or(&x, 0);
    cx_blank(&x);
    if (x.bad || *x.p)
        hap_error(c, w->line, "cannot parse the condition of '%s': %s", w->argv[0], buf);
    return v;
}

bool hap_skipping(const struct hap_cfg *c)
{
    for (int i = 0; i < c->nest && i < HAP_MAX_NEST; i++)
        if (c->cond[i] != HAP_IF_TAKE)
            return true;
    return false;
}

static void hap_if(struct hap_cfg *c, const struct hap_words *w)
{
    bool outer_skip = hap_skipping(c);

    if (c->nest >= HAP_MAX_NEST) {
        hap_error(c, w->line, "'.if' nested more than %d levels deep", HAP_MAX_NEST);
        c->nest++;
        return;
    }
    /* A condition under a skipped block is not evaluated (no messages). */
    c->cond[c->nest++] = outer_skip ? HAP_IF_DONE
                                    : (hap_eval_cond(c, w) ? HAP_IF_TAKE : HAP_IF_SEARCH);
}

static void hap_elif(struct hap_cfg *c, const struct hap_words *w, bool is_else)
{
    unsigned char *st;

    if (c->nest == 0) {
        hap_error(c, w->line, "'%s' without '.if'", w->argv[0]);
        return;
    }
    if (c->nest > HAP_MAX_NEST)
        return;
    st = &c->cond[c->nest - 1];
    if (*st == HAP_IF_TAKE)
        *st = HAP_IF_DONE;
    else if (*st == HAP_IF_SEARCH) {
        c->nest--; /* the outer levels decide alone whether to evaluate */
        bool outer_skip = hap_skipping(c);
        c->nest++;
        if (!outer_skip && (is_else || hap_eval_cond(c, w)))
            *st = HAP_IF_TAKE;
    }
}

bool hap_directive(struct hap_cfg *c, const struct hap_words *w)
{
    const char *d = w->argc ? w->argv[0] : "";

    if (d[0] != '.')
        return hap_skipping(c);
    if (!strcmp(d, ".if")) {
        hap_if(c, w);
    } else if (!strcmp(d, ".elif") || !strcmp(d, ".else")) {
        hap_elif(c, w, d[3] == 's');
    } else if (!strcmp(d, ".endif")) {
        if (c->nest == 0)
            hap_error(c, w->line, "'.endif' without '.if'");
        else
            c->nest--;
    } else if (hap_skipping(c)) {
        return true;
    } else if (!strcmp(d, ".diag") || !strcmp(d, ".notice") || !strcmp(d, ".warning")) {
        hap_warn(c, w->line, "%s: %s", d, w->argc > 1 ? w->argv[1] : "");
    } else if (!strcmp(d, ".alert")) {
        hap_error(c, w->line, ".alert: %s", w->argc > 1 ? w->argv[1] : "");
    } else {
        hap_error(c, w->line, "unknown directive '%s'", d);
    }
    return true;
}

/* ------------------------------------------------------------------ values */

int hap_parse_time(const char *s, uint32_t *ms, bool *rounded)
{
    static const struct { const char *unit; uint64_t num, den; } units[] = {
        { "", 1, 1 }, { "us", 1, 1000 }, { "ms", 1, 1 }, { "s", 1000, 1 },
        { "m", 60000, 1 }, { "h", 3600000, 1 }, { "d", 86400000, 1 },
    };
    uint64_t v = 0;
    size_t n = 0;

    *rounded = false;
    while (isdigit((unsigned char)s[n])) {
        v = v * 10 + (uint64_t)(s[n++] - '0');
        if (v > 0xffffffffffull)
            return -1;
    }
    if (n == 0)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s + n, units[i].unit) != 0)
            continue;
        uint64_t r = (v * units[i].num + units[i].den - 1) / units[i].den;
        if (r > INT32_MAX) /* HAProxy's own limit for timers */
            return -1;
        *rounded = (v * units[i].num) % units[i].den != 0;
        *ms = (uint32_t)r;
        return 0;
    }
    return -1;
}

/* Socket families HAProxy writes as a prefix ("ipv4@", "unix@"...). */
static const char *strip_family(const char *in, bool *is_unix, const char **why)
{
    static const char *const inet[] = { "ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@", NULL };
    static const char *const local[] = { "unix@", "uxst@", NULL };
    const char *at = strchr(in, '@');

    *is_unix = false;
    if (!at)
        return in;
    for (int i = 0; inet[i]; i++)
        if (!strncmp(in, inet[i], strlen(inet[i])))
            return in + strlen(inet[i]);
    for (int i = 0; local[i]; i++)
        if (!strncmp(in, local[i], strlen(local[i]))) {
            *is_unix = true;
            return in + strlen(local[i]);
        }
    *why = "this socket family is not supported (lxlb listens and connects over TCP or "
           "unix sockets)";
    return NULL;
}

static bool port_ok(const char *s, size_t n, unsigned *port)
{
    unsigned v = 0;

    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return false;
    *port = v;
    return true;
}

static bool v6_ok(const char *s, size_t n)
{
    char buf[INET6_ADDRSTRLEN];
    struct in6_addr a;

    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1;
}

int hap_split_addr(struct hap_cfg *c, const char *in, struct hap_addr *out, const char **why)
{
    const char *s, *colon, *dash;
    bool is_unix;

    memset(out, 0, sizeof(*out));
    if (!(s = strip_family(in, &is_unix, why)))
        return -1;
    if (is_unix || s[0] == '/') {
        if (!s[0]) {
            *why = "empty unix socket path";
            return -1;
        }
        out->unix_path = hap_strdup(&c->arena, s);
        return 0;
    }
    if (s[0] == '[') { /* "[v6]:port" */
        const char *end = strchr(s, ']');
        if (!end || (end[1] && end[1] != ':')) {
            *why = "bad IPv6 address";
            return -1;
        }
        out->host = hap_strndup(&c->arena, s, (size_t)(end - s + 1));
        colon = end[1] ? end + 1 : NULL;
        if (!v6_ok(s + 1, (size_t)(end - s - 1))) {
            *why = "bad IPv6 address";
            return -1;
        }
    } else {
        /* HAProxy: the last colon separates the port, also for bare IPv6. */
        colon = strrchr(s, ':');
        size_t hn = colon ? (size_t)(colon - s) : strlen(s);
        if (colon && memchr(s, ':', hn)) {
            if (!v6_ok(s, hn)) {
                *why = "bad IPv6 address (HAProxy reads the part after the last ':' as "
                       "the port)";
                return -1;
            }
            out->host = hap_printf(&c->arena, "[%.*s]", (int)hn, s);
        }
        else if (hn == 1 && s[0] == '*')
            out->host = "";
        else
            out->host = hap_strndup(&c->arena, s, hn);
    }
    if (!out->host)
        return -1;
    if (!colon || !colon[1])
        return 0; /* no port: the caller decides */
    colon++;
    if (*colon == '+' || *colon == '-') {
        *why = "relative ports (+N, -N) are not supported: lxlb needs a fixed port";
        return -1;
    }
    dash = strchr(colon, '-');
    if (!port_ok(colon, dash ? (size_t)(dash - colon) : strlen(colon), &out->port_lo) ||
        (dash && !port_ok(dash + 1, strlen(dash + 1), &out->port_hi)) ||
        (dash && out->port_hi < out->port_lo)) {
        *why = "bad port (expected 1-65535 or a range A-B)";
        return -1;
    }
    if (!dash)
        out->port_hi = out->port_lo;
    return 0;
}

const char *hap_addr_text(struct hap_cfg *c, const struct hap_addr *a, unsigned port)
{
    if (a->unix_path)
        return hap_printf(&c->arena, "unix:%s", a->unix_path);
    return hap_printf(&c->arena, "%s:%u", a->host, port);
}
