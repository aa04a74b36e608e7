/* tests/fuzz/fuzz_import.c - libFuzzer target over `lxlb import-haproxy`
 * (conf/haproxy*.c): the input is a whole haproxy.cfg.
 *
 * Invariants (any violation aborts, so libFuzzer saves the input):
 *  - never a crash, leak or undefined behaviour (ASan + UBSan), whatever
 *    the bytes (quotes, escapes, NULs, huge lines, .if nesting, ACL
 *    products...);
 *  - the result is consistent: converted (JSON, no error) or not (errors,
 *    no JSON); every message is one line "fuzz.cfg:LINE: ..." or
 *    "fuzz.cfg: ..." with a line number inside the file;
 *  - the JSON has what lxlb requires (frontends with name, bind and a
 *    default_backend or routes; backends with a name), dumps, and parses
 *    back to the same value;
 *  - the conversion is stable: the same input gives the same bytes and the
 *    same messages. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "conf/haproxy.h"

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "INVARIANT FAILED at %s:%d: %s\n  ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fprintf(stderr, "\n");                                                           \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static size_t count_lines(const uint8_t *d, size_t n)
{
    size_t k = 1;

    for (size_t i = 0; i < n; i++)
        k += d[i] == '\n';
    return k;
}

static void check_msgs(const char *msgs, size_t nlines)
{
    for (const char *p = msgs; *p;) {
        const char *nl = strchr(p, '\n');
        CHECK(nl != NULL, "a message without its newline: %s", p);
        CHECK(!strncmp(p, "fuzz.cfg:", 9), "a message not about the file: %.*s", (int)(nl - p), p);
        if (p[9] != ' ') {
            char *end;
            unsigned long line = strtoul(p + 9, &end, 10);
            CHECK(*end == ':' && line >= 1 && line <= nlines, "bad line number: %.*s",
                  (int)(nl - p), p);
        }
        p = nl + 1;
    }
}

static void check_shape(const json_t *j)
{
    const json_t *fes = json_object_get(j, "frontends"), *bes = json_object_get(j, "backends");
    size_t i;
    const json_t *v;

    CHECK(json_is_array(fes) && json_array_size(fes) > 0, "no frontends");
    CHECK(json_is_array(bes) && json_array_size(bes) > 0, "no backends");
    json_array_foreach(fes, i, v) {
        CHECK(json_is_string(json_object_get(v, "name")), "frontend %zu without a name", i);
        CHECK(json_array_size(json_object_get(v, "bind")) > 0, "frontend %zu without bind", i);
        CHECK(json_is_string(json_object_get(v, "default_backend")) ||
                  json_array_size(json_object_get(v, "routes")) > 0,
              "frontend %zu has neither default_backend nor routes", i);
    }
    json_array_foreach(bes, i, v)
        CHECK(json_is_string(json_object_get(v, "name")), "backend %zu without a name", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hap_result a, b;
    int rc = hap_convert("fuzz.cfg", (const char *)data, size, &a);
    char *da = NULL, *db = NULL;

    CHECK(a.msgs != NULL, "no message buffer");
    CHECK(rc == 0 ? a.json && a.nerr == 0 : !a.json && a.nerr > 0,
          "rc %d with json %p and %d errors", rc, (void *)a.json, a.nerr);
    check_msgs(a.msgs, count_lines(data, size));
    if (a.json) {
        json_error_t je;
        json_t *back;

        check_shape(a.json);
        da = hap_dump(a.json);
        CHECK(da != NULL, "cannot dump");
        back = json_loads(da, 0, &je);
        CHECK(back && json_equal(back, a.json), "the dump does not parse back: %s", je.text);
        json_decref(back);
    }
    /* Stable: a second conversion gives the same bytes and messages. */
    hap_convert("fuzz.cfg", (const char *)data, size, &b);
    CHECK(!strcmp(a.msgs, b.msgs), "messages differ between two runs");
    if (b.json)
        db = hap_dump(b.json);
    CHECK((!da && !db) || (da && db && !strcmp(da, db)), "JSON differs between two runs");
    free(da);
    free(db);
    hap_result_free(&a);
    hap_result_free(&b);
    return 0;
}
