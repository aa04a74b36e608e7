/* tests/unit/unit.h - the smallest test harness that CI can read: each test
 * is a function; CHECK records a failure and goes on; the runner prints
 * "unit: N passed, N failed" as its last line. */
#ifndef LXLB_UNIT_H
#define LXLB_UNIT_H

#include <stdio.h>
#include <string.h>

extern int unit_failed_checks; /* failures in the running test */

#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
    unit_failed_checks++; } } while (0)

#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) { \
    fprintf(stderr, "  %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
            a_ ? a_ : "(null)", b_ ? b_ : "(null)"); unit_failed_checks++; } } while (0)

#define CHECK_CONTAINS(hay, needle) do { const char *h_ = (hay), *n_ = (needle); \
    if (!h_ || !strstr(h_, n_)) { \
    fprintf(stderr, "  %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
            h_ ? h_ : "(null)", n_); unit_failed_checks++; } } while (0)

typedef void (*unit_fn)(void);
struct unit_test { const char *name; unit_fn fn; };

/* Each tests/unit/test_*.c defines one table and registers it in unit_main.c. */
#define UNIT_SUITE(sym) const struct unit_test sym[]
#define UNIT_END { NULL, NULL }

#endif
