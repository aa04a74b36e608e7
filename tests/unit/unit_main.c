/* tests/unit/unit_main.c - runs every suite, prints the summary CI reads. */
#include <stdlib.h>
#include "lb/log.h"
#include "tests/unit/unit.h"

int unit_failed_checks;

#define SUITE(sym) extern const struct unit_test sym[];
#include "tests/unit/suites.h"
#undef SUITE

static const struct unit_test *suites[] = {
#define SUITE(sym) sym,
#include "tests/unit/suites.h"
#undef SUITE
};

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    const char *only = argc > 1 ? argv[1] : NULL;

    /* Tests that need access lines open a file of their own. */
    log_access_open("off");

    for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
        for (const struct unit_test *t = suites[s]; t->name; t++) {
            if (only && !strstr(t->name, only))
                continue;
            unit_failed_checks = 0;
            t->fn();
            if (unit_failed_checks) {
                printf("FAIL %s\n", t->name);
                failed++;
            } else {
                printf("ok   %s\n", t->name);
                passed++;
            }
        }
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
