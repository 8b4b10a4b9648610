/* Gamma-Gamma spend model (Fader & Hardie 2013), full density of the mean
 * repeat spend m given x:
 *   ln f = lnG(px+q) - lnG(px) - lnG(q) + q ln g + (px-1) ln m + px ln x
 *          - (px+q) ln(g + m x)
 * Terms in x alone are computed once per distinct x; ln m sums once at
 * set-up; per customer one log and one division. */
#include "clv/clv_internal.h"

void crm__clv_gg_free(crm__clv_ggdata *d)
{
    crm__free(d->m);
    crm__free(d->ix);
    crm__free(d->xv);
    crm__free(d->cnt);
    crm__free(d->scratch);
    memset(d, 0, sizeof *d);
}

crm_status crm__clv_gg_init(crm__clv_ggdata *d, const double *x, const double *m, size_t n,
                            const char *fn)
{
    memset(d, 0, sizeof *d);
    crm_status s = crm__clv_check_x(x, n, fn);
    if (s)
        return s;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (x[i] == 0.0)
            continue;
        if (!(m[i] >= 0.0 && isfinite(m[i])))
            return crm__fail(CRM_EDATA, "%s: m_x[%zu] = %g must be finite and >= 0 "
                                        "where x[%zu] = %g > 0", fn, i, m[i], i, x[i]);
        k += m[i] > 0.0; /* free repeat purchases (m_x = 0): no spend density */
    }
    double *xs = NULL;
    s = crm__alloc_array((void **)&d->m, k ? k : 1, sizeof(double), 0, "gg rows");
    if (!s)
        s = crm__alloc_array((void **)&xs, k ? k : 1, sizeof(double), 0, "gg rows");
    if (s) {
        crm__free(xs);
        crm__clv_gg_free(d);
        return s;
    }
    k = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0 && m[i] > 0.0) {
            d->m[k] = m[i];
            xs[k++] = x[i];
        }
    d->n = k;
    /* distinct x through the purchase-data helper (t_x, T unused: pass x) */
    crm__clv_data tmp;
    s = crm__clv_data_init(&tmp, xs, xs, xs, NULL, k, 0);
    if (!s) {
        d->nx = tmp.ux.nv;
        d->ix = tmp.ux.idx;
        d->xv = tmp.ux.v;
        d->cnt = tmp.cnt;
        tmp.ux.idx = NULL;
        tmp.ux.v = NULL;
        tmp.cnt = NULL;
        crm__clv_data_free(&tmp);
        s = crm__alloc_array((void **)&d->scratch, 3 * (d->nx ? d->nx : 1), sizeof(double),
                             0, "gg scratch");
    }
    if (!s)
        for (size_t i = 0; i < k; i++) {
            double lm = log(d->m[i]);
            d->sum_lm += lm;
            d->sum_xlm += xs[i] * lm;
        }
    crm__free(xs);
    if (s)
        crm__clv_gg_free(d);
    return s;
}

int crm__clv_gg_ll(const crm__clv_ggdata *d, const double *p, double *ll, double *g)
{
    const double pp = p[0], q = p[1], ga = p[2];
    double *SL = d->scratch, *SI = SL + d->nx; /* per x: sum ln(g+mx), sum 1/(g+mx) */
    for (size_t j = 0; j < d->nx; j++)
        SL[j] = SI[j] = 0.0;
    for (size_t i = 0; i < d->n; i++) {
        uint32_t j = d->ix[i];
        double v = ga + d->m[i] * d->xv[j];
        SL[j] += log(v);
        SI[j] += 1.0 / v;
    }
    const double lgq = crm__clv_lgamma(q), lg = log(ga), psq = crm__clv_digamma(q);
    double sum = -pp * 0.0, gp = 0.0, gq = 0.0, gg = 0.0;
    double n = (double)d->n;
    sum = n * (q * lg - lgq) - d->sum_lm + pp * d->sum_xlm;
    gp = d->sum_xlm;
    for (size_t j = 0; j < d->nx; j++) {
        double xv = d->xv[j], c = d->cnt[j], px = pp * xv;
        sum += c * (crm__clv_lgamma(px + q) - crm__clv_lgamma(px) + px * log(xv))
               - (px + q) * SL[j];
        if (g) {
            double pxq = crm__clv_digamma(px + q);
            gp += xv * (c * (pxq - crm__clv_digamma(px) + log(xv)) - SL[j]);
            gq += c * pxq - SL[j];
            gg -= (px + q) * SI[j];
        }
    }
    *ll = sum;
    if (g) {
        g[0] = gp;
        g[1] = gq + n * (lg - psq);
        g[2] = gg + n * q / ga;
    }
    return !isfinite(sum);
}
