/* clv: hand-worked summaries, the published CDNOW figures (skipped when the
 * datasets are absent), parameter recovery on data simulated here, gradients
 * against finite differences, predictions against high-precision series and
 * quadratures written independently here, edge cases, errors, OOM sweeps. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400

/* One source, three binaries: test_clv (fast, no data file), and in
 * tests/clv test_clv_heavy (-DCLV_HEAVY: parameter recovery and large-n
 * fits, with a longer timeout) and test_clv_cdnow (-DCLV_CDNOW: the
 * published CDNOW figures, a TAP "1..0 # SKIP" when ../shared/datasets is
 * absent). Each uses part of the helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"

/* ---- helpers ---------------------------------------------------------------- */

static int64_t days_from_civil(int y, int m, int d)
{
    /* H. Hinnant's algorithm */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static double u01(test_rng *r)
{
    return ((double)(test_rng_next(r) >> 11) + 0.5) * 0x1p-53;
}

static double rnorm(test_rng *r)
{
    return sqrt(-2.0 * log(u01(r))) * cos(6.283185307179586 * u01(r));
}

/* Gamma(shape, rate) by Marsaglia & Tsang. */
static double rgamma(test_rng *r, double shape, double rate)
{
    if (shape < 1.0)
        return rgamma(r, shape + 1.0, rate) * pow(u01(r), 1.0 / shape);
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double z = rnorm(r), v = 1.0 + c * z;
        if (v <= 0.0)
            continue;
        v = v * v * v;
        double u = u01(r);
        if (log(u) < 0.5 * z * z + d - d * v + d * log(v))
            return d * v / rate;
    }
}

static double rbeta(test_rng *r, double a, double b)
{
    double x = rgamma(r, a, 1.0), y = rgamma(r, b, 1.0);
    return x / (x + y);
}

typedef struct sim {
    size_t n;
    double *x, *tx, *T, *m;
} sim;

static void sim_free(sim *s)
{
    free(s->x);
    free(s->tx);
    free(s->T);
    free(s->m);
}

static void sim_alloc(sim *s, size_t n)
{
    s->n = n;
    s->x = calloc(n, sizeof(double));
    s->tx = calloc(n, sizeof(double));
    s->T = calloc(n, sizeof(double));
    s->m = calloc(n, sizeof(double));
}

/* BG/NBD: purchase at 0, Exp(lambda) gaps, after each repeat purchase the
 * customer drops out with probability p. T ~ U(T0, T1). */
static sim sim_bgnbd(uint64_t seed, size_t n, const double *p, double T0, double T1)
{
    test_rng g = { seed };
    sim s;
    sim_alloc(&s, n);
    for (size_t i = 0; i < n; i++) {
        double lam = rgamma(&g, p[0], p[1]), pd = rbeta(&g, p[2], p[3]);
        double T = T0 + (T1 - T0) * u01(&g), t = 0.0, x = 0.0, tx = 0.0;
        for (;;) {
            t += -log(u01(&g)) / lam;
            if (t > T)
                break;
            x += 1.0;
            tx = t;
            if (u01(&g) < pd)
                break;
        }
        s.x[i] = x;
        s.tx[i] = tx;
        s.T[i] = T;
    }
    return s;
}

/* Pareto/NBD: Poisson(lambda) purchases until an Exp(mu) lifetime. */
static sim sim_pnbd(uint64_t seed, size_t n, const double *p, double T0, double T1)
{
    test_rng g = { seed };
    sim s;
    sim_alloc(&s, n);
    for (size_t i = 0; i < n; i++) {
        double lam = rgamma(&g, p[0], p[1]), mu = rgamma(&g, p[2], p[3]);
        double T = T0 + (T1 - T0) * u01(&g), life = -log(u01(&g)) / mu;
        double end = life < T ? life : T, t = 0.0, x = 0.0, tx = 0.0;
        for (;;) {
            t += -log(u01(&g)) / lam;
            if (t > end)
                break;
            x += 1.0;
            tx = t;
        }
        s.x[i] = x;
        s.tx[i] = tx;
        s.T[i] = T;
    }
    return s;
}

/* ---- independent references ------------------------------------------------- */

/* Gauss 2F1(a, b; c; z) by the plain power series in long double. */
static long double hyp2f1(long double a, long double b, long double c, long double z)
{
    long double t = 1.0L, s = 1.0L;
    for (int j = 0; j < 2000000; j++) {
        t *= (a + j) * (b + j) / ((c + j) * (j + 1.0L)) * z;
        s += t;
        if (fabsl(t) < 1e-21L * fabsl(s) && j > 5)
            break;
    }
    return s;
}

/* BG/NBD textbook closed forms (FHL 2005, eq. 10 and the P(alive) of the
 * 2008 note), valid for a != 1 and a + b + x - 1 > 0. */
static double ref_bg_ey(const double *p, double x, double tx, double T, double t)
{
    long double r = p[0], al = p[1], a = p[2], b = p[3];
    long double z = t / (al + T + t);
    long double br = 1.0L - powl((al + T) / (al + T + t), r + x)
                                * hyp2f1(r + x, b + x, a + b + x - 1.0L, z);
    long double num = (a + b + x - 1.0L) / (a - 1.0L) * br;
    long double den = 1.0L;
    if (x > 0)
        den += a / (b + x - 1.0L) * powl((al + T) / (al + tx), r + x);
    return (double)(num / den);
}

static double ref_bg_ll(const double *p, double x, double tx, double T)
{
    long double r = p[0], al = p[1], a = p[2], b = p[3];
    long double lB = lgammal(a) + lgammal(b) - lgammal(a + b);
    long double A1 = lgammal(r + x) - lgammal(r) + r * logl(al) + lgammal(a) + lgammal(b + x)
                     - lgammal(a + b + x) - lB - (r + x) * logl(al + T);
    if (x == 0)
        return (double)A1;
    long double A2 = lgammal(r + x) - lgammal(r) + r * logl(al) + lgammal(a + 1)
                     + lgammal(b + x - 1) - lgammal(a + b + x) - lB - (r + x) * logl(al + tx);
    long double m = A1 > A2 ? A1 : A2;
    return (double)(m + logl(expl(A1 - m) + expl(A2 - m)));
}

/* Pareto/NBD likelihood pieces from the plain 2F1 (no Euler transform). */
static long double ref_pnbd_F(const double *p, double x, double tau)
{
    long double r = p[0], al = p[1], s = p[2], be = p[3], A = r + s + x;
    if (al >= be)
        return hyp2f1(A, s + 1, A + 1, (al - be) / (al + tau)) / powl(al + tau, A);
    return hyp2f1(A, r + x, A + 1, (be - al) / (be + tau)) / powl(be + tau, A);
}

static double ref_pnbd_ll(const double *p, double x, double tx, double T)
{
    long double r = p[0], al = p[1], s = p[2], be = p[3];
    long double A0 = ref_pnbd_F(p, x, tx) - ref_pnbd_F(p, x, T);
    long double L1 = 1.0L / (powl(al + T, r + x) * powl(be + T, s));
    long double v = L1 + s / (r + s + x) * A0;
    return (double)(lgammal(r + x) - lgammal(r) + r * logl(al) + s * logl(be) + logl(v));
}

static double ref_pnbd_palive(const double *p, double x, double tx, double T)
{
    long double r = p[0], al = p[1], s = p[2], be = p[3];
    long double A0 = ref_pnbd_F(p, x, tx) - ref_pnbd_F(p, x, T);
    long double L1 = 1.0L / (powl(al + T, r + x) * powl(be + T, s));
    return (double)(L1 / (L1 + s / (r + s + x) * A0));
}

/* E over p ~ Beta(a, bb) of (1 - (1 + p u)^-k) / p by composite Simpson
 * after substitutions that remove the endpoint singularities of the beta
 * density: p = w^(1/a) on [0, 1/2], 1 - p = y^(1/bb) on [1/2, 1]. */
static double f_cond(double p, double u, double k)
{
    if (p < 1e-12)
        return k * u;
    return -expm1(-k * log1p(p * u)) / p;
}

static double ref_beta_expect(double a, double bb, double u, double k)
{
    const int N = 200000;
    double lB = lgamma(a) + lgamma(bb) - lgamma(a + bb);
    double W = pow(0.5, a), Y = pow(0.5, bb), s1 = 0.0, s2 = 0.0;
    for (int i = 0; i <= N; i++) {
        double wt = (i == 0 || i == N) ? 1.0 : (i % 2 ? 4.0 : 2.0);
        double w = W * i / N, p = pow(w, 1.0 / a);
        s1 += wt * f_cond(p, u, k) * pow(1.0 - p, bb - 1.0);
        double y = Y * i / N, q = pow(y, 1.0 / bb), pp = 1.0 - q;
        s2 += wt * f_cond(pp, u, k) * pow(pp, a - 1.0);
    }
    s1 *= W / N / 3.0 / a;
    s2 *= Y / N / 3.0 / bb;
    return (s1 + s2) / exp(lB);
}

/* ---- data files --------------------------------------------------------------- */

static FILE *open_dataset(const char *name)
{
    const char *env = getenv("CRM_DATASETS");
    char path[1024];
    if (env) {
        snprintf(path, sizeof path, "%s/%s", env, name);
        FILE *f = fopen(path, "rb");
        if (f)
            return f;
    }
    const char *rel[] = { "/../shared/datasets/", "/../../shared/datasets/" };
    for (size_t i = 0; i < ARRAY_LEN(rel); i++) {
        snprintf(path, sizeof path, "%s%s%s", CRM_SOURCE_ROOT, rel[i], name);
        FILE *f = fopen(path, "rb");
        if (f)
            return f;
    }
    return NULL;
}

typedef struct cdnow {
    size_t n;
    double x[2400], tx[2400], T[2400], z[2400];
} cdnow;

/* cdnow_customers_summary_with_transactions.csv: ID,x,t_x,T,zbar */
static int load_cdnow_summary(cdnow *c)
{
    FILE *f = open_dataset("cdnow_customers_summary_with_transactions.csv");
    if (!f)
        return 0;
    char line[256];
    c->n = 0;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof line, f) && c->n < 2400) {
        long id;
        size_t i = c->n;
        if (sscanf(line, "%ld,%lf,%lf,%lf,%lf", &id, &c->x[i], &c->tx[i], &c->T[i],
                   &c->z[i]) == 5)
            c->n++;
    }
    fclose(f);
    return c->n == 2357;
}

/* CDNOW_sample.txt: master_id sample_id yyyymmdd cds dollars (CRLF). */
static crm_order *load_cdnow_orders(size_t *n)
{
    FILE *f = open_dataset("CDNOW_sample.txt");
    if (!f)
        return NULL;
    size_t cap = 8000, k = 0;
    crm_order *o = malloc(cap * sizeof *o);
    char line[256];
    while (fgets(line, sizeof line, f)) {
        long master, id, ymd, cds;
        double usd;
        if (sscanf(line, "%ld %ld %ld %ld %lf", &master, &id, &ymd, &cds, &usd) != 5)
            continue;
        if (k == cap)
            o = realloc(o, (cap *= 2) * sizeof *o);
        int64_t day = days_from_civil((int)(ymd / 10000), (int)(ymd / 100 % 100), (int)(ymd % 100));
        o[k++] = (crm_order){ (uint64_t)id, day * DAY + 3600 * (int64_t)(k % 20),
                              (int64_t)llround(usd * 100.0) };
    }
    fclose(f);
    *n = k;
    return o;
}

/* ---- summary ------------------------------------------------------------------ */

static crm_clv_summary *summary_ok(const crm_order *o, size_t n, int64_t end, uint32_t unit,
                                   uint32_t merge)
{
    crm_clv_summary_options opt;
    assert_int_equal(crm_clv_summary_options_init(&opt, CRM_CLV_SUMMARY_OPTIONS_VERSION), CRM_OK);
    opt.unit = unit;
    opt.merge_same_day = merge;
    crm_clv_summary *s = NULL;
    assert_int_equal(crm_clv_summary_build(&s, o, n, end, &opt), CRM_OK);
    assert_non_null(s);
    return s;
}

static void summary_hand_worked(void **state)
{
    (void)state;
    /* customer 7: days 10 (two orders 100 + 50), 12 (30), 24 (-20 refund), 30 (80);
     * customer 3: day 11 (500) only, and a refund; customer 9: only day 40 > end */
    const crm_order o[] = {
        { 7, 12 * DAY + 5, 30 },  { 3, 11 * DAY, 500 },   { 7, 10 * DAY + 100, 100 },
        { 7, 24 * DAY, -20 },     { 9, 40 * DAY, 1000 },  { 7, 10 * DAY + 9000, 50 },
        { 7, 30 * DAY + 86399, 80 }, { 3, 12 * DAY, -500 },
    };
    crm_clv_summary *s = summary_ok(o, ARRAY_LEN(o), 34, CRM_CLV_UNIT_DAY, 1);
    assert_int_equal(crm_clv_summary_count(s), 2);
    assert_int_equal(crm_clv_summary_unit(s), CRM_CLV_UNIT_DAY);
    const uint64_t *id = crm_clv_summary_customer_id(s);
    const double *x = crm_clv_summary_x(s), *tx = crm_clv_summary_t_x(s),
                 *T = crm_clv_summary_tenure(s), *m = crm_clv_summary_m_x(s);
    assert_int_equal(id[0], 3);
    assert_true(x[0] == 0 && tx[0] == 0 && T[0] == 23 && m[0] == 0);
    assert_int_equal(id[1], 7);
    /* occasions: day 10 (150), 12 (30), 30 (80): x = 2, t_x = 20, T = 24, m = 55 */
    assert_true(x[1] == 2 && tx[1] == 20 && T[1] == 24);
    assert_close(m[1], 55.0, 1e-15);
    crm_clv_summary_free(s);

    /* no merge: day 10 has two occasions; the smaller amount (50) is "first" */
    s = summary_ok(o, ARRAY_LEN(o), 34, CRM_CLV_UNIT_WEEK, 0);
    x = crm_clv_summary_x(s);
    tx = crm_clv_summary_t_x(s);
    T = crm_clv_summary_tenure(s);
    m = crm_clv_summary_m_x(s);
    assert_true(x[1] == 3);
    assert_close(tx[1], 20.0 / 7.0, 1e-15);
    assert_close(T[1], 24.0 / 7.0, 1e-15);
    assert_close(m[1], (100.0 + 30 + 80) / 3.0, 1e-15);
    crm_clv_summary_free(s);

    /* empty input, and NULL summary getters */
    s = summary_ok(NULL, 0, 5, CRM_CLV_UNIT_DAY, 1);
    assert_int_equal(crm_clv_summary_count(s), 0);
    crm_clv_summary_free(s);
    crm_clv_summary_free(NULL);
    assert_int_equal(crm_clv_summary_count(NULL), 0);
    assert_int_equal(crm_clv_summary_unit(NULL), 0);
    assert_null(crm_clv_summary_customer_id(NULL));
    assert_null(crm_clv_summary_x(NULL));
    assert_null(crm_clv_summary_t_x(NULL));
    assert_null(crm_clv_summary_tenure(NULL));
    assert_null(crm_clv_summary_m_x(NULL));
}

static void summary_errors(void **state)
{
    (void)state;
    crm_order o[3] = { { 1, 5 * DAY, 10 }, { 1, -1, 10 }, { 2, 6 * DAY, 5 } };
    crm_clv_summary *s = (crm_clv_summary *)&s;
    assert_int_equal(crm_clv_summary_build(NULL, o, 1, 10, NULL), CRM_EINVAL);
    assert_int_equal(crm_clv_summary_build(&s, NULL, 1, 10, NULL), CRM_EINVAL);
    assert_null(s);
    assert_int_equal(crm_clv_summary_build(&s, o, 1, -1, NULL), CRM_EINVAL);
    assert_int_equal(crm_clv_summary_build(&s, o, 3, 10, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "orders[1]"));
    crm_clv_summary_options opt;
    assert_int_equal(crm_clv_summary_options_init(NULL, 1), CRM_EINVAL);
    assert_int_equal(crm_clv_summary_options_init(&opt, 0), CRM_EVERSION);
    assert_int_equal(crm_clv_summary_options_init(&opt, 99), CRM_EVERSION);
    crm_clv_summary_options_init(&opt, 1);
    assert_int_equal(opt.unit, CRM_CLV_UNIT_DAY);
    assert_int_equal(opt.merge_same_day, 1);
    opt.unit = 30;
    assert_int_equal(crm_clv_summary_build(&s, o, 1, 10, &opt), CRM_EINVAL);
    opt.unit = 1;
    opt.version = 7;
    assert_int_equal(crm_clv_summary_build(&s, o, 1, 10, &opt), CRM_EVERSION);
    crm_order big[2] = { { 4, 1 * DAY, INT64_MAX }, { 4, 2 * DAY, 5 } };
    assert_int_equal(crm_clv_summary_build(&s, big, 2, 10, NULL), CRM_EOVERFLOW);
    assert_non_null(strstr(crm_last_error(), "customer_id 4"));
    assert_null(s);
}

/* Same-day merging reproduces the published CDNOW summary. */
static void cdnow_summary(void **state)
{
    (void)state;
    static cdnow c;
    size_t n;
    crm_order *o = load_cdnow_orders(&n);
    assert_non_null(o);
    assert_true(load_cdnow_summary(&c));
    assert_int_equal(n, 6919);
    int64_t end = days_from_civil(1997, 9, 30);
    crm_clv_summary *s = summary_ok(o, n, end, CRM_CLV_UNIT_WEEK, 1);
    assert_int_equal(crm_clv_summary_count(s), 2357);
    const uint64_t *id = crm_clv_summary_customer_id(s);
    const double *x = crm_clv_summary_x(s), *tx = crm_clv_summary_t_x(s),
                 *T = crm_clv_summary_tenure(s), *m = crm_clv_summary_m_x(s);
    double reps = 0;
    for (size_t i = 0; i < 2357; i++) {
        assert_int_equal(id[i], i + 1);
        assert_true(x[i] == c.x[i]);
        assert_true(fabs(tx[i] - c.tx[i]) <= 0.005 + 1e-9);
        assert_true(fabs(T[i] - c.T[i]) <= 0.005 + 1e-9);
        assert_true(fabs(m[i] / 100.0 - c.z[i]) <= 0.005 + 1e-9);
        reps += x[i];
    }
    assert_true(reps == 2457);
    crm_clv_summary_free(s);
    s = summary_ok(o, n, end, CRM_CLV_UNIT_WEEK, 0);
    x = crm_clv_summary_x(s);
    reps = 0;
    size_t differ = 0;
    for (size_t i = 0; i < 2357; i++) {
        reps += x[i];
        differ += x[i] != c.x[i];
    }
    assert_true(reps == 2603);
    assert_int_equal(differ, 80);
    crm_clv_summary_free(s);
    free(o);
}

/* ---- fits on CDNOW -------------------------------------------------------------- */

static crm_clv_model *fit_ok(int kind, const double *x, const double *tx, const double *T,
                             size_t n, uint32_t unit)
{
    crm_clv_fit_options opt;
    assert_int_equal(crm_clv_fit_options_init(&opt, CRM_CLV_FIT_OPTIONS_VERSION), CRM_OK);
    opt.unit = unit;
    crm_clv_model *m = NULL;
    crm_status s = crm_clv_fit(&m, kind, x, tx, T, n, &opt);
    if (s)
        fail_msg("fit failed: %s", crm_last_error());
    return m;
}

static crm_clv_fit_info info_of(const crm_clv_model *m)
{
    crm_clv_fit_info fi = { .version = CRM_CLV_FIT_INFO_VERSION };
    assert_int_equal(crm_clv_model_info(m, &fi), CRM_OK);
    return fi;
}

static void cdnow_bgnbd(void **state)
{
    (void)state;
    static cdnow c;
    assert_true(load_cdnow_summary(&c));
    crm_clv_model *m = fit_ok(CRM_CLV_BGNBD, c.x, c.tx, c.T, c.n, CRM_CLV_UNIT_WEEK);
    crm_clv_fit_info fi = info_of(m);
    /* Fader, Hardie & Lee (2005) / BTYD: 0.2426, 4.4137, 0.7930, 2.4262; LL -9582.43 */
    assert_int_equal(fi.kind, CRM_CLV_BGNBD);
    assert_int_equal(fi.unit, CRM_CLV_UNIT_WEEK);
    assert_int_equal(fi.fitted, 1);
    assert_true(fi.starts_converged >= 1 && fi.iterations > 0 && fi.n == 2357);
    assert_close(fi.params[0], 0.2426, 1e-3);
    assert_close(fi.params[1], 4.4137, 1e-3);
    assert_close(fi.params[2], 0.7930, 2e-3);
    assert_close(fi.params[3], 2.4262, 2e-3);
    assert_true(fabs(fi.loglik - -9582.43) < 0.02);
    for (int i = 0; i < 4; i++)
        assert_true(fi.se[i] > 0 && isfinite(fi.se[i]) && fi.se[i] < fi.params[i]);
    crm_clv_model_free(m);

    /* the published-parameter predictions (BTYD walkthrough) */
    const double pub[4] = { 0.2425982, 4.4136842, 0.7929899, 2.4261667 };
    assert_int_equal(crm_clv_model_new(&m, CRM_CLV_BGNBD, pub, CRM_CLV_UNIT_WEEK), CRM_OK);
    double t = 52, e, x = 26, tx = 30.857, T = 31, ey, pa;
    assert_int_equal(crm_clv_expected_purchases_new(&e, m, &t, 1), CRM_OK);
    assert_true(fabs(e - 1.444) < 0.0005);
    assert_int_equal(crm_clv_expected_purchases(&ey, m, 52, &x, &tx, &T, 1), CRM_OK);
    assert_int_equal(crm_clv_p_alive(&pa, m, &x, &tx, &T, 1), CRM_OK);
    assert_true(fabs(ey - 25.757) < 0.001);
    assert_true(fabs(pa - 0.9689) < 0.0001);
    /* the walkthrough's own call uses t.x = 30.86: P(alive) 0.9689 to 4 places */
    tx = 30.86;
    assert_int_equal(crm_clv_p_alive(&pa, m, &x, &tx, &T, 1), CRM_OK);
    assert_true(fabs(pa - 0.9689) < 0.00005);
    crm_clv_model_free(m);
}

static void cdnow_pnbd(void **state)
{
    (void)state;
    static cdnow c;
    assert_true(load_cdnow_summary(&c));
    crm_clv_model *m = fit_ok(CRM_CLV_PARETO_NBD, c.x, c.tx, c.T, c.n, CRM_CLV_UNIT_WEEK);
    crm_clv_fit_info fi = info_of(m);
    /* 0.553, 10.578, 0.606, 11.669; LL -9594.98 */
    assert_close(fi.params[0], 0.553, 2e-3);
    assert_close(fi.params[1], 10.578, 2e-3);
    assert_close(fi.params[2], 0.606, 2e-3);
    assert_close(fi.params[3], 11.669, 2e-3);
    assert_true(fabs(fi.loglik - -9594.98) < 0.02);
    for (int i = 0; i < 4; i++)
        assert_true(fi.se[i] > 0 && isfinite(fi.se[i]));
    crm_clv_model_free(m);
}

static void cdnow_gg(void **state)
{
    (void)state;
    static cdnow c;
    assert_true(load_cdnow_summary(&c));
    crm_clv_model *m = NULL;
    assert_int_equal(crm_clv_fit_spend(&m, c.x, c.z, c.n, NULL), CRM_OK);
    crm_clv_fit_info fi = info_of(m);
    /* Fader & Hardie (2013): 6.25, 3.74, 15.44; MLE 6.2488, 3.7446, 15.4477, LL -4055.923 */
    assert_int_equal(fi.n, 946);
    assert_close(fi.params[0], 6.2488, 2e-4);
    assert_close(fi.params[1], 3.7446, 2e-4);
    assert_close(fi.params[2], 15.4477, 2e-4);
    assert_true(fabs(fi.loglik - -4055.923) < 0.002);
    /* E[M] for x = 0 is the population mean p gamma / (q - 1) */
    double x0 = 0, z0 = 0, e;
    assert_int_equal(crm_clv_expected_spend(&e, m, &x0, &z0, 1), CRM_OK);
    assert_close(e, fi.params[0] * fi.params[2] / (fi.params[1] - 1), 1e-14);
    crm_clv_model_free(m);
}

/* ---- gradients, partitions, log-likelihood against references ------------------- */

static void check_grad(int kind, const double *p, const double *x, const double *a,
                       const double *b, size_t n)
{
    int d = kind == CRM_CLV_GAMMA_GAMMA ? 3 : 4;
    double ll, g[4];
    assert_int_equal(crm_clv_loglik(&ll, g, kind, p, x, a, b, n), CRM_OK);
    for (int i = 0; i < d; i++) {
        double pp[4] = { 0 }, pm[4] = { 0 }, lp, lm, h = 1e-5 * p[i];
        memcpy(pp, p, (size_t)d * sizeof(double));
        memcpy(pm, p, (size_t)d * sizeof(double));
        pp[i] += h;
        pm[i] -= h;
        assert_int_equal(crm_clv_loglik(&lp, NULL, kind, pp, x, a, b, n), CRM_OK);
        assert_int_equal(crm_clv_loglik(&lm, NULL, kind, pm, x, a, b, n), CRM_OK);
        double fd = (lp - lm) / (2 * h);
        if (fabs(fd - g[i]) > 1e-5 * (fabs(g[i]) + fabs(ll) / p[i] * 1e-3))
            fail_msg("kind %d param %d: analytic %.12g finite difference %.12g", kind, i,
                     g[i], fd);
    }
}

static void gradients(void **state)
{
    (void)state;
    const double pb[4] = { 0.7, 3.0, 1.3, 4.0 };
    sim s = sim_bgnbd(11, 3000, pb, 20, 60);
    const double at[][4] = { { 0.7, 3.0, 1.3, 4.0 }, { 0.2, 10, 0.5, 0.3 }, { 3, 0.5, 1.0, 50 } };
    for (size_t k = 0; k < ARRAY_LEN(at); k++) {
        check_grad(CRM_CLV_BGNBD, at[k], s.x, s.tx, s.T, s.n);
        check_grad(CRM_CLV_PARETO_NBD, at[k], s.x, s.tx, s.T, s.n);
    }
    /* Pareto/NBD on both sides of alpha = beta */
    const double pa[2][4] = { { 0.5, 8.0, 0.7, 12.0 }, { 0.5, 12.0, 0.7, 8.0 } };
    check_grad(CRM_CLV_PARETO_NBD, pa[0], s.x, s.tx, s.T, s.n);
    check_grad(CRM_CLV_PARETO_NBD, pa[1], s.x, s.tx, s.T, s.n);
    test_rng g = { 5 };
    for (size_t i = 0; i < s.n; i++)
        s.m[i] = s.x[i] > 0 ? rgamma(&g, 3.0 * s.x[i], 0.2 * s.x[i]) : 0.0;
    const double pg[3] = { 3.0, 4.0, 20.0 };
    check_grad(CRM_CLV_GAMMA_GAMMA, pg, s.x, s.m, NULL, s.n);
    sim_free(&s);
}

static void loglik_reference_and_partitions(void **state)
{
    (void)state;
    const double pb[4] = { 0.5, 6.0, 0.8, 2.5 };
    sim s = sim_bgnbd(12, 2000, pb, 10, 40);
    const double pp[2][4] = { { 0.55, 10.6, 0.61, 11.7 }, { 0.9, 14.0, 0.4, 3.0 } };
    long double rb = 0, rp[2] = { 0, 0 };
    for (size_t i = 0; i < s.n; i++) {
        rb += ref_bg_ll(pb, s.x[i], s.tx[i], s.T[i]);
        for (int k = 0; k < 2; k++)
            rp[k] += ref_pnbd_ll(pp[k], s.x[i], s.tx[i], s.T[i]);
    }
    double ll, la, lb, g[4], ga[4], gb[4];
    assert_int_equal(crm_clv_loglik(&ll, NULL, CRM_CLV_BGNBD, pb, s.x, s.tx, s.T, s.n), CRM_OK);
    assert_close(ll, (double)rb, 1e-11);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(crm_clv_loglik(&ll, NULL, CRM_CLV_PARETO_NBD, pp[k], s.x, s.tx, s.T,
                                        s.n), CRM_OK);
        assert_close(ll, (double)rp[k], 1e-10);
    }
    /* partitions add up to the whole (the scale-out form) */
    for (int kind = CRM_CLV_BGNBD; kind <= CRM_CLV_PARETO_NBD; kind++) {
        const double *p = kind == CRM_CLV_BGNBD ? pb : pp[0];
        size_t h = 777;
        assert_int_equal(crm_clv_loglik(&ll, g, kind, p, s.x, s.tx, s.T, s.n), CRM_OK);
        assert_int_equal(crm_clv_loglik(&la, ga, kind, p, s.x, s.tx, s.T, h), CRM_OK);
        assert_int_equal(crm_clv_loglik(&lb, gb, kind, p, s.x + h, s.tx + h, s.T + h, s.n - h),
                         CRM_OK);
        assert_close(la + lb, ll, 1e-12);
        for (int i = 0; i < 4; i++)
            assert_close(ga[i] + gb[i], g[i], 1e-10);
    }
    double zero = 1;
    assert_int_equal(crm_clv_loglik(&ll, NULL, CRM_CLV_BGNBD, pb, NULL, NULL, NULL, 0), CRM_OK);
    assert_true(ll == 0);
    (void)zero;
    sim_free(&s);
}

/* ---- predictions against independent computations ------------------------------- */

static void bg_predictions_vs_series(void **state)
{
    (void)state;
    const double ps[][4] = { { 0.2425982, 4.4136842, 0.7929899, 2.4261667 },
                             { 2.0, 0.5, 2.5, 20.0 }, { 0.8, 12.0, 0.4, 1.6 } };
    const double rows[][3] = { { 0, 0, 31 }, { 1, 2, 30 }, { 26, 30.857, 31 }, { 5, 10, 60 },
                               { 60, 38, 39 } };
    const double ts[] = { 1.0, 13.0, 52.0 };
    for (size_t k = 0; k < ARRAY_LEN(ps); k++) {
        crm_clv_model *m;
        assert_int_equal(crm_clv_model_new(&m, CRM_CLV_BGNBD, ps[k], CRM_CLV_UNIT_WEEK), CRM_OK);
        for (size_t i = 0; i < ARRAY_LEN(rows); i++)
            for (size_t j = 0; j < ARRAY_LEN(ts); j++) {
                double e, want = ref_bg_ey(ps[k], rows[i][0], rows[i][1], rows[i][2], ts[j]);
                assert_int_equal(crm_clv_expected_purchases(&e, m, ts[j], &rows[i][0], &rows[i][1],
                                                            &rows[i][2], 1), CRM_OK);
                assert_close(e, want, 1e-10);
            }
        /* new customer: the x = 0, T = 0 case; pmf sums to 1 with mean E[X(t)] */
        for (size_t j = 0; j < ARRAY_LEN(ts); j++) {
            double e, want = ref_bg_ey(ps[k], 0, 0, 0, ts[j]);
            assert_int_equal(crm_clv_expected_purchases_new(&e, m, &ts[j], 1), CRM_OK);
            assert_close(e, want, 1e-10);
            double kk[3000], pk[3000], tot = 0, mean = 0;
            for (int q = 0; q < 3000; q++)
                kk[q] = q;
            assert_int_equal(crm_clv_prob_purchases(pk, m, ts[j], kk, 3000), CRM_OK);
            for (int q = 0; q < 3000; q++) {
                assert_true(pk[q] >= 0 && pk[q] <= 1);
                tot += pk[q];
                mean += q * pk[q];
            }
            assert_close(tot, 1.0, 1e-9);
            assert_close(mean, want, 1e-7);
        }
        crm_clv_model_free(m);
    }
}

static void bg_edge_cases(void **state)
{
    (void)state;
    /* a = 1 exactly and a + b <= 1 with x = 0: the textbook forms divide by
     * zero; compare with a quadrature over p. */
    const double ps[][4] = { { 0.5, 3.0, 1.0, 2.0 }, { 0.5, 3.0, 0.3, 0.4 },
                             { 1.5, 2.0, 0.5, 0.5 }, { 0.7, 1.0, 0.2, 0.05 } };
    const double rows[][2] = { { 0, 0 }, { 0, 20 }, { 3, 20 } };
    for (size_t k = 0; k < ARRAY_LEN(ps); k++) {
        crm_clv_model *m;
        assert_int_equal(crm_clv_model_new(&m, CRM_CLV_BGNBD, ps[k], CRM_CLV_UNIT_DAY), CRM_OK);
        for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
            double x = rows[i][0], T = rows[i][1], tx = x > 0 ? T / 2 : 0, t = 10, e, pa;
            assert_int_equal(crm_clv_expected_purchases(&e, m, t, &x, &tx, &T, 1), CRM_OK);
            assert_int_equal(crm_clv_p_alive(&pa, m, &x, &tx, &T, 1), CRM_OK);
            double want = pa * ref_beta_expect(ps[k][2], ps[k][3] + x, t / (ps[k][1] + T),
                                               ps[k][0] + x);
            assert_true(isfinite(e));
            assert_close(e, want, 1e-6);
        }
        double t = 30, e;
        assert_int_equal(crm_clv_expected_purchases_new(&e, m, &t, 1), CRM_OK);
        assert_close(e, ref_beta_expect(ps[k][2], ps[k][3], t / ps[k][1], ps[k][0]), 1e-6);
        crm_clv_model_free(m);
    }
    /* continuity across a = 1 */
    double p1[4] = { 0.5, 3.0, 1.0, 2.0 }, p2[4] = { 0.5, 3.0, 1.0 + 1e-9, 2.0 };
    crm_clv_model *m1, *m2;
    crm_clv_model_new(&m1, CRM_CLV_BGNBD, p1, CRM_CLV_UNIT_DAY);
    crm_clv_model_new(&m2, CRM_CLV_BGNBD, p2, CRM_CLV_UNIT_DAY);
    double t = 25, e1, e2;
    crm_clv_expected_purchases_new(&e1, m1, &t, 1);
    crm_clv_expected_purchases_new(&e2, m2, &t, 1);
    assert_close(e1, e2, 1e-8);
    crm_clv_model_free(m1);
    crm_clv_model_free(m2);
}

static void pnbd_predictions(void **state)
{
    (void)state;
    const double ps[][4] = { { 0.553, 10.578, 0.606, 11.669 }, { 0.553, 14.0, 0.606, 9.0 },
                             { 1.2, 3.0, 1.0, 20.0 } };
    const double rows[][3] = { { 0, 0, 31 }, { 2, 5, 30 }, { 26, 30.857, 31 }, { 4, 3, 38 } };
    for (size_t k = 0; k < ARRAY_LEN(ps); k++) {
        crm_clv_model *m;
        assert_int_equal(crm_clv_model_new(&m, CRM_CLV_PARETO_NBD, ps[k], CRM_CLV_UNIT_WEEK),
                         CRM_OK);
        const double r = ps[k][0], al = ps[k][1], s = ps[k][2], be = ps[k][3];
        for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
            double x = rows[i][0], tx = rows[i][1], T = rows[i][2], pa, e;
            if (x == 0)
                tx = 0;
            assert_int_equal(crm_clv_p_alive(&pa, m, &x, &tx, &T, 1), CRM_OK);
            assert_close(pa, ref_pnbd_palive(ps[k], x, tx, T), 1e-10);
            assert_int_equal(crm_clv_expected_purchases(&e, m, 39, &x, &tx, &T, 1), CRM_OK);
            double want = s == 1.0 ? (r + x) * (be + T) / (al + T) * log((be + T + 39) / (be + T))
                                   : (r + x) * (be + T) / ((al + T) * (s - 1))
                                         * (1 - pow((be + T) / (be + T + 39), s - 1));
            assert_close(e, pa * want, 1e-12);
        }
        /* P(X(t) = k) sums to 1 with mean E[X(t)] */
        double t = 39, e, kk[400], pk[400], tot = 0, mean = 0;
        assert_int_equal(crm_clv_expected_purchases_new(&e, m, &t, 1), CRM_OK);
        double want = s == 1.0 ? r * be / al * log((be + t) / be)
                               : r * be / (al * (s - 1)) * (1 - pow(be / (be + t), s - 1));
        assert_close(e, want, 1e-12);
        for (int q = 0; q < 400; q++)
            kk[q] = q;
        assert_int_equal(crm_clv_prob_purchases(pk, m, t, kk, 400), CRM_OK);
        for (int q = 0; q < 400; q++) {
            tot += pk[q];
            mean += q * pk[q];
        }
        assert_close(tot, 1.0, 1e-8);
        assert_close(mean, e, 1e-6);
        crm_clv_model_free(m);
    }
}

/* frequencies up to 1e5: finite log-likelihood, gradient and predictions */
static void heavy_frequencies(void **state)
{
    (void)state;
    const double x[] = { 0, 1, 100, 1000, 10000, 100000 };
    const double tx[] = { 0, 50, 80, 99, 99.9, 99.99 };
    const double T[] = { 100, 100, 100, 100, 100, 100 };
    const double m_x[] = { 0, 10, 20, 30, 40, 50 };
    const double pb[4] = { 2.0, 0.5, 0.5, 20.0 }, pp[4] = { 2.0, 0.5, 0.5, 20.0 },
                 pg[3] = { 6.0, 3.7, 15.0 };
    double out[6], ll, g[4];
    for (int kind = CRM_CLV_BGNBD; kind <= CRM_CLV_PARETO_NBD; kind++) {
        const double *p = kind == CRM_CLV_BGNBD ? pb : pp;
        assert_int_equal(crm_clv_loglik(&ll, g, kind, p, x, tx, T, 6), CRM_OK);
        assert_true(isfinite(ll) && isfinite(g[0]) && isfinite(g[1]) && isfinite(g[2])
                    && isfinite(g[3]));
        crm_clv_model *m, *gg;
        crm_clv_model_new(&m, kind, p, CRM_CLV_UNIT_WEEK);
        crm_clv_model_new(&gg, CRM_CLV_GAMMA_GAMMA, pg, CRM_CLV_UNIT_WEEK);
        assert_int_equal(crm_clv_p_alive(out, m, x, tx, T, 6), CRM_OK);
        for (int i = 0; i < 6; i++)
            assert_true(out[i] >= 0 && out[i] <= 1);
        assert_int_equal(crm_clv_expected_purchases(out, m, 52, x, tx, T, 6), CRM_OK);
        for (int i = 0; i < 6; i++)
            assert_true(isfinite(out[i]) && out[i] >= 0);
        /* an alive heavy buyer buys at most at (r + x) / (alpha + T) per unit */
        assert_true(out[5] <= 52 * (2.0 + 1e5) / 100.5 * (1 + 1e-12));
        assert_true(out[5] >= 0.5 * 52 * (2.0 + 1e5) / 100.5);
        assert_int_equal(crm_clv_value(out, m, gg, x, tx, T, m_x, 6, 52, 1, 0.01), CRM_OK);
        for (int i = 0; i < 6; i++)
            assert_true(isfinite(out[i]) && out[i] >= 0);
        crm_clv_model_free(m);
        crm_clv_model_free(gg);
    }
    assert_int_equal(crm_clv_loglik(&ll, g, CRM_CLV_GAMMA_GAMMA, pg, x, m_x, NULL, 6), CRM_OK);
    assert_true(isfinite(ll) && isfinite(g[0]) && isfinite(g[1]) && isfinite(g[2]));
}

/* ---- parameter recovery -------------------------------------------------------- */

static void recover(int kind, sim *s, const double *truth, double tol)
{
    crm_clv_model *m = fit_ok(kind, s->x, s->tx, s->T, s->n, CRM_CLV_UNIT_WEEK);
    crm_clv_fit_info fi = info_of(m);
    for (int i = 0; i < 4; i++)
        if (fabs(fi.params[i] / truth[i] - 1) > tol)
            fail_msg("kind %d n %zu param %d: %g, truth %g", kind, s->n, i, fi.params[i],
                     truth[i]);
    crm_clv_model_free(m);
}

static void heavy_buyers_recovery(void **state)
{
    (void)state;
    /* the case: lifetimes raises ConvergenceError here */
    const double p[4] = { 2.0, 0.5, 0.5, 20.0 };
    sim s = sim_bgnbd(2024, 10000, p, 52, 104);
    recover(CRM_CLV_BGNBD, &s, p, 0.10);
    sim_free(&s);
    s = sim_bgnbd(2025, 100000, p, 52, 104);
    recover(CRM_CLV_BGNBD, &s, p, 0.10);
    sim_free(&s);
}

static void pnbd_recovery(void **state)
{
    (void)state;
    const double p[4] = { 0.55, 10.5, 0.6, 11.7 };
    sim s = sim_pnbd(77, 30000, p, 26, 78);
    recover(CRM_CLV_PARETO_NBD, &s, p, 0.15);
    sim_free(&s);
}

static void gg_recovery(void **state)
{
    (void)state;
    const double p[3] = { 6.0, 3.5, 15.0 };
    test_rng g = { 99 };
    size_t n = 20000;
    double *x = malloc(n * sizeof *x), *m = malloc(n * sizeof *m);
    for (size_t i = 0; i < n; i++) {
        x[i] = (double)test_rng_range(&g, 0, 12);
        double nu = rgamma(&g, p[1], p[2]);
        m[i] = x[i] > 0 ? rgamma(&g, p[0] * x[i], nu) / x[i] : 0.0;
    }
    crm_clv_model *mod = NULL;
    assert_int_equal(crm_clv_fit_spend(&mod, x, m, n, NULL), CRM_OK);
    crm_clv_fit_info fi = info_of(mod);
    for (int i = 0; i < 3; i++)
        assert_close(fi.params[i], p[i], 0.1);
    assert_true(fi.params[3] == 0);
    crm_clv_model_free(mod);
    free(x);
    free(m);
}

/* ---- lifetime value --------------------------------------------------------------- */

static void clv_value(void **state)
{
    (void)state;
    const double pb[4] = { 0.2425982, 4.4136842, 0.7929899, 2.4261667 },
                 pg[3] = { 6.25, 3.74, 15.44 };
    crm_clv_model *m, *gg;
    crm_clv_model_new(&m, CRM_CLV_BGNBD, pb, CRM_CLV_UNIT_WEEK);
    crm_clv_model_new(&gg, CRM_CLV_GAMMA_GAMMA, pg, CRM_CLV_UNIT_WEEK);
    const double x[] = { 0, 2, 26, 2 }, tx[] = { 0, 30.43, 30.857, 30.43 },
                 T[] = { 38.86, 38.86, 31, 38.86 }, mx[] = { 0, 22.35, 40, 22.35 };
    double v[4], spend[4];
    assert_int_equal(crm_clv_expected_spend(spend, gg, x, mx, 4), CRM_OK);
    assert_close(spend[1], 6.25 * (15.44 + 2 * 22.35) / (6.25 * 2 + 3.74 - 1), 1e-14);
    /* no discount: spend * E[Y(H)] */
    assert_int_equal(crm_clv_value(v, m, gg, x, tx, T, mx, 4, 52, 1, 0.0), CRM_OK);
    for (int i = 0; i < 4; i++) {
        double e;
        crm_clv_expected_purchases(&e, m, 52, &x[i], &tx[i], &T[i], 1);
        assert_close(v[i], spend[i] * e, 1e-12);
    }
    /* monthly-ish periods of 4 weeks at 1 % per period, horizon 50 weeks: the
     * last period is short; reference by differences of E[Y] */
    assert_int_equal(crm_clv_value(v, m, gg, x, tx, T, mx, 4, 50, 4, 0.01), CRM_OK);
    for (int i = 0; i < 4; i++) {
        double prev = 0, want = 0;
        for (int k = 1; k <= 13; k++) {
            double e, t = k == 13 ? 50 : 4.0 * k;
            crm_clv_expected_purchases(&e, m, t, &x[i], &tx[i], &T[i], 1);
            want += (e - prev) / pow(1.01, k);
            prev = e;
        }
        assert_close(v[i], spend[i] * want, 1e-12);
    }
    /* errors */
    assert_int_equal(crm_clv_value(v, m, gg, x, tx, T, mx, 4, 0, 1, 0.01), CRM_EINVAL);
    assert_int_equal(crm_clv_value(v, m, gg, x, tx, T, mx, 4, 52, 0, 0.01), CRM_EINVAL);
    assert_int_equal(crm_clv_value(v, m, gg, x, tx, T, mx, 4, 1e9, 1, 0.01), CRM_EINVAL);
    assert_int_equal(crm_clv_value(v, m, gg, x, tx, T, mx, 4, 52, 1, -1), CRM_EINVAL);
    assert_int_equal(crm_clv_value(v, m, m, x, tx, T, mx, 4, 52, 1, 0.01), CRM_EINVAL);
    assert_int_equal(crm_clv_value(v, gg, gg, x, tx, T, mx, 4, 52, 1, 0.01), CRM_EINVAL);
    assert_int_equal(crm_clv_value(v, m, NULL, x, tx, T, mx, 4, 52, 1, 0.01), CRM_EINVAL);
    double badm[4] = { 0, NAN, 1, 1 };
    assert_int_equal(crm_clv_value(v, m, gg, x, tx, T, badm, 4, 52, 1, 0.01), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "m_x[1]"));
    assert_int_equal(crm_clv_expected_spend(NULL, gg, x, mx, 4), CRM_EINVAL);
    assert_int_equal(crm_clv_expected_spend(v, m, x, mx, 4), CRM_EINVAL);
    assert_int_equal(crm_clv_expected_spend(v, gg, NULL, mx, 4), CRM_EINVAL);
    /* q <= 1: the population mean spend is infinite, reported as +inf */
    const double pq[3] = { 1.0, 0.8, 10.0 };
    crm_clv_model *g2;
    crm_clv_model_new(&g2, CRM_CLV_GAMMA_GAMMA, pq, CRM_CLV_UNIT_WEEK);
    assert_int_equal(crm_clv_expected_spend(spend, g2, x, mx, 2), CRM_OK);
    assert_true(isinf(spend[0]) && isfinite(spend[1]));
    crm_clv_model_free(g2);
    crm_clv_model_free(m);
    crm_clv_model_free(gg);
}

/* ---- errors ------------------------------------------------------------------------ */

static void fit_errors(void **state)
{
    (void)state;
    double x[3] = { 1, 0, 2 }, tx[3] = { 5, 0, 7 }, T[3] = { 10, 10, 10 }, out[3];
    crm_clv_model *m = (crm_clv_model *)&m;
    assert_int_equal(crm_clv_fit(NULL, CRM_CLV_BGNBD, x, tx, T, 3, NULL), CRM_EINVAL);
    assert_int_equal(crm_clv_fit(&m, CRM_CLV_BGNBD, NULL, tx, T, 3, NULL), CRM_EINVAL);
    assert_null(m);
    assert_int_equal(crm_clv_fit(&m, 9, x, tx, T, 3, NULL), CRM_EINVAL);
    assert_int_equal(crm_clv_fit(&m, CRM_CLV_GAMMA_GAMMA, x, tx, T, 3, NULL), CRM_EINVAL);
    assert_int_equal(crm_clv_fit(&m, CRM_CLV_BGNBD, x, tx, T, 0, NULL), CRM_EINVAL);
    crm_clv_fit_options o;
    assert_int_equal(crm_clv_fit_options_init(NULL, 1), CRM_EINVAL);
    assert_int_equal(crm_clv_fit_options_init(&o, 2), CRM_EVERSION);
    crm_clv_fit_options_init(&o, 1);
    assert_true(o.unit == CRM_CLV_UNIT_DAY && o.starts == 4 && o.max_iter == 500);
    o.version = 0;
    assert_int_equal(crm_clv_fit(&m, CRM_CLV_BGNBD, x, tx, T, 3, &o), CRM_EVERSION);
    const struct { uint32_t unit, starts, max_iter; double gtol; } bad[] = {
        { 2, 4, 500, 1e-9 }, { 1, 0, 500, 1e-9 }, { 1, 17, 500, 1e-9 }, { 1, 4, 5, 1e-9 },
        { 1, 4, 500, 0.0 }, { 1, 4, 500, NAN },
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        crm_clv_fit_options_init(&o, 1);
        o.unit = bad[i].unit;
        o.starts = bad[i].starts;
        o.max_iter = bad[i].max_iter;
        o.gtol = bad[i].gtol;
        assert_int_equal(crm_clv_fit(&m, CRM_CLV_BGNBD, x, tx, T, 3, &o), CRM_EINVAL);
        assert_int_equal(crm_clv_fit_spend(&m, x, tx, 3, &o), CRM_EINVAL);
    }
    /* bad rows, named */
    double bx[3] = { 1, -1, 2 };
    assert_int_equal(crm_clv_fit(&m, CRM_CLV_BGNBD, bx, tx, T, 3, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "x[1]"));
    bx[1] = 0.5;
    assert_int_equal(crm_clv_fit(&m, CRM_CLV_PARETO_NBD, bx, tx, T, 3, NULL), CRM_EDATA);
    double btx[3] = { 5, 0, 11 };
    assert_int_equal(crm_clv_fit(&m, CRM_CLV_BGNBD, x, btx, T, 3, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "t_x[2]"));
    double bT[3] = { 10, INFINITY, 10 };
    assert_int_equal(crm_clv_fit(&m, CRM_CLV_BGNBD, x, tx, bT, 3, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "T[1]"));
    double btx0[3] = { 5, 1, 7 };
    assert_int_equal(crm_clv_fit(&m, CRM_CLV_BGNBD, x, btx0, T, 3, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "x[1] = 0"));
    /* data that identify nothing: a status and a message, no model */
    double zx[3] = { 0, 0, 0 }, ztx[3] = { 0, 0, 0 };
    assert_int_equal(crm_clv_fit(&m, CRM_CLV_BGNBD, zx, ztx, T, 3, NULL), CRM_EDATA);
    assert_null(m);
    double zT[3] = { 0, 0, 0 };
    assert_int_equal(crm_clv_fit(&m, CRM_CLV_BGNBD, x, ztx, zT, 3, NULL), CRM_EDATA);
    /* one customer: the likelihood rises towards a boundary; no estimate */
    for (int kind = CRM_CLV_BGNBD; kind <= CRM_CLV_PARETO_NBD; kind++) {
        double x1 = 1, t1 = 1, T1 = 2;
        assert_int_equal(crm_clv_fit(&m, kind, &x1, &t1, &T1, 1, NULL), CRM_EDATA);
        assert_null(m);
        assert_non_null(strstr(crm_last_error(), "identified"));
    }
    /* everybody buys every unit and is alive: p -> 0, b -> infinity; the fit
     * must not return start values: it fails or returns a stationary point */
    {
        size_t n = 500;
        double *xx = malloc(n * sizeof *xx), *tt = malloc(n * sizeof *tt), *TT = malloc(n * sizeof *TT);
        for (size_t i = 0; i < n; i++) {
            xx[i] = 20;
            tt[i] = 20;
            TT[i] = 20;
        }
        crm_status s = crm_clv_fit(&m, CRM_CLV_BGNBD, xx, tt, TT, n, NULL);
        if (s == CRM_OK) {
            crm_clv_fit_info fi = info_of(m);
            for (int i = 0; i < 4; i++)
                assert_true(isfinite(fi.params[i]) && fi.params[i] > 0);
            assert_true(fi.grad_max <= 1e-5 * fabs(fi.loglik) + 1e-6);
            crm_clv_model_free(m);
        } else {
            assert_int_equal(s, CRM_EDATA);
            assert_null(m);
            assert_non_null(strstr(crm_last_error(), "converge"));
        }
        free(xx);
        free(tt);
        free(TT);
    }
    /* spend fit */
    double mx[3] = { 10, 0, -1 };
    assert_int_equal(crm_clv_fit_spend(NULL, x, mx, 3, NULL), CRM_EINVAL);
    assert_int_equal(crm_clv_fit_spend(&m, NULL, mx, 3, NULL), CRM_EINVAL);
    assert_int_equal(crm_clv_fit_spend(&m, x, mx, 3, NULL), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "m_x[2]"));
    mx[2] = 5;
    double x1[3] = { 1, 0, 0 };
    assert_int_equal(crm_clv_fit_spend(&m, x1, mx, 3, NULL), CRM_EINVAL);
    /* model_new / info */
    double p[4] = { 1, 1, 1, 1 };
    assert_int_equal(crm_clv_model_new(NULL, 1, p, 1), CRM_EINVAL);
    assert_int_equal(crm_clv_model_new(&m, 1, NULL, 1), CRM_EINVAL);
    assert_int_equal(crm_clv_model_new(&m, 0, p, 1), CRM_EINVAL);
    assert_int_equal(crm_clv_model_new(&m, 1, p, 3), CRM_EINVAL);
    p[2] = -1;
    assert_int_equal(crm_clv_model_new(&m, 1, p, 1), CRM_EINVAL);
    assert_non_null(strstr(crm_last_error(), "(a)"));
    p[2] = 1;
    assert_int_equal(crm_clv_model_new(&m, CRM_CLV_BGNBD, p, CRM_CLV_UNIT_DAY), CRM_OK);
    crm_clv_fit_info fi = { .version = 5 };
    assert_int_equal(crm_clv_model_info(m, &fi), CRM_EVERSION);
    assert_int_equal(crm_clv_model_info(NULL, &fi), CRM_EINVAL);
    assert_int_equal(crm_clv_model_info(m, NULL), CRM_EINVAL);
    fi = info_of(m);
    assert_true(fi.fitted == 0 && fi.loglik == 0 && fi.nparams == 4);
    /* prediction errors */
    assert_int_equal(crm_clv_p_alive(NULL, m, x, tx, T, 3), CRM_EINVAL);
    assert_int_equal(crm_clv_p_alive(out, NULL, x, tx, T, 3), CRM_EINVAL);
    assert_int_equal(crm_clv_p_alive(out, m, NULL, tx, T, 3), CRM_EINVAL);
    assert_int_equal(crm_clv_p_alive(out, m, x, btx, T, 3), CRM_EDATA);
    assert_int_equal(crm_clv_expected_purchases(out, m, -1, x, tx, T, 3), CRM_EINVAL);
    assert_int_equal(crm_clv_expected_purchases(out, m, NAN, x, tx, T, 3), CRM_EINVAL);
    assert_int_equal(crm_clv_expected_purchases(out, m, 1, x, tx, bT, 3), CRM_EDATA);
    double tt[2] = { 1, -2 };
    assert_int_equal(crm_clv_expected_purchases_new(out, m, tt, 2), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "t[1]"));
    assert_int_equal(crm_clv_expected_purchases_new(out, m, NULL, 2), CRM_EINVAL);
    double kk[2] = { 0, 1.5 };
    assert_int_equal(crm_clv_prob_purchases(out, m, 1, kk, 2), CRM_EDATA);
    assert_int_equal(crm_clv_prob_purchases(out, m, -1, kk, 1), CRM_EINVAL);
    assert_int_equal(crm_clv_prob_purchases(out, m, 1, NULL, 1), CRM_EINVAL);
    double pg[3] = { 1, 2, 3 };
    crm_clv_model *g;
    crm_clv_model_new(&g, CRM_CLV_GAMMA_GAMMA, pg, CRM_CLV_UNIT_DAY);
    assert_int_equal(crm_clv_p_alive(out, g, x, tx, T, 3), CRM_EINVAL);
    assert_int_equal(crm_clv_expected_purchases_new(out, g, tt, 1), CRM_EINVAL);
    /* loglik errors */
    double ll;
    assert_int_equal(crm_clv_loglik(NULL, NULL, 1, p, x, tx, T, 3), CRM_EINVAL);
    assert_int_equal(crm_clv_loglik(&ll, NULL, 1, NULL, x, tx, T, 3), CRM_EINVAL);
    assert_int_equal(crm_clv_loglik(&ll, NULL, 4, p, x, tx, T, 3), CRM_EINVAL);
    assert_int_equal(crm_clv_loglik(&ll, NULL, 1, p, x, tx, NULL, 3), CRM_EINVAL);
    assert_int_equal(crm_clv_loglik(&ll, NULL, 1, p, x, btx, T, 3), CRM_EDATA);
    assert_int_equal(crm_clv_loglik(&ll, NULL, 3, pg, x, mx, NULL, 3), CRM_OK);
    p[0] = NAN;
    assert_int_equal(crm_clv_loglik(&ll, NULL, 1, p, x, tx, T, 3), CRM_EINVAL);
    crm_clv_model_free(g);
    crm_clv_model_free(m);
    crm_clv_model_free(NULL);
    /* struct sizes for bindings */
    assert_int_equal(crm_struct_size(CRM_STRUCT_CLV_SUMMARY_OPTIONS), sizeof(crm_clv_summary_options));
    assert_int_equal(crm_struct_size(CRM_STRUCT_CLV_FIT_OPTIONS), sizeof(crm_clv_fit_options));
    assert_int_equal(crm_struct_size(CRM_STRUCT_CLV_FIT_INFO), sizeof(crm_clv_fit_info));
}

/* ---- allocation failures -------------------------------------------------------------- */

typedef struct oom_ctx {
    const crm_order *o;
    size_t n;
    sim *s;
} oom_ctx;

static crm_status oom_summary(void *vc)
{
    oom_ctx *c = vc;
    crm_clv_summary *s = NULL;
    crm_status st = crm_clv_summary_build(&s, c->o, c->n, 400, NULL);
    return OOM_RESULT(st, s, crm_clv_summary_free);
}

static crm_status oom_fit(void *vc)
{
    oom_ctx *c = vc;
    crm_clv_model *m = NULL;
    crm_clv_fit_options o;
    crm_clv_fit_options_init(&o, 1);
    o.starts = 1;
    crm_status st = crm_clv_fit(&m, CRM_CLV_BGNBD, c->s->x, c->s->tx, c->s->T, c->s->n, &o);
    return OOM_RESULT(st, m, crm_clv_model_free);
}

static crm_status oom_fit_spend(void *vc)
{
    oom_ctx *c = vc;
    crm_clv_model *m = NULL;
    crm_status st = crm_clv_fit_spend(&m, c->s->x, c->s->m, c->s->n, NULL);
    crm_clv_model_free(m);
    return st;
}

static crm_status oom_predict(void *vc)
{
    oom_ctx *c = vc;
    const double p[4] = { 0.5, 3, 0.8, 2.5 }, pg[3] = { 6, 4, 15 };
    crm_clv_model *m = NULL, *g = NULL;
    crm_status st = crm_clv_model_new(&m, CRM_CLV_BGNBD, p, CRM_CLV_UNIT_DAY);
    if (!st)
        st = crm_clv_model_new(&g, CRM_CLV_GAMMA_GAMMA, pg, CRM_CLV_UNIT_DAY);
    double *out = malloc(c->s->n * sizeof *out);
    if (!st)
        st = crm_clv_expected_purchases(out, m, 10, c->s->x, c->s->tx, c->s->T, c->s->n);
    if (!st)
        st = crm_clv_value(out, m, g, c->s->x, c->s->tx, c->s->T, c->s->m, c->s->n, 10, 1, 0.01);
    double ll;
    if (!st)
        st = crm_clv_loglik(&ll, NULL, CRM_CLV_PARETO_NBD, p, c->s->x, c->s->tx, c->s->T, c->s->n);
    free(out);
    crm_clv_model_free(m);
    crm_clv_model_free(g);
    return st;
}

static void oom(void **state)
{
    (void)state;
    test_rng g = { 3 };
    crm_order o[500];
    for (size_t i = 0; i < ARRAY_LEN(o); i++)
        o[i] = (crm_order){ (uint64_t)test_rng_range(&g, 1, 60), test_rng_range(&g, 0, 300) * DAY,
                            test_rng_range(&g, -5, 100) };
    const double p[4] = { 0.5, 3.0, 0.8, 2.5 };
    sim s = sim_bgnbd(4, 300, p, 10, 40);
    for (size_t i = 0; i < s.n; i++)
        s.m[i] = s.x[i] > 0 ? 10.0 + (double)i : 0.0;
    oom_ctx c = { o, ARRAY_LEN(o), &s };
    assert_true(oom_sweep(oom_summary, &c) >= 2);
    assert_true(oom_sweep(oom_fit, &c) >= 2);
    assert_true(oom_sweep(oom_fit_spend, &c) >= 2);
    assert_true(oom_sweep(oom_predict, &c) >= 2);
    sim_free(&s);
}


/* ---- scale-out: compressed counts ------------------------------------------------ */

/* Simulated BG/NBD customers on a day grid in weeks (many equal rows). */
static sim sim_days(uint64_t seed, size_t n)
{
    const double p[4] = { 0.6, 4.0, 0.8, 3.0 };
    sim s = sim_bgnbd(seed, n, p, 1, 52);
    for (size_t i = 0; i < n; i++) {
        s.T[i] = ceil(s.T[i] * 7) / 7;
        s.tx[i] = s.x[i] > 0 ? floor(s.tx[i] * 7) / 7 : 0;
    }
    return s;
}

static crm_clv_counts *counts_ok(const double *x, const double *tx, const double *T, size_t n)
{
    crm_clv_counts *c = NULL;
    assert_int_equal(crm_clv_counts_build(&c, x, tx, T, n), CRM_OK);
    assert_non_null(c);
    return c;
}

static void assert_counts_equal(const crm_clv_counts *a, const crm_clv_counts *b)
{
    size_t n = crm_clv_counts_rows(a);
    assert_int_equal(n, crm_clv_counts_rows(b));
    assert_int_equal(crm_clv_counts_customers(a), crm_clv_counts_customers(b));
    assert_memory_equal(crm_clv_counts_x(a), crm_clv_counts_x(b), n * sizeof(double));
    assert_memory_equal(crm_clv_counts_t_x(a), crm_clv_counts_t_x(b), n * sizeof(double));
    assert_memory_equal(crm_clv_counts_tenure(a), crm_clv_counts_tenure(b), n * sizeof(double));
    assert_memory_equal(crm_clv_counts_n(a), crm_clv_counts_n(b), n * sizeof(uint64_t));
}

static void counts_hand_worked(void **state)
{
    (void)state;
    const double x[] = { 2, 0, 2, 1, 0, 2 }, tx[] = { 5, 0, 5, 3, 0, 4 },
                 T[] = { 9, 9, 9, 9, 7, 9 };
    crm_clv_counts *c = counts_ok(x, tx, T, 6);
    /* ascending (x, t_x, T): (0,0,7) (0,0,9) (1,3,9) (2,4,9) (2,5,9) x2 */
    assert_int_equal(crm_clv_counts_rows(c), 5);
    assert_int_equal(crm_clv_counts_customers(c), 6);
    const double wx[] = { 0, 0, 1, 2, 2 }, wt[] = { 0, 0, 3, 4, 5 }, wT[] = { 7, 9, 9, 9, 9 };
    const uint64_t wn[] = { 1, 1, 1, 1, 2 };
    assert_memory_equal(crm_clv_counts_x(c), wx, sizeof wx);
    assert_memory_equal(crm_clv_counts_t_x(c), wt, sizeof wt);
    assert_memory_equal(crm_clv_counts_tenure(c), wT, sizeof wT);
    assert_memory_equal(crm_clv_counts_n(c), wn, sizeof wn);
    crm_clv_counts_free(c);
    c = counts_ok(NULL, NULL, NULL, 0);
    assert_int_equal(crm_clv_counts_rows(c), 0);
    crm_clv_model *m = (crm_clv_model *)&m;
    assert_int_equal(crm_clv_fit_counts(&m, CRM_CLV_BGNBD, c, NULL), CRM_EINVAL);
    assert_null(m);
    crm_clv_counts_free(c);
    crm_clv_counts_free(NULL);
    assert_int_equal(crm_clv_counts_rows(NULL), 0);
    assert_int_equal(crm_clv_counts_customers(NULL), 0);
    assert_null(crm_clv_counts_x(NULL));
    assert_null(crm_clv_counts_t_x(NULL));
    assert_null(crm_clv_counts_tenure(NULL));
    assert_null(crm_clv_counts_n(NULL));
}

static void counts_merge_serialize_fit(void **state)
{
    (void)state;
    sim s = sim_days(31, 60000);
    crm_clv_counts *whole = counts_ok(s.x, s.tx, s.T, s.n);
    printf("# %zu customers -> %zu distinct rows\n", s.n, crm_clv_counts_rows(whole));
    assert_true(crm_clv_counts_rows(whole) < s.n * 7 / 10);
    /* three partitions, serialised, loaded, merged in another order */
    size_t cut[4] = { 0, 17000, 41000, s.n };
    crm_clv_counts *part[3];
    for (int k = 0; k < 3; k++) {
        crm_clv_counts *c = counts_ok(s.x + cut[k], s.tx + cut[k], s.T + cut[k], cut[k + 1] - cut[k]);
        void *b = NULL;
        size_t len = 0;
        assert_int_equal(crm_clv_counts_serialize(c, &b, &len), CRM_OK);
        assert_int_equal(crm_clv_counts_deserialize(&part[k], b, len), CRM_OK);
        assert_counts_equal(c, part[k]);
        if (k == 1) { /* corruption and truncation are caught */
            crm_clv_counts *bad = (crm_clv_counts *)&bad;
            ((unsigned char *)b)[40] ^= 1;
            assert_int_equal(crm_clv_counts_deserialize(&bad, b, len), CRM_ESTATE);
            assert_null(bad);
            ((unsigned char *)b)[40] ^= 1;
            assert_int_equal(crm_clv_counts_deserialize(&bad, b, len - 9), CRM_ESTATE);
            assert_int_equal(crm_clv_counts_deserialize(&bad, NULL, len), CRM_EINVAL);
            assert_int_equal(crm_clv_counts_deserialize(NULL, b, len), CRM_EINVAL);
        }
        crm_bytes_free(b);
        crm_clv_counts_free(c);
    }
    crm_clv_counts *ab, *abc;
    assert_int_equal(crm_clv_counts_merge(&ab, part[2], part[0]), CRM_OK);
    assert_int_equal(crm_clv_counts_merge(&abc, ab, part[1]), CRM_OK);
    assert_counts_equal(abc, whole);
    /* fit on the counts == fit on the rows */
    for (int kind = CRM_CLV_BGNBD; kind <= CRM_CLV_PARETO_NBD; kind++) {
        crm_clv_model *a = fit_ok(kind, s.x, s.tx, s.T, s.n, CRM_CLV_UNIT_WEEK), *b = NULL;
        crm_clv_fit_options o;
        crm_clv_fit_options_init(&o, 1);
        o.unit = CRM_CLV_UNIT_WEEK;
        assert_int_equal(crm_clv_fit_counts(&b, kind, abc, &o), CRM_OK);
        crm_clv_fit_info fa = info_of(a), fb = info_of(b);
        assert_int_equal(fb.n, s.n);
        assert_close(fb.loglik, fa.loglik, 1e-9);
        for (int i = 0; i < 4; i++)
            assert_close(fb.params[i], fa.params[i], 2e-4);
        crm_clv_model_free(a);
        crm_clv_model_free(b);
    }
    crm_clv_counts *cc = (crm_clv_counts *)&cc;
    assert_int_equal(crm_clv_counts_merge(NULL, ab, ab), CRM_EINVAL);
    assert_int_equal(crm_clv_counts_merge(&cc, NULL, ab), CRM_EINVAL);
    assert_null(cc);
    void *b;
    size_t len;
    assert_int_equal(crm_clv_counts_serialize(NULL, &b, &len), CRM_EINVAL);
    assert_int_equal(crm_clv_counts_serialize(abc, NULL, &len), CRM_EINVAL);
    crm_clv_model *mm;
    assert_int_equal(crm_clv_fit_counts(NULL, 1, abc, NULL), CRM_EINVAL);
    assert_int_equal(crm_clv_fit_counts(&mm, 1, NULL, NULL), CRM_EINVAL);
    assert_int_equal(crm_clv_fit_counts(&mm, 3, abc, NULL), CRM_EINVAL);
    double bx[2] = { 1, 2 }, btx[2] = { 3, 9 }, bT[2] = { 5, 5 };
    crm_clv_counts *c = (crm_clv_counts *)&c;
    assert_int_equal(crm_clv_counts_build(&c, bx, btx, bT, 2), CRM_EDATA);
    assert_non_null(strstr(crm_last_error(), "t_x[1]"));
    assert_null(c);
    assert_int_equal(crm_clv_counts_build(NULL, bx, btx, bT, 2), CRM_EINVAL);
    assert_int_equal(crm_clv_counts_build(&c, NULL, btx, bT, 2), CRM_EINVAL);
    for (int k = 0; k < 3; k++)
        crm_clv_counts_free(part[k]);
    crm_clv_counts_free(ab);
    crm_clv_counts_free(abc);
    crm_clv_counts_free(whole);
    sim_free(&s);
}

typedef struct counts_ctx {
    sim *s;
} counts_ctx;

static crm_status oom_counts(void *vc)
{
    counts_ctx *c = vc;
    size_t h = c->s->n / 2;
    crm_clv_counts *a = NULL, *b = NULL, *m = NULL, *l = NULL;
    crm_clv_model *f = NULL;
    void *bytes = NULL;
    size_t len = 0;
    crm_status st = crm_clv_counts_build(&a, c->s->x, c->s->tx, c->s->T, h);
    if (!st)
        st = crm_clv_counts_build(&b, c->s->x + h, c->s->tx + h, c->s->T + h, c->s->n - h);
    if (!st)
        st = crm_clv_counts_merge(&m, a, b);
    if (!st)
        st = crm_clv_counts_serialize(m, &bytes, &len);
    if (!st)
        st = crm_clv_counts_deserialize(&l, bytes, len);
    if (!st)
        st = crm_clv_fit_counts(&f, CRM_CLV_BGNBD, l, NULL);
    crm_bytes_free(bytes);
    crm_clv_counts_free(a);
    crm_clv_counts_free(b);
    crm_clv_counts_free(m);
    crm_clv_counts_free(l);
    crm_clv_model_free(f);
    return st;
}

static void counts_oom(void **state)
{
    (void)state;
    sim s = sim_days(8, 400);
    counts_ctx c = { &s };
    assert_true(oom_sweep(oom_counts, &c) >= 8);
    sim_free(&s);
}

/* P(alive) is the lifecycle module's probability-mode column: a summary
 * built from the same orders with period_end = asof has the profile rows. */
static void p_alive_feeds_lifecycle(void **state)
{
    (void)state;
    test_rng g = { 17 };
    crm_order o[3000];
    for (size_t i = 0; i < ARRAY_LEN(o); i++)
        o[i] = (crm_order){ (uint64_t)test_rng_range(&g, 1, 400),
                            test_rng_range(&g, 19000, 19700) * DAY + test_rng_range(&g, 0, 86399),
                            test_rng_range(&g, -50, 900) };
    const int64_t asof = 19650;
    crm_profiles *prof = NULL;
    assert_int_equal(crm_profiles_build(&prof, o, ARRAY_LEN(o), asof, NULL), CRM_OK);
    crm_clv_summary *s = summary_ok(o, ARRAY_LEN(o), asof, CRM_CLV_UNIT_WEEK, 1);
    size_t n = crm_clv_summary_count(s);
    assert_int_equal(n, crm_profiles_count(prof));
    assert_memory_equal(crm_clv_summary_customer_id(s), crm_profiles_customer_id(prof),
                        n * sizeof(uint64_t));
    const double *x = crm_clv_summary_x(s);
    const uint32_t *pd = crm_profiles_purchase_days(prof);
    for (size_t i = 0; i < n; i++)
        assert_true(x[i] == (double)pd[i] - 1);
    /* uniform random orders have no BG/NBD maximum inside the parameter
     * space (the fit says so); known parameters serve here */
    const double pb[4] = { 0.5, 3.0, 0.8, 2.5 };
    crm_clv_model *m = NULL, *f = NULL;
    assert_int_equal(crm_clv_model_new(&m, CRM_CLV_BGNBD, pb, CRM_CLV_UNIT_WEEK), CRM_OK);
    assert_int_equal(crm_clv_fit(&f, CRM_CLV_BGNBD, x, crm_clv_summary_t_x(s),
                                 crm_clv_summary_tenure(s), n, NULL), CRM_EDATA);
    assert_null(f);
    assert_non_null(strstr(crm_last_error(), "identified"));
    double *pa = malloc(n * sizeof *pa);
    assert_int_equal(crm_clv_p_alive(pa, m, x, crm_clv_summary_t_x(s), crm_clv_summary_tenure(s),
                                     n), CRM_OK);
    crm_lifecycle *lc = NULL;
    assert_int_equal(crm_lifecycle_build(&lc, prof, NULL, 0, pa, NULL), CRM_OK);
    crm_lifecycle_free(lc);
    free(pa);
    crm_clv_model_free(m);
    crm_clv_summary_free(s);
    crm_profiles_free(prof);
}

/* Large n: the log-likelihood is flat to rounding near the optimum; the
 * fits must stop there, not cycle through failed line searches. */
static void large_n_fits_terminate(void **state)
{
    (void)state;
    sim s = sim_days(55, 300000);
    for (int kind = CRM_CLV_BGNBD; kind <= CRM_CLV_PARETO_NBD; kind++) {
        crm_clv_model *m = fit_ok(kind, s.x, s.tx, s.T, s.n, CRM_CLV_UNIT_WEEK);
        crm_clv_fit_info fi = info_of(m);
        assert_true(fi.evaluations < 1000);
        assert_true(fi.grad_max <= 1e-5 * fabs(fi.loglik));
        if (kind == CRM_CLV_BGNBD) {
            const double p[4] = { 0.6, 4.0, 0.8, 3.0 };
            for (int i = 0; i < 4; i++)
                assert_close(fi.params[i], p[i], 0.1);
        }
        crm_clv_model_free(m);
    }
    sim_free(&s);
}

int main(void)
{
#ifdef CLV_CDNOW
    FILE *f = open_dataset("CDNOW_sample.txt");
    if (!f) {
        printf("1..0 # SKIP ../shared/datasets (CDNOW files) absent\n");
        return 0;
    }
    fclose(f);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cdnow_summary),
        cmocka_unit_test(cdnow_bgnbd),
        cmocka_unit_test(cdnow_pnbd),
        cmocka_unit_test(cdnow_gg),
    };
    return cmocka_run_group_tests_name("clv_cdnow", tests, NULL, NULL);
#elif defined(CLV_HEAVY)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(heavy_buyers_recovery),
        cmocka_unit_test(pnbd_recovery),
        cmocka_unit_test(counts_merge_serialize_fit),
        cmocka_unit_test(large_n_fits_terminate),
    };
    return cmocka_run_group_tests_name("clv_heavy", tests, NULL, NULL);
#else
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(summary_hand_worked),
        cmocka_unit_test(summary_errors),
        cmocka_unit_test(gradients),
        cmocka_unit_test(loglik_reference_and_partitions),
        cmocka_unit_test(bg_predictions_vs_series),
        cmocka_unit_test(bg_edge_cases),
        cmocka_unit_test(pnbd_predictions),
        cmocka_unit_test(heavy_frequencies),
        cmocka_unit_test(gg_recovery),
        cmocka_unit_test(clv_value),
        cmocka_unit_test(fit_errors),
        cmocka_unit_test(oom),
        cmocka_unit_test(counts_hand_worked),
        cmocka_unit_test(counts_oom),
        cmocka_unit_test(p_alive_feeds_lifecycle),
    };
    return cmocka_run_group_tests_name("clv", tests, NULL, NULL);
#endif
}
