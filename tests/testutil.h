/* Shared helpers of the cmocka tests. */
#ifndef CRM_TESTUTIL_H
#define CRM_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crm/crm.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Deterministic PRNG for test data (splitmix64). */
typedef struct test_rng {
    uint64_t s;
} test_rng;
uint64_t test_rng_next(test_rng *r);
/* Uniform integer in [lo, hi]. */
int64_t test_rng_range(test_rng *r, int64_t lo, int64_t hi);

/* Fail with both values printed unless |got - want| <= rel * max(1, |want|). */
void assert_close_impl(double got, double want, double rel, const char *file, int line);
#define assert_close(got, want, rel) assert_close_impl((got), (want), (rel), __FILE__, __LINE__)

/* Failing allocator: the allocation numbered fail_at (0-based) and all later
 * ones fail; counts live allocations so leaks show. */
typedef struct failalloc {
    long fail_at;
    long calls;
    long live;
} failalloc;
/* Install f as the library allocator (NULL restores malloc/free). */
void failalloc_install(failalloc *f);

/*
 * OOM sweep: run `call(ctx)` with allocation k failing, k = 0, 1, ... until it
 * succeeds; every failure must return CRM_ENOMEM and leave no allocation live.
 * `call` returns the status and must free what it created on success.
 * Returns the number of allocations the successful call made.
 */
long oom_sweep(crm_status (*call)(void *ctx), void *ctx);

#endif
