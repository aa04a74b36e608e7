/* tests/unit/failalloc.c - the countdown behind the wrapped allocators
 * (failalloc.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/failalloc.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);

static unsigned long countdown; /* allocations left before the failure, 0: off */
static bool injected;           /* the failure happened since arming */

void failalloc_arm(unsigned long n)
{
    countdown = n;
    injected = false;
}

bool failalloc_disarm(void)
{
    countdown = 0;
    return injected;
}

static bool fail_now(void)
{
    if (!countdown || --countdown)
        return false;
    injected = true;
    errno = ENOMEM;
    return true;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }

char *__wrap_strdup(const char *s) { return fail_now() ? NULL : __real_strdup(s); }

char *__wrap_strndup(const char *s, size_t n)
{
    return fail_now() ? NULL : __real_strndup(s, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return fail_now() ? NULL : __real_aligned_alloc(align, n);
}
