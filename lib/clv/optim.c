/* BFGS in log-parameters with a backtracking (Armijo) line search, and
 * standard errors from a finite-difference Hessian of the analytic gradient. */
#include "clv/clv_internal.h"

static double max_abs(const double *g, int d)
{
    double m = 0.0;
    for (int i = 0; i < d; i++)
        if (fabs(g[i]) > m)
            m = fabs(g[i]);
    return m;
}

static int eval(crm__clv_obj fn, void *ctx, const double *th, double *f, double *g,
                crm__clv_opt *res, int d)
{
    res->evals++;
    if (fn(ctx, th, f, g))
        return 1;
    if (!isfinite(*f))
        return 1;
    for (int i = 0; i < d; i++)
        if (!isfinite(g[i]))
            return 1;
    return 0;
}

void crm__clv_bfgs(crm__clv_obj fn, void *ctx, int d, const double *th0,
                   const double (*H0)[CRM__CLV_MAXP], uint32_t max_iter, double gtol,
                   crm__clv_opt *res)
{
    double H[CRM__CLV_MAXP][CRM__CLV_MAXP];
    double x[CRM__CLV_MAXP], g[CRM__CLV_MAXP], f;
    memset(res, 0, sizeof *res);
    memcpy(x, th0, (size_t)d * sizeof(double));
    if (eval(fn, ctx, x, &f, g, res, d)) {
        res->why = "the log-likelihood is not finite at the start point";
        memcpy(res->th, x, sizeof x);
        res->f = NAN;
        res->gmax = NAN;
        return;
    }
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
            H[i][j] = H0 ? H0[i][j] : (i == j ? 1.0 : 0.0);
    int fresh = H0 == NULL; /* H is the identity (scaled on the first step) */
    res->why = "iteration limit reached";
    int stalls = 0, noprog = 0;
    for (uint32_t it = 0; it < max_iter; it++) {
        double gm = max_abs(g, d);
        if (gm <= gtol * fmax(1.0, fabs(f))) {
            res->converged = 1;
            res->why = NULL;
            break;
        }
        double p[CRM__CLV_MAXP];
        for (int i = 0; i < d; i++) {
            p[i] = 0.0;
            for (int j = 0; j < d; j++)
                p[i] -= H[i][j] * g[j];
        }
        double slope = 0.0;
        for (int i = 0; i < d; i++)
            slope += p[i] * g[i];
        if (!(slope < 0.0)) { /* not a descent direction: restart */
            for (int i = 0; i < d; i++) {
                for (int j = 0; j < d; j++)
                    H[i][j] = i == j ? 1.0 : 0.0;
                p[i] = -g[i];
            }
            fresh = 1;
            slope = 0.0;
            for (int i = 0; i < d; i++)
                slope += p[i] * g[i];
        }
        /* at most a factor e^2 per parameter in one step */
        double pm = max_abs(p, d), step = 1.0;
        if (pm * step > 2.0)
            step = 2.0 / pm;
        double xn[CRM__CLV_MAXP], gn[CRM__CLV_MAXP], fn_ = 0.0;
        int ok = 0;
        for (int ls = 0; ls < 30; ls++) {
            for (int i = 0; i < d; i++)
                xn[i] = x[i] + step * p[i];
            if (!eval(fn, ctx, xn, &fn_, gn, res, d)
                && (fn_ <= f + 1e-4 * step * slope
                    /* near the optimum f is flat to rounding: accept a point no
                     * worse within rounding whose gradient is smaller */
                    || (fn_ <= f + 1e-11 * fabs(f) && max_abs(gn, d) < gm))) {
                ok = 1;
                break;
            }
            step *= 0.3;
        }
        res->iter = it + 1;
        if (!ok) {
            /* no decrease possible along p: at the optimum up to rounding,
             * or H is bad: retry once with steepest descent */
            if (!fresh && stalls++ < 2) {
                for (int i = 0; i < d; i++)
                    for (int j = 0; j < d; j++)
                        H[i][j] = i == j ? 1.0 : 0.0;
                fresh = 1;
                continue;
            }
            if (gm <= 1e3 * gtol * fmax(1.0, fabs(f))) {
                res->converged = 1;
                res->why = NULL;
            } else {
                res->why = "the line search found no decrease";
            }
            break;
        }
        double s[CRM__CLV_MAXP], y[CRM__CLV_MAXP], sy = 0.0, yy = 0.0;
        for (int i = 0; i < d; i++) {
            s[i] = xn[i] - x[i];
            y[i] = gn[i] - g[i];
            sy += s[i] * y[i];
            yy += y[i] * y[i];
        }
        if (sy > 1e-300 && yy > 0.0) {
            if (fresh) { /* scale the initial inverse Hessian */
                double sc = sy / yy;
                for (int i = 0; i < d; i++)
                    for (int j = 0; j < d; j++)
                        H[i][j] = i == j ? sc : 0.0;
                fresh = 0;
            }
            double Hy[CRM__CLV_MAXP], yHy = 0.0;
            for (int i = 0; i < d; i++) {
                Hy[i] = 0.0;
                for (int j = 0; j < d; j++)
                    Hy[i] += H[i][j] * y[j];
                yHy += y[i] * Hy[i];
            }
            double rho = 1.0 / sy;
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++)
                    H[i][j] += rho * ((1.0 + rho * yHy) * s[i] * s[j]
                                      - Hy[i] * s[j] - s[i] * Hy[j]);
        }
        /* no measurable progress for several iterations: f is flat to
         * rounding here (large n); stop, converged if the gradient is small */
        noprog = (f - fn_ <= 1e-15 * fabs(f)) ? noprog + 1 : 0;
        memcpy(x, xn, sizeof x);
        memcpy(g, gn, sizeof g);
        f = fn_;
        stalls = 0;
        if (noprog >= 4) {
            if (max_abs(g, d) <= 1e3 * gtol * fmax(1.0, fabs(f))) {
                res->converged = 1;
                res->why = NULL;
            } else {
                res->why = "no progress (the log-likelihood is flat to rounding)";
            }
            break;
        }
    }
    memcpy(res->th, x, sizeof x);
    memcpy(res->g, g, sizeof g);
    memcpy(res->H, H, sizeof H);
    res->f = f;
    res->gmax = max_abs(g, d);
    if (!res->converged && res->gmax <= gtol * fmax(1.0, fabs(f))) {
        res->converged = 1;
        res->why = NULL;
    }
}

/* Invert the symmetric d x d matrix A in place (Gauss-Jordan, full pivoting
 * not needed for a positive definite matrix); returns 0 when it is positive
 * definite. */
static int spd_inverse(double A[CRM__CLV_MAXP][CRM__CLV_MAXP], int d)
{
    double L[CRM__CLV_MAXP][CRM__CLV_MAXP] = {{0}};
    for (int j = 0; j < d; j++) { /* Cholesky A = L L' */
        double s = A[j][j];
        for (int k = 0; k < j; k++)
            s -= L[j][k] * L[j][k];
        if (!(s > 0.0))
            return 1;
        L[j][j] = sqrt(s);
        for (int i = j + 1; i < d; i++) {
            double t = A[i][j];
            for (int k = 0; k < j; k++)
                t -= L[i][k] * L[j][k];
            L[i][j] = t / L[j][j];
        }
    }
    double Li[CRM__CLV_MAXP][CRM__CLV_MAXP] = {{0}};
    for (int i = 0; i < d; i++) { /* L^-1 */
        Li[i][i] = 1.0 / L[i][i];
        for (int j = 0; j < i; j++) {
            double s = 0.0;
            for (int k = j; k < i; k++)
                s -= L[i][k] * Li[k][j];
            Li[i][j] = s / L[i][i];
        }
    }
    for (int i = 0; i < d; i++) /* A^-1 = L^-T L^-1 */
        for (int j = 0; j < d; j++) {
            double s = 0.0;
            for (int k = (i > j ? i : j); k < d; k++)
                s += Li[k][i] * Li[k][j];
            A[i][j] = s;
        }
    return 0;
}

uint32_t crm__clv_stderr(crm__clv_obj fn, void *ctx, int d, const double *th, double scale,
                         double *se)
{
    double H[CRM__CLV_MAXP][CRM__CLV_MAXP];
    uint32_t evals = 0;
    int bad = 0;
    for (int j = 0; j < d && !bad; j++) {
        double h = 1e-4, tp[CRM__CLV_MAXP], tm[CRM__CLV_MAXP], gp[CRM__CLV_MAXP],
               gm[CRM__CLV_MAXP], f;
        memcpy(tp, th, (size_t)d * sizeof(double));
        memcpy(tm, th, (size_t)d * sizeof(double));
        tp[j] += h;
        tm[j] -= h;
        evals += 2;
        if (fn(ctx, tp, &f, gp) || fn(ctx, tm, &f, gm)) {
            bad = 1;
            break;
        }
        for (int i = 0; i < d; i++)
            H[i][j] = (gp[i] - gm[i]) / (2 * h);
    }
    for (int i = 0; i < d; i++)
        for (int j = 0; j < i; j++)
            H[i][j] = H[j][i] = 0.5 * (H[i][j] + H[j][i]);
    /* f is -loglik / scale: the information is scale * H */
    if (bad || spd_inverse(H, d)) {
        for (int i = 0; i < d; i++)
            se[i] = INFINITY;
        return evals;
    }
    for (int i = 0; i < d; i++) {
        double v = H[i][i] / scale;
        se[i] = (v > 0.0 && isfinite(v)) ? exp(th[i]) * sqrt(v) : INFINITY;
    }
    return evals;
}
