/* Profiles: hand-worked cases, a brute-force reference, merge == whole,
 * every error path and an allocation-failure sweep. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400

/* ---- brute-force reference, written from the spec -------------------------- */

typedef struct ref_row {
    uint64_t id;
    int32_t first, last, recency, tenure, prev, second;
    uint32_t freq, pdays, last_rows;
    int64_t monetary;
    double gap;
} ref_row;

static int cmp_order(const void *x, const void *y)
{
    const crm_order *a = x, *b = y;
    if (a->customer_id != b->customer_id)
        return a->customer_id < b->customer_id ? -1 : 1;
    return (a->ts > b->ts) - (a->ts < b->ts);
}

static int64_t day_of(int64_t ts)
{
    return ts / DAY; /* tests use ts >= 0 */
}

/* Rows of the reference table (caller frees); count in *n_out. */
static ref_row *reference(const crm_order *orders, size_t n, int64_t asof, size_t *n_out)
{
    crm_order *o = malloc((n ? n : 1) * sizeof *o);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (day_of(orders[i].ts) <= asof)
            o[m++] = orders[i];
    qsort(o, m, sizeof *o, cmp_order);
    ref_row *rows = calloc(m ? m : 1, sizeof *rows);
    size_t k = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i;
        while (j < m && o[j].customer_id == o[i].customer_id)
            j++;
        ref_row r = { .id = o[i].customer_id, .prev = -1, .second = -1 };
        int32_t days[4096];
        size_t nd = 0;
        for (size_t t = i; t < j; t++) {
            r.monetary += o[t].amount;
            if (o[t].amount < 0)
                continue;
            days[nd++] = (int32_t)day_of(o[t].ts); /* ascending: o sorted by ts */
        }
        i = j;
        if (nd == 0)
            continue; /* refund-only: no profile */
        r.freq = (uint32_t)nd;
        r.first = days[0];
        r.last = days[nd - 1];
        r.second = nd >= 2 ? days[1] : -1;
        for (size_t t = 0; t < nd; t++) {
            if (t == 0 || days[t] != days[t - 1])
                r.pdays++;
            if (days[t] == r.last)
                r.last_rows++;
            if (days[t] < r.last)
                r.prev = days[t];
        }
        r.recency = (int32_t)(asof - r.last);
        r.tenure = (int32_t)(asof - r.first);
        r.gap = nd >= 2 ? (double)(r.last - r.first) / (double)(nd - 1) : NAN;
        rows[k++] = r;
    }
    free(o);
    *n_out = k;
    return rows;
}

static void expect_table(const crm_profiles *p, const ref_row *want, size_t n)
{
    assert_int_equal(crm_profiles_count(p), n);
    const uint64_t *id = crm_profiles_customer_id(p);
    const int32_t *first = crm_profiles_first_day(p), *last = crm_profiles_last_day(p);
    const int32_t *rec = crm_profiles_recency_days(p), *ten = crm_profiles_tenure_days(p);
    const int32_t *prev = crm_profiles_prev_day(p), *second = crm_profiles_second_day(p);
    const uint32_t *freq = crm_profiles_frequency(p), *pd = crm_profiles_purchase_days(p);
    const uint32_t *lr = crm_profiles_last_day_orders(p);
    const int64_t *mon = crm_profiles_monetary(p);
    const double *gap = crm_profiles_gap_avg(p);
    for (size_t r = 0; r < n; r++) {
        assert_int_equal(id[r], want[r].id);
        assert_int_equal(first[r], want[r].first);
        assert_int_equal(last[r], want[r].last);
        assert_int_equal(rec[r], want[r].recency);
        assert_int_equal(ten[r], want[r].tenure);
        assert_int_equal(freq[r], want[r].freq);
        assert_int_equal(pd[r], want[r].pdays);
        assert_int_equal(prev[r], want[r].prev);
        assert_int_equal(second[r], want[r].second);
        assert_int_equal(lr[r], want[r].last_rows);
        assert_int_equal(mon[r], want[r].monetary);
        if (isnan(want[r].gap))
            assert_true(isnan(gap[r]));
        else
            assert_true(gap[r] == want[r].gap);
    }
}

/* Random orders: `customers` ids spread over 64 bits, up to `per` orders
 * each, ~5% refunds, same-day repeats; chronological or shuffled. */
static crm_order *random_orders(test_rng *g, size_t customers, int per, int shuffle,
                                size_t *n_out)
{
    size_t cap = customers * (size_t)per + 1, n = 0;
    crm_order *o = malloc(cap * sizeof *o);
    for (size_t c = 0; c < customers; c++) {
        uint64_t id = test_rng_next(g) >> (test_rng_next(g) % 40);
        int k = (int)test_rng_range(g, 1, per);
        int64_t t = test_rng_range(g, 0, 400) * DAY;
        for (int j = 0; j < k; j++) {
            if (test_rng_range(g, 0, 3) != 0)
                t += test_rng_range(g, 0, 40) * DAY + test_rng_range(g, 0, DAY - 1);
            int64_t amount = test_rng_range(g, 0, 20) == 0 ? -test_rng_range(g, 1, 5000)
                                                           : test_rng_range(g, 0, 100000);
            o[n++] = (crm_order){ id, t, amount };
        }
    }
    if (!shuffle) { /* chronological, as a POS export */
        for (size_t i = 1; i < n; i++) {
            crm_order x = o[i];
            size_t j = i;
            while (j > 0 && o[j - 1].ts > x.ts) {
                o[j] = o[j - 1];
                j--;
            }
            o[j] = x;
        }
    } else {
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)test_rng_range(g, 0, (int64_t)i - 1);
            crm_order x = o[i - 1];
            o[i - 1] = o[j];
            o[j] = x;
        }
    }
    *n_out = n;
    return o;
}

static crm_profiles *build_ok(const crm_order *o, size_t n, int64_t asof, int mergeable)
{
    crm_profiles_options opt;
    assert_int_equal(crm_profiles_options_init(&opt, CRM_PROFILES_OPTIONS_VERSION), CRM_OK);
    opt.mergeable = (uint32_t)mergeable;
    crm_profiles *p = NULL;
    crm_status s = crm_profiles_build(&p, o, n, asof, &opt);
    if (s)
        fail_msg("build: %s", crm_last_error());
    return p;
}

/* ---- hand-worked cases ---------------------------------------------------- */

static void hand_worked(void **state)
{
    (void)state;
    /* asof = day 100. Customer 7: orders on days 10, 10, 40, 70 (one refund on
     * day 50 of -300); customer 3: one order on day 90 and one on day 101
     * (after asof, ignored); customer 9: refunds only; customer 5: a zero
     * amount order on day 100 and a refund dated before it (day 1). */
    const crm_order o[] = {
        { 7, 70 * DAY + 5, 1000 }, { 3, 90 * DAY, 250 },   { 7, 10 * DAY + 1, 500 },
        { 9, 20 * DAY, -100 },     { 7, 50 * DAY, -300 },  { 7, 40 * DAY, 200 },
        { 3, 101 * DAY, 9999 },    { 7, 10 * DAY + 7, 300 }, { 5, 100 * DAY + 86399, 0 },
        { 5, 1 * DAY, -50 },
    };
    crm_profiles *p = build_ok(o, ARRAY_LEN(o), 100, 0);
    /* rows by id: 3, 5, 7 */
    const ref_row want[] = {
        { .id = 3, .first = 90, .last = 90, .recency = 10, .tenure = 10, .prev = -1,
          .second = -1, .freq = 1, .pdays = 1, .last_rows = 1, .monetary = 250, .gap = NAN },
        { .id = 5, .first = 100, .last = 100, .recency = 0, .tenure = 0, .prev = -1,
          .second = -1, .freq = 1, .pdays = 1, .last_rows = 1, .monetary = -50, .gap = NAN },
        { .id = 7, .first = 10, .last = 70, .recency = 30, .tenure = 90, .prev = 40,
          .second = 10, .freq = 4, .pdays = 3, .last_rows = 1, .monetary = 1700,
          .gap = 60.0 / 3.0 },
    };
    expect_table(p, want, ARRAY_LEN(want));

    /* Summary: customers 3, orders 6, revenue 250 - 50 + 1700 = 1900;
     * ARPU 633.33.., mean frequency 2, average check 316.66.., mean lifetime
     * over repeaters (customer 7 only) = 60. */
    crm_population_summary s = { .version = CRM_POPULATION_SUMMARY_VERSION };
    assert_int_equal(crm_profiles_summary(p, &s), CRM_OK);
    assert_int_equal(s.customers, 3);
    assert_int_equal(s.orders, 6);
    assert_int_equal(s.revenue, 1900);
    assert_int_equal(s.repeaters, 1);
    assert_int_equal(s.valid, 15);
    assert_close(s.arpu, 1900.0 / 3, 1e-15);
    assert_close(s.mean_frequency, 2.0, 1e-15);
    assert_close(s.average_check, 1900.0 / 6, 1e-15);
    assert_close(s.mean_lifetime, 60.0, 1e-15);

    size_t row = 99;
    assert_int_equal(crm_profiles_find(p, 5, &row), CRM_OK);
    assert_int_equal(row, 1);
    assert_int_equal(crm_profiles_find(p, 9, &row), CRM_EINVAL); /* refund-only */
    assert_int_equal(crm_profiles_asof(p), 100);
    assert_int_equal(crm_profiles_is_mergeable(p), 0);
    crm_profiles_free(p);
}

/* Repeaters whose orders all fall on one day count in mean lifetime with 0;
 * two orders on the first day give second_day = first_day. */
static void same_day_repeater(void **state)
{
    (void)state;
    const crm_order o[] = { { 1, 5 * DAY, 10 }, { 1, 5 * DAY + 10, 20 }, { 2, 3 * DAY, 1 },
                            { 2, 9 * DAY, 1 } };
    crm_profiles *p = build_ok(o, ARRAY_LEN(o), 10, 0);
    assert_int_equal(crm_profiles_second_day(p)[0], 5);
    assert_int_equal(crm_profiles_purchase_days(p)[0], 1);
    assert_int_equal(crm_profiles_last_day_orders(p)[0], 2);
    assert_true(crm_profiles_gap_avg(p)[0] == 0.0);
    crm_population_summary s = { .version = 1 };
    assert_int_equal(crm_profiles_summary(p, &s), CRM_OK);
    assert_close(s.mean_lifetime, (0.0 + 6.0) / 2, 1e-15);
    crm_profiles_free(p);
}

/* Empty input: an empty table whose ratios are all null. */
static void empty_table(void **state)
{
    (void)state;
    crm_profiles *p = build_ok(NULL, 0, 0, 1);
    assert_int_equal(crm_profiles_count(p), 0);
    crm_population_summary s = { .version = 1, .valid = 99 };
    assert_int_equal(crm_profiles_summary(p, &s), CRM_OK);
    assert_int_equal(s.valid, 0);
    assert_true(isnan(s.arpu) && isnan(s.mean_frequency) && isnan(s.average_check) &&
                isnan(s.mean_lifetime));
    /* Only refunds: still no customer, no revenue. */
    const crm_order r[] = { { 4, 0, -10 } };
    crm_profiles *q = build_ok(r, 1, 0, 1);
    assert_int_equal(crm_profiles_count(q), 0);
    crm_profiles *m = NULL;
    assert_int_equal(crm_profiles_merge(&m, p, q), CRM_OK);
    assert_int_equal(crm_profiles_count(m), 0);
    crm_profiles_free(m);
    crm_profiles_free(q);
    crm_profiles_free(p);
}

/* Day boundaries: ts = asof * 86400 + 86399 is in, + 86400 is out; ts = 0
 * and ts = CRM_TS_MAX are valid. */
static void day_boundaries(void **state)
{
    (void)state;
    const crm_order o[] = { { 1, 0, 1 }, { 2, 9 * DAY + 86399, 1 }, { 3, 10 * DAY, 1 },
                            { 4, CRM_TS_MAX, 1 } };
    crm_profiles *p = build_ok(o, ARRAY_LEN(o), 9, 0);
    assert_int_equal(crm_profiles_count(p), 2);
    assert_int_equal(crm_profiles_customer_id(p)[1], 2);
    crm_profiles_free(p);
    p = build_ok(o, ARRAY_LEN(o), CRM_DAY_MAX, 0);
    assert_int_equal(crm_profiles_count(p), 4);
    assert_int_equal(crm_profiles_last_day(p)[3], CRM_DAY_MAX);
    crm_profiles_free(p);
}

/* ---- brute force and merge ------------------------------------------------- */

static void against_reference(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        test_rng g = { seed };
        size_t n;
        int shuffle = (int)(seed % 3 == 0);
        crm_order *o = random_orders(&g, 300 + seed * 150, seed % 2 ? 6 : 40, shuffle, &n);
        crm_order *copy = malloc(n * sizeof *o);
        memcpy(copy, o, n * sizeof *o);
        int64_t asof = test_rng_range(&g, 100, 900);
        size_t nref;
        ref_row *want = reference(o, n, asof, &nref);
        for (int mergeable = 0; mergeable <= 1; mergeable++) {
            crm_profiles *p = build_ok(o, n, asof, mergeable);
            expect_table(p, want, nref);
            crm_profiles_free(p);
        }
        assert_memory_equal(o, copy, n * sizeof *o); /* input untouched */
        free(want);
        free(copy);
        free(o);
    }
}

/* Hash-index growth well past its initial size, many orders per customer. */
static void large_table(void **state)
{
    (void)state;
    test_rng g = { 77 };
    size_t n;
    crm_order *o = random_orders(&g, 40000, 8, 1, &n);
    size_t nref;
    ref_row *want = reference(o, n, 2000, &nref);
    crm_profiles *p = build_ok(o, n, 2000, 0);
    expect_table(p, want, nref);
    crm_profiles_free(p);
    free(want);
    free(o);
}

static void expect_same(const crm_profiles *a, const crm_profiles *b)
{
    size_t n = crm_profiles_count(b);
    assert_int_equal(crm_profiles_count(a), n);
    assert_memory_equal(crm_profiles_customer_id(a), crm_profiles_customer_id(b), n * 8);
    assert_memory_equal(crm_profiles_monetary(a), crm_profiles_monetary(b), n * 8);
    assert_memory_equal(crm_profiles_first_day(a), crm_profiles_first_day(b), n * 4);
    assert_memory_equal(crm_profiles_last_day(a), crm_profiles_last_day(b), n * 4);
    assert_memory_equal(crm_profiles_recency_days(a), crm_profiles_recency_days(b), n * 4);
    assert_memory_equal(crm_profiles_tenure_days(a), crm_profiles_tenure_days(b), n * 4);
    assert_memory_equal(crm_profiles_frequency(a), crm_profiles_frequency(b), n * 4);
    assert_memory_equal(crm_profiles_purchase_days(a), crm_profiles_purchase_days(b), n * 4);
    assert_memory_equal(crm_profiles_prev_day(a), crm_profiles_prev_day(b), n * 4);
    assert_memory_equal(crm_profiles_second_day(a), crm_profiles_second_day(b), n * 4);
    assert_memory_equal(crm_profiles_last_day_orders(a), crm_profiles_last_day_orders(b), n * 4);
    assert_memory_equal(crm_profiles_gap_avg(a), crm_profiles_gap_avg(b), n * 8);
    crm_population_summary sa = { .version = 1 }, sb = { .version = 1 };
    assert_int_equal(crm_profiles_summary(a, &sa), CRM_OK);
    assert_int_equal(crm_profiles_summary(b, &sb), CRM_OK);
    assert_memory_equal(&sa, &sb, sizeof sa);
}

/* Random partitions (a customer's rows split across parts, empty parts, one
 * huge part) merged in random trees equal the table of the whole. */
static void merge_equals_whole(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        test_rng g = { seed * 7919 };
        size_t n;
        crm_order *o = random_orders(&g, 200 + seed * 40, 12, (int)(seed & 1), &n);
        int64_t asof = test_rng_range(&g, 50, 900);
        crm_profiles *whole = build_ok(o, n, asof, 1);
        int parts = (int)test_rng_range(&g, 1, 6);
        crm_order *bucket = malloc(n * sizeof *o);
        crm_profiles *acc = NULL;
        for (int k = 0; k < parts; k++) {
            size_t m = 0;
            for (size_t i = 0; i < n; i++) {
                /* row i goes to a pseudo-random part; every 5th seed puts all
                 * rows in part 0 (one huge part, the others empty) */
                test_rng h = { seed * 1000003 + i };
                int part = seed % 5 == 0 ? 0 : (int)(test_rng_next(&h) % (uint64_t)parts);
                if (part == k)
                    bucket[m++] = o[i];
            }
            crm_profiles *p = build_ok(bucket, m, asof, 1);
            if (!acc) {
                acc = p;
            } else {
                crm_profiles *merged = NULL;
                crm_status s = (k & 1) ? crm_profiles_merge(&merged, acc, p)
                                       : crm_profiles_merge(&merged, p, acc);
                assert_int_equal(s, CRM_OK);
                assert_int_equal(crm_profiles_is_mergeable(merged), 1);
                crm_profiles_free(acc);
                crm_profiles_free(p);
                acc = merged;
            }
        }
        expect_same(acc, whole);
        crm_profiles_free(acc);
        crm_profiles_free(whole);
        free(bucket);
        free(o);
    }
}

/* A customer who is refund-only in one part and a buyer in the other. */
static void merge_refund_only_part(void **state)
{
    (void)state;
    const crm_order a[] = { { 8, 3 * DAY, -70 }, { 6, DAY, -5 } };
    const crm_order b[] = { { 8, 5 * DAY, 100 } };
    const crm_order all[] = { { 8, 3 * DAY, -70 }, { 6, DAY, -5 }, { 8, 5 * DAY, 100 } };
    crm_profiles *pa = build_ok(a, 2, 10, 1), *pb = build_ok(b, 1, 10, 1);
    crm_profiles *whole = build_ok(all, 3, 10, 1), *m = NULL;
    assert_int_equal(crm_profiles_merge(&m, pa, pb), CRM_OK);
    expect_same(m, whole);
    assert_int_equal(crm_profiles_monetary(m)[0], 30);
    /* merging further with a part where 6 buys folds the -5 in */
    const crm_order c[] = { { 6, 2 * DAY, 10 } };
    crm_profiles *pc = build_ok(c, 1, 10, 1), *m2 = NULL;
    assert_int_equal(crm_profiles_merge(&m2, pc, m), CRM_OK);
    assert_int_equal(crm_profiles_count(m2), 2);
    assert_int_equal(crm_profiles_monetary(m2)[0], 5);
    crm_profiles_free(m2);
    crm_profiles_free(pc);
    crm_profiles_free(m);
    crm_profiles_free(whole);
    crm_profiles_free(pa);
    crm_profiles_free(pb);
}

/* ---- errors ------------------------------------------------------------------ */

static void build_errors(void **state)
{
    (void)state;
    crm_order o[] = { { 1, DAY, 5 }, { 2, -1, 5 }, { 3, DAY, 5 } };
    crm_profiles *p = (crm_profiles *)(uintptr_t)1;
    assert_int_equal(crm_profiles_build(NULL, o, 3, 10, NULL), CRM_EINVAL);
    assert_int_equal(crm_profiles_build(&p, NULL, 3, 10, NULL), CRM_EINVAL);
    assert_null(p);
    p = (crm_profiles *)(uintptr_t)1;
    assert_int_equal(crm_profiles_build(&p, o, 3, 10, NULL), CRM_EDATA);
    assert_null(p);
    assert_non_null(strstr(crm_last_error(), "orders[1].ts = -1"));
    o[1].ts = CRM_TS_MAX + 1;
    assert_int_equal(crm_profiles_build(&p, o, 3, 10, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "orders[1]"));
    o[1].ts = DAY;
    assert_int_equal(crm_profiles_build(&p, o, 3, -1, NULL), CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "asof"));
    assert_int_equal(crm_profiles_build(&p, o, 3, CRM_DAY_MAX + 1, NULL), CRM_EINVAL);
    assert_int_equal(crm_profiles_build(&p, o, SIZE_MAX / 2, 10, NULL), CRM_EOVERFLOW);
    crm_profiles_options opt = { .version = 0 };
    assert_int_equal(crm_profiles_build(&p, o, 3, 10, &opt), CRM_EVERSION);
    opt.version = CRM_PROFILES_OPTIONS_VERSION + 1;
    assert_int_equal(crm_profiles_build(&p, o, 3, 10, &opt), CRM_EVERSION);
    assert_non_null(strstr(crm_last_error(), "crm_profiles_options.version"));
    /* monetary overflow names the record */
    crm_order big[] = { { 1, DAY, INT64_MAX }, { 1, DAY, 1 } };
    assert_int_equal(crm_profiles_build(&p, big, 2, 10, NULL), CRM_EOVERFLOW);
    assert_non_null(strstr(crm_last_error(), "orders[1]"));
    /* total revenue overflow across customers */
    crm_order rev[] = { { 1, DAY, INT64_MAX }, { 2, DAY, 1 } };
    assert_int_equal(crm_profiles_build(&p, rev, 2, 10, NULL), CRM_EOVERFLOW);
    assert_null(p);
}

static void options_init_errors(void **state)
{
    (void)state;
    crm_profiles_options opt;
    assert_int_equal(crm_profiles_options_init(NULL, 1), CRM_EINVAL);
    assert_int_equal(crm_profiles_options_init(&opt, 0), CRM_EVERSION);
    assert_int_equal(crm_profiles_options_init(&opt, 99), CRM_EVERSION);
    assert_int_equal(crm_profiles_options_init(&opt, 1), CRM_OK);
    assert_int_equal(opt.version, 1);
    assert_int_equal(opt.mergeable, 0);
}

static void merge_and_accessor_errors(void **state)
{
    (void)state;
    const crm_order o[] = { { 1, DAY, 5 } };
    crm_profiles *plain = build_ok(o, 1, 10, 0), *m1 = build_ok(o, 1, 10, 1);
    crm_profiles *m2 = build_ok(o, 1, 11, 1), *out = (crm_profiles *)(uintptr_t)1;
    assert_int_equal(crm_profiles_merge(NULL, m1, m1), CRM_EINVAL);
    assert_int_equal(crm_profiles_merge(&out, NULL, m1), CRM_EINVAL);
    assert_null(out);
    assert_int_equal(crm_profiles_merge(&out, m1, NULL), CRM_EINVAL);
    assert_int_equal(crm_profiles_merge(&out, plain, m1), CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "mergeable"));
    assert_int_equal(crm_profiles_merge(&out, m1, m2), CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "asof"));
    /* frequency overflow in a merge is reported, not wrapped */
    crm_population_summary s = { .version = 0 };
    assert_int_equal(crm_profiles_summary(m1, &s), CRM_EVERSION);
    s.version = 2;
    assert_int_equal(crm_profiles_summary(m1, &s), CRM_EVERSION);
    assert_int_equal(crm_profiles_summary(NULL, &s), CRM_EINVAL);
    assert_int_equal(crm_profiles_summary(m1, NULL), CRM_EINVAL);
    size_t row;
    assert_int_equal(crm_profiles_find(NULL, 1, &row), CRM_EINVAL);
    assert_int_equal(crm_profiles_find(m1, 1, NULL), CRM_EINVAL);
    assert_int_equal(crm_profiles_find(m1, 2, &row), CRM_EINVAL);
    /* NULL tables: getters answer without crashing */
    assert_int_equal(crm_profiles_count(NULL), 0);
    assert_int_equal(crm_profiles_asof(NULL), -1);
    assert_int_equal(crm_profiles_is_mergeable(NULL), 0);
    assert_null(crm_profiles_customer_id(NULL));
    assert_null(crm_profiles_first_day(NULL));
    assert_null(crm_profiles_last_day(NULL));
    assert_null(crm_profiles_recency_days(NULL));
    assert_null(crm_profiles_tenure_days(NULL));
    assert_null(crm_profiles_frequency(NULL));
    assert_null(crm_profiles_monetary(NULL));
    assert_null(crm_profiles_gap_avg(NULL));
    assert_null(crm_profiles_purchase_days(NULL));
    assert_null(crm_profiles_prev_day(NULL));
    assert_null(crm_profiles_second_day(NULL));
    assert_null(crm_profiles_last_day_orders(NULL));
    crm_profiles_free(NULL);
    crm_profiles_free(plain);
    crm_profiles_free(m1);
    crm_profiles_free(m2);
}

static void merge_overflow(void **state)
{
    (void)state;
    const crm_order a[] = { { 1, DAY, INT64_MAX } }, b[] = { { 1, 2 * DAY, 1 } };
    crm_profiles *pa = build_ok(a, 1, 10, 1), *pb = build_ok(b, 1, 10, 1), *m = NULL;
    assert_int_equal(crm_profiles_merge(&m, pa, pb), CRM_EOVERFLOW);
    assert_null(m);
    crm_profiles_free(pa);
    crm_profiles_free(pb);
}

/* ---- large inputs ------------------------------------------------------------ */

static int cmp_ts(const void *x, const void *y)
{
    const crm_order *a = x, *b = y;
    return (a->ts > b->ts) - (a->ts < b->ts);
}

/* Orders of the given customer ids: 1..per rows each over 3 years, ~5 %
 * refunds, same-day repeats; sorted by ts (chronological) or shuffled. */
static crm_order *orders_of(test_rng *g, const uint64_t *ids, size_t customers, int per,
                            int shuffle, size_t *n_out)
{
    crm_order *o = malloc((customers * (size_t)per + 1) * sizeof *o);
    size_t n = 0;
    for (size_t c = 0; c < customers; c++) {
        int k = (int)test_rng_range(g, 1, per);
        int64_t t = test_rng_range(g, 20000, 20400) * DAY;
        for (int j = 0; j < k; j++) {
            if (test_rng_range(g, 0, 3) != 0)
                t += test_rng_range(g, 0, 60) * DAY + test_rng_range(g, 0, DAY - 1);
            int64_t amount = test_rng_range(g, 0, 20) == 0 ? -test_rng_range(g, 1, 5000)
                                                           : test_rng_range(g, 0, 100000);
            o[n++] = (crm_order){ ids[c], t, amount };
        }
    }
    if (shuffle) {
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)test_rng_range(g, 0, (int64_t)i - 1);
            crm_order x = o[i - 1];
            o[i - 1] = o[j];
            o[j] = x;
        }
    } else {
        qsort(o, n, sizeof *o, cmp_ts);
    }
    *n_out = n;
    return o;
}

/* Build (plain and mergeable) == the brute-force reference, and the merge of
 * two halves (customers split across them) == the whole. */
static void expect_reference_and_merge(const crm_order *o, size_t n, int64_t asof)
{
    size_t nref;
    ref_row *want = reference(o, n, asof, &nref);
    crm_profiles *plain = build_ok(o, n, asof, 0);
    expect_table(plain, want, nref);
    crm_profiles *whole = build_ok(o, n, asof, 1);
    expect_table(whole, want, nref);
    crm_profiles *a = build_ok(o, n / 3, asof, 1);
    crm_profiles *b = build_ok(o + n / 3, n - n / 3, asof, 1);
    crm_profiles *m = NULL;
    assert_int_equal(crm_profiles_merge(&m, a, b), CRM_OK);
    expect_same(m, whole);
    crm_profiles_free(m);
    crm_profiles_free(a);
    crm_profiles_free(b);
    crm_profiles_free(whole);
    crm_profiles_free(plain);
    free(want);
}

/* More than 2^16 customers (ids spread over 64 bits, a few tiny ones),
 * chronological and shuffled, against the reference. */
static void large_input(void **state)
{
    (void)state;
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
        test_rng g = { 4242 + (uint64_t)shuffle };
        size_t customers = 70000 + 3000 * (size_t)shuffle;
        uint64_t *ids = malloc(customers * sizeof *ids);
        for (size_t c = 0; c < customers; c++)
            ids[c] = c < 5 ? c : test_rng_next(&g) >> (test_rng_next(&g) % 40);
        size_t n;
        crm_order *o = orders_of(&g, ids, customers, 7, shuffle, &n);
        crm_order *copy = malloc(n * sizeof *o);
        memcpy(copy, o, n * sizeof *o);
        expect_reference_and_merge(o, n, 20500);
        assert_memory_equal(o, copy, n * sizeof *o); /* input untouched */
        free(copy);
        free(o);
        free(ids);
    }
}

/* Days far before asof (the build keeps days as 16-bit offsets from
 * asof - 65535 and rebuilds the other customers exactly): customers with all
 * days before that base, straddling it, or after it, chronological and
 * shuffled, against the reference. */
static void wide_day_span(void **state)
{
    (void)state;
    const int64_t asof = 200000, base = asof - 65535;
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
        test_rng g = { 99 + (uint64_t)shuffle };
        size_t customers = 4000, n = 0;
        crm_order *o = malloc(customers * 8 * sizeof *o);
        for (size_t c = 0; c < customers; c++) {
            int64_t lo = c % 4 == 0 ? 0 : c % 4 == 1 ? base - 300 : c % 4 == 2 ? base : 0;
            int64_t hi = c % 4 == 0 ? base - 1 : c % 4 == 1 ? base + 300 : asof + 5;
            int k = (int)test_rng_range(&g, 1, 8);
            for (int j = 0; j < k; j++) {
                int64_t amount = test_rng_range(&g, 0, 9) == 0 ? -7 : test_rng_range(&g, 0, 999);
                o[n++] = (crm_order){ 1000 + c * 13, test_rng_range(&g, lo, hi) * DAY + j,
                                      amount };
            }
        }
        if (shuffle) {
            for (size_t i = n; i > 1; i--) {
                size_t j = (size_t)test_rng_range(&g, 0, (int64_t)i - 1);
                crm_order x = o[i - 1];
                o[i - 1] = o[j];
                o[j] = x;
            }
        } else {
            qsort(o, n, sizeof *o, cmp_ts);
        }
        expect_reference_and_merge(o, n, asof);
        free(o);
    }
}

/* Customers with more rows on one day than the build's 14-bit counter of
 * rows on the last day holds (16383), hand-worked: 1 has exactly 16383 rows
 * on day 10; 2 has 16385 on day 10 then 2 on day 12; 3 has 20000 on day 11
 * (its last day) after one on day 4. Chronological input. */
static void busy_days(void **state)
{
    (void)state;
    size_t n = 0;
    crm_order *o = malloc(60000 * sizeof *o);
    for (int i = 0; i < 16383; i++)
        o[n++] = (crm_order){ 1, 10 * DAY + i, 2 };
    for (int i = 0; i < 16385; i++)
        o[n++] = (crm_order){ 2, 10 * DAY + i, 3 };
    o[n++] = (crm_order){ 2, 12 * DAY, 5 };
    o[n++] = (crm_order){ 2, 12 * DAY + 1, 5 };
    o[n++] = (crm_order){ 3, 4 * DAY, 1 };
    for (int i = 0; i < 20000; i++)
        o[n++] = (crm_order){ 3, 11 * DAY + i, 1 };
    qsort(o, n, sizeof *o, cmp_ts);
    for (int mergeable = 0; mergeable <= 1; mergeable++) {
        crm_profiles *p = build_ok(o, n, 20, mergeable);
        assert_int_equal(crm_profiles_count(p), 3);
        const uint32_t freq[] = { 16383, 16387, 20001 }, rows[] = { 16383, 2, 20000 },
                       pdays[] = { 1, 2, 2 };
        const int32_t first[] = { 10, 10, 4 }, last[] = { 10, 12, 11 }, prev[] = { -1, 10, 4 },
                      second[] = { 10, 10, 11 };
        const int64_t money[] = { 2 * 16383, 3 * 16385 + 10, 20001 };
        for (size_t r = 0; r < 3; r++) {
            assert_int_equal(crm_profiles_customer_id(p)[r], r + 1);
            assert_int_equal(crm_profiles_frequency(p)[r], freq[r]);
            assert_int_equal(crm_profiles_last_day_orders(p)[r], rows[r]);
            assert_int_equal(crm_profiles_purchase_days(p)[r], pdays[r]);
            assert_int_equal(crm_profiles_first_day(p)[r], first[r]);
            assert_int_equal(crm_profiles_last_day(p)[r], last[r]);
            assert_int_equal(crm_profiles_prev_day(p)[r], prev[r]);
            assert_int_equal(crm_profiles_second_day(p)[r], second[r]);
            assert_int_equal(crm_profiles_monetary(p)[r], money[r]);
        }
        crm_profiles_free(p);
    }
    free(o);
}

/* ---- allocation failures ------------------------------------------------- */

typedef struct oom_ctx {
    const crm_order *o;
    size_t n;
    int mergeable;
    const crm_profiles *a, *b;
} oom_ctx;

static crm_status oom_build(void *c)
{
    oom_ctx *x = c;
    crm_profiles_options opt;
    crm_profiles_options_init(&opt, 1);
    opt.mergeable = (uint32_t)x->mergeable;
    crm_profiles *p = (crm_profiles *)(uintptr_t)1;
    crm_status s = crm_profiles_build(&p, x->o, x->n, 5000, &opt);
    return OOM_RESULT(s, p, crm_profiles_free);
}

static crm_status oom_merge(void *c)
{
    oom_ctx *x = c;
    crm_profiles *p = (crm_profiles *)(uintptr_t)1;
    crm_status s = crm_profiles_merge(&p, x->a, x->b);
    return OOM_RESULT(s, p, crm_profiles_free);
}

static void allocation_failures(void **state)
{
    (void)state;
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
        test_rng g = { 5 + (uint64_t)shuffle };
        size_t n;
        /* enough customers to grow the slots and the index several times */
        crm_order *o = random_orders(&g, 3000, 4, shuffle, &n);
        for (int mergeable = 0; mergeable <= 1; mergeable++) {
            oom_ctx c = { o, n, mergeable, NULL, NULL };
            assert_true(oom_sweep(oom_build, &c) > 3);
        }
        crm_profiles *a = build_ok(o, n / 2, 5000, 1), *b = build_ok(o + n / 2, n - n / 2, 5000, 1);
        oom_ctx c = { NULL, 0, 0, a, b };
        assert_true(oom_sweep(oom_merge, &c) > 3);
        crm_profiles_free(a);
        crm_profiles_free(b);
        free(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hand_worked),
        cmocka_unit_test(same_day_repeater),
        cmocka_unit_test(empty_table),
        cmocka_unit_test(day_boundaries),
        cmocka_unit_test(against_reference),
        cmocka_unit_test(large_table),
        cmocka_unit_test(large_input),
        cmocka_unit_test(wide_day_span),
        cmocka_unit_test(busy_days),
        cmocka_unit_test(merge_equals_whole),
        cmocka_unit_test(merge_refund_only_part),
        cmocka_unit_test(build_errors),
        cmocka_unit_test(options_init_errors),
        cmocka_unit_test(merge_and_accessor_errors),
        cmocka_unit_test(merge_overflow),
        cmocka_unit_test(allocation_failures),
    };
    return cmocka_run_group_tests_name("profiles", tests, NULL, NULL);
}
