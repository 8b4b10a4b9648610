/* Pareto/NBD (Schmittlein, Morrison & Colombo 1987): log-likelihood with
 * gradient and per-customer predictions. */
#include "clv/clv_internal.h"

/*
 * G = 2F1(1, b; c; z) = sum_j (b)_j / (c)_j z^j for 0 <= z < 1, 0 < b < c,
 * with d ln G / db, / dc, / dz. All terms are positive and their ratio
 * (b + j) z / (c + j) < z, so the sum has no cancellation; the tail after a
 * term t_j is below t_j z / (1 - z).
 */
static double hyp1(double b, double c, double z, double *db, double *dc, double *dz)
{
    double t = 1.0, sum = 1.0, Db = 0.0, Dc = 0.0, Sb = 0.0, Sc = 0.0, Sz = 0.0;
    double tail = z < 1.0 ? 1.0 / (1.0 - z) : 1e300;
    for (int j = 0;; j++) {
        double bj = b + j, cj = c + j, inv = 1.0 / (bj * cj); /* one division per term */
        Db += cj * inv;       /* 1 / (b + j) */
        Dc -= bj * inv;       /* 1 / (c + j) */
        double q = bj * inv * bj;  /* (b + j) / (c + j), off the t dependency chain */
        double tz = t * q;          /* t_{j+1} / z */
        Sz += (j + 1.0) * tz;
        t *= q * z;
        sum += t;
        Sb += t * Db;
        Sc += t * Dc;
        if (t * (j + 2.0) * tail <= 1e-16 * sum)
            break;
        if (j == 20000) {
            /* z close to 1 (alpha >> beta, early times): stop at a bounded
             * cost and add the geometric tail at the current term ratio,
             * which the remaining ratios approach from below */
            double q1 = (b + j + 1) / (c + j + 1) * z, g = q1 / (1.0 - q1);
            sum += t * g;
            Sb += t * Db * g;
            Sc += t * Dc * g;
            Sz += t * (j + 2.0) / z * g;
            break;
        }
    }
    *db = Sb / sum;
    *dc = Sc / sum;
    *dz = Sz / sum;
    return sum;
}

/* ln H(tau) and its derivatives wrt (r, alpha, s, beta), where
 * F(tau) = H(tau) (alpha+tau)^-(r+x) (beta+tau)^-s is the Euler-transformed
 * 2F1(r+s+x, .; r+s+x+1; .) / (max(alpha, beta) + tau)^(r+s+x) term. */
static double lnH(const double *p, double x, double tau, double *d)
{
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    double gb, gc, gz;
    if (al >= be) {
        double z = (al - be) / (al + tau);
        double G = hyp1(r + x, r + s + x + 1.0, z, &gb, &gc, &gz);
        d[0] = gb + gc;
        d[1] = gz * (be + tau) / ((al + tau) * (al + tau));
        d[2] = gc;
        d[3] = -gz / (al + tau);
        return log(G);
    }
    double z = (be - al) / (be + tau);
    double G = hyp1(s + 1.0, r + s + x + 1.0, z, &gb, &gc, &gz);
    d[0] = gc;
    d[1] = -gz / (be + tau) + 1.0 / (al + tau);
    d[2] = gb + gc;
    d[3] = gz * (al + tau) / ((be + tau) * (be + tau)) - 1.0 / (be + tau);
    return log(G) + log(al + tau) - log(be + tau);
}

/* P(alive at T) of one customer: the share of the "alive" term in the
 * likelihood bracket, computed like crm__clv_pnbd_ll. */
static double lnH_cached(const double *p, double x, double tau, crm__clv_cache *hc)
{
    double d[4];
    if (!hc || !hc->kx)
        return lnH(p, x, tau, d);
    size_t k = crm__clv_cache_slot(hc, x, tau);
    if (hc->kx[k] == x && hc->kt[k] == tau)
        return hc->val[k];
    double v = lnH(p, x, tau, d);
    hc->kx[k] = x;
    hc->kt[k] = tau;
    hc->val[k] = v;
    return v;
}

double crm__clv_pnbd_palive(const double *p, double x, double tx, double T,
                            crm__clv_cache *hc)
{
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    const double k = s / (r + s + x);
    double PT = -(r + x) * log(al + T) - s * log(be + T);
    double Pt = tx == T ? PT : -(r + x) * log(al + tx) - s * log(be + tx);
    double HT = lnH_cached(p, x, T, hc);
    double Ht = tx == T ? HT : lnH_cached(p, x, tx, hc);
    double Ft = Ht + Pt, FT = HT + PT;
    double M = PT > Ft ? PT : Ft;
    double q0 = exp(PT - M), q1 = exp(Ft - M), q2 = exp(FT - M);
    return q0 / (q0 + k * (q1 - q2));
}

/* ln(alpha + v), ln(beta + v) and their reciprocals for distinct times v. */
static void log_tables(const double *v, size_t n, double al, double be, double *La,
                       double *Lb, double *Ia, double *Ib)
{
    for (size_t k = 0; k < n; k++) {
        La[k] = log(al + v[k]);
        Lb[k] = log(be + v[k]);
        Ia[k] = 1.0 / (al + v[k]);
        Ib[k] = 1.0 / (be + v[k]);
    }
}

/*
 * Sum over customers. The hypergeometric series depend on (x, tau) only:
 * they are evaluated once per distinct (x, t_x) and (x, T) pair, the logs
 * once per distinct t_x and T; the per-customer work is three exp and a log.
 */
int crm__clv_pnbd_ll(const crm__clv_data *d, const double *p, double *ll, double *g)
{
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    const size_t nT = d->uT.nv, nt = d->ut.nv;
    double *TLa = d->scratch, *TLb = TLa + nT, *TIa = TLb + nT, *TIb = TIa + nT;
    double *tLa = TIb + nT, *tLb = tLa + nt, *tIa = tLb + nt, *tIb = tIa + nt;
    log_tables(d->uT.v, nT, al, be, TLa, TLb, TIa, TIb);
    log_tables(d->ut.v, nt, al, be, tLa, tLb, tIa, tIb);
    const crm__clv_pairs *Q2[2] = { &d->pt, &d->pT };
    for (int w = 0; w < 2; w++) {
        const crm__clv_pairs *q = Q2[w];
        for (size_t k = 0; k < q->np; k++)
            q->val[5 * k] = lnH(p, q->x[k], q->tau[k], q->val + 5 * k + 1);
    }
    double sum = 0.0, G[4] = { 0.0, 0.0, 0.0, 0.0 };
    const double *vt = d->pt.val, *vT = d->pT.val;
    for (size_t i = 0; i < d->n; i++) {
        const double wi = d->w ? d->w[i] : 1.0;
        const double x = d->x[i], rx = r + x, k = s / (rx + s);
        const uint32_t uT = d->uT.idx[i], ut = d->ut.idx[i];
        const double *hT = vT + 5 * (size_t)d->pT.idx[i], *ht = vt + 5 * (size_t)d->pt.idx[i];
        double PT = -rx * TLa[uT] - s * TLb[uT];
        double Pt = -rx * tLa[ut] - s * tLb[ut];
        double Ft = ht[0] + Pt, FT = hT[0] + PT;
        double M = PT > Ft ? PT : Ft;
        double q0 = exp(PT - M), q1 = exp(Ft - M), q2 = exp(FT - M);
        double Qv = q0 + k * (q1 - q2);
        sum += wi * (M + log(Qv));
        if (g) {
            double iq = wi / Qv, rsx2 = (rx + s) * (rx + s), dq = q1 - q2;
            double dPT[4] = { -TLa[uT], -rx * TIa[uT], -TLb[uT], -s * TIb[uT] };
            double dPt[4] = { -tLa[ut], -rx * tIa[ut], -tLb[ut], -s * tIb[ut] };
            double dk[4] = { -s / rsx2, 0.0, rx / rsx2, 0.0 };
            for (int j = 0; j < 4; j++)
                G[j] += (q0 * dPT[j] + dk[j] * dq
                         + k * (q1 * (ht[1 + j] + dPt[j]) - q2 * (hT[1 + j] + dPT[j]))) * iq;
        }
    }
    const double lgr = crm__clv_lgamma(r), psr = crm__clv_digamma(r);
    for (size_t j = 0; j < d->ux.nv; j++) {
        double xv = d->ux.v[j], c = d->cnt[j];
        sum += c * (crm__clv_lgamma(r + xv) - lgr);
        G[0] += c * (crm__clv_digamma(r + xv) - psr);
    }
    double n = d->wsum;
    sum += n * (r * log(al) + s * log(be));
    if (g) {
        g[0] = G[0] + n * log(al);
        g[1] = G[1] + n * r / al;
        g[2] = G[2] + n * log(be);
        g[3] = G[3] + n * s / be;
    }
    *ll = sum;
    return !isfinite(sum);
}

/* (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)], finite at s = 1. */
double crm__clv_pnbd_cond(const double *p, double x, double T, double t)
{
    if (t <= 0.0)
        return 0.0;
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    double L = -log1p(t / (be + T));
    return (r + x) * (be + T) / (al + T) * crm__clv_expm1_ratio(s - 1.0, L);
}

double crm__clv_pnbd_new(const double *p, double t)
{
    return crm__clv_pnbd_cond(p, 0.0, 0.0, t);
}

/* ln NB(k; r, alpha / (alpha + tau)) */
static double lnb(double r, double al, double k, double lgk, double tau)
{
    double v = lgk + r * (log(al) - log(al + tau));
    if (k > 0.0)
        v += k * (log(tau) - log(al + tau));
    return v;
}

/*
 * P(X(t) = k) = NB(k; t) (beta/(beta+t))^s
 *             + int_0^t NB(k; tau) s beta^s (beta+tau)^-(s+1) dtau,
 * (death at tau with the Pareto density), integrated by composite 8-point
 * Gauss-Legendre in v = ln(1 + tau / alpha).
 */
double crm__clv_pnbd_pmf(const double *p, double t, double k)
{
    static const double xg[4] = { 0.1834346424956498, 0.5255324099163290,
                                  0.7966664774136267, 0.9602898564975363 };
    static const double wg[4] = { 0.3626837833783620, 0.3137066458778873,
                                  0.2223810344533745, 0.1012285362903763 };
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    if (t <= 0.0)
        return k == 0.0 ? 1.0 : 0.0;
    double lgk = crm__clv_lgamma(r + k) - crm__clv_lgamma(r) - crm__clv_lgamma(k + 1.0);
    double v = exp(lnb(r, al, k, lgk, t) + s * (log(be) - log(be + t)));
    double V = log1p(t / al);
    const int panels = 256;
    double h = V / panels, acc = 0.0;
    for (int q = 0; q < panels; q++) {
        double mid = (q + 0.5) * h;
        for (int m = 0; m < 8; m++) {
            double u = mid + (m < 4 ? -xg[m] : xg[m - 4]) * 0.5 * h;
            double w = wg[m & 3] * 0.5 * h;
            double e = exp(u), tau = al * (e - 1.0);
            if (tau <= 0.0)
                continue;
            double f = lnb(r, al, k, lgk, tau) + log(s) + s * log(be) - (s + 1.0) * log(be + tau);
            acc += w * exp(f) * al * e;
        }
    }
    return v + acc;
}
