/* Partials (scale-out): profile tables to bytes and back. Round trip ==
 * original, merge of loaded partials == whole, a hand-decoded byte layout,
 * every truncation and bit flip refused, forged but checksummed content
 * refused with the row or offset, newer format versions refused, NULL
 * arguments and an allocation-failure sweep. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "partial/blobutil.h"

#define DAY 86400

/* ---- helpers ------------------------------------------------------------------ */

/* Orders of `customers` customers whose ids are drawn from a small pool (so
 * partitions share customers), some refund-only, several rows per day. */
static crm_order *gen(test_rng *g, size_t rows, uint64_t pool, size_t *n_out)
{
    crm_order *o = malloc((rows ? rows : 1) * sizeof *o);
    for (size_t i = 0; i < rows; i++) {
        uint64_t id = (uint64_t)test_rng_range(g, 1, (int64_t)pool) * 0x9e3779b97f4a7c15u;
        int64_t day = test_rng_range(g, 0, 60) + (int64_t)(id % 7) * 30;
        int64_t amount = (id % 11 == 0 || test_rng_range(g, 0, 15) == 0)
                             ? -test_rng_range(g, 1, 900)
                             : test_rng_range(g, 0, 40000);
        o[i] = (crm_order){ id, day * DAY + test_rng_range(g, 0, DAY - 1), amount };
    }
    *n_out = rows;
    return o;
}

static crm_profiles *build(const crm_order *o, size_t n, int64_t asof, int mergeable)
{
    crm_profiles_options opt;
    assert_int_equal(crm_profiles_options_init(&opt, CRM_PROFILES_OPTIONS_VERSION), CRM_OK);
    opt.mergeable = (uint32_t)mergeable;
    crm_profiles *p = NULL;
    if (crm_profiles_build(&p, o, n, asof, &opt) != CRM_OK)
        fail_msg("build: %s", crm_last_error());
    return p;
}

static void *to_bytes(const crm_profiles *p, size_t *len)
{
    void *b = NULL;
    if (crm_profiles_serialize(&b, len, p) != CRM_OK)
        fail_msg("serialize: %s", crm_last_error());
    assert_non_null(b);
    return b;
}

static crm_profiles *from_bytes(const void *b, size_t len)
{
    crm_profiles *p = NULL;
    if (crm_profiles_deserialize(&p, b, len) != CRM_OK)
        fail_msg("deserialize: %s", crm_last_error());
    return p;
}

/* Every column, the summary and the row lookup agree, bit for bit. */
static void assert_tables_equal(const crm_profiles *got, const crm_profiles *want)
{
    const size_t n = crm_profiles_count(want);
    assert_int_equal(crm_profiles_count(got), n);
    assert_int_equal(crm_profiles_asof(got), crm_profiles_asof(want));
    const struct { const void *g, *w; size_t width; const char *name; } cols[] = {
        { crm_profiles_customer_id(got), crm_profiles_customer_id(want), 8, "customer_id" },
        { crm_profiles_monetary(got), crm_profiles_monetary(want), 8, "monetary" },
        { crm_profiles_gap_avg(got), crm_profiles_gap_avg(want), 8, "gap_avg" },
        { crm_profiles_first_day(got), crm_profiles_first_day(want), 4, "first_day" },
        { crm_profiles_last_day(got), crm_profiles_last_day(want), 4, "last_day" },
        { crm_profiles_recency_days(got), crm_profiles_recency_days(want), 4, "recency" },
        { crm_profiles_tenure_days(got), crm_profiles_tenure_days(want), 4, "tenure" },
        { crm_profiles_prev_day(got), crm_profiles_prev_day(want), 4, "prev_day" },
        { crm_profiles_second_day(got), crm_profiles_second_day(want), 4, "second_day" },
        { crm_profiles_frequency(got), crm_profiles_frequency(want), 4, "frequency" },
        { crm_profiles_purchase_days(got), crm_profiles_purchase_days(want), 4, "pdays" },
        { crm_profiles_last_day_orders(got), crm_profiles_last_day_orders(want), 4, "lrows" },
    };
    for (size_t c = 0; c < ARRAY_LEN(cols) && n > 0; c++)
        if (memcmp(cols[c].g, cols[c].w, n * cols[c].width) != 0)
            fail_msg("column %s differs", cols[c].name);
    crm_population_summary a = { .version = CRM_POPULATION_SUMMARY_VERSION }, b = a;
    assert_int_equal(crm_profiles_summary(got, &a), CRM_OK);
    assert_int_equal(crm_profiles_summary(want, &b), CRM_OK);
    assert_memory_equal(&a, &b, sizeof a);
}

/* ---- round trips ---------------------------------------------------------------- */

static void round_trip(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        test_rng g = { seed };
        size_t n;
        crm_order *o = gen(&g, (size_t)test_rng_range(&g, 0, 3000), 400, &n);
        int64_t asof = test_rng_range(&g, 30, 260);
        for (int m = 0; m <= 1; m++) {
            crm_profiles *p = build(o, n, asof, m);
            size_t len;
            void *b = to_bytes(p, &len);
            crm_profiles *q = from_bytes(b, len);
            assert_tables_equal(q, p);
            assert_int_equal(crm_profiles_is_mergeable(q), m);
            /* serialising the loaded table gives the same bytes */
            size_t len2;
            void *b2 = to_bytes(q, &len2);
            assert_int_equal(len2, len);
            assert_memory_equal(b2, b, len);
            crm_bytes_free(b2);
            crm_bytes_free(b);
            crm_profiles_free(q);
            crm_profiles_free(p);
        }
        free(o);
    }
}

/* Partitions (customers split across them, empty ones, one huge one) built,
 * shipped as bytes, loaded and merged pairwise as a tree equal the whole. */
static void merge_of_loaded_partials(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        test_rng g = { seed * 104729 };
        size_t n;
        crm_order *o = gen(&g, 2500, 300, &n);
        int64_t asof = test_rng_range(&g, 20, 250);
        size_t parts = (size_t)test_rng_range(&g, 1, 7);
        crm_order *bucket = malloc(n * sizeof *o);
        crm_profiles *level[8] = { 0 };
        for (size_t k = 0; k < parts; k++) {
            size_t m = 0;
            for (size_t i = 0; i < n; i++) {
                size_t part = seed % 4 == 0 ? 0 /* one huge part, the rest empty */
                                            : (size_t)((i * 2654435761u + seed) % parts);
                if (part == k)
                    bucket[m++] = o[i];
            }
            crm_profiles *p = build(bucket, m, asof, 1);
            size_t len;
            void *b = to_bytes(p, &len);
            crm_profiles_free(p);
            level[k] = from_bytes(b, len);
            crm_bytes_free(b);
        }
        /* pairwise tree reduction, as the Dask layer does */
        for (size_t width = parts; width > 1; width = (width + 1) / 2) {
            for (size_t k = 0; k < width / 2; k++) {
                crm_profiles *mgd = NULL;
                assert_int_equal(crm_profiles_merge(&mgd, level[2 * k], level[2 * k + 1]), CRM_OK);
                crm_profiles_free(level[2 * k]);
                crm_profiles_free(level[2 * k + 1]);
                level[k] = mgd;
            }
            if (width % 2)
                level[width / 2] = level[width - 1];
        }
        crm_profiles *whole = build(o, n, asof, 0);
        assert_tables_equal(level[0], whole);
        crm_profiles_free(whole);
        crm_profiles_free(level[0]);
        free(bucket);
        free(o);
    }
}

static void empty_tables(void **state)
{
    (void)state;
    for (int m = 0; m <= 1; m++) {
        crm_profiles *p = build(NULL, 0, 0, m);
        size_t len;
        void *b = to_bytes(p, &len);
        assert_int_equal(len, 20 + 40); /* header + the fixed fields + checksum */
        crm_profiles *q = from_bytes(b, len);
        assert_int_equal(crm_profiles_count(q), 0);
        assert_int_equal(crm_profiles_is_mergeable(q), m);
        assert_tables_equal(q, p);
        crm_bytes_free(b);
        crm_profiles_free(q);
        crm_profiles_free(p);
    }
}

/* The layout of docs/partial.md, decoded by hand: one customer (id 7) with
 * two orders on day 100 and one on day 104, a refund on day 90, asof 200,
 * plus refund-only customer 3. */
static void byte_layout(void **state)
{
    (void)state;
    const crm_order o[] = { { 7, 100 * DAY + 5, 250 }, { 3, 95 * DAY, -40 },
                            { 7, 104 * DAY, 1000 }, { 7, 90 * DAY, -10 },
                            { 7, 100 * DAY + 9, 5 } };
    crm_profiles *p = build(o, 5, 200, 1);
    size_t len;
    uint8_t *b = to_bytes(p, &len);
    /* 16 header + 40 fixed + 1 row * 32 + 2 days * 4 + 1 refund-only * 16 + 4 */
    assert_int_equal(len, 16 + 40 + 32 + 8 + 16 + 4);
    assert_memory_equal(b, "CRMB", 4);
    assert_int_equal(blob_get(b + 4, 2), 1);               /* kind: profiles */
    assert_int_equal(blob_get(b + 6, 2), 1);               /* format version */
    assert_int_equal(blob_get(b + 8, 8), len - 20);        /* payload length */
    assert_int_equal(blob_get(b + 16, 8), 200);            /* asof */
    assert_int_equal(blob_get(b + 24, 4), 1);              /* flags: mergeable */
    assert_int_equal(blob_get(b + 28, 4), 0);
    assert_int_equal(blob_get(b + 32, 8), 1);              /* customers */
    assert_int_equal(blob_get(b + 40, 8), 2);              /* days */
    assert_int_equal(blob_get(b + 48, 8), 1);              /* refund-only */
    assert_int_equal(blob_get(b + 56, 8), 7);              /* customer_id */
    assert_int_equal(blob_get(b + 64, 8), 1245);           /* monetary 250+1000-10+5 */
    assert_int_equal(blob_get(b + 72, 4), 3);              /* frequency */
    assert_int_equal(blob_get(b + 76, 4), 1);              /* last_day_orders */
    assert_int_equal(blob_get(b + 80, 4), 100);            /* second_day */
    assert_int_equal(blob_get(b + 84, 4), 2);              /* purchase_days */
    assert_int_equal(blob_get(b + 88, 4), 100);            /* days */
    assert_int_equal(blob_get(b + 92, 4), 104);
    assert_int_equal(blob_get(b + 96, 8), 3);              /* refund-only id */
    assert_int_equal((int64_t)blob_get(b + 104, 8), -40);  /* its money */
    assert_int_equal(blob_get(b + 112, 4), blob_crc32c(b, 112));
    crm_bytes_free(b);
    crm_profiles_free(p);

    /* plain table: first, last, prev instead of the day lists */
    p = build(o, 5, 200, 0);
    b = to_bytes(p, &len);
    assert_int_equal(len, 16 + 40 + 32 + 12 + 4);
    assert_int_equal(blob_get(b + 24, 4), 0);
    assert_int_equal(blob_get(b + 40, 8), 0);
    assert_int_equal(blob_get(b + 48, 8), 0);
    assert_int_equal(blob_get(b + 88, 4), 100);            /* first_day */
    assert_int_equal(blob_get(b + 92, 4), 104);            /* last_day */
    assert_int_equal(blob_get(b + 96, 4), 100);            /* prev_day */
    crm_bytes_free(b);
    crm_profiles_free(p);
}

/* ---- damaged bytes ----------------------------------------------------------------- */

static void expect_refused(const void *b, size_t len, crm_status want, const char *needle)
{
    crm_profiles *p = (crm_profiles *)(uintptr_t)1;
    crm_status s = crm_profiles_deserialize(&p, b, len);
    if (s != want)
        fail_msg("status %d, want %d (%s)", s, want, crm_last_error());
    assert_null(p);
    if (needle && !strstr(crm_last_error(), needle))
        fail_msg("message '%s' lacks '%s'", crm_last_error(), needle);
}

static void refused_when_damaged(void *ctx, const uint8_t *buf, size_t n, size_t at,
                                 uint8_t mask)
{
    (void)ctx;
    (void)mask;
    if (at == BLOB_CUT)
        expect_refused(buf, n, CRM_ESTATE, "byte");
    else /* the version field may turn into a "newer version" */
        expect_refused(buf, n, at == 6 || at == 7 ? CRM_EVERSION : CRM_ESTATE, "byte");
}

static void truncation_and_bit_flips(void **state)
{
    (void)state;
    test_rng g = { 99 };
    size_t n;
    crm_order *o = gen(&g, 40, 12, &n);
    for (int m = 0; m <= 1; m++) {
        crm_profiles *p = build(o, n, 250, m);
        size_t len;
        uint8_t *b = to_bytes(p, &len);
        uint8_t *c = malloc(len + 1);
        blob_damage_sweep(b, len, 1, 1, BLOB_FLIP_EVERY_BIT, refused_when_damaged, NULL);
        memcpy(c, b, len);
        c[len] = 0;
        expect_refused(c, len + 1, CRM_ESTATE, "unexpected bytes");
        free(c);
        crm_bytes_free(b);
        crm_profiles_free(p);
    }
    free(o);
}

static void versions_and_kinds(void **state)
{
    (void)state;
    const crm_order o[] = { { 5, 10 * DAY, 30 } };
    crm_profiles *p = build(o, 1, 20, 1);
    size_t len;
    uint8_t *b = to_bytes(p, &len);
    blob_put(b + 6, CRM_PROFILES_BLOB_VERSION + 1, 2);
    blob_reseal(b, len);
    expect_refused(b, len, CRM_EVERSION, "version 2");
    blob_put(b + 6, 0, 2);
    blob_reseal(b, len);
    expect_refused(b, len, CRM_EVERSION, "version 0");
    blob_put(b + 6, 1, 2);
    blob_put(b + 4, 40, 2); /* another kind (an fcap snapshot, say) */
    blob_reseal(b, len);
    expect_refused(b, len, CRM_ESTATE, "kind 40");
    blob_put(b + 4, 1, 2);
    b[0] = 'X';
    blob_reseal(b, len);
    expect_refused(b, len, CRM_ESTATE, "magic");
    b[0] = 'C';
    blob_reseal(b, len);
    crm_profiles *q = from_bytes(b, len); /* restored: loads again */
    assert_tables_equal(q, p);
    crm_profiles_free(q);
    crm_bytes_free(b);
    crm_profiles_free(p);
}

/* A forged blob: fields edited at `off` (width bytes) to `v`, re-sealed. */
static void expect_forgery_refused(const uint8_t *good, size_t len, size_t off, int width,
                                   uint64_t v, const char *needle)
{
    uint8_t *c = malloc(len);
    memcpy(c, good, len);
    blob_put(c + off, v, width);
    blob_reseal(c, len);
    expect_refused(c, len, CRM_ESTATE, needle);
    free(c);
}

/* Content that passes the checksum but no built table could have. */
static void forged_content(void **state)
{
    (void)state;
    /* customers 7 (days 100 x2, 104), 9 (day 50); refund-only 3 and 12 */
    const crm_order o[] = { { 7, 100 * DAY, 250 }, { 7, 100 * DAY + 1, 5 },
                            { 7, 104 * DAY, 1000 }, { 9, 50 * DAY, 60 },
                            { 3, 95 * DAY, -40 }, { 12, 95 * DAY, -1 } };
    crm_profiles *p = build(o, 6, 200, 1);
    size_t len;
    uint8_t *b = to_bytes(p, &len);
    /* payload offsets: ids 56, 64; money 72, 80; freq 88, 92; lrows 96, 100;
     * second 104, 108; pdays 112, 116; days 120.. (3); ro ids 132, 140;
     * ro money 148, 156; checksum 164 */
    assert_int_equal(len, 168);
    expect_forgery_refused(b, len, 16, 8, (uint64_t)-1, "asof");
    expect_forgery_refused(b, len, 16, 8, 103, "row 0"); /* day 104 after asof */
    expect_forgery_refused(b, len, 24, 4, 3, "flags");
    expect_forgery_refused(b, len, 28, 4, 1, "reserved");
    expect_forgery_refused(b, len, 32, 8, UINT64_MAX / 2, "customers need");
    expect_forgery_refused(b, len, 40, 8, UINT64_MAX, "purchase days need");
    expect_forgery_refused(b, len, 48, 8, 1u << 30, "refund-only customers need");
    expect_forgery_refused(b, len, 48, 8, 1, "unread payload bytes");
    expect_forgery_refused(b, len, 64, 8, 7, "ascending");
    expect_forgery_refused(b, len, 88, 4, 0, "frequency is 0");
    expect_forgery_refused(b, len, 88, 4, 1, "purchase_days");
    expect_forgery_refused(b, len, 96, 4, 3, "last_day_orders");
    expect_forgery_refused(b, len, 104, 4, 101, "second_day");
    expect_forgery_refused(b, len, 108, 4, 49, "second_day must be -1");
    expect_forgery_refused(b, len, 112, 4, 0, "purchase_days");
    expect_forgery_refused(b, len, 112, 4, 1, "one purchase day");
    expect_forgery_refused(b, len, 116, 4, 3, "add up");
    expect_forgery_refused(b, len, 124, 4, 100, "ascending distinct");
    expect_forgery_refused(b, len, 120, 4, (uint32_t)-5, "ascending distinct");
    expect_forgery_refused(b, len, 140, 8, 3, "not above");
    expect_forgery_refused(b, len, 140, 8, 9, "also has a profile");
    expect_forgery_refused(b, len, 148, 8, 0, "non-negative");
    crm_bytes_free(b);
    crm_profiles_free(p);

    /* plain layout: first 120, 124; last 128, 132; prev 136, 140 */
    p = build(o, 6, 200, 0);
    b = to_bytes(p, &len);
    assert_int_equal(len, 148);
    expect_forgery_refused(b, len, 120, 4, 105, "first_day");
    expect_forgery_refused(b, len, 132, 4, 201, "first_day");
    expect_forgery_refused(b, len, 128, 4, 100, "more purchase days");
    expect_forgery_refused(b, len, 136, 4, (uint32_t)-1, "prev_day");
    expect_forgery_refused(b, len, 140, 4, 50, "prev_day");
    expect_forgery_refused(b, len, 44, 4, 1, "plain table carries");
    crm_bytes_free(b);
    crm_profiles_free(p);
}

/* ---- customer-disjoint partitions ---------------------------------------------- */

/* Orders split by customer (hash or id range) into `parts` tables, some
 * plain, merged in one k-way crm_profiles_merge_disjoint, equal the whole. */
static void disjoint_partitions(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        test_rng g = { seed * 7777 };
        size_t n;
        crm_order *o = gen(&g, 3000, 500, &n);
        int64_t asof = test_rng_range(&g, 40, 250);
        size_t parts = (size_t)test_rng_range(&g, 1, 7);
        crm_order *bucket = malloc(n * sizeof *o);
        crm_profiles *t[7] = { 0 };
        for (size_t k = 0; k < parts; k++) {
            size_t m = 0;
            for (size_t i = 0; i < n; i++) {
                uint64_t id = o[i].customer_id;
                size_t part = seed % 2 ? (size_t)((id >> 7) % parts)      /* hash */
                                       : (size_t)(((id >> 32) * parts) >> 32); /* range */
                if (part == k)
                    bucket[m++] = o[i];
            }
            /* seeds 3, 7, 11: all mergeable; else every third one */
            t[k] = build(bucket, m, asof, seed % 4 == 3 || k % 3 == 2);
        }
        crm_profiles *got = NULL;
        if (crm_profiles_merge_disjoint(&got, (const crm_profiles *const *)t, parts))
            fail_msg("merge_disjoint: %s", crm_last_error());
        int all = seed % 4 == 3 || parts < 3;
        for (size_t k = 0; k < parts && all; k++)
            all = crm_profiles_is_mergeable(t[k]);
        assert_int_equal(crm_profiles_is_mergeable(got), all);
        crm_profiles *whole = build(o, n, asof, 0);
        assert_tables_equal(got, whole);
        crm_profiles_free(whole);
        crm_profiles_free(got);
        for (size_t k = 0; k < parts; k++)
            crm_profiles_free(t[k]);
        free(bucket);
        free(o);
    }
}

static void disjoint_errors_and_mergeable_inputs(void **state)
{
    (void)state;
    const crm_order x[] = { { 4, 10 * DAY, 5 }, { 9, 11 * DAY, 7 } };
    const crm_order y[] = { { 9, 12 * DAY, 1 }, { 20, 12 * DAY, 3 } };
    const crm_order z[] = { { 1, 12 * DAY, 1 } };
    const crm_order all[] = { { 4, 10 * DAY, 5 }, { 9, 11 * DAY, 7 },
                              { 9, 12 * DAY, 1 }, { 20, 12 * DAY, 3 } };
    crm_profiles *a = build(x, 2, 30, 0), *b = build(y, 2, 30, 0), *c = build(z, 1, 30, 0);
    crm_profiles *other_day = build(y, 2, 31, 0), *m = (crm_profiles *)(uintptr_t)1;
    const crm_profiles *abc[] = { c, a, b }, *bac[] = { b, a, c };
    assert_int_equal(crm_profiles_merge_disjoint(&m, abc, 3), CRM_EINVAL);
    assert_null(m);
    assert_non_null(strstr(crm_last_error(), "customer 9 is in two tables"));
    assert_int_equal(crm_profiles_merge_disjoint(&m, bac, 3), CRM_EINVAL);
    const crm_profiles *dup[] = { a, a };
    assert_int_equal(crm_profiles_merge_disjoint(&m, dup, 2), CRM_EINVAL);
    const crm_profiles *days[] = { a, other_day };
    assert_int_equal(crm_profiles_merge_disjoint(&m, days, 2), CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "parts[1].asof = 31"));
    const crm_profiles *hole[] = { a, NULL };
    assert_int_equal(crm_profiles_merge_disjoint(&m, hole, 2), CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "parts[1] is NULL"));
    assert_int_equal(crm_profiles_merge_disjoint(NULL, abc, 3), CRM_EINVAL);
    assert_int_equal(crm_profiles_merge_disjoint(&m, NULL, 3), CRM_EINVAL);
    assert_int_equal(crm_profiles_merge_disjoint(&m, abc, 0), CRM_EINVAL);
    assert_null(m);
    /* one plain table: a copy */
    assert_int_equal(crm_profiles_merge_disjoint(&m, abc, 1), CRM_OK);
    assert_tables_equal(m, c);
    crm_profiles_free(m);
    /* all mergeable: overlapping customers merge exactly, result mergeable */
    crm_profiles *am = build(x, 2, 30, 1), *bm = build(y, 2, 30, 1);
    crm_profiles *whole = build(all, 4, 30, 1);
    const crm_profiles *both[] = { bm, am };
    assert_int_equal(crm_profiles_merge_disjoint(&m, both, 2), CRM_OK);
    assert_int_equal(crm_profiles_is_mergeable(m), 1);
    assert_tables_equal(m, whole);
    assert_int_equal(crm_profiles_frequency(m)[1], 2);
    crm_profiles_free(m);
    assert_int_equal(crm_profiles_merge_disjoint(&m, both, 1), CRM_OK);
    assert_int_equal(crm_profiles_is_mergeable(m), 1);
    assert_tables_equal(m, bm);
    crm_profiles_free(m);
    crm_profiles_free(whole);
    crm_profiles_free(am);
    crm_profiles_free(bm);
    crm_profiles_free(other_day);
    crm_profiles_free(a);
    crm_profiles_free(b);
    crm_profiles_free(c);
}

/* ---- API errors ------------------------------------------------------------------- */

static void argument_errors(void **state)
{
    (void)state;
    crm_profiles *p = build(NULL, 0, 10, 1);
    void *b = (void *)(uintptr_t)1;
    size_t len = 77;
    assert_int_equal(crm_profiles_serialize(NULL, &len, p), CRM_EINVAL);
    assert_int_equal(crm_profiles_serialize(&b, NULL, p), CRM_EINVAL);
    assert_int_equal(crm_profiles_serialize(&b, &len, NULL), CRM_EINVAL);
    assert_null(b);
    assert_int_equal(len, 0);
    assert_non_null(strstr(crm_last_error(), "p is NULL"));
    b = to_bytes(p, &len);
    crm_profiles *q = (crm_profiles *)(uintptr_t)1;
    assert_int_equal(crm_profiles_deserialize(NULL, b, len), CRM_EINVAL);
    assert_int_equal(crm_profiles_deserialize(&q, NULL, len), CRM_EINVAL);
    assert_null(q);
    assert_int_equal(crm_profiles_deserialize(&q, NULL, 0), CRM_EINVAL);
    crm_bytes_free(b);
    crm_bytes_free(NULL);
    crm_profiles_free(p);
}

/* ---- allocation failures ---------------------------------------------------------- */

typedef struct oom_ctx {
    const crm_profiles *p;
    const void *bytes;
    size_t len;
} oom_ctx;

static crm_status oom_serialize(void *c)
{
    oom_ctx *x = c;
    void *b = (void *)(uintptr_t)1;
    size_t len = 1;
    crm_status s = crm_profiles_serialize(&b, &len, x->p);
    return OOM_RESULT(s, b, crm_bytes_free);
}

static crm_status oom_deserialize(void *c)
{
    oom_ctx *x = c;
    crm_profiles *p = (crm_profiles *)(uintptr_t)1;
    crm_status s = crm_profiles_deserialize(&p, x->bytes, x->len);
    return OOM_RESULT(s, p, crm_profiles_free);
}

static crm_status oom_merge_disjoint(void *c)
{
    crm_profiles *p = (crm_profiles *)(uintptr_t)1;
    crm_status s = crm_profiles_merge_disjoint(&p, (const crm_profiles *const *)c, 2);
    return OOM_RESULT(s, p, crm_profiles_free);
}

static void allocation_failures(void **state)
{
    (void)state;
    test_rng g = { 4242 };
    size_t n;
    /* enough data that the write buffer grows more than once */
    crm_order *o = gen(&g, 20000, 3000, &n);
    for (int m = 0; m <= 1; m++) {
        crm_profiles *p = build(o, n, 250, m);
        oom_ctx c = { p, NULL, 0 };
        assert_true(oom_sweep(oom_serialize, &c) >= 2);
        void *b = to_bytes(p, &c.len);
        c.bytes = b;
        assert_true(oom_sweep(oom_deserialize, &c) >= 10);
        crm_bytes_free(b);
        if (!m) { /* two halves of the customers, plain */
            crm_profiles *h[2];
            crm_order *half = malloc(n * sizeof *o);
            for (int odd = 0; odd <= 1; odd++) {
                size_t k = 0;
                for (size_t i = 0; i < n; i++)
                    if ((o[i].customer_id & 1) == (uint64_t)odd)
                        half[k++] = o[i];
                h[odd] = build(half, k, 120, 0);
            }
            assert_true(oom_sweep(oom_merge_disjoint, h) >= 10);
            crm_profiles_free(h[0]);
            crm_profiles_free(h[1]);
            free(half);
        }
        crm_profiles_free(p);
    }
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(merge_of_loaded_partials),
        cmocka_unit_test(empty_tables),
        cmocka_unit_test(byte_layout),
        cmocka_unit_test(truncation_and_bit_flips),
        cmocka_unit_test(versions_and_kinds),
        cmocka_unit_test(forged_content),
        cmocka_unit_test(disjoint_partitions),
        cmocka_unit_test(disjoint_errors_and_mergeable_inputs),
        cmocka_unit_test(argument_errors),
        cmocka_unit_test(allocation_failures),
    };
    return cmocka_run_group_tests_name("partial", tests, NULL, NULL);
}
