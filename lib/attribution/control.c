/* Control groups and incrementality (specs/attribution.md, "Control groups
 * and incrementality"): deterministic splitmix64 assignment, per-customer
 * outcomes after a washout, Welch comparison. */
#include <math.h>
#include <stdlib.h>

#include "attribution/attr_internal.h"

CRM_API crm_status crm_attribution_in_control(const uint64_t *customer_ids, size_t n,
                                              uint64_t salt, double fraction,
                                              uint8_t *in_control)
{
    if ((!customer_ids || !in_control) && n)
        return crm__fail(CRM_EINVAL, "crm_attribution_in_control: NULL array");
    if (!(fraction >= 0 && fraction <= 1))
        return crm__fail(CRM_EINVAL, "crm_attribution_in_control: fraction = %g not in [0, 1]",
                         fraction);
    uint64_t s = crm__mix64(salt);
    for (size_t i = 0; i < n; i++) {
        uint64_t h = crm__mix64(customer_ids[i] ^ s);
        in_control[i] = (double)(h >> 11) * 0x1p-53 < fraction;
    }
    return CRM_OK;
}

/* ---- Student t ----------------------------------------------------------- */

/* Continued fraction of the incomplete beta function (modified Lentz). */
static double betacf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 10000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-16)
            break;
    }
    return h;
}

/* Regularised incomplete beta I_x(a, b). */
static double betai(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double bt = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2))
        return bt * betacf(a, b, x) / a;
    return 1 - bt * betacf(b, a, 1 - x) / b;
}

/* Two-sided tail P(|T| >= t) of Student's t with df degrees of freedom. */
static double t_two_sided(double t, double df)
{
    if (isinf(df))
        return erfc(fabs(t) / sqrt(2.0));
    return betai(df / 2, 0.5, df / (df + t * t));
}

/* t such that P(|T| >= t) = alpha. */
static double t_quantile(double alpha, double df)
{
    double lo = 0, hi = 1;
    while (t_two_sided(hi, df) > alpha)
        hi *= 2;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (t_two_sided(mid, df) > alpha)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

static const size_t uplift_size[] = {
    0, CRM__SIZE_THROUGH(crm_attribution_uplift_result, incremental),
};

static crm_status mean_var(const double *x, size_t n, const char *what, double *mean,
                           double *var)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return crm__fail(CRM_EDATA, "%s[%zu] = %g is not finite", what, i, x[i]);
        m += x[i];
    }
    m /= (double)n;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *var = ss / (double)(n - 1);
    return CRM_OK;
}

CRM_API crm_status crm_attribution_uplift(const double *test, size_t n_test,
                                          const double *control, size_t n_control,
                                          crm_attribution_uplift_result *out)
{
    if (!test || !control || !out)
        return crm__fail(CRM_EINVAL, "crm_attribution_uplift: NULL argument");
    crm_status st = crm__check_version(out->version, CRM_ATTRIBUTION_UPLIFT_RESULT_VERSION,
                                       "crm_attribution_uplift_result");
    if (st)
        return st;
    if (n_test < 2 || n_control < 2)
        return crm__fail(CRM_EINVAL, "crm_attribution_uplift: need at least 2 customers per "
                         "group (test %zu, control %zu)", n_test, n_control);
    crm_attribution_uplift_result r;
    memset(&r, 0, sizeof r);
    r.version = CRM_ATTRIBUTION_UPLIFT_RESULT_VERSION;
    double vt, vc;
    if ((st = mean_var(test, n_test, "test", &r.mean_test, &vt)) ||
        (st = mean_var(control, n_control, "control", &r.mean_control, &vc)))
        return st;
    r.n_test = n_test;
    r.n_control = n_control;
    r.lift = r.mean_test - r.mean_control;
    r.relative_lift = r.mean_control != 0 ? r.lift / r.mean_control : NAN;
    double at = vt / (double)n_test, ac = vc / (double)n_control, se2 = at + ac;
    if (se2 > 0) {
        double se = sqrt(se2);
        r.df = se2 * se2 / (at * at / (double)(n_test - 1) + ac * ac / (double)(n_control - 1));
        double q = t_quantile(0.05, r.df);
        r.ci_low = r.lift - q * se;
        r.ci_high = r.lift + q * se;
        r.p_value = t_two_sided(r.lift / se, r.df);
    } else {
        r.df = (double)(n_test + n_control - 2);
        r.ci_low = r.ci_high = r.lift;
        r.p_value = r.lift == 0 ? 1.0 : 0.0;
    }
    r.incremental = r.lift * (double)n_test;
    return crm__versioned_out(out, &r, uplift_size, CRM_ATTRIBUTION_UPLIFT_RESULT_VERSION,
                              "crm_attribution_uplift_result");
}

typedef struct id_pos {
    uint64_t id;
    uint64_t pos;
} id_pos;

CRM_API crm_status crm_attribution_outcomes(const uint64_t *customer_ids, size_t n,
                                            const crm_conversion *conversions,
                                            size_t n_conversions, int64_t stop_ts,
                                            uint32_t washout_days, int64_t end_ts,
                                            double *converted, double *value)
{
    if ((n && (!customer_ids || !converted || !value)) || (!conversions && n_conversions))
        return crm__fail(CRM_EINVAL, "crm_attribution_outcomes: NULL array");
    if (washout_days > 3650)
        return crm__fail(CRM_EINVAL, "crm_attribution_outcomes: washout_days = %u > 3650",
                         washout_days);
    crm_status vs = attr_check_conversions(conversions, n_conversions);
    if (vs)
        return vs;
    id_pos *ix = NULL;
    crm_status st = crm__alloc_array((void **)&ix, n + 1, sizeof *ix, 0, "customer index");
    if (st)
        return st;
    for (size_t i = 0; i < n; i++)
        ix[i] = (id_pos){ customer_ids[i], i };
    crm__sort_records_u64(ix, n, sizeof *ix);
    for (size_t i = 1; i < n; i++)
        if (ix[i].id == ix[i - 1].id) {
            uint64_t pos = ix[i].pos > ix[i - 1].pos ? ix[i].pos : ix[i - 1].pos, id = ix[i].id;
            crm__free(ix);
            return crm__fail(CRM_EDATA, "customer_ids[%llu] = %llu repeats",
                             (unsigned long long)pos, (unsigned long long)id);
        }
    for (size_t i = 0; i < n; i++)
        converted[i] = value[i] = 0;
    int64_t from = stop_ts + (int64_t)washout_days * CRM__SECONDS_PER_DAY;
    for (size_t k = 0; k < n_conversions; k++) {
        const crm_conversion *c = &conversions[k];
        if (c->ts < from || c->ts >= end_ts)
            continue;
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (ix[mid].id < c->customer_id)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < n && ix[lo].id == c->customer_id) {
            converted[ix[lo].pos] = 1;
            value[ix[lo].pos] += c->value;
        }
    }
    crm__free(ix);
    return CRM_OK;
}
