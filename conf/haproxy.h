/* conf/haproxy.h - `lxlb import-haproxy`: haproxy.cfg -> lxlb JSON (SPEC.md,
 * "Migrating from HAProxy"). Types in conf/haproxy-t.h.
 *
 * Three steps, each in its own file: haproxy-lex.c cuts lines into words with
 * HAProxy's quoting rules (and keeps the arena and the messages),
 * haproxy.c reads sections and keywords into a struct hap_cfg, haproxy-out.c
 * maps that to JSON (haproxy-acl.c turns conditions into routes); the
 * functions they share are in conf/haproxy-int.h. Nothing here touches the
 * network or the event loop. */
#ifndef LXLB_HAPROXY_H
#define LXLB_HAPROXY_H

#include <stddef.h>
#include <jansson.h>

#include "conf/haproxy-t.h"

/* Convert the text of a haproxy.cfg; name is the file name for messages.
 * Returns 0 when converted (json set, warnings or not), -1 when the text
 * cannot be parsed or converted (errors in msgs). Environment variables in
 * double quotes are expanded from this process's environment, as HAProxy
 * does. Release with hap_result_free(). */
int hap_convert(const char *name, const char *text, size_t len, struct hap_result *out);
void hap_result_free(struct hap_result *r);

/* The JSON text lxlb import-haproxy prints: 2-space indent, keys in the
 * order SPEC.md shows them, a final newline (malloc'ed; NULL: out of memory). */
char *hap_dump(const json_t *json);

/* `lxlb import-haproxy FILE|-`: argv[0] is "import-haproxy". Exit status:
 * 0 converted, 1 unreadable or not convertible, 2 usage error. */
int hap_main(int argc, char **argv);

#endif
