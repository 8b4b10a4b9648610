/* Lifecycle: hand-worked cases at every boundary of the stage table, a
 * brute-force reference written from the spec, merge == whole for every
 * partial, every error path and allocation-failure sweeps. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400

static crm_order order(uint64_t id, int64_t day, int64_t amount)
{
    return (crm_order){ id, day * DAY + 3600 * (int64_t)(id % 20), amount };
}

static crm_lifecycle *stages_of(const crm_order *o, size_t n, int64_t asof,
                                const crm_contact *c, size_t nc, const double *p,
                                const crm_lifecycle_options *opt, crm_profiles **prof_out)
{
    crm_profiles *prof;
    assert_int_equal(crm_profiles_build(&prof, o, n, asof, NULL), CRM_OK);
    crm_lifecycle *t;
    assert_int_equal(crm_lifecycle_build(&t, prof, c, nc, p, opt), CRM_OK);
    if (prof_out)
        *prof_out = prof;
    else
        crm_profiles_free(prof);
    return t;
}

static int stage_of(const crm_lifecycle *t, uint64_t id)
{
    size_t row;
    if (crm_lifecycle_find(t, id, &row) != CRM_OK)
        return -1;
    return crm_lifecycle_stage(t)[row];
}

/* ---- hand-worked boundaries ------------------------------------------------- */

/* asof = 1000. Each customer id is commented with its days and the arithmetic. */
static void boundaries_cadence(void **state)
{
    (void)state;
    const int64_t A = 1000;
    crm_order o[] = {
        order(1, A - 90, 500),                       /* f=1, recency 90 = NEW_DAYS: new */
        order(2, A - 91, 500),                       /* f=1, recency 91: churned_new */
        order(3, A - 30, 100), order(3, A - 20, 100), /* gap 10: AT 20, CH 40; r 20: active */
        order(4, A - 31, 100), order(4, A - 21, 100), /* r 21 > 20: at_risk */
        order(5, A - 50, 100), order(5, A - 40, 100), /* r 40 = CH: at_risk */
        order(6, A - 51, 100), order(6, A - 41, 100), /* r 41 > 40: churned */
        order(7, A - 14, 100), order(7, A - 14, 100), /* same day: gap 0 -> 7; r 14: active */
        order(8, A - 15, 100), order(8, A - 15, 100), /* r 15 > 14: at_risk */
        order(9, A - 28, 100), order(9, A - 28, 100), /* r 28 = 4*7: at_risk */
        order(10, A - 29, 100), order(10, A - 29, 100), /* r 29: churned */
        /* f = 4 = LOYAL_F, span 25: gap 25/3 = 8.33, AT 16.67; r 16: loyal */
        order(11, A - 41, 1), order(11, A - 30, 1), order(11, A - 20, 1), order(11, A - 16, 1),
        /* same with r 17 > 16.67: at_risk */
        order(12, A - 42, 1), order(12, A - 31, 1), order(12, A - 21, 1), order(12, A - 17, 1),
        /* f = 3 < LOYAL_F, r 0: active */
        order(13, A - 10, 1), order(13, A - 5, 1), order(13, A, 1),
        /* refunds do not count in frequency: one order + refund = f 1, recency 10: new */
        order(14, A - 10, 700), order(14, A - 5, -200),
        /* only refunds: no profile, not a contact: absent */
        order(15, A - 10, -300),
    };
    crm_lifecycle *t = stages_of(o, ARRAY_LEN(o), A, NULL, 0, NULL, NULL, NULL);
    static const int want[][2] = {
        { 1, CRM_STAGE_NEW },      { 2, CRM_STAGE_CHURNED_NEW }, { 3, CRM_STAGE_ACTIVE },
        { 4, CRM_STAGE_AT_RISK },  { 5, CRM_STAGE_AT_RISK },     { 6, CRM_STAGE_CHURNED },
        { 7, CRM_STAGE_ACTIVE },   { 8, CRM_STAGE_AT_RISK },     { 9, CRM_STAGE_AT_RISK },
        { 10, CRM_STAGE_CHURNED }, { 11, CRM_STAGE_LOYAL },      { 12, CRM_STAGE_AT_RISK },
        { 13, CRM_STAGE_ACTIVE },  { 14, CRM_STAGE_NEW },        { 15, -1 },
    };
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        int got = stage_of(t, (uint64_t)want[i][0]);
        if (got != want[i][1])
            fail_msg("customer %d: stage %d, want %d", want[i][0], got, want[i][1]);
    }
    assert_int_equal(crm_lifecycle_count(t), 14);
    crm_lifecycle_funnel f = { .version = CRM_LIFECYCLE_FUNNEL_VERSION };
    assert_int_equal(crm_lifecycle_get_funnel(t, &f), CRM_OK);
    assert_int_equal(f.customers[CRM_STAGE_NEW], 2);
    assert_int_equal(f.revenue[CRM_STAGE_NEW], 500 + 500);
    assert_int_equal(f.customers[CRM_STAGE_AT_RISK], 5);
    assert_int_equal(f.revenue[CRM_STAGE_AT_RISK], 200 * 4 + 4);
    assert_int_equal(f.customers[CRM_STAGE_LEAD], 0);
    /* conversion base: first_day <= 910: customers 1 (day 910) and 2, f 1: 0 of 2 */
    assert_int_equal(f.conversion_base, 2);
    assert_int_equal(f.conversion_hits, 0);
    assert_true(f.valid & CRM_FUNNEL_HAS_CONVERSION);
    assert_close(f.second_purchase_conversion, 0.0, 0);
    crm_lifecycle_free(t);
}

/* A threshold that is an integer exactly but not in floating point:
 * span 61 over 7 gaps, K = 7: 7 * (61 / 7.) = 60.99999999999999. */
static void exact_threshold(void **state)
{
    (void)state;
    const int64_t A = 2000;
    crm_order o[8];
    int64_t days[8] = { 0, 10, 20, 30, 40, 50, 60, 61 };
    for (int k = 0; k < 8; k++)
        o[k] = order(1, A - 61 - 61 + days[k], 1); /* last = A - 61: recency 61 */
    crm_lifecycle_options opt;
    crm_lifecycle_options_init(&opt, CRM_LIFECYCLE_OPTIONS_VERSION);
    opt.at_risk_k = 7;
    opt.churn_k = 8;
    crm_lifecycle *t = stages_of(o, 8, A, NULL, 0, NULL, &opt, NULL);
    assert_int_equal(stage_of(t, 1), CRM_STAGE_LOYAL);
    crm_lifecycle_explanation e = { .version = CRM_LIFECYCLE_EXPLANATION_VERSION };
    assert_int_equal(crm_lifecycle_explain(t, 1, &e), CRM_OK);
    assert_int_equal(e.rule, CRM_RULE_LOYAL);
    assert_int_equal(e.recency_days, 61);
    assert_close(e.gap_avg, 61.0 / 7.0, 1e-15);
    crm_lifecycle_free(t);
    crm_profiles *p;
    t = stages_of(o, 8, A + 1, NULL, 0, NULL, &opt, &p); /* recency 62 > 61 */
    assert_int_equal(stage_of(t, 1), CRM_STAGE_AT_RISK);
    crm_lifecycle_free(t);
    crm_profiles_free(p);
}

static void reactivation(void **state)
{
    (void)state;
    const int64_t A = 3000;
    crm_order o[] = {
        /* one order, then a comeback after 91 > NEW_DAYS days: reactivated */
        order(1, A - 101, 1), order(1, A - 10, 1),
        /* after exactly 90: not (strict): active */
        order(2, A - 100, 1), order(2, A - 10, 1),
        /* 0, 10, 20 (gap 10, CH 40), comeback at +41: reactivated (f 4 would be loyal) */
        order(3, A - 61, 1), order(3, A - 51, 1), order(3, A - 41, 1), order(3, A, 1),
        /* comeback at +40 = CH: not: loyal */
        order(4, A - 60, 1), order(4, A - 50, 1), order(4, A - 40, 1), order(4, A, 1),
        /* comeback with two orders on the last day, one order before: reactivated */
        order(5, A - 95, 1), order(5, A - 2, 1), order(5, A - 2, 1),
        /* earlier orders all on one day: gap_eff 7, CH 28; comeback 29: reactivated */
        order(6, A - 29, 1), order(6, A - 29, 1), order(6, A, 1),
        /* comeback 28: not: active */
        order(7, A - 28, 1), order(7, A - 28, 1), order(7, A, 1),
        /* comeback but at_risk now: at_risk wins (reactivated only replaces active/loyal):
         * days 0 and 200, recency 401 > 2 * 200: at risk; 401 <= 800 */
        order(8, A - 601, 1), order(8, A - 401, 1),
        /* all orders on one day: no previous day, never reactivated */
        order(9, A - 3, 1), order(9, A - 3, 1),
    };
    crm_lifecycle *t = stages_of(o, ARRAY_LEN(o), A, NULL, 0, NULL, NULL, NULL);
    static const int want[][2] = {
        { 1, CRM_STAGE_REACTIVATED }, { 2, CRM_STAGE_ACTIVE },  { 3, CRM_STAGE_REACTIVATED },
        { 4, CRM_STAGE_LOYAL },       { 5, CRM_STAGE_REACTIVATED }, { 6, CRM_STAGE_REACTIVATED },
        { 7, CRM_STAGE_ACTIVE },      { 8, CRM_STAGE_AT_RISK }, { 9, CRM_STAGE_ACTIVE },
    };
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        int got = stage_of(t, (uint64_t)want[i][0]);
        if (got != want[i][1])
            fail_msg("customer %d: stage %d, want %d", want[i][0], got, want[i][1]);
    }
    crm_lifecycle_explanation e = { .version = CRM_LIFECYCLE_EXPLANATION_VERSION };
    assert_int_equal(crm_lifecycle_explain(t, 3, &e), CRM_OK);
    assert_int_equal(e.rule, CRM_RULE_REACTIVATED);
    assert_int_equal(e.comeback_gap, 41);
    assert_int_equal(e.orders_before, 3);
    assert_close(e.comeback_threshold, 40.0, 0);
    assert_int_equal(crm_lifecycle_explain(t, 5, &e), CRM_OK);
    assert_int_equal(e.orders_before, 1);
    assert_close(e.comeback_threshold, 90.0, 0);
    assert_int_equal(crm_lifecycle_explain(t, 9, &e), CRM_OK);
    assert_int_equal(e.comeback_gap, -1);
    assert_true(isnan(e.comeback_threshold));
    crm_lifecycle_free(t);
}

static void leads(void **state)
{
    (void)state;
    const int64_t A = 500;
    crm_order o[] = { order(10, A - 1, 100), order(20, A - 3, -50) };
    crm_contact c[] = {
        { 5, A * DAY + DAY - 1 },  /* created on asof (last second): lead */
        { 6, (A + 1) * DAY },      /* created after asof: nothing */
        { 7, (A + 3) * DAY },      /* repeated: the earliest date counts */
        { 7, (A - 100) * DAY },
        { 7, (A + 9) * DAY },
        { 10, 0 },                 /* has a profile: not a lead */
        { 20, 5 * DAY },           /* refund-only customer: a lead, revenue 0 */
        { 5, 0 },
    };
    crm_lifecycle *t = stages_of(o, ARRAY_LEN(o), A, c, ARRAY_LEN(c), NULL, NULL, NULL);
    assert_int_equal(crm_lifecycle_count(t), 4);
    const uint64_t *ids = crm_lifecycle_customer_id(t);
    const uint64_t want_ids[] = { 5, 7, 10, 20 };
    for (int k = 0; k < 4; k++)
        assert_int_equal(ids[k], want_ids[k]);
    assert_int_equal(stage_of(t, 5), CRM_STAGE_LEAD);
    assert_int_equal(stage_of(t, 6), -1);
    assert_int_equal(stage_of(t, 7), CRM_STAGE_LEAD);
    assert_int_equal(stage_of(t, 10), CRM_STAGE_NEW);
    assert_int_equal(stage_of(t, 20), CRM_STAGE_LEAD);
    crm_lifecycle_funnel f = { .version = CRM_LIFECYCLE_FUNNEL_VERSION };
    assert_int_equal(crm_lifecycle_get_funnel(t, &f), CRM_OK);
    assert_int_equal(f.customers[CRM_STAGE_LEAD], 3);
    assert_int_equal(f.revenue[CRM_STAGE_LEAD], 0);
    assert_int_equal(f.conversion_base, 0);
    assert_false(f.valid & CRM_FUNNEL_HAS_CONVERSION);
    assert_true(isnan(f.second_purchase_conversion));
    crm_lifecycle_explanation e = { .version = CRM_LIFECYCLE_EXPLANATION_VERSION };
    assert_int_equal(crm_lifecycle_explain(t, 7, &e), CRM_OK);
    assert_int_equal(e.rule, CRM_RULE_LEAD);
    assert_int_equal(e.created_day, A - 100);
    assert_int_equal(e.frequency, 0);
    assert_int_equal(e.recency_days, -1);
    crm_lifecycle_free(t);
}

static void p_alive_mode(void **state)
{
    (void)state;
    const int64_t A = 800;
    crm_order o[] = {
        order(1, A - 400, 1), order(1, A - 350, 1),               /* cadence: churned */
        order(2, A - 20, 1), order(2, A - 10, 1),                 /* cadence: active */
        order(3, A - 20, 1), order(3, A - 10, 1),
        order(4, A - 20, 1), order(4, A - 15, 1), order(4, A - 12, 1), order(4, A - 10, 1),
        order(5, A - 5, 1),                                       /* f 1: p ignored */
        order(6, A - 200, 1), order(6, A - 2, 1),                 /* comeback 198 > 90 */
        order(7, A - 200, 1), order(7, A - 2, 1),
    };
    /* rows in id order: 1..7 */
    double p[] = { 0.5, 0.2, 0.19999999999999998, 0.9, 0.0, 0.7, 0.4 };
    crm_lifecycle *t = stages_of(o, ARRAY_LEN(o), A, NULL, 0, p, NULL, NULL);
    assert_int_equal(stage_of(t, 1), CRM_STAGE_ACTIVE);    /* 0.5 not below 0.5 */
    assert_int_equal(stage_of(t, 2), CRM_STAGE_AT_RISK);   /* 0.2 not below 0.2 */
    assert_int_equal(stage_of(t, 3), CRM_STAGE_CHURNED);
    assert_int_equal(stage_of(t, 4), CRM_STAGE_LOYAL);
    assert_int_equal(stage_of(t, 5), CRM_STAGE_NEW);
    assert_int_equal(stage_of(t, 6), CRM_STAGE_REACTIVATED);
    assert_int_equal(stage_of(t, 7), CRM_STAGE_AT_RISK);   /* at_risk, not reactivated */
    crm_lifecycle_explanation e = { .version = CRM_LIFECYCLE_EXPLANATION_VERSION };
    assert_int_equal(crm_lifecycle_explain(t, 3, &e), CRM_OK);
    assert_int_equal(e.rule, CRM_RULE_P_CHURNED);
    assert_close(e.p_alive, 0.19999999999999998, 0);
    assert_close(e.p_churned, 0.2, 0);
    assert_int_equal(crm_lifecycle_explain(t, 6, &e), CRM_OK);
    assert_int_equal(e.rule, CRM_RULE_P_REACTIVATED);
    assert_int_equal(crm_lifecycle_explain(t, 5, &e), CRM_OK);
    assert_true(isnan(e.p_alive));
    crm_lifecycle_free(t);
}

static void conversion(void **state)
{
    (void)state;
    const int64_t A = 1000;
    crm_order o[] = {
        order(1, A - 90, 1), order(1, A - 90, 1), /* first on the cut, two orders day 1 */
        order(2, A - 200, 1), order(2, A - 110, 1), /* second exactly 90 later: converts */
        order(3, A - 200, 1), order(3, A - 109, 1), /* 91 later: no */
        order(4, A - 89, 1), order(4, A - 80, 1),   /* first after the cut: not in base */
        order(5, A - 300, 1),                       /* never came back: in base, no */
        order(6, A - 300, -5), order(6, A - 250, 1), order(6, A - 240, 1), /* refund first */
    };
    crm_lifecycle *t = stages_of(o, ARRAY_LEN(o), A, NULL, 0, NULL, NULL, NULL);
    crm_lifecycle_funnel f = { .version = CRM_LIFECYCLE_FUNNEL_VERSION };
    assert_int_equal(crm_lifecycle_get_funnel(t, &f), CRM_OK);
    assert_int_equal(f.conversion_base, 5);
    assert_int_equal(f.conversion_hits, 3);
    assert_close(f.second_purchase_conversion, 0.6, 1e-15);
    int64_t total = 0;
    for (int s = 0; s < CRM_LIFECYCLE_STAGES; s++)
        total += f.revenue[s];
    assert_int_equal(total, 11 - 5); /* 11 rows of 1 and a refund of 5 */
    crm_lifecycle_free(t);
}

static void names(void **state)
{
    (void)state;
    const char *want[][2] = {
        { "lead", "welcome" },
        { "new", "onboarding / second purchase" },
        { "churned_new", "first-order win-back" },
        { "active", "retention" },
        { "loyal", "loyalty" },
        { "at_risk", "churn prevention" },
        { "churned", "win-back" },
        { "reactivated", "re-engagement" },
    };
    for (int s = 0; s < CRM_LIFECYCLE_STAGES; s++) {
        assert_string_equal(crm_lifecycle_stage_name(s), want[s][0]);
        assert_string_equal(crm_lifecycle_scenario_name(s), want[s][1]);
    }
    assert_null(crm_lifecycle_stage_name(-1));
    assert_null(crm_lifecycle_stage_name(8));
    assert_null(crm_lifecycle_scenario_name(8));
    for (int r = 0; r <= CRM_RULE_P_REACTIVATED; r++)
        assert_non_null(crm_lifecycle_rule_text(r));
    assert_null(crm_lifecycle_rule_text(CRM_RULE_P_REACTIVATED + 1));
    assert_null(crm_lifecycle_rule_text(-1));
}

/* ---- brute-force reference ------------------------------------------------------ */

typedef struct ref_params {
    int64_t new_days, loyal_f, min_gap, at_k, ch_k; /* integer K in the reference */
    double p_at, p_ch;
} ref_params;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* r <= K * max(span / g, min_gap) as a comparison of fractions. */
static int ref_within(int64_t r, int64_t k, int64_t span, int64_t g, int64_t min_gap)
{
    int64_t num = span, den = g; /* gap_avg = span / g */
    if (span < min_gap * g) {
        num = min_gap;
        den = 1;
    }
    return r * den <= k * num;
}

/* Stage from a customer's sorted non-refund days (nd of them). */
static int ref_stage(const int64_t *d, int64_t nd, int64_t asof, const ref_params *P,
                     const double *p)
{
    if (nd == 0)
        return CRM_STAGE_LEAD;
    int64_t r = asof - d[nd - 1];
    if (nd == 1)
        return r <= P->new_days ? CRM_STAGE_NEW : CRM_STAGE_CHURNED_NEW;
    int good;
    int bad_stage = CRM_STAGE_CHURNED;
    if (p) {
        good = *p >= P->p_at;
        bad_stage = *p < P->p_ch ? CRM_STAGE_CHURNED : CRM_STAGE_AT_RISK;
    } else {
        good = ref_within(r, P->at_k, d[nd - 1] - d[0], nd - 1, P->min_gap);
        if (ref_within(r, P->ch_k, d[nd - 1] - d[0], nd - 1, P->min_gap))
            bad_stage = CRM_STAGE_AT_RISK;
    }
    if (!good)
        return bad_stage;
    /* orders strictly before the last day */
    int64_t before = 0;
    while (before < nd && d[before] < d[nd - 1])
        before++;
    if (before >= 1) {
        int64_t gap = d[nd - 1] - d[before - 1];
        int react = before == 1 ? gap > P->new_days
                                : !ref_within(gap, P->ch_k, d[before - 1] - d[0], before - 1,
                                              P->min_gap);
        if (react)
            return CRM_STAGE_REACTIVATED;
    }
    return nd >= P->loyal_f ? CRM_STAGE_LOYAL : CRM_STAGE_ACTIVE;
}

typedef struct ref_cust {
    uint64_t id;
    int64_t days[256];
    int64_t nd;
    int64_t money;
    int has_rows;
    int64_t created; /* earliest contact day, or INT64_MAX */
} ref_cust;

typedef struct dataset {
    crm_order *o;
    size_t n;
    crm_contact *c;
    size_t nc;
    uint64_t ids; /* customer ids are 1..ids */
} dataset;

static dataset random_data(uint64_t seed, size_t n, uint64_t ids, size_t nc, int64_t span)
{
    test_rng r = { seed };
    dataset ds = { malloc(n * sizeof(crm_order)), n, malloc((nc ? nc : 1) * sizeof(crm_contact)),
                   nc, ids };
    for (size_t i = 0; i < n; i++) {
        uint64_t id = (uint64_t)test_rng_range(&r, 1, (int64_t)ids);
        int64_t day = 10000 + test_rng_range(&r, 0, span);
        if (test_rng_range(&r, 0, 3) == 0) /* clustered days to hit ties */
            day = 10000 + (int64_t)(id * 37 % (uint64_t)span);
        int64_t amount = test_rng_range(&r, 0, 9) == 0 ? -test_rng_range(&r, 1, 500)
                                                      : test_rng_range(&r, 0, 5000);
        ds.o[i] = (crm_order){ id, day * DAY + test_rng_range(&r, 0, DAY - 1), amount };
    }
    for (size_t i = 0; i < nc; i++)
        ds.c[i] = (crm_contact){ (uint64_t)test_rng_range(&r, 1, (int64_t)ids + 50),
                                 (10000 + test_rng_range(&r, -30, span + 30)) * DAY };
    return ds;
}

static void free_data(dataset *ds)
{
    free(ds->o);
    free(ds->c);
}

/* Reference customers (index id, ids 1..ids + 50). */
static ref_cust *ref_customers(const dataset *ds, int64_t asof)
{
    size_t m = ds->ids + 51;
    ref_cust *rc = calloc(m, sizeof *rc);
    for (size_t k = 0; k < m; k++) {
        rc[k].id = k;
        rc[k].created = INT64_MAX;
    }
    for (size_t i = 0; i < ds->n; i++) {
        int64_t d = ds->o[i].ts / DAY;
        if (d > asof)
            continue;
        ref_cust *c = &rc[ds->o[i].customer_id];
        c->money += ds->o[i].amount;
        c->has_rows = 1;
        if (ds->o[i].amount >= 0) {
            assert_true(c->nd < 256);
            c->days[c->nd++] = d;
        }
    }
    for (size_t k = 0; k < m; k++)
        qsort(rc[k].days, (size_t)rc[k].nd, sizeof(int64_t), cmp_i64);
    for (size_t i = 0; i < ds->nc; i++) {
        int64_t d = ds->c[i].created_ts / DAY;
        ref_cust *c = &rc[ds->c[i].customer_id];
        if (d < c->created)
            c->created = d;
    }
    return rc;
}

static void check_against_reference(const dataset *ds, int64_t asof, const ref_params *P,
                                    int use_p)
{
    crm_lifecycle_options opt;
    crm_lifecycle_options_init(&opt, CRM_LIFECYCLE_OPTIONS_VERSION);
    opt.new_days = (uint32_t)P->new_days;
    opt.loyal_f = (uint32_t)P->loyal_f;
    opt.min_gap_days = (uint32_t)P->min_gap;
    opt.at_risk_k = (double)P->at_k;
    opt.churn_k = (double)P->ch_k;
    opt.p_at_risk = P->p_at;
    opt.p_churned = P->p_ch;
    crm_profiles *prof;
    assert_int_equal(crm_profiles_build(&prof, ds->o, ds->n, asof, NULL), CRM_OK);
    size_t np = crm_profiles_count(prof);
    double *p = malloc((np ? np : 1) * sizeof *p);
    for (size_t i = 0; i < np; i++) /* a function of the id: lets the reference find it */
        p[i] = (double)(crm_profiles_customer_id(prof)[i] * 7919 % 101) / 100.0;
    crm_lifecycle *t;
    assert_int_equal(crm_lifecycle_build(&t, prof, ds->c, ds->nc, use_p ? p : NULL, &opt),
                     CRM_OK);
    ref_cust *rc = ref_customers(ds, asof);
    size_t w = 0;
    uint64_t cust[CRM_LIFECYCLE_STAGES] = { 0 };
    int64_t rev[CRM_LIFECYCLE_STAGES] = { 0 };
    uint64_t base = 0, hits = 0;
    for (uint64_t id = 0; id <= ds->ids + 50; id++) {
        const ref_cust *c = &rc[id];
        int in = c->nd > 0 || c->created <= asof;
        if (!in)
            continue;
        double pv = (double)(id * 7919 % 101) / 100.0;
        int s = ref_stage(c->days, c->nd, asof, P, use_p && c->nd >= 2 ? &pv : NULL);
        assert_true(w < crm_lifecycle_count(t));
        assert_int_equal(crm_lifecycle_customer_id(t)[w], id);
        if (crm_lifecycle_stage(t)[w] != s)
            fail_msg("customer %llu: stage %d, reference %d (nd %lld)", (unsigned long long)id,
                     crm_lifecycle_stage(t)[w], s, (long long)c->nd);
        cust[s]++;
        if (c->nd) {
            rev[s] += c->money;
            if (c->days[0] <= asof - P->new_days) {
                base++;
                hits += c->nd >= 2 && c->days[1] - c->days[0] <= P->new_days;
            }
        }
        w++;
    }
    assert_int_equal(w, crm_lifecycle_count(t));
    crm_lifecycle_funnel f = { .version = CRM_LIFECYCLE_FUNNEL_VERSION };
    assert_int_equal(crm_lifecycle_get_funnel(t, &f), CRM_OK);
    for (int s = 0; s < CRM_LIFECYCLE_STAGES; s++) {
        assert_int_equal(f.customers[s], cust[s]);
        assert_int_equal(f.revenue[s], rev[s]);
    }
    assert_int_equal(f.conversion_base, base);
    assert_int_equal(f.conversion_hits, hits);
    free(rc);
    free(p);
    crm_lifecycle_free(t);
    crm_profiles_free(prof);
}

static void against_reference(void **state)
{
    (void)state;
    const ref_params params[] = {
        { 90, 4, 7, 2, 4, 0.5, 0.2 },
        { 30, 2, 0, 1, 1, 0.3, 0.3 },
        { 60, 6, 14, 3, 5, 0.9, 0.1 },
        { 0, 3, 1, 0, 7, 1.0, 0.0 },
    };
    for (uint64_t seed = 1; seed <= 6; seed++) {
        dataset ds = random_data(seed, 3000 + seed * 500, 400, 150, 700);
        for (size_t k = 0; k < ARRAY_LEN(params); k++)
            for (int use_p = 0; use_p < 2; use_p++)
                for (int64_t asof = 10000; asof <= 10800; asof += 160)
                    check_against_reference(&ds, asof, &params[k], use_p);
        free_data(&ds);
    }
}

/* ---- cohorts ---------------------------------------------------------------------- */

static int32_t month_of(int64_t day)
{
    /* civil month by brute force from a table of month starts */
    int32_t y = 1970, m = 1;
    int64_t d = 0;
    static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    for (;;) {
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        int l = len[m - 1] + (m == 2 && leap);
        if (day < d + l)
            return (y - 1970) * 12 + (m - 1);
        d += l;
        if (++m == 13) {
            m = 1;
            y++;
        }
    }
}

static void check_cohorts(const crm_lifecycle_cohorts *c, const dataset *ds, int64_t asof)
{
    ref_cust *rc = ref_customers(ds, asof);
    int32_t am = month_of(asof);
    /* reference matrix over months [lo, am] */
    int32_t lo = INT32_MAX;
    for (uint64_t id = 0; id <= ds->ids + 50; id++)
        if (rc[id].nd && month_of(rc[id].days[0]) < lo)
            lo = month_of(rc[id].days[0]);
    if (lo == INT32_MAX) {
        assert_int_equal(crm_lifecycle_cohorts_rows(c), 0);
        free(rc);
        return;
    }
    size_t span = (size_t)(am - lo + 1);
    uint64_t *size = calloc(span, sizeof *size), *act = calloc(span * span, sizeof *act);
    for (uint64_t id = 0; id <= ds->ids + 50; id++) {
        const ref_cust *x = &rc[id];
        if (!x->nd)
            continue;
        int32_t f = month_of(x->days[0]);
        size[f - lo]++;
        for (int32_t k = 0; f + k <= am; k++) {
            int any = 0;
            for (int64_t j = 0; j < x->nd; j++)
                any |= month_of(x->days[j]) == f + k;
            act[(size_t)(f - lo) * span + (size_t)k] += any;
        }
    }
    size_t rows = 0;
    assert_int_equal(crm_lifecycle_cohorts_columns(c), span);
    for (size_t m = 0; m < span; m++) {
        if (!size[m])
            continue;
        assert_true(rows < crm_lifecycle_cohorts_rows(c));
        assert_int_equal(crm_lifecycle_cohorts_month(c)[rows], lo + (int32_t)m);
        assert_int_equal(crm_lifecycle_cohorts_size(c)[rows], size[m]);
        for (size_t k = 0; k < span; k++) {
            double share = crm_lifecycle_cohorts_share(c)[rows * span + k];
            uint64_t a = crm_lifecycle_cohorts_active(c)[rows * span + k];
            if (lo + (int32_t)m + (int32_t)k > am) {
                assert_true(isnan(share));
                assert_int_equal(a, 0);
            } else {
                assert_int_equal(a, act[m * span + k]);
                assert_close(share, (double)act[m * span + k] / (double)size[m], 1e-15);
            }
        }
        rows++;
    }
    assert_int_equal(rows, crm_lifecycle_cohorts_rows(c));
    free(size);
    free(act);
    free(rc);
}

static void cohorts_hand_worked(void **state)
{
    (void)state;
    /* 2024-01-31 = day 19753, 2024-02-01 = 19754, 2024-03-15 = 19797, asof 2024-03-20 */
    const int64_t A = 19802;
    crm_order o[] = {
        order(1, 19753, 10), order(1, 19754, 10), order(1, 19797, 10), /* Jan; Feb; Mar */
        order(2, 19753, 10), order(2, 19753, -10),                     /* Jan only */
        order(3, 19754, -10), order(3, 19797, 10),                     /* refund Feb, Mar */
        order(4, 19803, 10),                                           /* after asof */
        order(5, 19700, -1),                                           /* refunds only */
    };
    crm_lifecycle_cohorts *c;
    assert_int_equal(crm_lifecycle_cohorts_build(&c, o, ARRAY_LEN(o), A), CRM_OK);
    assert_int_equal(crm_lifecycle_cohorts_rows(c), 2); /* Jan, Mar; no Feb row */
    assert_int_equal(crm_lifecycle_cohorts_columns(c), 3);
    assert_int_equal(crm_lifecycle_cohorts_month(c)[0], (2024 - 1970) * 12 + 0);
    assert_int_equal(crm_lifecycle_cohorts_month(c)[1], (2024 - 1970) * 12 + 2);
    assert_int_equal(crm_lifecycle_cohorts_size(c)[0], 2);
    assert_int_equal(crm_lifecycle_cohorts_size(c)[1], 1);
    const double *s = crm_lifecycle_cohorts_share(c);
    assert_close(s[0], 1.0, 0);
    assert_close(s[1], 0.5, 0);
    assert_close(s[2], 0.5, 0);
    assert_close(s[3], 1.0, 0);
    assert_true(isnan(s[4]) && isnan(s[5]));
    assert_int_equal(crm_lifecycle_cohorts_asof(c), A);
    crm_lifecycle_cohorts_free(c);
    /* empty input: no rows */
    assert_int_equal(crm_lifecycle_cohorts_build(&c, NULL, 0, A), CRM_OK);
    assert_int_equal(crm_lifecycle_cohorts_rows(c), 0);
    assert_int_equal(crm_lifecycle_cohorts_columns(c), 0);
    crm_lifecycle_cohorts_free(c);
}

static void cohorts_against_reference(void **state)
{
    (void)state;
    for (uint64_t seed = 11; seed <= 14; seed++) {
        dataset ds = random_data(seed, 4000, 300, 0, 500);
        for (int64_t asof = 10000; asof <= 10600; asof += 97) {
            crm_lifecycle_cohorts *c;
            assert_int_equal(crm_lifecycle_cohorts_build(&c, ds.o, ds.n, asof), CRM_OK);
            check_cohorts(c, &ds, asof);
            crm_lifecycle_cohorts_free(c);
        }
        free_data(&ds);
    }
}

/* Serialise and load back (the partial round trip of a scale-out run). */
static crm_lifecycle_cohorts *roundtrip(const crm_lifecycle_cohorts *c)
{
    void *b;
    size_t len;
    assert_int_equal(crm_lifecycle_cohorts_serialize(c, &b, &len), CRM_OK);
    crm_lifecycle_cohorts *out;
    assert_int_equal(crm_lifecycle_cohorts_load(&out, b, len), CRM_OK);
    crm_bytes_free(b);
    return out;
}

static void cohorts_merge_equals_whole(void **state)
{
    (void)state;
    dataset ds = random_data(21, 6000, 500, 0, 600);
    const int64_t asof = 10550;
    for (int parts = 1; parts <= 4; parts++) {
        /* random partitioning of order rows: customers split across parts; part 0 of
         * the 4-way split is empty */
        test_rng r = { (uint64_t)parts };
        crm_order *buf = malloc(ds.n * sizeof *buf);
        crm_lifecycle_cohorts *acc = NULL;
        for (int k = 0; k < parts; k++) {
            size_t m = 0;
            test_rng rr = r;
            for (size_t i = 0; i < ds.n; i++) {
                int to = (int)test_rng_range(&rr, parts == 4 ? 1 : 0, parts - 1);
                if (to == k)
                    buf[m++] = ds.o[i];
            }
            crm_lifecycle_cohorts *c, *rt;
            assert_int_equal(crm_lifecycle_cohorts_build(&c, buf, m, asof), CRM_OK);
            rt = roundtrip(c);
            crm_lifecycle_cohorts_free(c);
            if (!acc) {
                acc = rt;
            } else {
                crm_lifecycle_cohorts *mg;
                assert_int_equal(crm_lifecycle_cohorts_merge(&mg, rt, acc), CRM_OK);
                crm_lifecycle_cohorts_free(acc);
                crm_lifecycle_cohorts_free(rt);
                acc = mg;
            }
        }
        check_cohorts(acc, &ds, asof);
        crm_lifecycle_cohorts_free(acc);
        free(buf);
    }
    free_data(&ds);
}

static void cohorts_truncated(void *ctx, const uint8_t *buf, size_t n, size_t at,
                              uint8_t mask)
{
    (void)ctx;
    (void)at;
    (void)mask;
    crm_lifecycle_cohorts *out = (void *)1;
    assert_int_equal(crm_lifecycle_cohorts_load(&out, buf, n), CRM_ESTATE);
    assert_null(out);
}

static void cohorts_bad_blobs(void **state)
{
    (void)state;
    dataset ds = random_data(5, 500, 50, 0, 300);
    crm_lifecycle_cohorts *c, *out;
    assert_int_equal(crm_lifecycle_cohorts_build(&c, ds.o, ds.n, 10300), CRM_OK);
    void *b;
    size_t len;
    assert_int_equal(crm_lifecycle_cohorts_serialize(c, &b, &len), CRM_OK);
    uint8_t *bytes = b;
    blob_damage_sweep(b, len, 7, 0, BLOB_FLIP_NONE, cohorts_truncated, NULL);
    bytes[30] ^= 1;
    assert_int_equal(crm_lifecycle_cohorts_load(&out, b, len), CRM_ESTATE);
    assert_non_null(strstr(crm_last_error(), "byte"));
    bytes[30] ^= 1;
    bytes[6] = 2; /* format version 2: newer */
    assert_int_equal(crm_lifecycle_cohorts_load(&out, b, len), CRM_EVERSION);
    bytes[6] = 1;
    assert_int_equal(crm_lifecycle_cohorts_load(&out, b, len), CRM_OK);
    crm_lifecycle_cohorts_free(out);
    /* a funnel blob is not a cohort blob */
    crm_lifecycle_funnel f = { .version = CRM_LIFECYCLE_FUNNEL_VERSION };
    void *fb;
    size_t flen;
    assert_int_equal(crm_lifecycle_funnel_serialize(&f, &fb, &flen), CRM_OK);
    assert_int_equal(crm_lifecycle_cohorts_load(&out, fb, flen), CRM_ESTATE);
    crm_bytes_free(fb);
    crm_bytes_free(b);
    crm_lifecycle_cohorts_free(c);
    free_data(&ds);
}

/* ---- funnel and migration partials ---------------------------------------------- */

static int same_funnel(const crm_lifecycle_funnel *a, const crm_lifecycle_funnel *b)
{
    if (a->asof != b->asof || a->params_id != b->params_id ||
        a->conversion_base != b->conversion_base || a->conversion_hits != b->conversion_hits ||
        a->valid != b->valid)
        return 0;
    for (int s = 0; s < CRM_LIFECYCLE_STAGES; s++)
        if (a->customers[s] != b->customers[s] || a->revenue[s] != b->revenue[s])
            return 0;
    return (isnan(a->second_purchase_conversion) && isnan(b->second_purchase_conversion)) ||
           a->second_purchase_conversion == b->second_purchase_conversion;
}

/* Orders and contacts of customers with id % parts == k. */
static dataset part_of(const dataset *ds, int parts, int k)
{
    dataset p = { malloc(ds->n * sizeof(crm_order) + 1), 0,
                  malloc(ds->nc * sizeof(crm_contact) + 1), 0, ds->ids };
    for (size_t i = 0; i < ds->n; i++)
        if ((int)(ds->o[i].customer_id % (uint64_t)parts) == k)
            p.o[p.n++] = ds->o[i];
    for (size_t i = 0; i < ds->nc; i++)
        if ((int)(ds->c[i].customer_id % (uint64_t)parts) == k)
            p.c[p.nc++] = ds->c[i];
    return p;
}

static void funnel_and_migration_merge(void **state)
{
    (void)state;
    dataset ds = random_data(31, 5000, 600, 200, 700);
    const int64_t from = 10300, to = 10650;
    crm_lifecycle *wf = stages_of(ds.o, ds.n, from, ds.c, ds.nc, NULL, NULL, NULL);
    crm_lifecycle *wt = stages_of(ds.o, ds.n, to, ds.c, ds.nc, NULL, NULL, NULL);
    crm_lifecycle_funnel whole = { .version = CRM_LIFECYCLE_FUNNEL_VERSION };
    crm_lifecycle_migration wm = { .version = CRM_LIFECYCLE_MIGRATION_VERSION };
    assert_int_equal(crm_lifecycle_get_funnel(wt, &whole), CRM_OK);
    assert_int_equal(crm_lifecycle_get_migration(wf, wt, &wm), CRM_OK);
    const int parts = 3;
    crm_lifecycle_funnel acc = { 0 };
    crm_lifecycle_migration accm = { 0 };
    for (int k = 0; k < parts; k++) {
        dataset p = part_of(&ds, parts, k);
        crm_lifecycle *pf = stages_of(p.o, p.n, from, p.c, p.nc, NULL, NULL, NULL);
        crm_lifecycle *pt = stages_of(p.o, p.n, to, p.c, p.nc, NULL, NULL, NULL);
        crm_lifecycle_funnel f = { .version = CRM_LIFECYCLE_FUNNEL_VERSION };
        crm_lifecycle_migration m = { .version = CRM_LIFECYCLE_MIGRATION_VERSION };
        assert_int_equal(crm_lifecycle_get_funnel(pt, &f), CRM_OK);
        assert_int_equal(crm_lifecycle_get_migration(pf, pt, &m), CRM_OK);
        void *b;
        size_t len;
        assert_int_equal(crm_lifecycle_funnel_serialize(&f, &b, &len), CRM_OK);
        crm_lifecycle_funnel f2;
        assert_int_equal(crm_lifecycle_funnel_load(b, len, &f2), CRM_OK);
        assert_true(same_funnel(&f, &f2));
        crm_bytes_free(b);
        assert_int_equal(crm_lifecycle_migration_serialize(&m, &b, &len), CRM_OK);
        crm_lifecycle_migration m2;
        assert_int_equal(crm_lifecycle_migration_load(b, len, &m2), CRM_OK);
        assert_memory_equal(m.counts, m2.counts, sizeof m.counts);
        crm_bytes_free(b);
        if (k == 0) {
            acc = f2;
            accm = m2;
        } else {
            assert_int_equal(crm_lifecycle_funnel_merge(&acc, &f2, &acc), CRM_OK);
            assert_int_equal(crm_lifecycle_migration_merge(&m2, &accm, &accm), CRM_OK);
        }
        crm_lifecycle_free(pf);
        crm_lifecycle_free(pt);
        free_data(&p);
    }
    assert_true(same_funnel(&acc, &whole));
    assert_memory_equal(accm.counts, wm.counts, sizeof wm.counts);
    assert_int_equal(accm.valid_rows, wm.valid_rows);
    for (int r = 0; r <= CRM_MIGRATION_NONE; r++)
        for (int c = 0; c < CRM_LIFECYCLE_STAGES; c++)
            if (!isnan(wm.rates[r][c]) || !isnan(accm.rates[r][c]))
                assert_close(accm.rates[r][c], wm.rates[r][c], 1e-15);
    crm_lifecycle_free(wf);
    crm_lifecycle_free(wt);
    free_data(&ds);
}

static void migration_hand_worked(void **state)
{
    (void)state;
    crm_order o[] = {
        order(1, 100, 1),                    /* from 150: new; to 300: churned_new */
        order(2, 100, 1), order(2, 280, 1),  /* new -> reactivated (gap 180 > 90) */
        order(3, 250, 1),                    /* (none) -> new */
    };
    crm_contact c[] = { { 4, 120 * DAY }, { 5, 250 * DAY } }; /* lead -> lead; (none) -> lead */
    crm_lifecycle *f = stages_of(o, 4, 150, c, 2, NULL, NULL, NULL);
    crm_lifecycle *t = stages_of(o, 4, 300, c, 2, NULL, NULL, NULL);
    crm_lifecycle_migration m = { .version = CRM_LIFECYCLE_MIGRATION_VERSION };
    assert_int_equal(crm_lifecycle_get_migration(f, t, &m), CRM_OK);
    uint64_t total = 0;
    for (int r = 0; r <= CRM_MIGRATION_NONE; r++)
        for (int k = 0; k < CRM_LIFECYCLE_STAGES; k++)
            total += m.counts[r][k];
    assert_int_equal(total, 5);
    assert_int_equal(m.counts[CRM_STAGE_NEW][CRM_STAGE_CHURNED_NEW], 1);
    assert_int_equal(m.counts[CRM_STAGE_NEW][CRM_STAGE_REACTIVATED], 1);
    assert_int_equal(m.counts[CRM_MIGRATION_NONE][CRM_STAGE_NEW], 1);
    assert_int_equal(m.counts[CRM_STAGE_LEAD][CRM_STAGE_LEAD], 1);
    assert_int_equal(m.counts[CRM_MIGRATION_NONE][CRM_STAGE_LEAD], 1);
    assert_close(m.rates[CRM_STAGE_NEW][CRM_STAGE_CHURNED_NEW], 0.5, 0);
    assert_close(m.rates[CRM_MIGRATION_NONE][CRM_STAGE_LEAD], 0.5, 0);
    assert_true(isnan(m.rates[CRM_STAGE_LOYAL][CRM_STAGE_LOYAL]));
    assert_int_equal(m.valid_rows,
                     (1u << CRM_STAGE_NEW) | (1u << CRM_STAGE_LEAD) | (1u << CRM_MIGRATION_NONE));
    assert_int_equal(m.from_asof, 150);
    assert_int_equal(m.to_asof, 300);
    /* to before from */
    assert_int_equal(crm_lifecycle_get_migration(t, f, &m), CRM_EINVAL);
    crm_lifecycle_free(f);
    crm_lifecycle_free(t);
}

/* ---- errors ------------------------------------------------------------------------ */

static void build_errors(void **state)
{
    (void)state;
    crm_order o[] = { order(1, 10, 5), order(2, 10, 5), order(2, 12, 5) };
    crm_profiles *p;
    assert_int_equal(crm_profiles_build(&p, o, 3, 20, NULL), CRM_OK);
    crm_lifecycle *t = (void *)1;
    assert_int_equal(crm_lifecycle_build(NULL, p, NULL, 0, NULL, NULL), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_build(&t, NULL, NULL, 0, NULL, NULL), CRM_EINVAL);
    assert_null(t);
    assert_int_equal(crm_lifecycle_build(&t, p, NULL, 2, NULL, NULL), CRM_EINVAL);
    crm_lifecycle_options opt;
    assert_int_equal(crm_lifecycle_options_init(NULL, 1), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_options_init(&opt, 0), CRM_EVERSION);
    assert_int_equal(crm_lifecycle_options_init(&opt, 2), CRM_EVERSION);
    assert_int_equal(crm_lifecycle_options_init(&opt, 1), CRM_OK);
    assert_int_equal(opt.new_days, 90);
    assert_int_equal(opt.loyal_f, 4);
    assert_int_equal(opt.min_gap_days, 7);
    assert_close(opt.at_risk_k, 2, 0);
    assert_close(opt.churn_k, 4, 0);
    opt.version = 9;
    assert_int_equal(crm_lifecycle_build(&t, p, NULL, 0, NULL, &opt), CRM_EVERSION);
    struct { const char *field; void (*set)(crm_lifecycle_options *); } bad[] = {
        { "loyal_f", NULL }, { "at_risk_k", NULL }, { "churn_k", NULL },
        { "p_at_risk", NULL }, { "p_churned", NULL },
    };
    for (size_t k = 0; k < ARRAY_LEN(bad); k++) {
        crm_lifecycle_options_init(&opt, 1);
        switch (k) {
        case 0: opt.loyal_f = 1; break;
        case 1: opt.at_risk_k = NAN; break;
        case 2: opt.churn_k = 1; break; /* below at_risk_k */
        case 3: opt.p_at_risk = 1.5; break;
        default: opt.p_churned = 0.6; break; /* above p_at_risk */
        }
        assert_int_equal(crm_lifecycle_build(&t, p, NULL, 0, NULL, &opt), CRM_EINVAL);
        assert_non_null(strstr(crm_last_error(), bad[k].field));
    }
    double pa[] = { 0.5, NAN };
    assert_int_equal(crm_lifecycle_build(&t, p, NULL, 0, pa, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "p_alive[1]"));
    pa[1] = -0.1;
    assert_int_equal(crm_lifecycle_build(&t, p, NULL, 0, pa, NULL), CRM_EDATA);
    crm_contact c[] = { { 1, 0 }, { 2, 0 }, { 3, -1 } };
    assert_int_equal(crm_lifecycle_build(&t, p, c, 3, NULL, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "contacts[2]"));
    assert_null(t);
    c[2].created_ts = CRM_TS_MAX + 1;
    assert_int_equal(crm_lifecycle_build(&t, p, c, 3, NULL, NULL), CRM_EDATA);
    /* accessors on NULL */
    assert_int_equal(crm_lifecycle_count(NULL), 0);
    assert_int_equal(crm_lifecycle_asof(NULL), -1);
    assert_null(crm_lifecycle_customer_id(NULL));
    assert_null(crm_lifecycle_stage(NULL));
    crm_lifecycle_free(NULL);
    assert_int_equal(crm_lifecycle_build(&t, p, NULL, 0, NULL, NULL), CRM_OK);
    assert_int_equal(crm_lifecycle_asof(t), 20);
    size_t row;
    assert_int_equal(crm_lifecycle_find(NULL, 1, &row), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_find(t, 1, NULL), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_find(t, 3, &row), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_find(t, 2, &row), CRM_OK);
    assert_int_equal(row, 1);
    crm_lifecycle_explanation e = { .version = 0 };
    assert_int_equal(crm_lifecycle_explain(t, 1, &e), CRM_EVERSION);
    e.version = 1;
    assert_int_equal(crm_lifecycle_explain(NULL, 1, &e), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_explain(t, 1, NULL), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_explain(t, 99, &e), CRM_EINVAL);
    crm_lifecycle_funnel f = { .version = 2 };
    assert_int_equal(crm_lifecycle_get_funnel(t, &f), CRM_EVERSION);
    assert_int_equal(crm_lifecycle_get_funnel(NULL, &f), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_get_funnel(t, NULL), CRM_EINVAL);
    crm_lifecycle_migration m = { .version = 2 };
    assert_int_equal(crm_lifecycle_get_migration(t, t, &m), CRM_EVERSION);
    assert_int_equal(crm_lifecycle_get_migration(NULL, t, &m), CRM_EINVAL);
    crm_lifecycle_free(t);
    crm_profiles_free(p);
}

static void partial_errors(void **state)
{
    (void)state;
    crm_lifecycle_funnel a = { .version = 1, .asof = 5 }, b = a, out;
    void *bytes;
    size_t len;
    assert_int_equal(crm_lifecycle_funnel_merge(NULL, &b, &out), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_funnel_merge(&a, &b, NULL), CRM_EINVAL);
    b.asof = 6;
    assert_int_equal(crm_lifecycle_funnel_merge(&a, &b, &out), CRM_EINVAL);
    b.asof = 5;
    b.params_id = 1;
    assert_int_equal(crm_lifecycle_funnel_merge(&a, &b, &out), CRM_EINVAL);
    b.params_id = 0;
    b.version = 2;
    assert_int_equal(crm_lifecycle_funnel_merge(&a, &b, &out), CRM_EVERSION);
    b.version = 1;
    a.customers[3] = UINT64_MAX;
    b.customers[3] = 1;
    assert_int_equal(crm_lifecycle_funnel_merge(&a, &b, &out), CRM_EOVERFLOW);
    a.customers[3] = 0;
    a.revenue[1] = INT64_MIN;
    b.revenue[1] = -1;
    assert_int_equal(crm_lifecycle_funnel_merge(&a, &b, &out), CRM_EOVERFLOW);
    assert_int_equal(crm_lifecycle_funnel_serialize(NULL, &bytes, &len), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_funnel_serialize(&a, NULL, &len), CRM_EINVAL);
    a.version = 2;
    assert_int_equal(crm_lifecycle_funnel_serialize(&a, &bytes, &len), CRM_EVERSION);
    a.version = 1;
    a.conversion_hits = 3; /* > base: loading refuses */
    assert_int_equal(crm_lifecycle_funnel_serialize(&a, &bytes, &len), CRM_OK);
    assert_int_equal(crm_lifecycle_funnel_load(bytes, len, &out), CRM_ESTATE);
    assert_int_equal(crm_lifecycle_funnel_load(bytes, len - 1, &out), CRM_ESTATE);
    assert_int_equal(crm_lifecycle_funnel_load(NULL, len, &out), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_funnel_load(bytes, len, NULL), CRM_EINVAL);
    crm_bytes_free(bytes);

    crm_lifecycle_migration m = { .version = 1, .from_asof = 1, .to_asof = 2 }, n = m, mo;
    assert_int_equal(crm_lifecycle_migration_merge(&m, NULL, &mo), CRM_EINVAL);
    n.to_asof = 3;
    assert_int_equal(crm_lifecycle_migration_merge(&m, &n, &mo), CRM_EINVAL);
    n.to_asof = 2;
    n.params_id = 9;
    assert_int_equal(crm_lifecycle_migration_merge(&m, &n, &mo), CRM_EINVAL);
    n.params_id = 0;
    m.counts[2][2] = UINT64_MAX;
    n.counts[2][2] = 1;
    assert_int_equal(crm_lifecycle_migration_merge(&m, &n, &mo), CRM_EOVERFLOW);
    assert_int_equal(crm_lifecycle_migration_serialize(NULL, &bytes, &len), CRM_EINVAL);
    m.version = 0;
    assert_int_equal(crm_lifecycle_migration_serialize(&m, &bytes, &len), CRM_EVERSION);
    m.version = 1;
    assert_int_equal(crm_lifecycle_migration_serialize(&m, &bytes, &len), CRM_OK);
    ((uint8_t *)bytes)[20] ^= 0x10;
    assert_int_equal(crm_lifecycle_migration_load(bytes, len, &mo), CRM_ESTATE);
    assert_int_equal(crm_lifecycle_migration_load(NULL, len, &mo), CRM_EINVAL);
    crm_bytes_free(bytes);

    crm_lifecycle_cohorts *c = (void *)1, *d;
    crm_order o[] = { order(1, 10, 1), { 2, -5, 1 } };
    assert_int_equal(crm_lifecycle_cohorts_build(NULL, o, 1, 10), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_cohorts_build(&c, NULL, 1, 10), CRM_EINVAL);
    assert_null(c);
    assert_int_equal(crm_lifecycle_cohorts_build(&c, o, 1, -1), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_cohorts_build(&c, o, 2, 10), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "orders[1]"));
    assert_int_equal(crm_lifecycle_cohorts_build(&c, o, 1, 10), CRM_OK);
    assert_int_equal(crm_lifecycle_cohorts_build(&d, o, 1, 11), CRM_OK);
    crm_lifecycle_cohorts *mg;
    assert_int_equal(crm_lifecycle_cohorts_merge(&mg, c, d), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_cohorts_merge(&mg, c, NULL), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_cohorts_merge(NULL, c, c), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_cohorts_serialize(NULL, &bytes, &len), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_cohorts_load(NULL, "x", 1), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_cohorts_load(&mg, NULL, 1), CRM_EINVAL);
    assert_int_equal(crm_lifecycle_cohorts_rows(NULL), 0);
    assert_int_equal(crm_lifecycle_cohorts_columns(NULL), 0);
    assert_int_equal(crm_lifecycle_cohorts_asof(NULL), -1);
    assert_null(crm_lifecycle_cohorts_month(NULL));
    assert_null(crm_lifecycle_cohorts_size(NULL));
    assert_null(crm_lifecycle_cohorts_active(NULL));
    assert_null(crm_lifecycle_cohorts_share(NULL));
    crm_lifecycle_cohorts_free(NULL);
    crm_lifecycle_cohorts_free(c);
    crm_lifecycle_cohorts_free(d);
}

/* ---- allocation failures ------------------------------------------------------------- */

typedef struct oom_ctx {
    dataset ds;
    crm_profiles *prof;
    crm_lifecycle_cohorts *c1, *c2;
    void *blob;
    size_t len;
} oom_ctx;

static crm_status oom_build(void *p)
{
    oom_ctx *c = p;
    crm_lifecycle *t;
    crm_status st = crm_lifecycle_build(&t, c->prof, c->ds.c, c->ds.nc, NULL, NULL);
    if (!st)
        crm_lifecycle_free(t);
    return st;
}

static crm_status oom_cohorts(void *p)
{
    oom_ctx *c = p;
    crm_lifecycle_cohorts *t;
    crm_status st = crm_lifecycle_cohorts_build(&t, c->ds.o, c->ds.n, 10400);
    if (!st)
        crm_lifecycle_cohorts_free(t);
    return st;
}

static crm_status oom_merge(void *p)
{
    oom_ctx *c = p;
    crm_lifecycle_cohorts *t;
    crm_status st = crm_lifecycle_cohorts_merge(&t, c->c1, c->c2);
    if (!st)
        crm_lifecycle_cohorts_free(t);
    return st;
}

static crm_status oom_load(void *p)
{
    oom_ctx *c = p;
    crm_lifecycle_cohorts *t;
    crm_status st = crm_lifecycle_cohorts_load(&t, c->blob, c->len);
    if (!st)
        crm_lifecycle_cohorts_free(t);
    return st;
}

static crm_status oom_serialize(void *p)
{
    oom_ctx *c = p;
    void *b;
    size_t len;
    crm_status st = crm_lifecycle_cohorts_serialize(c->c1, &b, &len);
    if (!st)
        crm_bytes_free(b);
    return st;
}

static void allocation_failures(void **state)
{
    (void)state;
    oom_ctx c = { .ds = random_data(41, 800, 100, 60, 400) };
    assert_int_equal(crm_profiles_build(&c.prof, c.ds.o, c.ds.n, 10400, NULL), CRM_OK);
    assert_int_equal(crm_lifecycle_cohorts_build(&c.c1, c.ds.o, c.ds.n / 2, 10400), CRM_OK);
    assert_int_equal(crm_lifecycle_cohorts_build(&c.c2, c.ds.o + c.ds.n / 2,
                                                 c.ds.n - c.ds.n / 2, 10400), CRM_OK);
    assert_int_equal(crm_lifecycle_cohorts_serialize(c.c1, &c.blob, &c.len), CRM_OK);
    assert_true(oom_sweep(oom_build, &c) >= 3);
    assert_true(oom_sweep(oom_cohorts, &c) >= 3);
    assert_true(oom_sweep(oom_merge, &c) >= 3);
    assert_true(oom_sweep(oom_load, &c) >= 3);
    assert_true(oom_sweep(oom_serialize, &c) >= 1);
    crm_bytes_free(c.blob);
    crm_lifecycle_cohorts_free(c.c1);
    crm_lifecycle_cohorts_free(c.c2);
    crm_profiles_free(c.prof);
    free_data(&c.ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(boundaries_cadence),
        cmocka_unit_test(exact_threshold),
        cmocka_unit_test(reactivation),
        cmocka_unit_test(leads),
        cmocka_unit_test(p_alive_mode),
        cmocka_unit_test(conversion),
        cmocka_unit_test(names),
        cmocka_unit_test(against_reference),
        cmocka_unit_test(cohorts_hand_worked),
        cmocka_unit_test(cohorts_against_reference),
        cmocka_unit_test(cohorts_merge_equals_whole),
        cmocka_unit_test(cohorts_bad_blobs),
        cmocka_unit_test(funnel_and_migration_merge),
        cmocka_unit_test(migration_hand_worked),
        cmocka_unit_test(build_errors),
        cmocka_unit_test(partial_errors),
        cmocka_unit_test(allocation_failures),
    };
    return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
