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

/* Ending of an oom_sweep callback: a failed call must have left its output
 * handle NULL; a successful one is released with free_fn. Yields status. */
#define OOM_RESULT(status, out, free_fn) \
    ((status) ? (assert_null(out), (status)) : (free_fn(out), (status)))

/*
 * Blob damage sweep, for "every damaged blob is refused" tests. Calls
 * check(ctx, buf, n, at, mask) on damaged copies of the len bytes at `bytes`
 * (each copy in its own exactly-sized heap buffer, so an over-read shows
 * under ASan):
 *   - truncations: n = 0, cut_step, 2 * cut_step, ... < len, at = BLOB_CUT,
 *     mask = 0 (cut_step 0: none);
 *   - flips: n = len, byte at = 0, flip_step, ... < len XORed with mask:
 *     flip > 0: that mask; BLOB_FLIP_ROTATING: 1 << (at % 8);
 *     BLOB_FLIP_EVERY_BIT: each of the 8 bits in turn (8 calls per byte);
 *     BLOB_FLIP_NONE (or flip_step 0): no flips.
 * `check` makes the test's own assertions.
 */
#define BLOB_CUT ((size_t)-1)
enum { BLOB_FLIP_NONE = 0, BLOB_FLIP_ROTATING = -1, BLOB_FLIP_EVERY_BIT = -2 };
typedef void (*blob_damage_fn)(void *ctx, const uint8_t *buf, size_t n, size_t at,
                               uint8_t mask);
void blob_damage_sweep(const void *bytes, size_t len, size_t cut_step, size_t flip_step,
                       int flip, blob_damage_fn check, void *ctx);

#endif
