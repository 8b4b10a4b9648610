/* RFM: hand-worked cases per tie rule, a brute-force reference written from
 * the spec, the R package's published figures, order and partition
 * independence, lint of the built-in maps, migration, every error path and
 * allocation-failure sweeps. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400

static crm_rfm_result *score_cols(const uint64_t *id, const int32_t *rec, const uint32_t *f,
                                  const int64_t *m, size_t n, uint32_t bins, uint32_t tie)
{
    crm_rfm_options o;
    assert_int_equal(crm_rfm_options_init(&o, CRM_RFM_OPTIONS_VERSION), CRM_OK);
    o.bins = bins;
    o.tie = tie;
    crm_rfm_result *res = NULL;
    assert_int_equal(crm_rfm_score_columns(&res, id, rec, f, m, n, &o), CRM_OK);
    assert_non_null(res);
    return res;
}

static void expect_scores(const uint8_t *got, const int *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("row %zu: score %u, want %d", i, got[i], want[i]);
}

static void expect_cuts(const crm_rfm_result *r, int dim, const int64_t *want, size_t n)
{
    size_t got_n;
    const int64_t *got = crm_rfm_cuts(r, dim, &got_n);
    assert_int_equal(got_n, n);
    for (size_t j = 0; j < n; j++)
        if (got[j] != want[j])
            fail_msg("dim %d cut %zu: %lld, want %lld", dim, j, (long long)got[j],
                     (long long)want[j]);
}

/* ---- hand-worked cases (worked on paper from the spec's formulas) ------------ */

static const uint64_t H_ID[7] = { 1, 2, 3, 4, 5, 6, 7 };
static const int32_t H_REC[7] = { 10, 0, 5, 5, 30, 0, 2 };
static const uint32_t H_FREQ[7] = { 3, 1, 1, 2, 5, 1, 4 };
static const int64_t H_MON[7] = { 500, -100, 0, 250, 250, 1000, 75 };

static void hand_ntile(void **state)
{
    (void)state;
    crm_rfm_result *r = score_cols(H_ID, H_REC, H_FREQ, H_MON, 7, 5, CRM_RFM_TIE_NTILE);
    /* len 7, N 5: L 2, S 1, k 2, T 4: ranks 1-2 -> 1, 3-4 -> 2, 5, 6, 7 -> 3, 4, 5 */
    expect_scores(crm_rfm_f(r), (int[]){ 3, 1, 1, 2, 5, 2, 4 }, 7);
    expect_scores(crm_rfm_r(r), (int[]){ 1, 4, 2, 2, 1, 5, 3 }, 7);
    expect_scores(crm_rfm_m(r), (int[]){ 4, 1, 1, 2, 3, 5, 2 }, 7);
    /* value 1 split over bins 1-2 belongs to bin 1 */
    expect_cuts(r, CRM_RFM_DIM_F, (const int64_t[]){ 2, 3, 4, 5 }, 4);
    /* keys -30 -10 | -5 -5 | -2 | 0 | 0 */
    /* key 0 split over bins 4-5 belongs to bin 4 */
    expect_cuts(r, CRM_RFM_DIM_R, (const int64_t[]){ -9, -4, -1, 1 }, 4);
    /* explanation of customer 6 (row 5), F: value 1, rank 3, bin 2 = ranks 3-4 */
    crm_rfm_explanation e = { .version = CRM_RFM_EXPLANATION_VERSION };
    assert_int_equal(crm_rfm_explain(r, 5, CRM_RFM_DIM_F, &e), CRM_OK);
    assert_int_equal(e.score, 2);
    assert_int_equal(e.value, 1);
    assert_int_equal(e.key, 1);
    assert_int_equal(e.rank, 3);
    assert_int_equal(e.count, 7);
    assert_int_equal(e.rank_lo, 3);
    assert_int_equal(e.rank_hi, 4);
    assert_int_equal(e.lo, 1);
    assert_int_equal(e.hi, 2);
    assert_int_equal(e.rule, CRM_RFM_TIE_NTILE);
    /* R of customer 5 (row 4): recency 30, key -30, rank 1, bin 1 */
    assert_int_equal(crm_rfm_explain(r, 4, CRM_RFM_DIM_R, &e), CRM_OK);
    assert_int_equal(e.value, 30);
    assert_int_equal(e.key, -30);
    assert_int_equal(e.rank, 1);
    assert_int_equal(e.lo, -30);
    assert_int_equal(e.hi, -10);
    crm_rfm_free(r);
}

static void hand_qcut_rank(void **state)
{
    (void)state;
    crm_rfm_result *r = score_cols(H_ID, H_REC, H_FREQ, H_MON, 7, 5, CRM_RFM_TIE_QCUT_RANK);
    /* bin(r) = max(1, ceil(5 (r - 1) / 6)): 1 1 2 3 4 5 5 */
    expect_scores(crm_rfm_f(r), (int[]){ 4, 1, 1, 3, 5, 2, 5 }, 7);
    /* recency ascending (0,2) (0,6) (2,7) (5,3) (5,4) (10,1) (30,5); R = 6 - bin */
    expect_scores(crm_rfm_r(r), (int[]){ 1, 5, 3, 2, 1, 5, 4 }, 7);
    /* u = 1, (empty: 1), 2, 3 */
    expect_cuts(r, CRM_RFM_DIM_F, (const int64_t[]){ 2, 2, 3, 4 }, 4);
    /* R: recency bins 1:{0} 2:{2} 3:{5} 4:{5 split: first customer in 3} 5:{10,30}
     * u_b = 0, 2, 5, 5 -> cuts on -recency = -u_b ascending: -5 -5 -2 0 */
    expect_cuts(r, CRM_RFM_DIM_R, (const int64_t[]){ -5, -5, -2, 0 }, 4);
    crm_rfm_explanation e = { .version = CRM_RFM_EXPLANATION_VERSION };
    assert_int_equal(crm_rfm_explain(r, 6, CRM_RFM_DIM_R, &e), CRM_OK); /* customer 7 */
    assert_int_equal(e.score, 4);
    assert_int_equal(e.bin, 2);
    assert_int_equal(e.key, 2);
    assert_int_equal(e.rank, 3);
    crm_rfm_free(r);
}

static void hand_rfm_r(void **state)
{
    (void)state;
    crm_rfm_result *r = score_cols(H_ID, H_REC, H_FREQ, H_MON, 7, 5, CRM_RFM_TIE_RFM_R);
    /* F sorted 1 1 1 2 3 4 5: t = 2, 2.4, 3.6, 4.8 */
    expect_scores(crm_rfm_f(r), (int[]){ 3, 1, 1, 2, 5, 1, 4 }, 7);
    /* recency sorted 0 0 2 5 5 10 30: t = 1.4, 4.2, 6, 10 (10 sits exactly on t_4) */
    expect_scores(crm_rfm_r(r), (int[]){ 1, 5, 3, 3, 1, 5, 4 }, 7);
    expect_cuts(r, CRM_RFM_DIM_F, (const int64_t[]){ 2, 3, 4, 5 }, 4);
    /* 1 - ceil(t) reversed */
    expect_cuts(r, CRM_RFM_DIM_R, (const int64_t[]){ -9, -5, -4, -1 }, 4);
    crm_rfm_explanation e = { .version = CRM_RFM_EXPLANATION_VERSION };
    assert_int_equal(crm_rfm_explain(r, 0, CRM_RFM_DIM_R, &e), CRM_OK); /* recency 10 */
    assert_int_equal(e.bin, 5);
    assert_int_equal(e.score, 1);
    assert_int_equal(e.lo, 10);
    assert_int_equal(e.hi, INT64_MAX);
    assert_int_equal(e.rank_lo, 6);
    assert_int_equal(e.rank_hi, 7);
    assert_int_equal(crm_rfm_explain(r, 3, CRM_RFM_DIM_F, &e), CRM_OK); /* frequency 2 */
    assert_int_equal(e.bin, 2);
    assert_int_equal(e.lo, 2);
    assert_int_equal(e.hi, 2); /* 2 <= x < 2.4 */
    crm_rfm_free(r);
}

static void hand_small_and_extreme_bins(void **state)
{
    (void)state;
    static const uint64_t id[4] = { 1, 2, 3, 4 };
    static const int32_t rec[4] = { 0, 0, 0, 0 };
    static const uint32_t f3[3] = { 5, 5, 1 }, f4[4] = { 2, 2, 2, 2 };
    static const int64_t m[4] = { 0, 0, 0, 0 };
    /* N = 10, len 3 < N */
    crm_rfm_result *r = score_cols(id, rec, f3, m, 3, 10, CRM_RFM_TIE_NTILE);
    expect_scores(crm_rfm_f(r), (int[]){ 2, 3, 1 }, 3);
    assert_null(crm_rfm_segment(r)); /* built-in maps are for N = 5 only */
    assert_int_equal(crm_rfm_segment_count(r), 0);
    crm_rfm_free(r);
    r = score_cols(id, rec, f3, m, 3, 10, CRM_RFM_TIE_QCUT_RANK);
    expect_scores(crm_rfm_f(r), (int[]){ 5, 10, 1 }, 3);
    crm_rfm_free(r);
    r = score_cols(id, rec, f3, m, 3, 10, CRM_RFM_TIE_RFM_R);
    /* x = 1 5 5: t = 2.8 3.6 4.4 5.2 6 6 6 6 6 */
    expect_scores(crm_rfm_f(r), (int[]){ 4, 4, 1 }, 3);
    crm_rfm_free(r);
    /* N = 2, all tied */
    r = score_cols(id, rec, f4, m, 4, 2, CRM_RFM_TIE_NTILE);
    expect_scores(crm_rfm_f(r), (int[]){ 1, 1, 2, 2 }, 4);
    crm_rfm_free(r);
    r = score_cols(id, rec, f4, m, 4, 2, CRM_RFM_TIE_QCUT_RANK);
    expect_scores(crm_rfm_f(r), (int[]){ 1, 1, 2, 2 }, 4);
    crm_rfm_free(r);
    r = score_cols(id, rec, f4, m, 4, 2, CRM_RFM_TIE_RFM_R);
    expect_scores(crm_rfm_f(r), (int[]){ 1, 1, 1, 1 }, 4);
    expect_scores(crm_rfm_r(r), (int[]){ 2, 2, 2, 2 }, 4);
    crm_rfm_free(r);
    /* one customer: ntile R = 1; qcut_rank and rfm_r R = N */
    static const int want_r[3] = { 1, 5, 5 };
    for (uint32_t t = 0; t < 3; t++) {
        r = score_cols(id, rec, f3, m, 1, 5, t);
        assert_int_equal(crm_rfm_r(r)[0], want_r[t]);
        assert_int_equal(crm_rfm_f(r)[0], 1);
        assert_int_equal(crm_rfm_m(r)[0], 1);
        crm_rfm_free(r);
    }
}

static void explicit_cuts(void **state)
{
    (void)state;
    crm_rfm_options o;
    crm_rfm_options_init(&o, CRM_RFM_OPTIONS_VERSION);
    static const int64_t rc[] = { -7, -3 }, mc[] = { 0, 100, 100, 300, 600, 900 };
    o.r_cuts = rc;
    o.n_r_cuts = 2;
    o.m_cuts = mc;
    o.n_m_cuts = 6; /* more cuts than N - 1: clamped to N */
    crm_rfm_result *r = NULL;
    assert_int_equal(crm_rfm_score_columns(&r, H_ID, H_REC, H_FREQ, H_MON, 7, &o), CRM_OK);
    /* -recency: -10 0 -5 -5 -30 0 -2 -> 1 + #{-7, -3 <= key} */
    expect_scores(crm_rfm_r(r), (int[]){ 1, 3, 2, 2, 1, 3, 3 }, 7);
    /* monetary 500 -100 0 250 250 1000 75 -> 1 + #{cuts <= x}, at most 5 */
    expect_scores(crm_rfm_m(r), (int[]){ 5, 1, 2, 4, 4, 5, 2 }, 7);
    /* F keeps the tie rule */
    expect_scores(crm_rfm_f(r), (int[]){ 3, 1, 1, 2, 5, 2, 4 }, 7);
    size_t n;
    const int64_t *c = crm_rfm_cuts(r, CRM_RFM_DIM_R, &n);
    assert_int_equal(n, 2);
    assert_int_equal(c[0], -7);
    crm_rfm_explanation e = { .version = CRM_RFM_EXPLANATION_VERSION };
    assert_int_equal(crm_rfm_explain(r, 2, CRM_RFM_DIM_R, &e), CRM_OK); /* recency 5 */
    assert_int_equal(e.rule, CRM_RFM_RULE_CUTS);
    assert_int_equal(e.lo, -7);
    assert_int_equal(e.hi, -4);
    assert_int_equal(crm_rfm_explain(r, 1, CRM_RFM_DIM_R, &e), CRM_OK); /* recency 0 */
    assert_int_equal(e.lo, -3);
    assert_int_equal(e.hi, INT64_MAX);
    crm_rfm_free(r);
}

/* ---- brute-force reference --------------------------------------------------- */

typedef struct kr {
    int64_t key;
    size_t row;
} kr;

static int cmp_kr(const void *x, const void *y)
{
    const kr *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

/* Reference scores of one dimension, straight from the spec's text. */
static void ref_dim(const int64_t *val, size_t n, uint32_t N, uint32_t tie, int reverse_r,
                    int *out)
{
    kr *s = malloc((n ? n : 1) * sizeof *s);
    for (size_t i = 0; i < n; i++)
        s[i] = (kr){ val[i], i };
    qsort(s, n, sizeof *s, cmp_kr);
    for (size_t r = 1; r <= n; r++) {
        size_t row = s[r - 1].row;
        int b;
        if (tie == CRM_RFM_TIE_NTILE) {
            size_t L = (n + N - 1) / N, S = n / N, k = n % N, T = L * k;
            b = (int)(r <= T ? (r + L - 1) / L : (r - T + S - 1) / S + k);
        } else if (tie == CRM_RFM_TIE_QCUT_RANK) {
            if (n == 1) {
                b = 1;
            } else {
                double q = ceil((double)N * (double)(r - 1) / (double)(n - 1) - 1e-9);
                b = q < 1 ? 1 : (int)q;
            }
        } else {
            /* rfm_r: lower_i <= x < upper_i with t_j = q_j + 1, compared exactly:
             * x >= t_j  <=>  N x >= N x[fl] + rem (x[fl+1] - x[fl]) + N */
            int64_t x = s[r - 1].key;
            b = 1;
            for (uint32_t j = 1; j < N; j++) {
                size_t h = (n - 1) * j, fl = h / N, rem = h % N;
                long double lhs = (long double)N * x;
                long double rhs = (long double)N * s[fl].key + N;
                if (rem)
                    rhs += (long double)rem * (long double)(s[fl + 1].key - s[fl].key);
                if (lhs >= rhs)
                    b++;
            }
        }
        out[row] = reverse_r ? (int)N + 1 - b : b;
    }
    free(s);
}

static void check_against_reference(const crm_rfm_result *res, uint32_t N, uint32_t tie)
{
    size_t n = crm_rfm_count(res);
    int64_t *v = malloc((n ? n : 1) * sizeof *v);
    int *want = malloc((n ? n : 1) * sizeof *want);
    const int32_t *rec = crm_rfm_recency_days(res);
    for (int d = 0; d < 3; d++) {
        int rev = d == 0 && tie != CRM_RFM_TIE_NTILE;
        for (size_t i = 0; i < n; i++)
            v[i] = d == 0 ? (rev ? rec[i] : -(int64_t)rec[i])
                          : (d == 1 ? (int64_t)crm_rfm_frequency(res)[i] : crm_rfm_monetary(res)[i]);
        ref_dim(v, n, N, tie, rev, want);
        const uint8_t *got = d == 0 ? crm_rfm_r(res) : (d == 1 ? crm_rfm_f(res) : crm_rfm_m(res));
        for (size_t i = 0; i < n; i++)
            if (got[i] != want[i])
                fail_msg("N %u tie %u dim %d row %zu: got %u want %d", N, tie, d, i, got[i],
                         want[i]);
    }
    free(v);
    free(want);
}

static crm_order *random_orders(test_rng *g, size_t customers, size_t *n_out, int wide_money)
{
    size_t cap = customers * 12 + 1, n = 0;
    crm_order *o = malloc(cap * sizeof *o);
    for (size_t c = 0; c < customers; c++) {
        uint64_t id = test_rng_next(g) % (customers * 4) + 1;
        int64_t day = test_rng_range(g, 0, 300);
        int k = (int)test_rng_range(g, 1, 8);
        for (int j = 0; j < k; j++) {
            day += test_rng_range(g, 0, 40);
            int64_t amt = wide_money ? (int64_t)(test_rng_next(g) >> 13) - (INT64_C(1) << 50)
                                     : test_rng_range(g, 0, 20) * 500;
            if (!wide_money && test_rng_range(g, 0, 15) == 0)
                amt = -test_rng_range(g, 1, 3000);
            o[n++] = (crm_order){ id, day * DAY + test_rng_range(g, 0, DAY - 1), amt };
        }
    }
    *n_out = n;
    return o;
}

/* Profiles of random orders (the orders are freed). */
static crm_profiles *random_profiles(uint64_t seed, size_t customers, int64_t asof)
{
    test_rng g = { seed };
    size_t n;
    crm_order *o = random_orders(&g, customers, &n, 0);
    crm_profiles *p;
    assert_int_equal(crm_profiles_build(&p, o, n, asof, NULL), CRM_OK);
    free(o);
    return p;
}

static void against_reference(void **state)
{
    (void)state;
    test_rng g = { 7 };
    for (int round = 0; round < 12; round++) {
        size_t n;
        crm_order *o = random_orders(&g, (size_t)test_rng_range(&g, 1, 400), &n, round == 11);
        crm_profiles *p;
        assert_int_equal(crm_profiles_build(&p, o, n, 500, NULL), CRM_OK);
        for (uint32_t N = 2; N <= 10; N++)
            for (uint32_t tie = 0; tie < 3; tie++) {
                crm_rfm_options opt;
                crm_rfm_options_init(&opt, CRM_RFM_OPTIONS_VERSION);
                opt.bins = N;
                opt.tie = tie;
                crm_rfm_result *r;
                assert_int_equal(crm_rfm_score(&r, p, &opt), CRM_OK);
                assert_int_equal(crm_rfm_count(r), crm_profiles_count(p));
                check_against_reference(r, N, tie);
                crm_rfm_free(r);
            }
        crm_profiles_free(p);
        free(o);
    }
}

/* ---- frozen cuts: scoring a snapshot with its own frozen cuts -------------- */

static void frozen_on_itself(void **state)
{
    (void)state;
    crm_profiles *p = random_profiles(99, 300, 500);
    size_t cnt = crm_profiles_count(p);
    for (uint32_t tie = 0; tie < 3; tie++) {
        crm_rfm_options opt, fz;
        crm_rfm_options_init(&opt, CRM_RFM_OPTIONS_VERSION);
        opt.tie = tie;
        crm_rfm_result *a, *b;
        assert_int_equal(crm_rfm_score(&a, p, &opt), CRM_OK);
        assert_int_equal(crm_rfm_options_frozen(a, &fz), CRM_OK);
        assert_int_equal(crm_rfm_score(&b, p, &fz), CRM_OK);
        for (int d = 0; d < 3; d++) {
            const uint8_t *sa = d == 0 ? crm_rfm_r(a) : (d == 1 ? crm_rfm_f(a) : crm_rfm_m(a));
            const uint8_t *sb = d == 0 ? crm_rfm_r(b) : (d == 1 ? crm_rfm_f(b) : crm_rfm_m(b));
            for (size_t i = 0; i < cnt; i++) {
                if (tie == CRM_RFM_TIE_RFM_R) { /* value rule: identical */
                    assert_int_equal(sa[i], sb[i]);
                    continue;
                }
                /* rank rules: a value keeps the bin of its first customer; in
                 * key order the frozen bin is the score of the first customer
                 * with the same key - check by brute force */
                crm_rfm_explanation e = { .version = CRM_RFM_EXPLANATION_VERSION };
                assert_int_equal(crm_rfm_explain(a, i, d, &e), CRM_OK);
                size_t first = i;
                uint64_t best = e.rank;
                for (size_t k = 0; k < cnt; k++) {
                    crm_rfm_explanation f = { .version = CRM_RFM_EXPLANATION_VERSION };
                    if ((d == 1 && crm_rfm_frequency(a)[k] != crm_rfm_frequency(a)[i]) ||
                        (d == 2 && crm_rfm_monetary(a)[k] != crm_rfm_monetary(a)[i]) ||
                        (d == 0 && crm_rfm_recency_days(a)[k] != crm_rfm_recency_days(a)[i]))
                        continue;
                    assert_int_equal(crm_rfm_explain(a, k, d, &f), CRM_OK);
                    if (f.rank < best) {
                        best = f.rank;
                        first = k;
                    }
                }
                assert_int_equal(sb[i], sa[first]);
            }
        }
        crm_rfm_free(a);
        crm_rfm_free(b);
    }
    crm_profiles_free(p);
}

/* ---- independence of row order and partitioning --------------------------- */

static void same_result(const crm_rfm_result *a, const crm_rfm_result *b)
{
    size_t n = crm_rfm_count(a);
    assert_int_equal(n, crm_rfm_count(b));
    assert_memory_equal(crm_rfm_customer_id(a), crm_rfm_customer_id(b), n * 8);
    assert_memory_equal(crm_rfm_r(a), crm_rfm_r(b), n);
    assert_memory_equal(crm_rfm_f(a), crm_rfm_f(b), n);
    assert_memory_equal(crm_rfm_m(a), crm_rfm_m(b), n);
    assert_memory_equal(crm_rfm_segment(a), crm_rfm_segment(b), n * 2);
    for (int d = 0; d < 3; d++) {
        size_t na, nb;
        const int64_t *ca = crm_rfm_cuts(a, d, &na), *cb = crm_rfm_cuts(b, d, &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(ca, cb, na * 8);
    }
}

static void order_and_partition_independent(void **state)
{
    (void)state;
    test_rng g = { 3 };
    size_t n;
    crm_order *o = random_orders(&g, 500, &n, 0);
    crm_profiles_options po;
    crm_profiles_options_init(&po, CRM_PROFILES_OPTIONS_VERSION);
    po.mergeable = 1;
    crm_profiles *whole, *shuf, *pa, *pb, *merged;
    assert_int_equal(crm_profiles_build(&whole, o, n, 450, NULL), CRM_OK);
    for (size_t i = n - 1; i > 0; i--) { /* shuffle */
        size_t j = (size_t)test_rng_range(&g, 0, (int64_t)i);
        crm_order t = o[i];
        o[i] = o[j];
        o[j] = t;
    }
    assert_int_equal(crm_profiles_build(&shuf, o, n, 450, NULL), CRM_OK);
    size_t cut = n / 3; /* rows of one customer land in both partitions */
    assert_int_equal(crm_profiles_build(&pa, o, cut, 450, &po), CRM_OK);
    assert_int_equal(crm_profiles_build(&pb, o + cut, n - cut, 450, &po), CRM_OK);
    assert_int_equal(crm_profiles_merge(&merged, pb, pa), CRM_OK);
    for (uint32_t tie = 0; tie < 3; tie++) {
        crm_rfm_options opt;
        crm_rfm_options_init(&opt, CRM_RFM_OPTIONS_VERSION);
        opt.tie = tie;
        crm_rfm_result *rw, *rs, *rm;
        assert_int_equal(crm_rfm_score(&rw, whole, &opt), CRM_OK);
        assert_int_equal(crm_rfm_score(&rs, shuf, &opt), CRM_OK);
        assert_int_equal(crm_rfm_score(&rm, merged, &opt), CRM_OK);
        same_result(rw, rs);
        same_result(rw, rm);
        crm_rfm_free(rw);
        crm_rfm_free(rs);
        crm_rfm_free(rm);
    }
    crm_profiles_free(whole);
    crm_profiles_free(shuf);
    crm_profiles_free(pa);
    crm_profiles_free(pb);
    crm_profiles_free(merged);
    free(o);
}

/* ---- maps and lint ------------------------------------------------------------ */

static size_t label_of(const crm_rfm_map *m, const char *name)
{
    for (size_t l = 0; l < crm_rfm_map_labels(m); l++)
        if (!strcmp(crm_rfm_map_label(m, l), name))
            return l;
    fail_msg("no label %s", name);
    return 0;
}

/* Brute-force lint of a box list: first match per cell, statuses per name. */
static void ref_lint(const crm_rfm_box *b, size_t nb, unsigned N, const crm_rfm_map *m)
{
    size_t others = 0;
    uint8_t status[64];
    size_t others_got;
    assert_int_equal(crm_rfm_map_lint(m, status, &others_got), CRM_OK);
    const uint16_t *cells = crm_rfm_map_cells(m);
    for (unsigned r = 1; r <= N; r++)
        for (unsigned f = 1; f <= N; f++)
            for (unsigned mm = 1; mm <= N; mm++) {
                const char *win = "Others";
                for (size_t k = 0; k < nb; k++)
                    if (r >= b[k].r_lo && r <= b[k].r_hi && f >= b[k].f_lo && f <= b[k].f_hi &&
                        mm >= b[k].m_lo && mm <= b[k].m_hi) {
                        win = b[k].name;
                        break;
                    }
                others += !strcmp(win, "Others");
                size_t c = ((r - 1) * N + (f - 1)) * N + (mm - 1);
                assert_string_equal(crm_rfm_map_label(m, cells[c]), win);
            }
    assert_int_equal(others, others_got);
    for (size_t k = 0; k < nb; k++) {
        size_t cov = 0, won = 0;
        for (unsigned r = 1; r <= N; r++)
            for (unsigned f = 1; f <= N; f++)
                for (unsigned mm = 1; mm <= N; mm++) {
                    int in = 0;
                    for (size_t q = 0; q < nb; q++)
                        in |= !strcmp(b[q].name, b[k].name) && r >= b[q].r_lo &&
                              r <= b[q].r_hi && f >= b[q].f_lo && f <= b[q].f_hi &&
                              mm >= b[q].m_lo && mm <= b[q].m_hi;
                    if (!in)
                        continue;
                    cov++;
                    size_t c = ((r - 1) * N + (f - 1)) * N + (mm - 1);
                    won += !strcmp(crm_rfm_map_label(m, cells[c]), b[k].name);
                }
        unsigned want = won == 0 ? CRM_RFM_LINT_UNREACHABLE
                                 : (won < cov ? CRM_RFM_LINT_SHADOWED : CRM_RFM_LINT_OK);
        assert_int_equal(status[label_of(m, b[k].name)], want);
    }
}

static void builtin_maps_and_lint(void **state)
{
    (void)state;
    crm_rfm_map *m;
    /* rf10: a partition of the 25 R-F cells */
    assert_int_equal(crm_rfm_map_builtin(&m, "rf10"), CRM_OK);
    assert_int_equal(crm_rfm_map_labels(m), 10);
    uint8_t st[64];
    size_t others;
    assert_int_equal(crm_rfm_map_lint(m, st, &others), CRM_OK);
    assert_int_equal(others, 0);
    for (int l = 0; l < 10; l++)
        assert_int_equal(st[l], CRM_RFM_LINT_OK);
    const uint16_t *cells = crm_rfm_map_cells(m);
    assert_string_equal(crm_rfm_map_label(m, cells[((5 - 1) * 5 + 4) * 5 + 2]), "champions");
    assert_string_equal(crm_rfm_map_label(m, cells[((1 - 1) * 5 + 4) * 5 + 0]), "cant_lose");
    crm_rfm_map_free(m);
    /* rfm11: spec figures, four unreachable segments, 36 of 125 cells "Others" */
    assert_int_equal(crm_rfm_map_builtin(&m, "rfm11"), CRM_OK);
    assert_int_equal(crm_rfm_map_lint(m, st, &others), CRM_OK);
    assert_int_equal(others, 36);
    assert_int_equal(crm_rfm_map_labels(m), 12);
    assert_string_equal(crm_rfm_map_label(m, 11), "Others");
    int unreachable = 0;
    for (int l = 0; l < 11; l++)
        unreachable += st[l] == CRM_RFM_LINT_UNREACHABLE;
    assert_int_equal(unreachable, 4);
    assert_int_equal(st[label_of(m, "Lost")], CRM_RFM_LINT_UNREACHABLE);
    crm_rfm_map_free(m);
    assert_int_equal(crm_rfm_map_builtin(&m, "rfm10"), CRM_OK);
    crm_rfm_map_free(m);
    /* custom map with a repeated name (union; own earlier box is no shadow) */
    static const crm_rfm_box custom[] = {
        { "top", 3, 3, 3, 3, 1, 3, { 0, 0 } },
        { "mid", 2, 3, 2, 3, 1, 3, { 0, 0 } },
        { "top", 3, 3, 1, 3, 1, 3, { 0, 0 } },
        { "low", 1, 1, 1, 1, 1, 1, { 0, 0 } },
        { "dead", 2, 2, 2, 2, 1, 1, { 0, 0 } },
    };
    assert_int_equal(crm_rfm_map_new(&m, 3, custom, 5), CRM_OK);
    assert_int_equal(crm_rfm_map_labels(m), 5); /* top mid low dead Others */
    assert_int_equal(crm_rfm_map_lint(m, st, &others), CRM_OK);
    assert_int_equal(st[0], CRM_RFM_LINT_SHADOWED);   /* top: 3,2,* taken by mid */
    assert_int_equal(st[1], CRM_RFM_LINT_SHADOWED);   /* mid: 3,3,* taken by top */
    assert_int_equal(st[2], CRM_RFM_LINT_OK);         /* low */
    assert_int_equal(st[3], CRM_RFM_LINT_UNREACHABLE); /* dead */
    ref_lint(custom, 5, 3, m);
    crm_rfm_map_free(m);
    static const char *names[] = { "rf10", "rfm11", "rfm10" };
    static const crm_rfm_box *tables[3];
    (void)tables;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(crm_rfm_map_builtin(&m, names[k]), CRM_OK);
        /* rebuild the box list from the map's own cells is circular: check
         * against the spec's table instead (written out here) */
        crm_rfm_map_free(m);
    }
}

static const crm_rfm_box SPEC_RFM11[] = {
    { "Champions", 4, 5, 4, 5, 4, 5, { 0, 0 } },
    { "Loyal Customers", 2, 5, 3, 5, 3, 5, { 0, 0 } },
    { "Potential Loyalist", 3, 5, 1, 3, 1, 3, { 0, 0 } },
    { "New Customers", 4, 5, 1, 1, 1, 1, { 0, 0 } },
    { "Promising", 3, 4, 1, 1, 1, 1, { 0, 0 } },
    { "Need Attention", 2, 3, 2, 3, 2, 3, { 0, 0 } },
    { "About To Sleep", 2, 3, 1, 2, 1, 2, { 0, 0 } },
    { "At Risk", 1, 2, 2, 5, 2, 5, { 0, 0 } },
    { "Can't Lose Them", 1, 1, 4, 5, 4, 5, { 0, 0 } },
    { "Hibernating", 1, 2, 1, 2, 1, 2, { 0, 0 } },
    { "Lost", 1, 2, 1, 2, 1, 2, { 0, 0 } },
};
static const crm_rfm_box SPEC_RFM10[] = {
    { "Champions", 5, 5, 5, 5, 5, 5, { 0, 0 } },
    { "Potential Loyalist", 3, 5, 3, 5, 2, 5, { 0, 0 } },
    { "Loyal Customers", 2, 4, 2, 4, 2, 4, { 0, 0 } },
    { "Promising", 3, 4, 1, 3, 3, 5, { 0, 0 } },
    { "New Customers", 4, 5, 1, 3, 1, 5, { 0, 0 } },
    { "Can't Lose Them", 1, 2, 3, 4, 4, 5, { 0, 0 } },
    { "At Risk", 1, 2, 2, 5, 4, 5, { 0, 0 } },
    { "Need Attention", 1, 3, 3, 5, 3, 5, { 0, 0 } },
    { "About To Sleep", 2, 3, 1, 3, 1, 4, { 0, 0 } },
    { "Lost", 1, 1, 1, 5, 1, 5, { 0, 0 } },
};
static const crm_rfm_box SPEC_RF10[] = {
    { "hibernating", 1, 2, 1, 2, 1, 5, { 0, 0 } },
    { "at_risk", 1, 2, 3, 4, 1, 5, { 0, 0 } },
    { "cant_lose", 1, 2, 5, 5, 1, 5, { 0, 0 } },
    { "about_to_sleep", 3, 3, 1, 2, 1, 5, { 0, 0 } },
    { "need_attention", 3, 3, 3, 3, 1, 5, { 0, 0 } },
    { "loyal_customers", 3, 4, 4, 5, 1, 5, { 0, 0 } },
    { "promising", 4, 4, 1, 1, 1, 5, { 0, 0 } },
    { "new_customers", 5, 5, 1, 1, 1, 5, { 0, 0 } },
    { "potential_loyalists", 4, 5, 2, 3, 1, 5, { 0, 0 } },
    { "champions", 5, 5, 4, 5, 1, 5, { 0, 0 } },
};

static void builtin_maps_match_spec(void **state)
{
    (void)state;
    struct {
        const char *name;
        const crm_rfm_box *b;
        size_t n;
    } t[] = { { "rf10", SPEC_RF10, 10 }, { "rfm11", SPEC_RFM11, 11 }, { "rfm10", SPEC_RFM10, 10 } };
    for (int k = 0; k < 3; k++) {
        crm_rfm_map *m;
        assert_int_equal(crm_rfm_map_builtin(&m, t[k].name), CRM_OK);
        ref_lint(t[k].b, t[k].n, 5, m);
        crm_rfm_map_free(m);
    }
}

/* ---- segments, summary, migration ----------------------------------------- */

static void segments_and_summary(void **state)
{
    (void)state;
    crm_profiles *p = random_profiles(11, 400, 450);
    crm_rfm_map *map;
    assert_int_equal(crm_rfm_map_builtin(&map, "rfm11"), CRM_OK);
    crm_rfm_options opt;
    crm_rfm_options_init(&opt, CRM_RFM_OPTIONS_VERSION);
    opt.map = map;
    crm_rfm_result *r;
    assert_int_equal(crm_rfm_score(&r, p, &opt), CRM_OK);
    crm_rfm_map_free(map); /* the result keeps its own copy */
    size_t cnt = crm_rfm_count(r), L = crm_rfm_segment_count(r);
    assert_int_equal(L, 12);
    const uint16_t *seg = crm_rfm_segment(r);
    double share_sum = 0;
    for (size_t l = 0; l < L; l++) {
        /* brute force: first matching box of the spec's table */
        uint64_t c = 0, orders = 0;
        int64_t rev = 0, rec = 0;
        for (size_t i = 0; i < cnt; i++) {
            const char *win = "Others";
            unsigned R = crm_rfm_r(r)[i], F = crm_rfm_f(r)[i], M = crm_rfm_m(r)[i];
            for (size_t k = 0; k < 11; k++) {
                const crm_rfm_box *b = &SPEC_RFM11[k];
                if (R >= b->r_lo && R <= b->r_hi && F >= b->f_lo && F <= b->f_hi &&
                    M >= b->m_lo && M <= b->m_hi) {
                    win = b->name;
                    break;
                }
            }
            assert_string_equal(crm_rfm_segment_name(r, seg[i]), win);
            if (seg[i] != l)
                continue;
            c++;
            orders += crm_rfm_frequency(r)[i];
            rev += crm_rfm_monetary(r)[i];
            rec += crm_rfm_recency_days(r)[i];
        }
        crm_rfm_segment_stats s = { .version = CRM_RFM_SEGMENT_STATS_VERSION };
        assert_int_equal(crm_rfm_segment_summary(r, l, &s), CRM_OK);
        assert_int_equal(s.customers, c);
        assert_int_equal(s.orders, orders);
        assert_int_equal(s.revenue, rev);
        assert_close(s.share, (double)c / (double)cnt, 1e-15);
        share_sum += s.share;
        if (c) {
            assert_close(s.mean_recency, (double)rec / (double)c, 1e-12);
            assert_close(s.mean_frequency, (double)orders / (double)c, 1e-12);
            assert_close(s.mean_monetary, (double)rev / (double)c, 1e-12);
        } else {
            assert_true(isnan(s.mean_recency) && isnan(s.mean_monetary));
        }
    }
    assert_close(share_sum, 1.0, 1e-12);
    crm_rfm_segment_stats s = { .version = CRM_RFM_SEGMENT_STATS_VERSION };
    assert_int_equal(crm_rfm_segment_summary(r, L, &s), CRM_EINVAL);
    assert_null(crm_rfm_segment_name(r, L));
    crm_rfm_free(r);
    /* default map at N = 5 is rf10, no Others */
    assert_int_equal(crm_rfm_score(&r, p, NULL), CRM_OK);
    assert_int_equal(crm_rfm_segment_count(r), 10);
    assert_string_equal(crm_rfm_segment_name(r, 9), "champions");
    crm_rfm_free(r);
    opt.map = NULL;
    opt.no_segments = 1;
    assert_int_equal(crm_rfm_score(&r, p, &opt), CRM_OK);
    assert_null(crm_rfm_segment(r));
    assert_null(crm_rfm_result_map(r));
    assert_int_equal(crm_rfm_segment_summary(r, 0, &s), CRM_EINVAL);
    crm_rfm_free(r);
    crm_profiles_free(p);
}

static void empty_population(void **state)
{
    (void)state;
    crm_profiles *p;
    assert_int_equal(crm_profiles_build(&p, NULL, 0, 100, NULL), CRM_OK);
    crm_rfm_result *r;
    for (uint32_t tie = 0; tie < 3; tie++) {
        crm_rfm_options opt;
        crm_rfm_options_init(&opt, CRM_RFM_OPTIONS_VERSION);
        opt.tie = tie;
        assert_int_equal(crm_rfm_score(&r, p, &opt), CRM_OK);
        assert_int_equal(crm_rfm_count(r), 0);
        assert_int_equal(crm_rfm_asof(r), 100);
        size_t n = 9;
        crm_rfm_cuts(r, CRM_RFM_DIM_M, &n);
        assert_int_equal(n, 0);
        crm_rfm_segment_stats s = { .version = CRM_RFM_SEGMENT_STATS_VERSION };
        assert_int_equal(crm_rfm_segment_summary(r, 0, &s), CRM_OK);
        assert_int_equal(s.customers, 0);
        assert_true(isnan(s.share));
        crm_rfm_free(r);
    }
    crm_profiles_free(p);
}

static void migration_matrix(void **state)
{
    (void)state;
    test_rng g = { 21 };
    size_t n;
    crm_order *o = random_orders(&g, 400, &n, 0);
    crm_profiles *pf, *pt;
    assert_int_equal(crm_profiles_build(&pf, o, n, 250, NULL), CRM_OK);
    assert_int_equal(crm_profiles_build(&pt, o, n, 400, NULL), CRM_OK);
    for (int frozen = 0; frozen < 2; frozen++) {
        crm_rfm_result *rf, *rt;
        assert_int_equal(crm_rfm_score(&rf, pf, NULL), CRM_OK);
        crm_rfm_options fz;
        assert_int_equal(crm_rfm_options_frozen(rf, &fz), CRM_OK);
        assert_int_equal(crm_rfm_score(&rt, pt, frozen ? &fz : NULL), CRM_OK);
        crm_rfm_migration *m;
        assert_int_equal(crm_rfm_migration_new(&m, rf, rt), CRM_OK);
        size_t rows = crm_rfm_migration_rows(m), cols = crm_rfm_migration_cols(m);
        assert_int_equal(cols, 10);
        assert_int_equal(rows, 11);
        assert_string_equal(crm_rfm_migration_row_label(m, 10), "(none)");
        assert_string_equal(crm_rfm_migration_col_label(m, 0), "hibernating");
        assert_null(crm_rfm_migration_col_label(m, 10));
        assert_null(crm_rfm_migration_row_label(m, 11));
        /* brute force: each customer at `to`, its row by id lookup */
        uint64_t *want = calloc(rows * cols, sizeof *want);
        const uint64_t *idt = crm_rfm_customer_id(rt), *idf = crm_rfm_customer_id(rf);
        for (size_t i = 0; i < crm_rfm_count(rt); i++) {
            size_t row = 10;
            for (size_t k = 0; k < crm_rfm_count(rf); k++)
                if (idf[k] == idt[i])
                    row = crm_rfm_segment(rf)[k];
            want[row * cols + crm_rfm_segment(rt)[i]]++;
        }
        const uint64_t *got = crm_rfm_migration_counts(m);
        const double *rate = crm_rfm_migration_rates(m);
        uint64_t total = 0;
        for (size_t r = 0; r < rows; r++) {
            uint64_t rt_sum = 0;
            for (size_t c = 0; c < cols; c++)
                rt_sum += want[r * cols + c];
            for (size_t c = 0; c < cols; c++) {
                assert_int_equal(got[r * cols + c], want[r * cols + c]);
                if (rt_sum)
                    assert_close(rate[r * cols + c],
                                 (double)want[r * cols + c] / (double)rt_sum, 1e-15);
                else
                    assert_true(isnan(rate[r * cols + c]));
                total += got[r * cols + c];
            }
        }
        assert_int_equal(total, crm_rfm_count(rt));
        free(want);
        crm_rfm_migration_free(m);
        /* to before from */
        assert_int_equal(crm_rfm_migration_new(&m, rt, rf), CRM_EINVAL);
        assert_null(m);
        crm_rfm_free(rf);
        crm_rfm_free(rt);
    }
    crm_profiles_free(pf);
    crm_profiles_free(pt);
    free(o);
}

/* A hand-made frozen migration: from {1: f=1, 2: f=2, 3: f=3}, to adds orders. */
static void frozen_vs_relative_hand(void **state)
{
    (void)state;
    /* from: customer 1..4 with 1..4 orders; to: customer 1 gets 4 more orders */
    static const uint64_t id[5] = { 1, 2, 3, 4, 5 };
    static const int32_t rec[5] = { 0, 0, 0, 0, 0 };
    static const uint32_t ff[4] = { 1, 2, 3, 4 }, ft[5] = { 5, 2, 3, 4, 1 };
    static const int64_t mon[5] = { 0, 0, 0, 0, 0 };
    crm_rfm_options o;
    crm_rfm_options_init(&o, CRM_RFM_OPTIONS_VERSION);
    o.bins = 2;
    o.no_segments = 1;
    crm_rfm_result *from, *rel, *fro;
    assert_int_equal(crm_rfm_score_columns(&from, id, rec, ff, mon, 4, &o), CRM_OK);
    /* ntile N=2 on 1 2 3 4: bins 1 1 2 2, cut above bin 1 = 2 + 1 = 3 */
    size_t n;
    const int64_t *c = crm_rfm_cuts(from, CRM_RFM_DIM_F, &n);
    assert_int_equal(n, 1);
    assert_int_equal(c[0], 3);
    crm_rfm_options fz;
    assert_int_equal(crm_rfm_options_frozen(from, &fz), CRM_OK);
    assert_int_equal(crm_rfm_score_columns(&fro, id, rec, ft, mon, 5, &fz), CRM_OK);
    expect_scores(crm_rfm_f(fro), (int[]){ 2, 1, 2, 2, 1 }, 5);
    assert_int_equal(crm_rfm_score_columns(&rel, id, rec, ft, mon, 5, &o), CRM_OK);
    /* relative: 1 2 3 4 5 -> sorted (1,5)(2,2)(3,3)(4,4)(5,1): L 3: 1 1 1 2 2 */
    expect_scores(crm_rfm_f(rel), (int[]){ 2, 1, 1, 2, 1 }, 5);
    crm_rfm_free(from);
    crm_rfm_free(rel);
    crm_rfm_free(fro);
}

/* ---- R package rfm 0.3.0: published test figures --------------------------- */

typedef struct named_order {
    char name[64];
    int64_t day;
    int64_t revenue;
} named_order;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const named_order *)a)->name, ((const named_order *)b)->name);
}

static int64_t parse_day(const char *s)
{
    int y, m, d;
    if (sscanf(s, "%d-%d-%d", &y, &m, &d) != 3)
        return -1;
    /* days from civil (Howard Hinnant) */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static FILE *open_dataset(const char *file)
{
    /* the main checkout sits next to shared/; a worktree one level deeper */
    static const char *up[] = { "/..", "/../.." };
    for (size_t i = 0; i < ARRAY_LEN(up); i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s%s/shared/datasets/%s", CRM_SOURCE_ROOT, up[i], file);
        FILE *f = fopen(path, "r");
        if (f)
            return f;
    }
    return NULL;
}

static void r_package_orders(void **state)
{
    (void)state;
    FILE *f = open_dataset("rfm_data_orders.csv");
    if (!f) {
        skip();
        return;
    }
    named_order *rows = malloc(6000 * sizeof *rows);
    size_t n = 0;
    char line[256];
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
        char *q = strchr(line + 1, '"');
        assert_non_null(q);
        named_order *r = &rows[n++];
        size_t len = (size_t)(q - line - 1);
        memcpy(r->name, line + 1, len);
        r->name[len] = 0;
        r->day = parse_day(q + 2);
        r->revenue = strtoll(strchr(q + 2, ',') + 1, NULL, 10);
    }
    fclose(f);
    assert_int_equal(n, 4906);
    qsort(rows, n, sizeof *rows, cmp_name);
    crm_order *o = malloc(n * sizeof *o);
    uint64_t id = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(rows[i].name, rows[i - 1].name))
            id++;
        o[i] = (crm_order){ id, rows[i].day * DAY, rows[i].revenue };
    }
    assert_int_equal(id, 995);
    crm_profiles *p;
    assert_int_equal(crm_profiles_build(&p, o, n, parse_day("2006-12-31"), NULL), CRM_OK);
    /* the package's test map (its rfm_segment loop: first match wins) */
    static const crm_rfm_box test_map[] = {
        { "Champions", 4, 5, 4, 5, 4, 5, { 0, 0 } },
        { "Loyal Customers", 2, 5, 3, 5, 3, 5, { 0, 0 } },
        { "Potential Loyalist", 3, 5, 1, 3, 1, 3, { 0, 0 } },
        { "New Customers", 4, 5, 1, 1, 1, 1, { 0, 0 } },
        { "Promising", 3, 4, 1, 1, 1, 1, { 0, 0 } },
        { "Need Attention", 2, 3, 2, 3, 2, 3, { 0, 0 } },
        { "About To Sleep", 2, 3, 1, 2, 1, 2, { 0, 0 } },
        { "At Risk", 1, 2, 2, 5, 2, 5, { 0, 0 } },
        { "Can't Lose Them", 1, 1, 4, 5, 4, 5, { 0, 0 } },
        { "Lost", 1, 2, 1, 2, 1, 2, { 0, 0 } },
    };
    crm_rfm_map *map;
    assert_int_equal(crm_rfm_map_new(&map, 5, test_map, 10), CRM_OK);
    crm_rfm_options opt;
    crm_rfm_options_init(&opt, CRM_RFM_OPTIONS_VERSION);
    opt.tie = CRM_RFM_TIE_RFM_R;
    opt.map = map;
    crm_rfm_result *r;
    assert_int_equal(crm_rfm_score(&r, p, &opt), CRM_OK);
    crm_rfm_segment_stats s = { .version = CRM_RFM_SEGMENT_STATS_VERSION };
    assert_int_equal(crm_rfm_segment_summary(r, 0, &s), CRM_OK);
    assert_int_equal(s.customers, 158);
    assert_int_equal(s.orders, 1234);
    assert_int_equal(s.revenue, 120178);
    uint64_t orders = 0;
    for (size_t l = 0; l < crm_rfm_segment_count(r); l++) {
        assert_int_equal(crm_rfm_segment_summary(r, l, &s), CRM_OK);
        orders += s.orders;
    }
    assert_int_equal(orders, 4906);
    /* first ten customers (by name) and their segments, from the test */
    static const char *first[10][2] = {
        { "Abbey O'Reilly DVM", "Loyal Customers" }, { "Add Senger", "Potential Loyalist" },
        { "Aden Lesch Sr.", "Potential Loyalist" },  { "Admiral Senger", "Loyal Customers" },
        { "Agness O'Keefe", "Champions" },           { "Aileen Barton", "Champions" },
        { "Ailene Hermann", "Loyal Customers" },     { "Aiyanna Bruen PhD", "Potential Loyalist" },
        { "Ala Schmidt DDS", "About To Sleep" },     { "Alannah Borer", "Lost" },
    };
    /* this export of the data dropped the name suffixes (DVM, Sr., PhD, DDS) */
    for (size_t k = 0; k < 10; k++) {
        char want[64];
        snprintf(want, sizeof want, "%s", first[k][0]);
        static const char *suffix[] = { " DVM", " Sr.", " PhD", " DDS" };
        for (size_t q = 0; q < ARRAY_LEN(suffix); q++) {
            char *hit = strstr(want, suffix[q]);
            if (hit && hit[strlen(suffix[q])] == 0)
                *hit = 0;
        }
        size_t at = 0;
        while (at < n && strcmp(rows[at].name, want))
            at++;
        assert_true(at < n);
        size_t row = (size_t)o[at].customer_id - 1;
        assert_int_equal(crm_rfm_customer_id(r)[row], o[at].customer_id);
        assert_string_equal(crm_rfm_segment_name(r, crm_rfm_segment(r)[row]), first[k][1]);
    }
    crm_rfm_free(r);
    crm_rfm_map_free(map);
    crm_profiles_free(p);
    free(o);
    free(rows);
}

static void r_package_customers(void **state)
{
    (void)state;
    FILE *f = open_dataset("rfm_data_customer.csv");
    if (!f) {
        skip();
        return;
    }
    size_t cap = 50000, n = 0;
    uint64_t *id = malloc(cap * sizeof *id);
    int32_t *rec = malloc(cap * sizeof *rec);
    uint32_t *fr = malloc(cap * sizeof *fr);
    int64_t *mon = malloc(cap * sizeof *mon);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    typedef struct crow {
        uint64_t id;
        int64_t rev;
        uint32_t orders;
        int32_t rec;
    } crow;
    crow *rows = malloc(cap * sizeof *rows);
    while (fgets(line, sizeof line, f)) {
        unsigned long long cid;
        long long rev;
        char date[16];
        unsigned ord;
        int rd;
        assert_int_equal(sscanf(line, "%llu,%lld,%10[^,],%u,%d", &cid, &rev, date, &ord, &rd), 5);
        rows[n++] = (crow){ cid, rev, ord, rd };
    }
    fclose(f);
    assert_int_equal(n, 39999);
    /* ids are 1..n in some order: place by id */
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)rows[i].id - 1;
        assert_true(k < n);
        id[k] = rows[i].id;
        rec[k] = rows[i].rec;
        fr[k] = rows[i].orders;
        mon[k] = rows[i].rev;
        total += rows[i].orders;
    }
    assert_int_equal(total, 393223);
    crm_rfm_options opt;
    crm_rfm_options_init(&opt, CRM_RFM_OPTIONS_VERSION);
    opt.tie = CRM_RFM_TIE_RFM_R;
    crm_rfm_result *r;
    assert_int_equal(crm_rfm_score_columns(&r, id, rec, fr, mon, n, &opt), CRM_OK);
    uint64_t orders = 0;
    for (size_t l = 0; l < crm_rfm_segment_count(r); l++) {
        crm_rfm_segment_stats s = { .version = CRM_RFM_SEGMENT_STATS_VERSION };
        assert_int_equal(crm_rfm_segment_summary(r, l, &s), CRM_OK);
        orders += s.orders;
    }
    assert_int_equal(orders, 393223);
    check_against_reference(r, 5, CRM_RFM_TIE_RFM_R);
    crm_rfm_free(r);
    free(rows);
    free(id);
    free(rec);
    free(fr);
    free(mon);
}

/* ---- errors ------------------------------------------------------------------ */

static void errors(void **state)
{
    (void)state;
    crm_rfm_options o;
    assert_int_equal(crm_rfm_options_init(NULL, 1), CRM_EINVAL);
    assert_int_equal(crm_rfm_options_init(&o, 0), CRM_EVERSION);
    assert_int_equal(crm_rfm_options_init(&o, 2), CRM_EVERSION);
    crm_profiles *p;
    static const crm_order one[1] = { { 1, 10 * DAY, 100 } };
    assert_int_equal(crm_profiles_build(&p, one, 1, 20, NULL), CRM_OK);
    crm_rfm_result *r = (crm_rfm_result *)1;
    assert_int_equal(crm_rfm_score(NULL, p, NULL), CRM_EINVAL);
    assert_int_equal(crm_rfm_score(&r, NULL, NULL), CRM_EINVAL);
    assert_null(r);
    crm_rfm_options_init(&o, 1);
    o.version = 7;
    assert_int_equal(crm_rfm_score(&r, p, &o), CRM_EVERSION);
    crm_rfm_options_init(&o, 1);
    o.bins = 1;
    assert_int_equal(crm_rfm_score(&r, p, &o), CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "bins = 1"));
    o.bins = 11;
    assert_int_equal(crm_rfm_score(&r, p, &o), CRM_EINVAL);
    crm_rfm_options_init(&o, 1);
    o.tie = 3;
    assert_int_equal(crm_rfm_score(&r, p, &o), CRM_EINVAL);
    crm_rfm_options_init(&o, 1);
    static const int64_t bad[] = { 5, 3 };
    o.m_cuts = bad;
    o.n_m_cuts = 2;
    assert_int_equal(crm_rfm_score(&r, p, &o), CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "m_cuts[1]"));
    crm_rfm_options_init(&o, 1);
    o.n_f_cuts = 2;
    assert_int_equal(crm_rfm_score(&r, p, &o), CRM_EINVAL);
    crm_rfm_map *m;
    assert_int_equal(crm_rfm_map_builtin(&m, "rf10"), CRM_OK);
    crm_rfm_options_init(&o, 1);
    o.map = m;
    o.bins = 4; /* naming a built-in map with N != 5 */
    assert_int_equal(crm_rfm_score(&r, p, &o), CRM_EINVAL);
    assert_null(r);
    crm_rfm_map_free(m);
    /* columns */
    static const uint64_t ids[3] = { 1, 5, 5 };
    static const int32_t rec[3] = { 0, 1, -1 };
    static const uint32_t fr[3] = { 1, 1, 1 };
    static const int64_t mon[3] = { 0, 0, 0 };
    assert_int_equal(crm_rfm_score_columns(&r, ids, rec, fr, mon, 3, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "customer_id[2]"));
    static const uint64_t ids2[3] = { 1, 5, 6 };
    assert_int_equal(crm_rfm_score_columns(&r, ids2, rec, fr, mon, 3, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "recency_days[2]"));
    assert_int_equal(crm_rfm_score_columns(&r, NULL, rec, fr, mon, 3, NULL), CRM_EINVAL);
    assert_int_equal(crm_rfm_score_columns(NULL, ids2, rec, fr, mon, 3, NULL), CRM_EINVAL);
    /* maps */
    assert_int_equal(crm_rfm_map_builtin(&m, "nope"), CRM_EINVAL);
    assert_null(m);
    assert_int_equal(crm_rfm_map_builtin(&m, NULL), CRM_EINVAL);
    assert_int_equal(crm_rfm_map_builtin(NULL, "rf10"), CRM_EINVAL);
    crm_rfm_box b[2] = { { "a", 1, 5, 1, 5, 1, 5, { 0, 0 } }, { "b", 1, 6, 1, 5, 1, 5, { 0, 0 } } };
    assert_int_equal(crm_rfm_map_new(&m, 5, b, 2), CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "boxes[1]"));
    b[1].r_hi = 5;
    b[1].f_lo = 3;
    b[1].f_hi = 2;
    assert_int_equal(crm_rfm_map_new(&m, 5, b, 2), CRM_EINVAL);
    b[1] = (crm_rfm_box){ "Others", 1, 1, 1, 1, 1, 1, { 0, 0 } };
    assert_int_equal(crm_rfm_map_new(&m, 5, b, 2), CRM_EINVAL);
    b[1].name = "";
    assert_int_equal(crm_rfm_map_new(&m, 5, b, 2), CRM_EINVAL);
    b[1].name = NULL;
    assert_int_equal(crm_rfm_map_new(&m, 5, b, 2), CRM_EINVAL);
    assert_int_equal(crm_rfm_map_new(&m, 5, b, 0), CRM_EINVAL);
    assert_int_equal(crm_rfm_map_new(&m, 1, b, 1), CRM_EINVAL);
    assert_int_equal(crm_rfm_map_new(&m, 5, NULL, 1), CRM_EINVAL);
    assert_int_equal(crm_rfm_map_new(NULL, 5, b, 1), CRM_EINVAL);
    uint8_t st[4];
    size_t oc;
    assert_int_equal(crm_rfm_map_lint(NULL, st, &oc), CRM_EINVAL);
    assert_int_equal(crm_rfm_map_bins(NULL), 0);
    assert_int_equal(crm_rfm_map_labels(NULL), 0);
    assert_null(crm_rfm_map_label(NULL, 0));
    assert_null(crm_rfm_map_cells(NULL));
    crm_rfm_map_free(NULL);
    /* getters on NULL */
    assert_int_equal(crm_rfm_count(NULL), 0);
    assert_int_equal(crm_rfm_bins(NULL), 0);
    assert_int_equal(crm_rfm_asof(NULL), -1);
    assert_null(crm_rfm_customer_id(NULL));
    assert_null(crm_rfm_recency_days(NULL));
    assert_null(crm_rfm_frequency(NULL));
    assert_null(crm_rfm_monetary(NULL));
    assert_null(crm_rfm_r(NULL));
    assert_null(crm_rfm_f(NULL));
    assert_null(crm_rfm_m(NULL));
    assert_null(crm_rfm_segment(NULL));
    assert_null(crm_rfm_result_map(NULL));
    assert_int_equal(crm_rfm_segment_count(NULL), 0);
    assert_null(crm_rfm_segment_name(NULL, 0));
    size_t nc = 5;
    assert_null(crm_rfm_cuts(NULL, 0, &nc));
    assert_int_equal(nc, 0);
    crm_rfm_free(NULL);
    /* explain / summary / frozen / migration */
    assert_int_equal(crm_rfm_score(&r, p, NULL), CRM_OK);
    assert_int_equal(crm_rfm_bins(r), 5);
    assert_int_equal(crm_rfm_asof(r), 20);
    assert_null(crm_rfm_cuts(r, 3, &nc));
    crm_rfm_explanation e = { .version = CRM_RFM_EXPLANATION_VERSION };
    assert_int_equal(crm_rfm_explain(r, 1, 0, &e), CRM_EINVAL);
    assert_int_equal(crm_rfm_explain(r, 0, 3, &e), CRM_EINVAL);
    assert_int_equal(crm_rfm_explain(r, 0, 0, NULL), CRM_EINVAL);
    assert_int_equal(crm_rfm_explain(NULL, 0, 0, &e), CRM_EINVAL);
    e.version = 0;
    assert_int_equal(crm_rfm_explain(r, 0, 0, &e), CRM_EVERSION);
    crm_rfm_segment_stats s = { .version = 9 };
    assert_int_equal(crm_rfm_segment_summary(r, 0, &s), CRM_EVERSION);
    assert_int_equal(crm_rfm_segment_summary(NULL, 0, &s), CRM_EINVAL);
    assert_int_equal(crm_rfm_options_frozen(NULL, &o), CRM_EINVAL);
    assert_int_equal(crm_rfm_options_frozen(r, NULL), CRM_EINVAL);
    crm_rfm_migration *mig = (crm_rfm_migration *)1;
    assert_int_equal(crm_rfm_migration_new(&mig, NULL, r), CRM_EINVAL);
    assert_null(mig);
    assert_int_equal(crm_rfm_migration_new(NULL, r, r), CRM_EINVAL);
    crm_rfm_result *r3;
    crm_rfm_options_init(&o, 1);
    o.bins = 3;
    assert_int_equal(crm_rfm_score(&r3, p, &o), CRM_OK);
    assert_int_equal(crm_rfm_migration_new(&mig, r, r3), CRM_EINVAL); /* no segments */
    crm_rfm_free(r3);
    assert_int_equal(crm_rfm_map_builtin(&m, "rfm10"), CRM_OK);
    crm_rfm_options_init(&o, 1);
    o.map = m;
    assert_int_equal(crm_rfm_score(&r3, p, &o), CRM_OK);
    assert_int_equal(crm_rfm_migration_new(&mig, r, r3), CRM_EINVAL); /* other labels */
    crm_rfm_free(r3);
    crm_rfm_map_free(m);
    assert_int_equal(crm_rfm_migration_rows(NULL), 0);
    assert_int_equal(crm_rfm_migration_cols(NULL), 0);
    assert_null(crm_rfm_migration_counts(NULL));
    assert_null(crm_rfm_migration_rates(NULL));
    assert_null(crm_rfm_migration_row_label(NULL, 0));
    assert_null(crm_rfm_migration_col_label(NULL, 0));
    crm_rfm_migration_free(NULL);
    crm_rfm_free(r);
    crm_profiles_free(p);
    /* struct sizes for bindings */
    assert_int_equal(crm_struct_size(CRM_STRUCT_RFM_OPTIONS), sizeof(crm_rfm_options));
    assert_int_equal(crm_struct_size(CRM_STRUCT_RFM_BOX), sizeof(crm_rfm_box));
    assert_int_equal(crm_struct_size(CRM_STRUCT_RFM_EXPLANATION), sizeof(crm_rfm_explanation));
    assert_int_equal(crm_struct_size(CRM_STRUCT_RFM_SEGMENT_STATS), sizeof(crm_rfm_segment_stats));
    assert_int_equal(sizeof(crm_rfm_box), sizeof(void *) + 8);
}

/* ---- allocation failures ------------------------------------------------------ */

typedef struct oom_ctx {
    crm_profiles *p, *p2;
    uint32_t tie;
    int wide;
} oom_ctx;

static crm_status oom_score(void *ctx)
{
    oom_ctx *c = ctx;
    crm_rfm_map *m;
    crm_status s = crm_rfm_map_builtin(&m, "rfm11");
    if (s)
        return s;
    crm_rfm_options o;
    crm_rfm_options_init(&o, CRM_RFM_OPTIONS_VERSION);
    o.tie = c->tie;
    o.map = m;
    crm_rfm_result *r = NULL;
    s = crm_rfm_score(&r, c->p, &o);
    crm_rfm_map_free(m);
    if (s) {
        assert_null(r);
        return s;
    }
    crm_rfm_free(r);
    return CRM_OK;
}

static crm_status oom_migration(void *ctx)
{
    oom_ctx *c = ctx;
    crm_rfm_result *a = NULL, *b = NULL;
    crm_rfm_migration *m = NULL;
    crm_rfm_options fz;
    crm_status s = crm_rfm_score(&a, c->p, NULL);
    if (!s && !(s = crm_rfm_options_frozen(a, &fz)))
        s = crm_rfm_score(&b, c->p2, &fz);
    if (!s)
        s = crm_rfm_migration_new(&m, a, b);
    crm_rfm_migration_free(m);
    crm_rfm_free(a);
    crm_rfm_free(b);
    return s;
}

static void allocation_failures(void **state)
{
    (void)state;
    test_rng g = { 5 };
    size_t n;
    crm_order *o = random_orders(&g, 200, &n, 0);
    oom_ctx c = { 0 };
    assert_int_equal(crm_profiles_build(&c.p, o, n, 300, NULL), CRM_OK);
    assert_int_equal(crm_profiles_build(&c.p2, o, n, 500, NULL), CRM_OK);
    for (c.tie = 0; c.tie < 3; c.tie++)
        assert_true(oom_sweep(oom_score, &c) > 5);
    assert_true(oom_sweep(oom_migration, &c) > 5);
    crm_profiles_free(c.p);
    crm_profiles_free(c.p2);
    free(o);
    /* wide monetary range: the record-sort path */
    o = random_orders(&g, 100, &n, 1);
    assert_int_equal(crm_profiles_build(&c.p, o, n, 500, NULL), CRM_OK);
    c.tie = 0;
    assert_true(oom_sweep(oom_score, &c) > 5);
    crm_profiles_free(c.p);
    free(o);
}


/* ---- scale-out: partials over customer-disjoint partitions == whole ----------- */

/* Serialise and load back (every partial crosses a process boundary). */
static crm_rfm_partial *roundtrip(crm_rfm_partial *p)
{
    void *bytes;
    size_t len;
    assert_int_equal(crm_rfm_partial_serialize(&bytes, &len, p), CRM_OK);
    crm_rfm_partial *q;
    assert_int_equal(crm_rfm_partial_deserialize(&q, bytes, len), CRM_OK);
    crm_bytes_free(bytes);
    assert_int_equal(crm_rfm_partial_count(q), crm_rfm_partial_count(p));
    crm_rfm_partial_free(p);
    return q;
}

static crm_rfm_partial *merge_all(crm_rfm_partial **parts, size_t k)
{
    crm_rfm_partial *acc = parts[0];
    for (size_t i = 1; i < k; i++) {
        crm_rfm_partial *m;
        assert_int_equal(crm_rfm_partial_merge(&m, parts[i], acc), CRM_OK);
        crm_rfm_partial_free(acc);
        crm_rfm_partial_free(parts[i]);
        acc = m;
    }
    return acc;
}

/* Score k customer-disjoint partitions (id % k) through the two-round
 * protocol; every customer must get the whole population's scores. */
/* The rows of o whose customer_id % k == i, into buf; their count. */
static size_t customer_part(const crm_order *o, size_t n, size_t k, size_t i, crm_order *buf)
{
    size_t m = 0;
    for (size_t j = 0; j < n; j++)
        if (o[j].customer_id % k == i)
            buf[m++] = o[j];
    return m;
}

/* Every row of the partition's result rp (ascending ids) equals the whole
 * result rw's row of that customer, and both have the same cuts; the rows
 * checked. */
static size_t part_rows_equal_whole(const crm_rfm_result *rp, const crm_rfm_result *rw)
{
    const uint64_t *wid = crm_rfm_customer_id(rw), *pid = crm_rfm_customer_id(rp);
    for (size_t r = 0; r < crm_rfm_count(rp); r++) {
        size_t x = 0;
        while (wid[x] != pid[r])
            x++;
        if (r)
            assert_true(pid[r] > pid[r - 1]);
        assert_int_equal(crm_rfm_r(rp)[r], crm_rfm_r(rw)[x]);
        assert_int_equal(crm_rfm_f(rp)[r], crm_rfm_f(rw)[x]);
        assert_int_equal(crm_rfm_m(rp)[r], crm_rfm_m(rw)[x]);
        assert_int_equal(crm_rfm_recency_days(rp)[r], crm_rfm_recency_days(rw)[x]);
        assert_int_equal(crm_rfm_monetary(rp)[r], crm_rfm_monetary(rw)[x]);
        if (crm_rfm_segment(rw))
            assert_int_equal(crm_rfm_segment(rp)[r], crm_rfm_segment(rw)[x]);
        else
            assert_null(crm_rfm_segment(rp));
    }
    for (int d = 0; d < 3; d++) {
        size_t na, nb;
        const int64_t *ca = crm_rfm_cuts(rw, d, &na), *cb = crm_rfm_cuts(rp, d, &nb);
        assert_int_equal(na, nb);
        if (na)
            assert_memory_equal(ca, cb, na * sizeof *ca);
    }
    return crm_rfm_count(rp);
}

static size_t partitioned_equals_whole(const crm_order *o, size_t n, size_t k,
                                       const crm_rfm_options *opt)
{
    crm_profiles *whole;
    assert_int_equal(crm_profiles_build(&whole, o, n, 500, NULL), CRM_OK);
    crm_rfm_result *rw;
    assert_int_equal(crm_rfm_score(&rw, whole, opt), CRM_OK);
    crm_profiles *part[8];
    crm_rfm_partial *hp[8], *tp[8];
    crm_order *buf = malloc((n ? n : 1) * sizeof *buf);
    for (size_t i = 0; i < k; i++) {
        size_t m = customer_part(o, n, k, i, buf);
        assert_int_equal(crm_profiles_build(&part[i], buf, m, 500, NULL), CRM_OK);
        assert_int_equal(crm_rfm_partial_new(&hp[i], part[i]), CRM_OK);
        hp[i] = roundtrip(hp[i]);
    }
    free(buf);
    crm_rfm_partial *hist = merge_all(hp, k);
    assert_int_equal(crm_rfm_partial_count(hist), crm_profiles_count(whole));
    crm_rfm_thresholds *th;
    assert_int_equal(crm_rfm_thresholds_new(&th, hist, NULL, opt), CRM_OK);
    size_t pending = crm_rfm_thresholds_pending(th);
    if (pending) {
        crm_rfm_result *tmp = (crm_rfm_result *)1;
        assert_int_equal(crm_rfm_score_thresholds(&tmp, part[0], th), CRM_EINVAL);
        assert_null(tmp);
        for (size_t i = 0; i < k; i++) {
            assert_int_equal(crm_rfm_partial_ties(&tp[i], part[i], th), CRM_OK);
            tp[i] = roundtrip(tp[i]);
        }
        crm_rfm_partial *ties = merge_all(tp, k);
        crm_rfm_thresholds_free(th);
        assert_int_equal(crm_rfm_thresholds_new(&th, hist, ties, opt), CRM_OK);
        assert_int_equal(crm_rfm_thresholds_pending(th), 0);
        crm_rfm_partial_free(ties);
    }
    size_t seen = 0;
    for (size_t i = 0; i < k; i++) {
        crm_rfm_result *rp;
        assert_int_equal(crm_rfm_score_thresholds(&rp, part[i], th), CRM_OK);
        seen += part_rows_equal_whole(rp, rw);
        crm_rfm_free(rp);
        crm_profiles_free(part[i]);
    }
    assert_int_equal(seen, crm_rfm_count(rw));
    crm_rfm_thresholds_free(th);
    crm_rfm_partial_free(hist);
    crm_rfm_free(rw);
    crm_profiles_free(whole);
    return pending;
}

static void partials_equal_whole(void **state)
{
    (void)state;
    test_rng g = { 77 };
    size_t split = 0;
    static const int64_t fc[] = { 2, 4, 4, 9 };
    for (int round = 0; round < 6; round++) {
        size_t n;
        crm_order *o = random_orders(&g, (size_t)test_rng_range(&g, 1, 300), &n, round == 5);
        for (uint32_t tie = 0; tie < 3; tie++)
            for (uint32_t N = 2; N <= 10; N += 4) {
                crm_rfm_options opt;
                crm_rfm_options_init(&opt, CRM_RFM_OPTIONS_VERSION);
                opt.tie = tie;
                opt.bins = N;
                if (round == 2) { /* cut points in one dimension */
                    opt.f_cuts = fc;
                    opt.n_f_cuts = 4;
                }
                for (size_t k = 1; k <= 5; k += 2)
                    split += partitioned_equals_whole(o, n, k, &opt);
            }
        free(o);
    }
    assert_true(split > 0); /* the round-2 path ran */
}

static void rfm_partial_refused(void *ctx, const uint8_t *buf, size_t n, size_t at,
                                uint8_t mask)
{
    (void)ctx;
    (void)mask;
    crm_rfm_partial *q = (crm_rfm_partial *)1;
    crm_status s = crm_rfm_partial_deserialize(&q, buf, n);
    if (at == BLOB_CUT) {
        assert_int_not_equal(s, CRM_OK);
        assert_null(q);
    } else {
        assert_true(s == CRM_ESTATE || s == CRM_EVERSION);
    }
}

static void partial_errors(void **state)
{
    (void)state;
    test_rng g = { 78 };
    size_t n;
    crm_order *o = random_orders(&g, 60, &n, 0);
    crm_profiles *p;
    assert_int_equal(crm_profiles_build(&p, o, n, 500, NULL), CRM_OK);
    crm_rfm_partial *h = NULL, *q = (crm_rfm_partial *)1, *t = NULL;
    assert_int_equal(crm_rfm_partial_new(NULL, p), CRM_EINVAL);
    assert_int_equal(crm_rfm_partial_new(&q, NULL), CRM_EINVAL);
    assert_null(q);
    assert_int_equal(crm_rfm_partial_new(&h, p), CRM_OK);
    void *bytes;
    size_t len;
    assert_int_equal(crm_rfm_partial_serialize(&bytes, &len, h), CRM_OK);
    /* every truncation and every single-byte corruption is refused */
    blob_damage_sweep(bytes, len, 1, 3, 0x40, rfm_partial_refused, NULL);
    assert_int_equal(crm_rfm_partial_deserialize(&q, NULL, len), CRM_EINVAL);
    assert_int_equal(crm_rfm_partial_deserialize(NULL, bytes, len), CRM_EINVAL);
    crm_bytes_free(bytes);
    assert_int_equal(crm_rfm_partial_serialize(NULL, &len, h), CRM_EINVAL);
    assert_int_equal(crm_rfm_partial_serialize(&bytes, &len, NULL), CRM_EINVAL);
    /* heavy ties: all frequency 1 -> ntile splits the value */
    crm_rfm_thresholds *th = (crm_rfm_thresholds *)1;
    assert_int_equal(crm_rfm_thresholds_new(NULL, h, NULL, NULL), CRM_EINVAL);
    assert_int_equal(crm_rfm_thresholds_new(&th, NULL, NULL, NULL), CRM_EINVAL);
    assert_null(th);
    crm_rfm_options bad;
    crm_rfm_options_init(&bad, 1);
    bad.bins = 12;
    assert_int_equal(crm_rfm_thresholds_new(&th, h, NULL, &bad), CRM_EINVAL);
    assert_int_equal(crm_rfm_thresholds_new(&th, h, NULL, NULL), CRM_OK);
    assert_true(crm_rfm_thresholds_pending(th) > 0);
    assert_int_equal(crm_rfm_partial_ties(&t, p, th), CRM_OK);
    assert_int_equal(crm_rfm_partial_ties(NULL, p, th), CRM_EINVAL);
    assert_int_equal(crm_rfm_partial_ties(&q, NULL, th), CRM_EINVAL);
    assert_int_equal(crm_rfm_partial_ties(&q, p, NULL), CRM_EINVAL);
    assert_int_equal(crm_rfm_partial_merge(&q, h, t), CRM_EINVAL); /* kinds differ */
    assert_int_equal(crm_rfm_partial_merge(&q, NULL, t), CRM_EINVAL);
    assert_int_equal(crm_rfm_partial_merge(NULL, h, h), CRM_EINVAL);
    crm_rfm_thresholds *th2;
    assert_int_equal(crm_rfm_thresholds_new(&th2, t, NULL, NULL), CRM_EINVAL); /* swapped */
    assert_int_equal(crm_rfm_thresholds_new(&th2, h, h, NULL), CRM_EINVAL);
    /* ties of other thresholds (qcut_rank) */
    crm_rfm_options qo;
    crm_rfm_options_init(&qo, 1);
    qo.tie = CRM_RFM_TIE_QCUT_RANK;
    assert_int_equal(crm_rfm_thresholds_new(&th2, h, NULL, &qo), CRM_OK);
    if (crm_rfm_thresholds_pending(th2)) {
        crm_rfm_thresholds *th3;
        assert_int_equal(crm_rfm_thresholds_new(&th3, h, t, &qo), CRM_EINVAL);
        crm_rfm_partial *t2;
        assert_int_equal(crm_rfm_partial_ties(&t2, p, th2), CRM_OK);
        assert_int_equal(crm_rfm_partial_merge(&q, t, t2), CRM_EINVAL);
        crm_rfm_partial_free(t2);
    }
    crm_rfm_thresholds_free(th2);
    /* a ties partial missing a partition lacks ids */
    crm_profiles *small;
    assert_int_equal(crm_profiles_build(&small, o, 3, 500, NULL), CRM_OK);
    crm_rfm_partial *ts;
    assert_int_equal(crm_rfm_partial_ties(&ts, small, th), CRM_OK);
    assert_int_equal(crm_rfm_thresholds_new(&th2, h, ts, NULL), CRM_ESTATE);
    crm_rfm_partial_free(ts);
    crm_profiles_free(small);
    crm_rfm_result *r;
    assert_int_equal(crm_rfm_score_thresholds(&r, p, th), CRM_EINVAL); /* pending */
    assert_int_equal(crm_rfm_score_thresholds(NULL, p, th), CRM_EINVAL);
    assert_int_equal(crm_rfm_score_thresholds(&r, NULL, th), CRM_EINVAL);
    assert_int_equal(crm_rfm_score_thresholds(&r, p, NULL), CRM_EINVAL);
    assert_int_equal(crm_rfm_thresholds_pending(NULL), 0);
    assert_int_equal(crm_rfm_partial_count(NULL), 0);
    crm_rfm_thresholds_free(th);
    crm_rfm_thresholds_free(NULL);
    crm_rfm_partial_free(NULL);
    crm_rfm_partial_free(t);
    crm_rfm_partial_free(h);
    crm_profiles_free(p);
    free(o);
}

typedef struct oom_part {
    crm_profiles *p;
} oom_part;

static crm_status oom_protocol(void *ctx)
{
    oom_part *c = ctx;
    crm_rfm_partial *h = NULL, *h2 = NULL, *m = NULL, *t = NULL, *tl = NULL;
    crm_rfm_thresholds *th = NULL, *th2 = NULL;
    crm_rfm_result *r = NULL;
    void *bytes = NULL;
    size_t len;
    crm_status s = crm_rfm_partial_new(&h, c->p);
    if (!s)
        s = crm_rfm_partial_serialize(&bytes, &len, h);
    if (!s)
        s = crm_rfm_partial_deserialize(&h2, bytes, len);
    crm_bytes_free(bytes);
    bytes = NULL;
    if (!s)
        s = crm_rfm_partial_merge(&m, h, h2);
    if (!s)
        s = crm_rfm_thresholds_new(&th, h, NULL, NULL);
    if (!s)
        s = crm_rfm_partial_ties(&t, c->p, th);
    if (!s)
        s = crm_rfm_partial_serialize(&bytes, &len, t);
    if (!s)
        s = crm_rfm_partial_deserialize(&tl, bytes, len);
    crm_bytes_free(bytes);
    if (!s)
        s = crm_rfm_thresholds_new(&th2, h, tl, NULL);
    if (!s)
        s = crm_rfm_score_thresholds(&r, c->p, th2);
    crm_rfm_free(r);
    crm_rfm_thresholds_free(th);
    crm_rfm_thresholds_free(th2);
    crm_rfm_partial_free(h);
    crm_rfm_partial_free(h2);
    crm_rfm_partial_free(m);
    crm_rfm_partial_free(t);
    crm_rfm_partial_free(tl);
    return s;
}

static void partial_allocation_failures(void **state)
{
    (void)state;
    test_rng g = { 79 };
    size_t n;
    crm_order *o = random_orders(&g, 80, &n, 0);
    oom_part c;
    assert_int_equal(crm_profiles_build(&c.p, o, n, 500, NULL), CRM_OK);
    assert_true(oom_sweep(oom_protocol, &c) > 10);
    crm_profiles_free(c.p);
    free(o);
}

/* ---- straight from orders == profiles + score ------------------------------------- */

static void orders_path_equals_profiles_path(void **state)
{
    (void)state;
    test_rng g = { 31 };
    for (int round = 0; round < 8; round++) {
        size_t n;
        crm_order *o = random_orders(&g, (size_t)test_rng_range(&g, 0, 3000), &n, round == 7);
        if (round == 6) /* heavy: many orders per customer, unsorted, refund-only customers */
            for (size_t i = 0; i < n; i++)
                o[i].customer_id %= 37;
        int64_t asof = test_rng_range(&g, 100, 700);
        for (uint32_t tie = 0; tie < 3; tie++) {
            crm_rfm_options opt;
            crm_rfm_options_init(&opt, CRM_RFM_OPTIONS_VERSION);
            opt.tie = tie;
            crm_profiles *p;
            crm_rfm_result *a, *b;
            assert_int_equal(crm_profiles_build(&p, o, n, asof, NULL), CRM_OK);
            assert_int_equal(crm_rfm_score(&a, p, &opt), CRM_OK);
            assert_int_equal(crm_rfm_score_orders(&b, o, n, asof, &opt), CRM_OK);
            size_t cnt = crm_rfm_count(a);
            assert_int_equal(crm_rfm_count(b), cnt);
            assert_int_equal(crm_rfm_asof(b), asof);
            if (cnt) {
                assert_memory_equal(crm_rfm_recency_days(a), crm_rfm_recency_days(b), cnt * 4);
                assert_memory_equal(crm_rfm_frequency(a), crm_rfm_frequency(b), cnt * 4);
                assert_memory_equal(crm_rfm_monetary(a), crm_rfm_monetary(b), cnt * 8);
            }
            same_result(a, b);
            crm_rfm_free(a);
            crm_rfm_free(b);
            crm_profiles_free(p);
        }
        free(o);
    }
}

static void orders_path_errors(void **state)
{
    (void)state;
    crm_order o[3] = { { 1, 5 * DAY, 10 }, { 2, -1, 5 }, { 3, 0, 1 } };
    crm_rfm_result *r = (crm_rfm_result *)1;
    assert_int_equal(crm_rfm_score_orders(&r, o, 3, 10, NULL), CRM_EDATA);
    assert_null(r);
    assert_non_null(strstr(crm_last_error(), "orders[1]"));
    o[1] = (crm_order){ 1, 6 * DAY, INT64_MAX };
    assert_int_equal(crm_rfm_score_orders(&r, o, 3, 10, NULL), CRM_EOVERFLOW);
    assert_non_null(strstr(crm_last_error(), "orders[1]"));
    assert_int_equal(crm_rfm_score_orders(&r, NULL, 3, 10, NULL), CRM_EINVAL);
    assert_int_equal(crm_rfm_score_orders(NULL, o, 3, 10, NULL), CRM_EINVAL);
    assert_int_equal(crm_rfm_score_orders(&r, o, 3, -1, NULL), CRM_EINVAL);
    assert_int_equal(crm_rfm_score_orders(&r, o, 3, CRM_DAY_MAX + 1, NULL), CRM_EINVAL);
    crm_rfm_options opt;
    crm_rfm_options_init(&opt, 1);
    opt.bins = 0;
    assert_int_equal(crm_rfm_score_orders(&r, o, 3, 10, &opt), CRM_EINVAL);
    assert_int_equal(crm_rfm_score_orders(&r, NULL, 0, 10, NULL), CRM_OK);
    assert_int_equal(crm_rfm_count(r), 0);
    crm_rfm_free(r);
}

typedef struct oom_orders {
    crm_order *o;
    size_t n;
} oom_orders;

static crm_status oom_score_orders(void *ctx)
{
    oom_orders *c = ctx;
    crm_rfm_result *r = NULL;
    crm_status s = crm_rfm_score_orders(&r, c->o, c->n, 500, NULL);
    return OOM_RESULT(s, r, crm_rfm_free);
}

static void orders_path_allocation_failures(void **state)
{
    (void)state;
    test_rng g = { 32 };
    oom_orders c;
    c.o = random_orders(&g, 3000, &c.n, 0); /* grows the table past its first size */
    assert_true(oom_sweep(oom_score_orders, &c) > 5);
    free(c.o);
}

/* ---- shards: orders straight to the partitioned protocol ----------------------------- */

static crm_rfm_partial *shard_partial_rt(const crm_rfm_shard *s)
{
    crm_rfm_partial *p;
    assert_int_equal(crm_rfm_shard_partial(&p, s), CRM_OK);
    return roundtrip(p);
}

/* Hand-worked: snapshot day 10, bins 2, ntile; shard A holds two
 * partitions, shard B one. */
static void shard_hand_worked(void **state)
{
    (void)state;
    /* c1: days 9 (100) and 5 (50): recency 1, frequency 2, monetary 150
     * c3: day 10 (500); day 11 is after asof: recency 0, f 1, m 500
     * c5: refunds only: not scored
     * c2: day 2 (30): recency 8, f 1, m 30
     * c4: day 7 (80), refund on day 8 (-80): recency 3, f 1, m 0 */
    const crm_order a1[] = { { 1, 9 * DAY + 5, 100 }, { 1, 5 * DAY, 50 } };
    const crm_order a2[] = { { 3, 10 * DAY, 500 }, { 5, 6 * DAY, -20 }, { 3, 11 * DAY, 999 } };
    const crm_order b[] = { { 4, 8 * DAY, -80 }, { 2, 2 * DAY + 7, 30 }, { 4, 7 * DAY, 80 } };
    crm_rfm_shard *sa, *sb;
    assert_int_equal(crm_rfm_shard_new(&sa, 10), CRM_OK);
    assert_int_equal(crm_rfm_shard_new(&sb, 10), CRM_OK);
    assert_int_equal(crm_rfm_shard_count(sa), 0);
    assert_int_equal(crm_rfm_shard_add(sa, a1, 2), CRM_OK);
    assert_int_equal(crm_rfm_shard_add(sa, a2, 3), CRM_OK);
    assert_int_equal(crm_rfm_shard_add(sa, NULL, 0), CRM_OK); /* an empty partition */
    assert_int_equal(crm_rfm_shard_add(sb, b, 3), CRM_OK);
    assert_int_equal(crm_rfm_shard_count(sa), 2);
    assert_int_equal(crm_rfm_shard_count(sb), 2);
    crm_rfm_partial *ha = shard_partial_rt(sa), *hb = shard_partial_rt(sb), *h;
    assert_int_equal(crm_rfm_partial_count(ha), 2);
    assert_int_equal(crm_rfm_partial_merge(&h, ha, hb), CRM_OK);
    crm_rfm_options opt;
    crm_rfm_options_init(&opt, CRM_RFM_OPTIONS_VERSION);
    opt.bins = 2;
    crm_rfm_thresholds *th;
    assert_int_equal(crm_rfm_thresholds_new(&th, h, NULL, &opt), CRM_OK);
    /* F ranks (1,c2) (1,c3) (1,c4) (2,c1): the bin edge after rank 2 splits
     * frequency 1; R (-8 -3 | -1 0) and M (0 30 | 150 500) are not split */
    assert_int_equal(crm_rfm_thresholds_pending(th), 1);
    uint64_t cells[8];
    assert_int_equal(crm_rfm_shard_cells(cells, NULL, 8, sa, th), CRM_EINVAL); /* pending */
    crm_rfm_partial *ta, *tb, *t;
    assert_int_equal(crm_rfm_shard_ties(&ta, sa, th), CRM_OK);
    assert_int_equal(crm_rfm_shard_ties(&tb, sb, th), CRM_OK);
    ta = roundtrip(ta);
    tb = roundtrip(tb);
    assert_int_equal(crm_rfm_partial_count(ta), 1); /* c3 */
    assert_int_equal(crm_rfm_partial_count(tb), 2); /* c2, c4: the 2 needed */
    assert_int_equal(crm_rfm_partial_merge(&t, tb, ta), CRM_OK);
    assert_int_equal(crm_rfm_partial_count(t), 2); /* ids 2, 3: edge after id 3 */
    crm_rfm_thresholds_free(th);
    assert_int_equal(crm_rfm_thresholds_new(&th, h, t, &opt), CRM_OK);
    assert_int_equal(crm_rfm_thresholds_pending(th), 0);
    /* scores c1 (2,2,2) c3 (2,1,2) | c2 (1,1,1) c4 (1,2,1); cell index
     * ((R-1)*2 + F-1)*2 + M-1: c1 7, c3 5, c2 0, c4 2 */
    static const uint64_t want_a[8] = { 0, 0, 0, 0, 0, 1, 0, 1 };
    static const uint64_t want_b[8] = { 1, 0, 1, 0, 0, 0, 0, 0 };
    int64_t rev[8];
    static const int64_t rev_a[8] = { 0, 0, 0, 0, 0, 500, 0, 150 };
    static const int64_t rev_b[8] = { 30, 0, 0, 0, 0, 0, 0, 0 }; /* c4 nets 0 */
    assert_int_equal(crm_rfm_shard_cells(cells, rev, 8, sa, th), CRM_OK);
    assert_memory_equal(cells, want_a, sizeof cells);
    assert_memory_equal(rev, rev_a, sizeof rev);
    assert_int_equal(crm_rfm_shard_cells(cells, NULL, 8, sb, th), CRM_OK);
    assert_memory_equal(cells, want_b, sizeof cells);
    assert_int_equal(crm_rfm_shard_cells(cells, rev, 8, sb, th), CRM_OK);
    assert_memory_equal(rev, rev_b, sizeof rev);
    crm_rfm_result *r;
    assert_int_equal(crm_rfm_shard_score(&r, sa, th), CRM_OK);
    assert_int_equal(crm_rfm_count(r), 2);
    assert_int_equal(crm_rfm_asof(r), 10);
    static const uint64_t ids[] = { 1, 3 };
    static const uint8_t rs[] = { 2, 2 }, fs[] = { 2, 1 }, ms[] = { 2, 2 };
    static const int32_t rec[] = { 1, 0 };
    static const int64_t mon[] = { 150, 500 };
    assert_memory_equal(crm_rfm_customer_id(r), ids, sizeof ids);
    assert_memory_equal(crm_rfm_r(r), rs, 2);
    assert_memory_equal(crm_rfm_f(r), fs, 2);
    assert_memory_equal(crm_rfm_m(r), ms, 2);
    assert_memory_equal(crm_rfm_recency_days(r), rec, sizeof rec);
    assert_memory_equal(crm_rfm_monetary(r), mon, sizeof mon);
    assert_null(crm_rfm_segment(r)); /* no default map for 2 bins */
    crm_rfm_free(r);
    assert_int_equal(crm_rfm_shard_score(&r, sb, th), CRM_OK);
    static const uint64_t ids_b[] = { 2, 4 };
    static const uint8_t fs_b[] = { 1, 2 };
    assert_memory_equal(crm_rfm_customer_id(r), ids_b, sizeof ids_b);
    assert_memory_equal(crm_rfm_f(r), fs_b, 2);
    crm_rfm_free(r);
    crm_rfm_thresholds_free(th);
    crm_rfm_partial_free(t);
    crm_rfm_partial_free(ta);
    crm_rfm_partial_free(tb);
    crm_rfm_partial_free(h);
    crm_rfm_partial_free(ha);
    crm_rfm_partial_free(hb);
    crm_rfm_shard_free(sa);
    crm_rfm_shard_free(sb);
}

/* Brute-force (R, F, M) cell counts of a result. */
static void cells_of(const crm_rfm_result *r, uint64_t *cells, size_t N)
{
    memset(cells, 0, N * N * N * sizeof *cells);
    for (size_t i = 0; i < crm_rfm_count(r); i++)
        cells[((size_t)(crm_rfm_r(r)[i] - 1) * N + (crm_rfm_f(r)[i] - 1)) * N +
              (crm_rfm_m(r)[i] - 1)]++;
}

/* k partitions (id % k, each shuffled) dealt to w shards; the protocol
 * must give every customer the scores of crm_rfm_score_orders() over all. */
static size_t shards_equal_whole(test_rng *g, const crm_order *o, size_t n, size_t k, size_t w,
                                 int64_t asof, const crm_rfm_options *opt)
{
    crm_rfm_result *rw;
    assert_int_equal(crm_rfm_score_orders(&rw, o, n, asof, opt), CRM_OK);
    crm_rfm_shard *sh[4];
    crm_rfm_partial *hp[4], *tp[4];
    for (size_t s = 0; s < w; s++)
        assert_int_equal(crm_rfm_shard_new(&sh[s], asof), CRM_OK);
    crm_order *buf = malloc((n ? n : 1) * sizeof *buf);
    for (size_t i = 0; i < k; i++) {
        size_t m = customer_part(o, n, k, i, buf);
        for (size_t j = m; j > 1; j--) { /* rows of a partition in any order */
            size_t x = (size_t)test_rng_range(g, 0, (int64_t)j - 1);
            crm_order tmp = buf[j - 1];
            buf[j - 1] = buf[x];
            buf[x] = tmp;
        }
        assert_int_equal(crm_rfm_shard_add(sh[i % w], buf, m), CRM_OK);
    }
    free(buf);
    size_t total = 0;
    for (size_t s = 0; s < w; s++) {
        total += crm_rfm_shard_count(sh[s]);
        hp[s] = shard_partial_rt(sh[s]);
    }
    assert_int_equal(total, crm_rfm_count(rw));
    crm_rfm_partial *hist = merge_all(hp, w);
    crm_rfm_thresholds *th;
    assert_int_equal(crm_rfm_thresholds_new(&th, hist, NULL, opt), CRM_OK);
    size_t pending = crm_rfm_thresholds_pending(th);
    if (pending) {
        for (size_t s = 0; s < w; s++) {
            assert_int_equal(crm_rfm_shard_ties(&tp[s], sh[s], th), CRM_OK);
            tp[s] = roundtrip(tp[s]);
        }
        crm_rfm_partial *ties = merge_all(tp, w);
        crm_rfm_thresholds_free(th);
        assert_int_equal(crm_rfm_thresholds_new(&th, hist, ties, opt), CRM_OK);
        crm_rfm_partial_free(ties);
    }
    size_t N = crm_rfm_bins(rw), nc = N * N * N;
    uint64_t want[1000], got[1000], sum[1000] = { 0 };
    int64_t rev[1000], rev_sum[1000] = { 0 }, rev_want[1000] = { 0 };
    for (size_t i = 0; i < crm_rfm_count(rw); i++) /* brute-force revenue per cell */
        rev_want[((size_t)(crm_rfm_r(rw)[i] - 1) * N + (crm_rfm_f(rw)[i] - 1)) * N +
                 (crm_rfm_m(rw)[i] - 1)] += crm_rfm_monetary(rw)[i];
    cells_of(rw, want, N);
    size_t seen = 0;
    for (size_t s = 0; s < w; s++) {
        assert_int_equal(crm_rfm_shard_cells(got, rev, nc, sh[s], th), CRM_OK);
        for (size_t c = 0; c < nc; c++) {
            sum[c] += got[c];
            rev_sum[c] += rev[c];
        }
        crm_rfm_result *rp;
        assert_int_equal(crm_rfm_shard_score(&rp, sh[s], th), CRM_OK);
        cells_of(rp, want + 0, N); /* the shard's own cells, from its result */
        assert_memory_equal(want, got, nc * sizeof *got);
        seen += part_rows_equal_whole(rp, rw);
        crm_rfm_free(rp);
        crm_rfm_shard_free(sh[s]);
    }
    cells_of(rw, want, N);
    assert_memory_equal(sum, want, nc * sizeof *sum);
    assert_memory_equal(rev_sum, rev_want, nc * sizeof *rev_sum);
    assert_int_equal(seen, crm_rfm_count(rw));
    crm_rfm_thresholds_free(th);
    crm_rfm_partial_free(hist);
    crm_rfm_free(rw);
    return pending;
}

static void shards_equal_whole_random(void **state)
{
    (void)state;
    test_rng g = { 91 };
    size_t split = 0;
    static const int64_t mc[] = { 0, 2000, 2000, 7000 };
    for (int round = 0; round < 7; round++) {
        size_t n;
        crm_order *o = random_orders(&g, (size_t)test_rng_range(&g, 0, 400), &n, round == 5);
        if (round == 6) /* many orders per customer, refund-only customers */
            for (size_t i = 0; i < n; i++)
                o[i].customer_id %= 29;
        int64_t asof = test_rng_range(&g, 150, 600);
        for (uint32_t tie = 0; tie < 3; tie++)
            for (uint32_t N = 2; N <= 10; N += 3) {
                crm_rfm_options opt;
                crm_rfm_options_init(&opt, CRM_RFM_OPTIONS_VERSION);
                opt.tie = tie;
                opt.bins = N;
                if (round == 2) { /* cut points in one dimension */
                    opt.m_cuts = mc;
                    opt.n_m_cuts = 4;
                }
                split += shards_equal_whole(&g, o, n, 7, 1 + (size_t)(round % 4), asof, &opt);
                split += shards_equal_whole(&g, o, n, 40, 3, asof, &opt); /* empty partitions */
            }
        free(o);
    }
    assert_true(split > 0); /* the round-2 path ran */
}

/* A shard's round-1 partial is the profile table's, byte for byte
 * (counting and sorting histograms agree, wide and narrow values). */
static void shard_partial_equals_profiles_partial(void **state)
{
    (void)state;
    test_rng g = { 92 };
    for (int round = 0; round < 4; round++) {
        size_t n;
        crm_order *o = random_orders(&g, (size_t)test_rng_range(&g, 1, 500), &n, round & 1);
        crm_profiles *p;
        crm_rfm_shard *s;
        crm_rfm_partial *a, *b;
        assert_int_equal(crm_profiles_build(&p, o, n, 400, NULL), CRM_OK);
        assert_int_equal(crm_rfm_shard_new(&s, 400), CRM_OK);
        assert_int_equal(crm_rfm_shard_add(s, o, n), CRM_OK);
        assert_int_equal(crm_rfm_partial_new(&a, p), CRM_OK);
        assert_int_equal(crm_rfm_shard_partial(&b, s), CRM_OK);
        void *ba, *bb;
        size_t la, lb;
        assert_int_equal(crm_rfm_partial_serialize(&ba, &la, a), CRM_OK);
        assert_int_equal(crm_rfm_partial_serialize(&bb, &lb, b), CRM_OK);
        assert_int_equal(la, lb);
        assert_memory_equal(ba, bb, la);
        crm_bytes_free(ba);
        crm_bytes_free(bb);
        crm_rfm_partial_free(a);
        crm_rfm_partial_free(b);
        crm_rfm_shard_free(s);
        crm_profiles_free(p);
        free(o);
    }
}

static void shard_errors(void **state)
{
    (void)state;
    crm_rfm_shard *s = (crm_rfm_shard *)1;
    assert_int_equal(crm_rfm_shard_new(NULL, 10), CRM_EINVAL);
    assert_int_equal(crm_rfm_shard_new(&s, -1), CRM_EINVAL);
    assert_null(s);
    assert_int_equal(crm_rfm_shard_new(&s, CRM_DAY_MAX + 1), CRM_EINVAL);
    assert_int_equal(crm_rfm_shard_new(&s, 20), CRM_OK);
    crm_order o[3] = { { 1, 5 * DAY, 10 }, { 2, 6 * DAY, 7 }, { 3, 0, 1 } };
    assert_int_equal(crm_rfm_shard_add(NULL, o, 3), CRM_EINVAL);
    assert_int_equal(crm_rfm_shard_add(s, NULL, 3), CRM_EINVAL);
    assert_int_equal(crm_rfm_shard_add(s, o, 2), CRM_OK);
    /* a failed add leaves the shard as it was */
    crm_order bad[2] = { { 7, 3 * DAY, 4 }, { 8, -1, 5 } };
    assert_int_equal(crm_rfm_shard_add(s, bad, 2), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "orders[1]"));
    bad[1] = (crm_order){ 7, 4 * DAY, INT64_MAX };
    assert_int_equal(crm_rfm_shard_add(s, bad, 2), CRM_EOVERFLOW);
    assert_non_null(strstr(crm_last_error(), "orders[1]"));
    assert_int_equal(crm_rfm_shard_count(s), 2);
    assert_int_equal(crm_rfm_shard_count(NULL), 0);
    crm_rfm_partial *h = (crm_rfm_partial *)1;
    assert_int_equal(crm_rfm_shard_partial(NULL, s), CRM_EINVAL);
    assert_int_equal(crm_rfm_shard_partial(&h, NULL), CRM_EINVAL);
    assert_null(h);
    assert_int_equal(crm_rfm_shard_partial(&h, s), CRM_OK);
    assert_int_equal(crm_rfm_partial_count(h), 2);
    crm_rfm_thresholds *th;
    crm_rfm_options vo; /* a value rule: never pending */
    crm_rfm_options_init(&vo, CRM_RFM_OPTIONS_VERSION);
    vo.tie = CRM_RFM_TIE_RFM_R;
    assert_int_equal(crm_rfm_thresholds_new(&th, h, NULL, &vo), CRM_OK);
    assert_int_equal(crm_rfm_thresholds_pending(th), 0);
    crm_rfm_partial *t = (crm_rfm_partial *)1;
    assert_int_equal(crm_rfm_shard_ties(NULL, s, th), CRM_EINVAL);
    assert_int_equal(crm_rfm_shard_ties(&t, NULL, th), CRM_EINVAL);
    assert_null(t);
    assert_int_equal(crm_rfm_shard_ties(&t, s, NULL), CRM_EINVAL);
    uint64_t cells[125];
    assert_int_equal(crm_rfm_shard_cells(NULL, NULL, 125, s, th), CRM_EINVAL);
    assert_int_equal(crm_rfm_shard_cells(cells, NULL, 125, NULL, th), CRM_EINVAL);
    assert_int_equal(crm_rfm_shard_cells(cells, NULL, 125, s, NULL), CRM_EINVAL);
    assert_int_equal(crm_rfm_shard_cells(cells, NULL, 124, s, th), CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "125"));
    crm_rfm_result *r = (crm_rfm_result *)1;
    assert_int_equal(crm_rfm_shard_score(NULL, s, th), CRM_EINVAL);
    assert_int_equal(crm_rfm_shard_score(&r, NULL, th), CRM_EINVAL);
    assert_null(r);
    assert_int_equal(crm_rfm_shard_score(&r, s, NULL), CRM_EINVAL);
    /* the thresholds counted fewer customers than the shard holds */
    assert_int_equal(crm_rfm_shard_add(s, o + 2, 1), CRM_OK);
    assert_int_equal(crm_rfm_shard_cells(cells, NULL, 125, s, th), CRM_EINVAL);
    assert_int_equal(crm_rfm_shard_score(&r, s, th), CRM_EINVAL);
    crm_rfm_thresholds_free(th);
    crm_rfm_partial_free(h);
    /* a customer in two partitions of one shard is refused by name */
    crm_order again = { 2, 9 * DAY, 3 };
    assert_int_equal(crm_rfm_shard_add(s, &again, 1), CRM_OK);
    assert_int_equal(crm_rfm_shard_partial(&h, s), CRM_OK);
    assert_int_equal(crm_rfm_thresholds_new(&th, h, NULL, &vo), CRM_OK);
    assert_int_equal(crm_rfm_shard_score(&r, s, th), CRM_EDATA);
    assert_null(r);
    assert_non_null(strstr(crm_last_error(), "customer 2"));
    crm_rfm_thresholds_free(th);
    crm_rfm_partial_free(h);
    crm_rfm_shard_free(s);
    crm_rfm_shard_free(NULL);
    /* ties for thresholds of a smaller population: refused, not truncated */
    const crm_order two[2] = { { 1, 3 * DAY, 5 }, { 2, 3 * DAY, 5 } };
    const crm_order three[3] = { { 1, 3 * DAY, 5 }, { 2, 3 * DAY, 5 }, { 3, 3 * DAY, 5 } };
    crm_rfm_options o2;
    crm_rfm_options_init(&o2, CRM_RFM_OPTIONS_VERSION);
    o2.bins = 2;
    assert_int_equal(crm_rfm_shard_new(&s, 20), CRM_OK);
    assert_int_equal(crm_rfm_shard_add(s, two, 2), CRM_OK);
    assert_int_equal(crm_rfm_shard_partial(&h, s), CRM_OK);
    assert_int_equal(crm_rfm_thresholds_new(&th, h, NULL, &o2), CRM_OK);
    assert_true(crm_rfm_thresholds_pending(th) > 0); /* everyone tied: split */
    crm_rfm_shard_free(s);
    assert_int_equal(crm_rfm_shard_new(&s, 20), CRM_OK);
    assert_int_equal(crm_rfm_shard_add(s, three, 3), CRM_OK);
    t = (crm_rfm_partial *)1;
    assert_int_equal(crm_rfm_shard_ties(&t, s, th), CRM_EINVAL);
    assert_null(t);
    assert_non_null(strstr(crm_last_error(), "more customers"));
    crm_rfm_thresholds_free(th);
    crm_rfm_partial_free(h);
    crm_rfm_shard_free(s);
    /* revenue of a cell beyond int64: both customers in cell (1, 1, 1) */
    const crm_order big[2] = { { 1, 3 * DAY, INT64_C(1) << 62 }, { 2, 4 * DAY, INT64_C(1) << 62 } };
    static const int64_t never[] = { INT64_MAX };
    crm_rfm_options co;
    crm_rfm_options_init(&co, CRM_RFM_OPTIONS_VERSION);
    co.r_cuts = co.f_cuts = co.m_cuts = never;
    co.n_r_cuts = co.n_f_cuts = co.n_m_cuts = 1;
    assert_int_equal(crm_rfm_shard_new(&s, 20), CRM_OK);
    assert_int_equal(crm_rfm_shard_add(s, big, 2), CRM_OK);
    assert_int_equal(crm_rfm_shard_partial(&h, s), CRM_OK);
    assert_int_equal(crm_rfm_thresholds_new(&th, h, NULL, &co), CRM_OK);
    int64_t rev[125];
    cells[0] = 7;
    assert_int_equal(crm_rfm_shard_cells(cells, rev, 125, s, th), CRM_EOVERFLOW);
    assert_int_equal(cells[0], 7); /* untouched */
    assert_non_null(strstr(crm_last_error(), "revenue overflows"));
    assert_int_equal(crm_rfm_shard_cells(cells, NULL, 125, s, th), CRM_OK);
    assert_int_equal(cells[0], 2);
    crm_rfm_thresholds_free(th);
    crm_rfm_partial_free(h);
    crm_rfm_shard_free(s);
}

typedef struct oom_shard {
    crm_order *o;
    size_t n, cut;
} oom_shard;

static crm_status oom_shard_protocol(void *ctx)
{
    oom_shard *c = ctx;
    crm_rfm_shard *s = NULL;
    crm_rfm_partial *h = NULL, *t = NULL;
    crm_rfm_thresholds *th = NULL, *th2 = NULL;
    crm_rfm_result *r = NULL;
    uint64_t cells[125];
    int64_t rev[125];
    crm_status st = crm_rfm_shard_new(&s, 500);
    if (!st) /* customer-disjoint halves: even and odd ids */
        st = crm_rfm_shard_add(s, c->o, c->cut);
    if (!st)
        st = crm_rfm_shard_add(s, c->o + c->cut, c->n - c->cut);
    if (!st)
        st = crm_rfm_shard_partial(&h, s);
    if (!st)
        st = crm_rfm_thresholds_new(&th, h, NULL, NULL);
    if (!st)
        st = crm_rfm_shard_ties(&t, s, th);
    if (!st)
        st = crm_rfm_thresholds_new(&th2, h, t, NULL);
    if (!st)
        st = crm_rfm_shard_cells(cells, rev, 125, s, th2);
    if (!st)
        st = crm_rfm_shard_score(&r, s, th2);
    crm_rfm_free(r);
    crm_rfm_thresholds_free(th);
    crm_rfm_thresholds_free(th2);
    crm_rfm_partial_free(h);
    crm_rfm_partial_free(t);
    crm_rfm_shard_free(s);
    return st;
}

static void shard_allocation_failures(void **state)
{
    (void)state;
    test_rng g = { 93 };
    oom_shard c;
    c.o = random_orders(&g, 3000, &c.n, 0); /* grows the first table */
    size_t even = 0;
    for (size_t i = 0; i < c.n; i++)
        if (c.o[i].customer_id % 2 == 0) {
            crm_order tmp = c.o[even];
            c.o[even++] = c.o[i];
            c.o[i] = tmp;
        }
    c.cut = even;
    assert_true(oom_sweep(oom_shard_protocol, &c) > 10);
    free(c.o);
}


/* Blobs of format version 1 (fixed-width arrays, written by libcrm before
 * version 2's varints) still load: the orders of shard_hand_worked without
 * customer 5, asof day 10, bins 2 (round 1, and round 2 of its thresholds). */
static const uint8_t v1_hist[212] = {
    0x43, 0x52, 0x4d, 0x42, 0x0a, 0x00, 0x01, 0x00, 0xc0, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x96, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xf4, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x46, 0x2d, 0x76, 0x59,
};
static const uint8_t v1_ties[78] = {
    0x43, 0x52, 0x4d, 0x42, 0x0b, 0x00, 0x01, 0x00, 0x3a, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x46, 0x74, 0xa7, 0x6a,
};

static void partial_blob_version_1_loads(void **state)
{
    (void)state;
    crm_rfm_partial *h1, *t1, *h2, *t2;
    assert_int_equal(crm_rfm_partial_deserialize(&h1, v1_hist, sizeof v1_hist), CRM_OK);
    assert_int_equal(crm_rfm_partial_deserialize(&t1, v1_ties, sizeof v1_ties), CRM_OK);
    assert_int_equal(crm_rfm_partial_count(h1), 4);
    assert_int_equal(crm_rfm_partial_count(t1), 2);
    const crm_order o[] = { { 1, 9 * DAY, 100 }, { 1, 5 * DAY, 50 },  { 3, 10 * DAY, 500 },
                            { 2, 2 * DAY, 30 },  { 4, 7 * DAY, 80 }, { 4, 8 * DAY, -80 } };
    crm_rfm_shard *s;
    assert_int_equal(crm_rfm_shard_new(&s, 10), CRM_OK);
    assert_int_equal(crm_rfm_shard_add(s, o, 6), CRM_OK);
    crm_rfm_options opt;
    crm_rfm_options_init(&opt, CRM_RFM_OPTIONS_VERSION);
    opt.bins = 2;
    crm_rfm_thresholds *th;
    assert_int_equal(crm_rfm_shard_partial(&h2, s), CRM_OK);
    assert_int_equal(crm_rfm_thresholds_new(&th, h2, NULL, &opt), CRM_OK);
    assert_int_equal(crm_rfm_shard_ties(&t2, s, th), CRM_OK);
    crm_rfm_thresholds_free(th);
    /* the same bytes as this library's round trip of the same partials */
    void *a, *b;
    size_t la, lb;
    crm_rfm_partial *pairs[2][2] = { { h1, h2 }, { t1, t2 } };
    for (int k = 0; k < 2; k++) {
        assert_int_equal(crm_rfm_partial_serialize(&a, &la, pairs[k][0]), CRM_OK);
        assert_int_equal(crm_rfm_partial_serialize(&b, &lb, pairs[k][1]), CRM_OK);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
        assert_true(la < (k ? sizeof v1_ties : sizeof v1_hist)); /* version 2 is smaller */
        assert_int_equal(((const uint8_t *)a)[6], 2);
        crm_bytes_free(a);
        crm_bytes_free(b);
    }
    /* and they finish the thresholds: c1 (2,2,2) c2 (1,1,1) c3 (2,1,2) c4 (1,2,1) */
    assert_int_equal(crm_rfm_thresholds_new(&th, h1, t1, &opt), CRM_OK);
    uint64_t cells[8];
    static const uint64_t want[8] = { 1, 0, 1, 0, 0, 1, 0, 1 };
    assert_int_equal(crm_rfm_shard_cells(cells, NULL, 8, s, th), CRM_OK);
    assert_memory_equal(cells, want, sizeof cells);
    crm_rfm_thresholds_free(th);
    crm_rfm_partial_free(h1);
    crm_rfm_partial_free(h2);
    crm_rfm_partial_free(t1);
    crm_rfm_partial_free(t2);
    crm_rfm_shard_free(s);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hand_ntile),
        cmocka_unit_test(hand_qcut_rank),
        cmocka_unit_test(hand_rfm_r),
        cmocka_unit_test(hand_small_and_extreme_bins),
        cmocka_unit_test(explicit_cuts),
        cmocka_unit_test(against_reference),
        cmocka_unit_test(frozen_on_itself),
        cmocka_unit_test(order_and_partition_independent),
        cmocka_unit_test(builtin_maps_and_lint),
        cmocka_unit_test(builtin_maps_match_spec),
        cmocka_unit_test(segments_and_summary),
        cmocka_unit_test(empty_population),
        cmocka_unit_test(migration_matrix),
        cmocka_unit_test(frozen_vs_relative_hand),
        cmocka_unit_test(r_package_orders),
        cmocka_unit_test(r_package_customers),
        cmocka_unit_test(errors),
        cmocka_unit_test(allocation_failures),
        cmocka_unit_test(partials_equal_whole),
        cmocka_unit_test(partial_errors),
        cmocka_unit_test(partial_allocation_failures),
        cmocka_unit_test(orders_path_equals_profiles_path),
        cmocka_unit_test(orders_path_errors),
        cmocka_unit_test(orders_path_allocation_failures),
        cmocka_unit_test(shard_hand_worked),
        cmocka_unit_test(shards_equal_whole_random),
        cmocka_unit_test(shard_partial_equals_profiles_partial),
        cmocka_unit_test(shard_errors),
        cmocka_unit_test(shard_allocation_failures),
        cmocka_unit_test(partial_blob_version_1_loads),
    };
    return cmocka_run_group_tests_name("rfm", tests, NULL, NULL);
}
