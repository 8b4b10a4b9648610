#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t test_rng_next(test_rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

int64_t test_rng_range(test_rng *r, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(span ? test_rng_next(r) % span : test_rng_next(r));
}

void assert_close_impl(double got, double want, double rel, const char *file, int line)
{
    double scale = fabs(want) > 1 ? fabs(want) : 1;
    if (!(fabs(got - want) <= rel * scale)) {
        fprintf(stderr, "got %.17g want %.17g (rel %g)\n", got, want, rel);
        _fail(file, line);
    }
}

static void *fa_malloc(void *ctx, size_t size)
{
    failalloc *f = ctx;
    if (f->calls++ >= f->fail_at)
        return NULL;
    f->live++;
    return malloc(size);
}

static void *fa_realloc(void *ctx, void *ptr, size_t size)
{
    failalloc *f = ctx;
    if (f->calls++ >= f->fail_at)
        return NULL;
    if (!ptr)
        f->live++;
    return realloc(ptr, size);
}

static void fa_free(void *ctx, void *ptr)
{
    failalloc *f = ctx;
    f->live--;
    free(ptr);
}

void failalloc_install(failalloc *f)
{
    if (!f) {
        crm_set_allocator(NULL);
        return;
    }
    crm_allocator a = { fa_malloc, fa_realloc, fa_free, f };
    assert_int_equal(crm_set_allocator(&a), CRM_OK);
}

long oom_sweep(crm_status (*call)(void *ctx), void *ctx)
{
    for (long k = 0; k < 100000; k++) {
        failalloc f = { .fail_at = k };
        failalloc_install(&f);
        crm_status s = call(ctx);
        failalloc_install(NULL);
        if (s == CRM_OK) {
            assert_int_equal(f.live, 0);
            return k;
        }
        assert_int_equal(s, CRM_ENOMEM);
        assert_int_equal(f.live, 0);
    }
    fail_msg("oom_sweep: call never succeeded");
    return -1;
}

void blob_damage_sweep(const void *bytes, size_t len, size_t cut_step, size_t flip_step,
                       int flip, blob_damage_fn check, void *ctx)
{
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    for (size_t cut = 0; cut_step && cut < len; cut += cut_step) {
        uint8_t *part = malloc(cut ? cut : 1);
        assert_non_null(part);
        memcpy(part, bytes, cut);
        check(ctx, part, cut, BLOB_CUT, 0);
        free(part);
    }
    for (size_t at = 0; flip != BLOB_FLIP_NONE && flip_step && at < len; at += flip_step) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t mask = flip > 0 ? (uint8_t)flip
                           : flip == BLOB_FLIP_ROTATING ? (uint8_t)(1u << (at % 8))
                                                        : (uint8_t)(1u << bit);
            memcpy(buf, bytes, len);
            buf[at] ^= mask;
            check(ctx, buf, len, at, mask);
            if (flip != BLOB_FLIP_EVERY_BIT)
                break;
        }
    }
    free(buf);
}
