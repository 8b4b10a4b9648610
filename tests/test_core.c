/* lib/core: errors, allocator, versioned structs, hash index, sorting,
 * calendar, CRC-32C. Linked against the internal twin of the library. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blob.h"
#include "core/core.h"

static void status_strings(void **state)
{
    (void)state;
    for (int s = CRM_OK; s <= CRM_ERULE; s++)
        assert_string_not_equal(crm_status_str(s), "unknown status");
    assert_non_null(strstr(crm_status_str(CRM_EDATA), "CRM_EDATA"));
    assert_string_equal(crm_status_str(-1), "unknown status");
    assert_string_equal(crm_status_str(8), "unknown status");
}

static void last_error_is_per_call(void **state)
{
    (void)state;
    assert_int_equal(crm__fail(CRM_EDATA, "orders[%d] bad", 1287), CRM_EDATA);
    assert_string_equal(crm_last_error(), "orders[1287] bad");
    /* long messages are truncated, never overflow */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    crm__fail(CRM_EINVAL, "%s", big);
    assert_true(strlen(crm_last_error()) < sizeof big - 1);
}

static void version_and_sizes(void **state)
{
    (void)state;
    assert_int_equal(crm_version_number(), CRM_VERSION_NUMBER);
    assert_string_equal(crm_version_string(), CRM_PROJECT_VERSION);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", CRM_VERSION_MAJOR, CRM_VERSION_MINOR,
             CRM_VERSION_PATCH);
    assert_string_equal(buf, CRM_PROJECT_VERSION);
    assert_int_equal(crm_struct_size(CRM_STRUCT_ORDER), 24);
    assert_int_equal(crm_struct_size(0), 0);
}

static void allocator_hooks(void **state)
{
    (void)state;
    crm_allocator bad = { NULL, NULL, NULL, NULL };
    assert_int_equal(crm_set_allocator(&bad), CRM_EINVAL);
    failalloc f = { .fail_at = 1 };
    failalloc_install(&f);
    void *a = crm__malloc(10);
    void *b = crm__malloc(10);
    failalloc_install(NULL);
    assert_non_null(a);
    assert_null(b);
    assert_int_equal(f.calls, 2);
    /* a was allocated by the failalloc hooks: free it with them */
    failalloc_install(&f);
    crm__free(a);
    crm__free(NULL);
    failalloc_install(NULL);
    assert_int_equal(f.live, 0);
}

static void checked_arrays(void **state)
{
    (void)state;
    void *p = (void *)1;
    assert_int_equal(crm__alloc_array(&p, SIZE_MAX / 2, 4, 0, "thing"), CRM_EOVERFLOW);
    assert_null(p);
    assert_non_null(strstr(crm_last_error(), "thing"));
    assert_int_equal(crm__alloc_array(&p, 10, 4, 1, "thing"), CRM_OK);
    for (int i = 0; i < 10; i++)
        assert_int_equal(((int32_t *)p)[i], 0);
    void *q = p;
    assert_int_equal(crm__realloc_array(&q, SIZE_MAX / 4, 8, "thing"), CRM_EOVERFLOW);
    assert_ptr_equal(q, p);
    assert_int_equal(crm__realloc_array(&q, 100, 8, "thing"), CRM_OK);
    crm__free(q);
    size_t out;
    assert_false(crm__mul_size(SIZE_MAX, 2, &out));
    assert_true(crm__mul_size(3, 4, &out));
    assert_int_equal(out, 12);
}

typedef struct opt_v2 {
    unsigned version;
    uint32_t a;
    uint64_t b; /* appended in "version 2" */
} opt_v2;

static void versioned_structs(void **state)
{
    (void)state;
    static const size_t sizes[] = { 0, CRM__SIZE_THROUGH(opt_v2, a), sizeof(opt_v2) };
    opt_v2 def = { 2, 5, 7 };
    opt_v2 in = { 1, 9, 1234 }; /* a v1 caller: b is garbage it never set */
    assert_int_equal(crm__options_resolve(&def, &in, sizes, 2, "opt"), CRM_OK);
    assert_int_equal(def.version, 2);
    assert_int_equal(def.a, 9);
    assert_int_equal(def.b, 7);
    assert_int_equal(crm__options_resolve(&def, NULL, sizes, 2, "opt"), CRM_OK);
    in.version = 3;
    assert_int_equal(crm__options_resolve(&def, &in, sizes, 2, "opt"), CRM_EVERSION);
    assert_string_equal(crm_last_error(), "opt.version 3 not in 1..2");
    opt_v2 full = { 2, 1, 2 }, out = { 1, 0, 99 };
    assert_int_equal(crm__versioned_out(&out, &full, sizes, 2, "out"), CRM_OK);
    assert_int_equal(out.version, 1);
    assert_int_equal(out.a, 1);
    assert_int_equal(out.b, 99); /* not known to a version-1 caller */
    out.version = 0;
    assert_int_equal(crm__versioned_out(&out, &full, sizes, 2, "out"), CRM_EVERSION);
}

typedef struct row {
    uint64_t key;
    uint64_t payload;
} row;

static void hash_index(void **state)
{
    (void)state;
    enum { N = 50000 };
    row *rows = malloc(N * sizeof *rows);
    crm__u64idx m;
    assert_int_equal(crm__u64idx_init(&m, 4), CRM_OK);
    test_rng g = { 3 };
    size_t distinct = 0;
    for (int i = 0; i < N; i++) {
        /* keys drawn from a small range so repeats happen */
        uint64_t k = (uint64_t)test_rng_range(&g, 0, N / 2) * UINT64_C(0x100000001);
        if (crm__u64idx_full(&m))
            assert_int_equal(crm__u64idx_grow(&m, rows, sizeof(row)), CRM_OK);
        bool added;
        size_t r = crm__u64idx_upsert(&m, k, rows, sizeof(row), &added);
        if (added) {
            assert_int_equal(r, distinct);
            rows[r] = (row){ k, 1 };
            distinct++;
        } else {
            assert_int_equal(rows[r].key, k);
            rows[r].payload++;
        }
    }
    assert_int_equal(m.count, distinct);
    uint64_t total = 0;
    for (size_t r = 0; r < distinct; r++) {
        assert_int_equal(crm__u64idx_find(&m, rows[r].key, rows, sizeof(row)), r);
        total += rows[r].payload;
    }
    assert_int_equal(total, N);
    assert_int_equal(crm__u64idx_find(&m, 7, rows, sizeof(row)), SIZE_MAX);
    crm__u64idx_free(&m);
    free(rows);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Radix sorts against qsort on random, sorted, reversed, narrow-range and
 * all-equal inputs; records keep their payload. */
static void sorting(void **state)
{
    (void)state;
    test_rng g = { 11 };
    size_t sizes[] = { 0, 1, 2, 23, 24, 25, 47, 48, 49, 300, 5000, 70000 };
    for (size_t si = 0; si < ARRAY_LEN(sizes); si++) {
        size_t n = sizes[si];
        for (int kind = 0; kind < 5; kind++) {
            uint64_t *a = malloc((n + 1) * 8), *b = malloc((n + 1) * 8);
            int32_t *c = malloc((n + 1) * 4), *d = malloc((n + 1) * 4);
            row *r = malloc((n + 1) * sizeof *r);
            for (size_t i = 0; i < n; i++) {
                uint64_t v = kind == 0 ? test_rng_next(&g)
                           : kind == 1 ? i
                           : kind == 2 ? n - i
                           : kind == 3 ? (uint64_t)test_rng_range(&g, 0, 300) : 42;
                a[i] = b[i] = v;
                c[i] = d[i] = (int32_t)(v ^ (v >> 32)) - (kind == 3 ? 150 : 0);
                r[i] = (row){ v, v * 3 + 1 };
            }
            crm__sort_u64(a, n);
            qsort(b, n, 8, cmp_u64);
            assert_memory_equal(a, b, n * 8);
            crm__sort_i32(c, n);
            qsort(d, n, 4, cmp_i32);
            assert_memory_equal(c, d, n * 4);
            row *r2 = malloc((n + 1) * sizeof *r);
            memcpy(r2, r, n * sizeof *r);
            crm__sort_records_u64(r, n, sizeof *r);
            for (size_t i = 0; i < n; i++) {
                assert_int_equal(r[i].key, b[i]);
                assert_int_equal(r[i].payload, b[i] * 3 + 1);
            }
            /* with scratch buffers of several sizes (none, too small, ample) */
            size_t scratch_bytes[] = { 0, 64, 4096, n * sizeof *r };
            for (size_t k = 0; k < ARRAY_LEN(scratch_bytes); k++) {
                void *buf = malloc(scratch_bytes[k] + 1);
                memcpy(r, r2, n * sizeof *r);
                crm__sort_records_u64_scratch(r, n, sizeof *r, buf, scratch_bytes[k]);
                for (size_t i = 0; i < n; i++) {
                    assert_int_equal(r[i].key, b[i]);
                    assert_int_equal(r[i].payload, b[i] * 3 + 1);
                }
                free(buf);
            }
            free(a), free(b), free(c), free(d), free(r), free(r2);
        }
    }
}

/* Records of every size the sort specialises (and an odd one) keep their
 * payload bytes and end in key order. */
static void sorting_record_sizes(void **state)
{
    (void)state;
    test_rng g = { 12 };
    size_t rec_sizes[] = { 20, 24, 32, 40, 48, 64, 72 };
    for (size_t k = 0; k < ARRAY_LEN(rec_sizes); k++) {
        size_t size = rec_sizes[k], n = 40000;
        unsigned char *r = malloc(n * size);
        uint64_t *keys = malloc(n * 8);
        for (size_t i = 0; i < n; i++) {
            uint64_t v = i % 3 ? test_rng_next(&g) >> (i % 40) : (uint64_t)(i % 977);
            keys[i] = v;
            memcpy(r + i * size, &v, 8);
            for (size_t b = 8; b < size; b++) /* payload: a function of the key */
                r[i * size + b] = (unsigned char)(v * (b + 1) >> 7);
        }
        qsort(keys, n, 8, cmp_u64);
        /* without scratch, then with one that holds buckets (keys differing
         * in up to 3 low bytes after a level: the LSD path) but not all */
        unsigned char *copy = malloc(n * size), *buf = malloc(n * size / 4);
        memcpy(copy, r, n * size);
        for (int with = 0; with <= 1; with++) {
            memcpy(r, copy, n * size);
            if (with)
                crm__sort_records_u64_scratch(r, n, size, buf, n * size / 4);
            else
                crm__sort_records_u64(r, n, size);
            for (size_t i = 0; i < n; i++) {
                uint64_t v;
                memcpy(&v, r + i * size, 8);
                assert_int_equal(v, keys[i]);
                for (size_t b = 8; b < size; b++)
                    assert_int_equal(r[i * size + b], (unsigned char)(v * (b + 1) >> 7));
            }
        }
        free(copy);
        free(buf);
        free(r);
        free(keys);
    }
}

/* Calendar: known dates, round trips over 3000 years, day_of floors. */
static void calendar(void **state)
{
    (void)state;
    int32_t y, m, d;
    crm__civil_from_days(0, &y, &m, &d);
    assert_true(y == 1970 && m == 1 && d == 1);
    crm__civil_from_days(11016, &y, &m, &d); /* 2000-02-29 */
    assert_true(y == 2000 && m == 2 && d == 29);
    crm__civil_from_days(CRM_DAY_MAX, &y, &m, &d);
    assert_true(y == 3000 && m == 12 && d == 31);
    assert_int_equal(crm__days_from_civil(2026, 11, 22), 20779); /* Python datetime */
    for (int64_t day = -1000; day <= CRM_DAY_MAX; day += 37) {
        crm__civil_from_days(day, &y, &m, &d);
        assert_int_equal(crm__days_from_civil(y, m, d), day);
    }
    assert_int_equal(crm__month_of_day(0), 0);
    assert_int_equal(crm__month_of_day(31), 1);                 /* 1970-02-01 */
    assert_int_equal(crm__month_of_day(crm__days_from_civil(1971, 1, 31)), 12);
    assert_int_equal(crm__day_of(-1), -1);
    assert_int_equal(crm__day_of(86399), 0);
    assert_int_equal(crm__day_of(86400), 1);
    assert_int_equal(crm__day_of(-86400), -1);
    assert_int_equal(crm__day_of(-86401), -2);
}

/* CRC-32C check value of "123456789" is 0xE3069283 (the standard test). */
static void crc32c(void **state)
{
    (void)state;
    assert_int_equal(crm__crc32c(0, "123456789", 9), 0xE3069283u);
    uint32_t part = crm__crc32c(0, "1234", 4);
    assert_int_equal(crm__crc32c(part, "56789", 5), 0xE3069283u);
    assert_int_equal(crm__crc32c(0, "", 0), 0);
}

static void mix64_is_stable(void **state)
{
    (void)state;
    /* splitmix64 of seed 0's first output (published reference stream). */
    assert_int_equal(crm__mix64(0), UINT64_C(0xE220A8397B1DCDAF));
}

/* A blob with every field type; returns its bytes (crm_bytes_free). */
static crm_status write_sample_blob(void **out, size_t *len)
{
    static const uint64_t u64s[3] = {1, UINT64_MAX, 42};
    static const double f64s[2] = {-0.0, 1e300};
    crm__wbuf w;
    crm__wbuf_init(&w);
    crm__blob_begin(&w, 7, 2);
    crm__wbuf_u8(&w, 0xAB);
    crm__wbuf_u16(&w, 0xBEEF);
    crm__wbuf_u32(&w, 0xDEADBEEFu);
    crm__wbuf_i64(&w, INT64_MIN);
    crm__wbuf_f64(&w, 0.1);
    crm__wbuf_u64s(&w, u64s, 3);
    crm__wbuf_f64s(&w, f64s, 2);
    return crm__blob_end(&w, out, len, "sample");
}

static crm_status blob_oom_call(void *ctx)
{
    (void)ctx;
    void *b;
    size_t n;
    crm_status st = write_sample_blob(&b, &n);
    if (st == CRM_OK)
        crm_bytes_free(b);
    return st;
}

static void blob_round_trip(void **state)
{
    (void)state;
    void *b = NULL;
    size_t n = 0;
    assert_int_equal(write_sample_blob(&b, &n), CRM_OK);
    /* 1+2+4+8+8 + 3*8 + 2*8 = 63 payload bytes, 20 bytes of frame. */
    assert_int_equal(n, 63 + 20);
    const uint8_t *p = b;
    assert_memory_equal(p, "CRMB", 4);
    assert_int_equal(p[4] | p[5] << 8, 7);
    assert_int_equal(p[6] | p[7] << 8, 2);
    assert_int_equal(p[8], 63);
    assert_int_equal(p[16], 0xAB); /* little-endian fields */
    assert_int_equal(p[17], 0xEF);
    assert_int_equal(p[18], 0xBE);

    crm__rbuf r;
    uint16_t ver = 0;
    assert_int_equal(crm__blob_open(&r, b, n, 7, 2, &ver, "sample"), CRM_OK);
    assert_int_equal(ver, 2);
    uint8_t a;
    uint16_t c;
    uint32_t d;
    int64_t e;
    double f, f2[2];
    uint64_t g[3];
    assert_true(crm__rbuf_u8(&r, &a, "a") && crm__rbuf_u16(&r, &c, "c") &&
                crm__rbuf_u32(&r, &d, "d") && crm__rbuf_i64(&r, &e, "e") &&
                crm__rbuf_f64(&r, &f, "f") && crm__rbuf_u64s(&r, g, 3, "g") &&
                crm__rbuf_f64s(&r, f2, 2, "f2"));
    assert_int_equal(a, 0xAB);
    assert_int_equal(c, 0xBEEF);
    assert_int_equal(d, 0xDEADBEEFu);
    assert_true(e == INT64_MIN);
    assert_true(f == 0.1 && f2[1] == 1e300 && signbit(f2[0]));
    assert_true(g[0] == 1 && g[1] == UINT64_MAX && g[2] == 42);
    assert_int_equal(crm__rbuf_finish(&r), CRM_OK);
    /* reading past the end fails with the offset, and stays failed */
    assert_false(crm__rbuf_u8(&r, &a, "extra"));
    assert_non_null(strstr(crm_last_error(), "truncated at byte 79 reading extra"));
    assert_int_equal(r.err, CRM_ESTATE);
    crm_bytes_free(b);
    crm_bytes_free(NULL);
    oom_sweep(blob_oom_call, NULL);
}

static void blob_rejects_damage(void **state)
{
    (void)state;
    void *b;
    size_t n;
    assert_int_equal(write_sample_blob(&b, &n), CRM_OK);
    uint8_t *p = b;
    crm__rbuf r;
    /* every truncation is refused, with the truncation point named */
    for (size_t len = 0; len < n; len++)
        assert_int_equal(crm__blob_open(&r, p, len, 7, 2, NULL, "sample"), CRM_ESTATE);
    assert_non_null(strstr(crm_last_error(), "truncated"));
    /* every single-bit flip is caught (magic, kind, length, payload or CRC;
     * a flipped version byte reads as an unsupported version) */
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            p[i] ^= (uint8_t)(1u << bit);
            crm_status st = crm__blob_open(&r, p, n, 7, 2, NULL, "sample");
            assert_true(st == CRM_ESTATE || st == CRM_EVERSION);
            p[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(crm__blob_open(&r, p, n, 7, 2, NULL, "sample"), CRM_OK);
    /* a newer format version is refused as such */
    assert_int_equal(crm__blob_open(&r, p, n, 7, 1, NULL, "sample"), CRM_EVERSION);
    assert_non_null(strstr(crm_last_error(), "format version 2"));
    /* wrong kind, NULL */
    assert_int_equal(crm__blob_open(&r, p, n, 8, 2, NULL, "sample"), CRM_ESTATE);
    assert_int_equal(crm__blob_open(&r, NULL, 5, 7, 2, NULL, "sample"), CRM_EINVAL);
    /* trailing garbage after the CRC */
    uint8_t *longer = malloc(n + 1);
    assert_non_null(longer);
    memcpy(longer, p, n);
    longer[n] = 0;
    assert_int_equal(crm__blob_open(&r, longer, n + 1, 7, 2, NULL, "sample"), CRM_ESTATE);
    assert_non_null(strstr(crm_last_error(), "after the checksum"));
    free(longer);
    /* a count larger than the remaining bytes fails before any copy */
    assert_int_equal(crm__blob_open(&r, p, n, 7, 2, NULL, "sample"), CRM_OK);
    uint64_t big[1];
    assert_false(crm__rbuf_u64s(&r, big, SIZE_MAX / 4, "rows"));
    assert_int_equal(r.err, CRM_ESTATE);
    /* unread bytes are an error */
    assert_int_equal(crm__blob_open(&r, p, n, 7, 2, NULL, "sample"), CRM_OK);
    assert_int_equal(crm__rbuf_finish(&r), CRM_ESTATE);
    assert_non_null(strstr(crm_last_error(), "unread"));
    crm_bytes_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_strings),   cmocka_unit_test(last_error_is_per_call),
        cmocka_unit_test(version_and_sizes), cmocka_unit_test(allocator_hooks),
        cmocka_unit_test(checked_arrays),   cmocka_unit_test(versioned_structs),
        cmocka_unit_test(hash_index),       cmocka_unit_test(sorting),
        cmocka_unit_test(sorting_record_sizes),
        cmocka_unit_test(calendar),         cmocka_unit_test(crc32c),
        cmocka_unit_test(mix64_is_stable),
        cmocka_unit_test(blob_round_trip), cmocka_unit_test(blob_rejects_damage),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
