/* BG/NBD (Fader, Hardie & Lee 2005): log-likelihood with gradient and the
 * per-customer predictions, in forms that stay finite where the textbook
 * closed forms divide by zero (a = 1, a + b <= 1 with x = 0). */
#include "clv/clv_internal.h"

/*
 * Per customer, with k = r + x:
 *   LL = lnG(k) - lnG(r) + r ln(alpha) + lnB(a, b + x) - lnB(a, b)
 *        + log( (alpha + T)^-k + [x > 0] a / (b + x - 1) (alpha + t_x)^-k )
 * The log of the sum is a log-sum-exp. The gamma/beta terms depend on x
 * only, the logs on alpha + T and alpha + t_x only: both are computed once
 * per distinct value (tables), the per-customer loop is one exp and one
 * log1p. Gradient:
 *   d/dr     = psi(k) - psi(r) + ln alpha - [p1 ln(alpha+T) + p2 ln(alpha+t_x)]
 *   d/dalpha = r / alpha - k [p1 / (alpha+T) + p2 / (alpha+t_x)]
 *   d/da     = psi(a+b) - psi(a+b+x) + p2 / a
 *   d/db     = psi(b+x) - psi(a+b+x) - psi(b) + psi(a+b) - p2 / (b+x-1)
 * with p1 + p2 = 1 the shares of the two terms of the sum.
 */
int crm__clv_bg_ll(const crm__clv_data *d, const double *p, double *ll, double *g)
{
    const double r = p[0], al = p[1], a = p[2], b = p[3];
    const size_t nT = d->uT.nv, nt = d->ut.nv, nx = d->ux.nv;
    double *LT = d->scratch, *IT = LT + nT, *Lt = IT + nT, *It = Lt + nt;
    double *D = d->scr2, *S2 = D + nx;
    for (size_t k = 0; k < nT; k++) {
        double v = al + d->uT.v[k];
        LT[k] = log(v);
        IT[k] = 1.0 / v;
    }
    for (size_t k = 0; k < nt; k++) {
        double v = al + d->ut.v[k];
        Lt[k] = log(v);
        It[k] = 1.0 / v;
    }
    const double la = log(a);
    for (size_t j = 0; j < nx; j++) {
        double xv = d->ux.v[j];
        D[j] = xv > 0.0 ? la - log(b + xv - 1.0) : -INFINITY;
        S2[j] = 0.0;
    }
    double sum = 0.0, gr = 0.0, ga = 0.0;
    const uint32_t *ix = d->ux.idx, *iT = d->uT.idx, *it = d->ut.idx;
    const double *x = d->x, *w = d->w;
    for (size_t i = 0; i < d->n; i++) {
        const double wi = w ? w[i] : 1.0;
        double k = r + x[i];
        uint32_t j = ix[i], u = iT[i];
        double A1 = -k * LT[u];
        if (x[i] == 0.0) {
            sum += wi * A1;
            gr -= wi * LT[u];
            ga -= wi * k * IT[u];
            continue;
        }
        uint32_t v = it[i];
        double A2 = D[j] - k * Lt[v];
        double df = A2 - A1;
        double e = exp(-fabs(df));
        double inv = 1.0 / (1.0 + e);
        double p2 = df > 0.0 ? inv : e * inv;
        double p1 = 1.0 - p2;
        sum += wi * ((df > 0.0 ? A2 : A1) + log(1.0 + e)); /* e <= 1: abs. error ~1e-16 */
        gr -= wi * (p1 * LT[u] + p2 * Lt[v]);
        ga -= wi * k * (p1 * IT[u] + p2 * It[v]);
        S2[j] += wi * p2;
    }
    const double lgr = crm__clv_lgamma(r), lga = crm__clv_lgamma(a), lgb = crm__clv_lgamma(b),
                 lgab = crm__clv_lgamma(a + b), lal = log(al);
    const double psr = crm__clv_digamma(r), psb = crm__clv_digamma(b),
                 psab = crm__clv_digamma(a + b);
    double gaa = 0.0, gb = 0.0;
    for (size_t j = 0; j < nx; j++) {
        double xv = d->ux.v[j], c = d->cnt[j];
        double lgbx = crm__clv_lgamma(b + xv), lgabx = crm__clv_lgamma(a + b + xv);
        /* lnB(a, b+x) - lnB(a, b) */
        double dB = (lgbx - lgabx) - (lgb - lgab);
        (void)lga;
        sum += c * (crm__clv_lgamma(r + xv) - lgr + r * lal + dB);
        if (g) {
            double pbx = crm__clv_digamma(b + xv), pabx = crm__clv_digamma(a + b + xv);
            gr += c * (crm__clv_digamma(r + xv) - psr + lal);
            gaa += c * (psab - pabx) + S2[j] / a;
            gb += c * (pbx - pabx - psb + psab) - (xv > 0.0 ? S2[j] / (b + xv - 1.0) : 0.0);
        }
    }
    ga += d->wsum * r / al;
    *ll = sum;
    if (g) {
        g[0] = gr;
        g[1] = ga;
        g[2] = gaa;
        g[3] = gb;
    }
    return !isfinite(sum);
}

double crm__clv_bg_palive(const double *p, double x, double tx, double T)
{
    if (x == 0.0)
        return 1.0;
    const double r = p[0], al = p[1], a = p[2], b = p[3];
    double z = log(a / (b + x - 1.0)) + (r + x) * log((al + T) / (al + tx));
    /* 1 / (1 + e^z) */
    if (z > 0.0) {
        double e = exp(-z);
        return e / (1.0 + e);
    }
    return 1.0 / (1.0 + exp(z));
}

/*
 * Expected purchases in (T, T + t] of a customer alive at T with x repeats:
 * E over p ~ Beta(a, b + x), lambda ~ Gamma(r + x, alpha + T) of
 * (1 - e^{-lambda p t}) / p, which is finite for all a, b > 0. With
 * c = a + b + x - 1, k = r + x, z = t / (alpha + T + t), L = ln(1 - z),
 * A = c - k = a + b - 1 - r, the textbook form
 *   c / (a - 1) [1 - (1 - z)^k 2F1(k, b + x; c; z)]
 * becomes, after Euler's transformation and cancelling (a - 1) and c,
 *   c (1 - (1-z)^(a-1)) / (a-1) - (1-z)^(a-1) sum_{j>=1} u_j,
 *   u_j = (A)_j (a)_{j-1} / ((c+1)_{j-1} j!) z^j,
 * where c + 1 = a + b + x > 0 always: no pole at a = 1 or at c <= 0.
 * E[X(t)] of a new customer is the case x = 0, T = 0.
 */
double crm__clv_bg_cond(const double *p, double x, double T, double t)
{
    if (t <= 0.0)
        return 0.0;
    const double r = p[0], al = p[1], a = p[2], b = p[3];
    const double s = al + T;
    const double c = a + b + x - 1.0, A = a + b - 1.0 - r;
    const double z = t / (s + t);
    const double L = -log1p(t / s);
    double E1 = crm__clv_expm1_ratio(a - 1.0, L);
    double u = A * z, sum = u;
    for (int j = 1; j < 200000; j++) {
        u *= (A + j) * (a + j - 1.0) * z / ((c + j) * (j + 1.0));
        sum += u;
        if (fabs(u) <= 1e-17 * fabs(sum) && j > 2)
            break;
        if (u == 0.0)
            break;
    }
    double h = c * E1 - exp((a - 1.0) * L) * sum;
    return h > 0.0 ? h : 0.0;
}

/*
 * P(X(t) = k) for a new customer:
 *   B(a, b+k)/B(a, b) NB(k; r, alpha/(alpha+t))
 *   + [k > 0] B(a+1, b+k-1)/B(a, b) P(NB(r, alpha/(alpha+t)) >= k)
 * NB terms in logs; the survival function sums whichever tail is smaller.
 */
static double lnb_term(double r, double lq, double lz, double j)
{
    /* ln [Gamma(r+j) / (Gamma(r) j!) q^r z^j] */
    return crm__clv_lgamma(r + j) - crm__clv_lgamma(r) - crm__clv_lgamma(j + 1.0) + r * lq
           + (j > 0.0 ? j * lz : 0.0);
}

static double nb_sf(double r, double lq, double lz, double z, double k)
{
    /* P(N >= k), N ~ NB(r, q), q = 1 - z, mean r z / q */
    if (k <= 0.0)
        return 1.0;
    double mean = r * z / (1.0 - z);
    if (k > mean) { /* upper tail: sum from k up */
        double lt = lnb_term(r, lq, lz, k), t = exp(lt), s = 0.0;
        if (lt < -700.0)
            return 0.0;
        for (double j = k; j < k + 1e7; j += 1.0) {
            s += t;
            t *= (r + j) / (j + 1.0) * z;
            if (t <= 1e-17 * s || t < 1e-305)
                break;
        }
        return s;
    }
    /* lower part: 1 - P(N <= k - 1), summed downwards from k - 1 */
    double t = exp(lnb_term(r, lq, lz, k - 1.0)), s = 0.0;
    for (double j = k - 1.0; j >= 0.0; j -= 1.0) {
        s += t;
        if (j == 0.0)
            break;
        t *= j / ((r + j - 1.0) * z);
        if (t <= 1e-17 * s || t < 1e-305)
            break;
    }
    double v = 1.0 - s;
    return v > 0.0 ? v : 0.0;
}

double crm__clv_bg_pmf(const double *p, double t, double k)
{
    const double r = p[0], al = p[1], a = p[2], b = p[3];
    if (t <= 0.0)
        return k == 0.0 ? 1.0 : 0.0;
    double lq = log(al / (al + t)), z = t / (al + t), lz = log(z);
    double lbab = crm__clv_lgamma(a) + crm__clv_lgamma(b) - crm__clv_lgamma(a + b);
    double l1 = crm__clv_lgamma(a) + crm__clv_lgamma(b + k) - crm__clv_lgamma(a + b + k) - lbab;
    double v = exp(l1 + lnb_term(r, lq, lz, k));
    if (k > 0.0) {
        double l2 = crm__clv_lgamma(a + 1.0) + crm__clv_lgamma(b + k - 1.0)
                    - crm__clv_lgamma(a + b + k) - lbab;
        v += exp(l2) * nb_sf(r, lq, lz, z, k);
    }
    return v;
}
