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
    for (int j = 0; j < 1000000; j++) {
        double q = (b + j) / (c + j);
        Db += 1.0 / (b + j);
        Dc -= 1.0 / (c + j);
        double tz = t * q;   /* t_{j+1} / z */
        Sz += (j + 1.0) * tz;
        t = tz * z;
        sum += t;
        Sb += t * Db;
        Sc += t * Dc;
        if (t * (j + 2.0) * tail <= 1e-17 * sum)
            break;
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

/* One customer: LL - c0(x) and, when g != NULL, its gradient added to g.
 * Also returns P(alive) in *palive when palive != NULL. */
static double cust(const double *p, double x, double tx, double T, double *g, double *palive)
{
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    const double k = s / (r + s + x);
    double lT_a = log(al + T), lT_b = log(be + T);
    double PT = -(r + x) * lT_a - s * lT_b;
    double dHT[4], dHt[4];
    double HT = lnH(p, x, T, dHT);
    double Ht, lt_a, lt_b, Pt;
    if (tx == T) {
        Ht = HT;
        memcpy(dHt, dHT, sizeof dHt);
        lt_a = lT_a;
        lt_b = lT_b;
        Pt = PT;
    } else {
        Ht = lnH(p, x, tx, dHt);
        lt_a = log(al + tx);
        lt_b = log(be + tx);
        Pt = -(r + x) * lt_a - s * lt_b;
    }
    double Ft = Ht + Pt, FT = HT + PT;
    double M = PT > Ft ? PT : Ft;
    double q0 = exp(PT - M), q1 = exp(Ft - M), q2 = exp(FT - M);
    double Q = q0 + k * (q1 - q2);
    if (palive)
        *palive = q0 / Q;
    if (g) {
        double rsx2 = (r + s + x) * (r + s + x);
        double dk[4] = { -s / rsx2, 0.0, (r + x) / rsx2, 0.0 };
        double dPT[4] = { -lT_a, -(r + x) / (al + T), -lT_b, -s / (be + T) };
        double dPt[4] = { -lt_a, -(r + x) / (al + tx), -lt_b, -s / (be + tx) };
        for (int i = 0; i < 4; i++)
            g[i] += (q0 * dPT[i] + dk[i] * (q1 - q2)
                     + k * (q1 * (dHt[i] + dPt[i]) - q2 * (dHT[i] + dPT[i]))) / Q;
    }
    return M + log(Q);
}

int crm__clv_pnbd_ll(const crm__clv_data *d, const double *p, double *ll, double *g)
{
    const double r = p[0], al = p[1], s = p[2], be = p[3];
    double sum = 0.0;
    if (g)
        memset(g, 0, 4 * sizeof(double));
    for (size_t i = 0; i < d->n; i++)
        sum += cust(p, d->x[i], d->tx[i], d->T[i], g, NULL);
    const double lgr = crm__clv_lgamma(r), psr = crm__clv_digamma(r);
    for (size_t j = 0; j < d->ux.nv; j++) {
        double xv = d->ux.v[j], c = d->cnt[j];
        sum += c * (crm__clv_lgamma(r + xv) - lgr);
        if (g)
            g[0] += c * (crm__clv_digamma(r + xv) - psr);
    }
    double n = (double)d->n;
    sum += n * (r * log(al) + s * log(be));
    if (g) {
        g[0] += n * log(al);
        g[1] += n * r / al;
        g[2] += n * log(be);
        g[3] += n * s / be;
    }
    *ll = sum;
    return !isfinite(sum);
}

double crm__clv_pnbd_palive(const double *p, double x, double tx, double T)
{
    double pa;
    cust(p, x, tx, T, NULL, &pa);
    return pa;
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
