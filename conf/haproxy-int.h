/* conf/haproxy-int.h - inside conf/haproxy*.c only: what the tokenizer, the
 * section reader, the condition mapper and the JSON writer of
 * `lxlb import-haproxy` share. Types in conf/haproxy-t.h. */
#ifndef LXLB_HAPROXY_INT_H
#define LXLB_HAPROXY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "conf/haproxy-t.h"

/* ---- haproxy-lex.c ---- */

/* Arena: zeroed memory that lives until hap_arena_free(). NULL (and a->oom
 * set) when out of memory; callers skip what they could not allocate and
 * hap_convert() fails at the end. */
void *hap_alloc(struct hap_arena *a, size_t size);
char *hap_strdup(struct hap_arena *a, const char *s);
char *hap_strndup(struct hap_arena *a, const char *s, size_t n);
char *hap_printf(struct hap_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hap_arena_free(struct hap_arena *a);
/* Grow the array *items (*n used, *cap allocated) by one zeroed item of
 * size bytes and return it (NULL when out of memory). */
void *hap_push(struct hap_arena *a, void **items, size_t *n, size_t *cap, size_t size);

/* Messages about line (0: the file as a whole). */
void hap_warn(struct hap_cfg *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hap_error(struct hap_cfg *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "'KEYWORD' is not supported: INSTEAD" */
void hap_unsupported(struct hap_cfg *c, int line, const char *keyword, const char *instead);

/* Cut one line (without its newline) into words with HAProxy's rules:
 * blanks separate words, '#' starts a comment, backslash escapes (\ , \#,
 * \\, \', \", \t, \n, \r, \xHH; any other backslash stays as written),
 * "weak" quotes (escapes, \$ and $VAR, ${VAR}, ${VAR-default}, ${VAR[*]}
 * expanded from the environment) and 'strong' quotes (nothing expanded).
 * Returns 0 and fills w (words in c's arena), or -1 with the reason in err. */
int hap_tokenize(struct hap_cfg *c, const char *line, size_t len, int lineno,
                 struct hap_words *w, char *err, size_t errlen);

/* The .if/.elif/.else/.endif machine. True when the line is a directive
 * (consumed here) or lies in a block that is skipped. */
bool hap_directive(struct hap_cfg *c, const struct hap_words *w);
/* Is the current line in a skipped block? */
bool hap_skipping(const struct hap_cfg *c);

/* An HAProxy time ("5000" ms, "100us", "5s", "2m", "1h", "1d") in ms,
 * microseconds rounded up (then *rounded is set). 0 ok, -1 bad. */
int hap_parse_time(const char *s, uint32_t *ms, bool *rounded);

/* An HAProxy address ("1.2.3.4:80", ":80", "*:80", ":::80", "[::1]:80",
 * "host:80", "ipv4@...", "unix@/p", "/p", ports "8000-8010") taken apart.
 * 0 ok, -1 with the reason in why. */
int hap_split_addr(struct hap_cfg *c, const char *in, struct hap_addr *out, const char **why);
/* That address with this port in lxlb's form (":80", "h:80", "[v6]:80", "unix:/p"). */
const char *hap_addr_text(struct hap_cfg *c, const struct hap_addr *a, unsigned port);

/* Is s valid UTF-8 (as JSON strings must be)? */
bool hap_utf8_ok(const char *s);

/* ---- haproxy.c ---- */

/* Read a whole haproxy.cfg into c. */
void hap_read(struct hap_cfg *c, const char *text, size_t len);

/* ---- haproxy-acl.c ---- */

/* "if|unless COND..." from w->argv[i] on: fills cond. 0 ok, -1 after an
 * error message. */
int hap_cond_parse(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w, int i,
                   struct hap_cond *cond);
/* "acl NAME CRITERION [flags] [--] VALUES..." into p. */
void hap_acl_parse(struct hap_cfg *c, struct hap_proxy *p, const struct hap_words *w);
/* Does a rule's condition hold for every request of a frontend whose
 * connections are TLS (tls) or not: 1 always, 0 never, -1 it depends on the
 * request (*why then names the test). */
int hap_cond_static(struct hap_cfg *c, const struct hap_proxy *p, const struct hap_cond *cond,
                    int line, bool tls, const char **why);
/* The routes for rule r of frontend p (TLS or not) appended to routes, each
 * a JSON object with host / path_prefix / methods; the caller adds backend
 * or redirect. Warns about what cannot be expressed. Returns the number of
 * routes added. */
size_t hap_rule_routes(struct hap_cfg *c, const struct hap_proxy *p, const struct hap_rule *r,
                       bool tls, json_t *routes);

#endif
