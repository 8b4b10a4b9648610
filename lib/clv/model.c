/* clv public API: fit drivers, model handles, predictions, lifetime value. */
#include <stdio.h>

#include "clv/clv_internal.h"

struct crm_clv_model {
    crm_clv_fit_info info;
};

static const size_t fit_opt_size[] = { 0, CRM__SIZE_THROUGH(crm_clv_fit_options, gtol) };
static const size_t info_size[] = { 0, CRM__SIZE_THROUGH(crm_clv_fit_info, se) };

CRM_API crm_status crm_clv_fit_options_init(crm_clv_fit_options *opt, unsigned version)
{
    crm_clv_fit_options o = { .unit = CRM_CLV_UNIT_DAY, .starts = 4,
                              .max_iter = 500, .gtol = 1e-9 };
    return crm__options_init(opt, version, &o, fit_opt_size, CRM_CLV_FIT_OPTIONS_VERSION,
                             "crm_clv_fit_options");
}

static crm_status resolve_fit_opt(crm_clv_fit_options *o, const crm_clv_fit_options *opt,
                                  const char *fn)
{
    crm_clv_fit_options_init(o, CRM_CLV_FIT_OPTIONS_VERSION);
    crm_status s = crm__options_resolve(o, opt, fit_opt_size, CRM_CLV_FIT_OPTIONS_VERSION,
                                        "crm_clv_fit_options");
    if (s)
        return s;
    if (o->unit != CRM_CLV_UNIT_DAY && o->unit != CRM_CLV_UNIT_WEEK)
        return crm__fail(CRM_EINVAL, "%s: unit = %u is not CRM_CLV_UNIT_DAY (1) or "
                                     "CRM_CLV_UNIT_WEEK (7)", fn, o->unit);
    if (o->starts < 1 || o->starts > 16)
        return crm__fail(CRM_EINVAL, "%s: starts = %u is not in 1..16", fn, o->starts);
    if (o->max_iter < 10 || o->max_iter > 100000)
        return crm__fail(CRM_EINVAL, "%s: max_iter = %u is not in 10..100000", fn,
                         o->max_iter);
    if (!(o->gtol > 0.0 && o->gtol < 1.0))
        return crm__fail(CRM_EINVAL, "%s: gtol = %g is not in (0, 1)", fn, o->gtol);
    return CRM_OK;
}

static int nparams_of(int kind)
{
    return kind == CRM_CLV_GAMMA_GAMMA ? 3 : 4;
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case CRM_CLV_BGNBD:
        return "BG/NBD";
    case CRM_CLV_PARETO_NBD:
        return "Pareto/NBD";
    default:
        return "Gamma-Gamma";
    }
}

static const char *const param_names[4][4] = {
    { "", "", "", "" },
    { "r", "alpha", "a", "b" },
    { "r", "alpha", "s", "beta" },
    { "p", "q", "gamma", "" },
};

/* ---- fitting ------------------------------------------------------------- */

typedef struct fit_ctx {
    int kind;
    const crm__clv_data *pd;
    const crm__clv_ggdata *gd;
    double scale; /* customers: f = -loglik / scale */
} fit_ctx;

static int objective(void *vctx, const double *th, double *f, double *g)
{
    const fit_ctx *c = vctx;
    int d = nparams_of(c->kind);
    double p[4] = { 0 }, gr[4] = { 0 }, ll;
    for (int i = 0; i < d; i++) {
        if (!(fabs(th[i]) <= 40.0))
            return 1;
        p[i] = exp(th[i]);
    }
    int bad;
    if (c->kind == CRM_CLV_BGNBD)
        bad = crm__clv_bg_ll(c->pd, p, &ll, gr);
    else if (c->kind == CRM_CLV_PARETO_NBD)
        bad = crm__clv_pnbd_ll(c->pd, p, &ll, gr);
    else
        bad = crm__clv_gg_ll(c->gd, p, &ll, gr);
    if (bad)
        return 1;
    *f = -ll / c->scale;
    for (int i = 0; i < d; i++)
        g[i] = -gr[i] * p[i] / c->scale;
    return 0;
}

/* Start points: a spread of shapes around a scale matched to the data. */
static void start_point(int kind, unsigned k, double s1, double s2, double *th)
{
    static const double shapes[16][3] = {
        { 1.0, 1.0, 1.0 },  { 0.3, 0.5, 3.0 },  { 3.0, 2.0, 8.0 },  { 0.5, 1.0, 10.0 },
        { 0.1, 0.2, 1.0 },  { 2.0, 0.5, 0.5 },  { 1.0, 5.0, 50.0 }, { 0.2, 2.0, 0.7 },
        { 5.0, 0.3, 20.0 }, { 0.7, 0.8, 2.0 },  { 1.5, 3.0, 30.0 }, { 0.05, 1.0, 5.0 },
        { 10.0, 1.0, 1.0 }, { 0.4, 0.1, 0.4 },  { 2.5, 8.0, 4.0 },  { 0.8, 0.3, 100.0 },
    };
    const double *sh = shapes[k];
    if (kind == CRM_CLV_BGNBD) {         /* r, alpha = r / rate, a, b */
        th[0] = log(sh[0]);
        th[1] = log(sh[0] / s1);
        th[2] = log(sh[1]);
        th[3] = log(sh[2] * sh[1]);
    } else if (kind == CRM_CLV_PARETO_NBD) { /* r, alpha, s, beta = s * lifetime */
        th[0] = log(sh[0]);
        th[1] = log(sh[0] / s1);
        th[2] = log(sh[1]);
        th[3] = log(sh[1] * s2 * sh[2] / 3.0);
    } else {                              /* p, q, gamma: p gamma / (q - 1) = mean */
        double p = sh[0] * 2.0, q = 1.0 + sh[1] * 2.0;
        th[0] = log(p);
        th[1] = log(q);
        th[2] = log(s1 * (q - 1.0) / p);
    }
}

/* Largest accepted standard error of a log-parameter (see run_fit). */
#define CLV_MAX_SE_LOG 10.0

/* One BFGS run, with the divergence check. */
static void one_run(fit_ctx *ctx, int d, const double *th0,
                    const double (*H0)[CRM__CLV_MAXP], const crm_clv_fit_options *o,
                    crm__clv_opt *r)
{
    crm__clv_bfgs(objective, ctx, d, th0, H0, o->max_iter, o->gtol, r);
    if (r->converged)
        for (int i = 0; i < d; i++)
            if (fabs(r->th[i]) > 23.0) { /* beyond 1e10 or below 1e-10 */
                r->converged = 0;
                r->why = "a parameter diverges (the data do not identify it)";
            }
}

/*
 * Multi-start fit. With a subsample context (large n), the starts run on the
 * subsample, and the converged optima, best first, are polished on the full
 * data until one converges there; otherwise the starts run on the full data.
 */
static crm_status run_fit(crm_clv_model **out, int kind, fit_ctx *ctx, fit_ctx *sub,
                          uint32_t unit, size_t n, double s1, double s2,
                          const crm_clv_fit_options *o, const char *fn)
{
    int d = nparams_of(kind);
    crm__clv_opt found[16], last_fail = { .why = NULL }, best = { .f = INFINITY };
    uint32_t evals = 0, conv = 0;
    fit_ctx *first = sub ? sub : ctx;
    for (unsigned k = 0; k < o->starts; k++) {
        double th0[4];
        crm__clv_opt r;
        start_point(kind, k, s1, s2, th0);
        one_run(first, d, th0, NULL, o, &r);
        evals += r.evals;
        if (!r.converged) {
            last_fail = r;
            continue;
        }
        unsigned j = conv++; /* insertion by f, best first */
        while (j > 0 && found[j - 1].f > r.f) {
            found[j] = found[j - 1];
            j--;
        }
        found[j] = r;
    }
    int have = 0;
    for (uint32_t k = 0; k < conv && !have; k++) {
        if (!sub) {
            best = found[0];
            have = 1;
            break;
        }
        crm__clv_opt r;
        /* f is per row on both: the subsample's curvature is a good start */
        one_run(ctx, d, found[k].th, (const double(*)[CRM__CLV_MAXP])found[k].H, o, &r);
        evals += r.evals;
        if (r.converged) {
            best = r;
            have = 1;
        } else {
            last_fail = r;
        }
    }
    if (!have) {
        char pts[160];
        size_t o2 = 0;
        for (int i = 0; i < d && o2 < sizeof pts; i++)
            o2 += (size_t)snprintf(pts + o2, sizeof pts - o2, "%s%s=%g", i ? " " : "",
                                   param_names[kind][i], exp(last_fail.th[i]));
        return crm__fail(CRM_EDATA,
                         "%s: %s fit did not converge from any of %u starts: %s (last point "
                         "%s, |gradient| %g after %u iterations)",
                         fn, kind_name(kind), o->starts,
                         last_fail.why ? last_fail.why : "unknown", pts, last_fail.gmax,
                         last_fail.iter);
    }
    crm_clv_model *m = crm__malloc(sizeof *m);
    if (!m)
        return crm__fail(CRM_ENOMEM, "%s: out of memory", fn);
    memset(m, 0, sizeof *m);
    crm_clv_fit_info *fi = &m->info;
    fi->version = CRM_CLV_FIT_INFO_VERSION;
    fi->kind = kind;
    fi->unit = unit;
    fi->nparams = (uint32_t)d;
    fi->fitted = 1;
    fi->iterations = best.iter;
    fi->starts = o->starts;
    fi->starts_converged = conv;
    fi->n = n;
    fi->loglik = -best.f * ctx->scale;
    fi->grad_max = best.gmax * ctx->scale;
    for (int i = 0; i < d; i++)
        fi->params[i] = exp(best.th[i]);
    evals += crm__clv_stderr(objective, ctx, d, best.th, ctx->scale, fi->se);
    fi->evaluations = evals;
    /* A maximum on the boundary (too few customers, nobody drops out, no
     * spread in spend) shows as a flat direction: a parameter whose log the
     * data pin down to no better than a factor e^10 is not an estimate. */
    for (int i = 0; i < d; i++) {
        double rel = fi->se[i] / fi->params[i];
        if (!(rel <= CLV_MAX_SE_LOG)) {
            char pts[160];
            size_t o2 = 0;
            for (int k = 0; k < d && o2 < sizeof pts; k++)
                o2 += (size_t)snprintf(pts + o2, sizeof pts - o2, "%s%s=%g", k ? " " : "",
                                       param_names[kind][k], fi->params[k]);
            crm__free(m);
            return crm__fail(CRM_EDATA,
                             "%s: %s fit did not converge to an identified maximum: the data "
                             "do not determine %s (standard error of log %s = %g at %s; the "
                             "likelihood keeps rising towards a boundary: too few customers, "
                             "or no dropout / no spread in the data)",
                             fn, kind_name(kind), param_names[kind][i], param_names[kind][i],
                             rel, pts);
        }
    }
    *out = m;
    return CRM_OK;
}

/* Above this many rows, the starts run on an evenly strided subsample of
 * about CLV_SUB rows and only the polish runs on all rows. */
#define CLV_SUB_MIN 40000u
#define CLV_SUB 10000u

static size_t sub_stride(size_t n)
{
    return n > CLV_SUB_MIN ? (n + CLV_SUB - 1) / CLV_SUB : 0;
}

/* Rows 0, k, 2k, ... of up to four columns into one allocation (a missing
 * column gives zeros; a missing weight column ones). With weights the
 * strided rows keep their weights: every row has the same chance 1/k, so
 * weighted sums stay unbiased. */
static crm_status subsample(double **buf, size_t *m, size_t k, const double *a, const double *b,
                            const double *c, const double *w, size_t n)
{
    size_t cnt = (n + k - 1) / k;
    crm_status s = crm__alloc_array((void **)buf, 4 * cnt, sizeof(double), 0, "clv subsample");
    if (s)
        return s;
    for (size_t i = 0, j = 0; i < n; i += k, j++) {
        (*buf)[j] = a[i];
        (*buf)[cnt + j] = b[i];
        (*buf)[2 * cnt + j] = c ? c[i] : 0.0;
        (*buf)[3 * cnt + j] = w ? w[i] : 1.0;
    }
    *m = cnt;
    return CRM_OK;
}

crm_status crm__clv_fit_rows(crm_clv_model **out, int kind, const double *x, const double *t_x,
                             const double *T, const double *w, size_t n,
                             const crm_clv_fit_options *opt, const char *fn)
{
    if (kind != CRM_CLV_BGNBD && kind != CRM_CLV_PARETO_NBD)
        return crm__fail(CRM_EINVAL, "%s: kind = %d is not CRM_CLV_BGNBD (1) or "
                                     "CRM_CLV_PARETO_NBD (2)", fn, kind);
    if (n == 0)
        return crm__fail(CRM_EINVAL, "%s: n = 0 customers", fn);
    crm_clv_fit_options o;
    crm_status s = resolve_fit_opt(&o, opt, fn);
    if (s)
        return s;
    s = crm__clv_check_rows(x, t_x, T, n, fn);
    if (s)
        return s;
    double sx = 0.0, sT = 0.0, sw = 0.0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        sx += wi * x[i];
        sT += wi * T[i];
        sw += wi;
    }
    if (sx == 0.0)
        return crm__fail(CRM_EDATA, "%s: no customer has a repeat purchase (all x = 0): "
                                    "the purchase rate cannot be estimated", fn);
    if (sT == 0.0)
        return crm__fail(CRM_EDATA, "%s: all T = 0: no observation time", fn);
    int pairs = kind == CRM_CLV_PARETO_NBD;
    crm__clv_data d, ds;
    double *sbuf = NULL;
    size_t k = sub_stride(n), m = 0;
    memset(&ds, 0, sizeof ds);
    s = crm__clv_data_init(&d, x, t_x, T, w, n, pairs);
    if (!s && k) {
        s = subsample(&sbuf, &m, k, x, t_x, T, w, n);
        if (!s)
            s = crm__clv_data_init(&ds, sbuf, sbuf + m, sbuf + 2 * m, sbuf + 3 * m, m, pairs);
    }
    if (!s) {
        fit_ctx ctx = { .kind = kind, .pd = &d, .scale = d.wsum };
        fit_ctx sctx = { .kind = kind, .pd = &ds, .scale = ds.wsum };
        double rate = sx / sT, lifetime = sT / sw;
        s = run_fit(out, kind, &ctx, k ? &sctx : NULL, o.unit, (size_t)(sw + 0.5), rate,
                    lifetime, &o, fn);
    }
    crm__clv_data_free(&ds);
    crm__clv_data_free(&d);
    crm__free(sbuf);
    return s;
}

CRM_API crm_status crm_clv_fit(crm_clv_model **out, int kind, const double *x,
                               const double *t_x, const double *T, size_t n,
                               const crm_clv_fit_options *opt)
{
    static const char fn[] = "crm_clv_fit";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!x || !t_x || !T)
        return crm__fail(CRM_EINVAL, "%s: x, t_x or T is NULL", fn);
    return crm__clv_fit_rows(out, kind, x, t_x, T, NULL, n, opt, fn);
}

CRM_API crm_status crm_clv_fit_spend(crm_clv_model **out, const double *x, const double *m_x,
                                     size_t n, const crm_clv_fit_options *opt)
{
    static const char fn[] = "crm_clv_fit_spend";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!x || !m_x)
        return crm__fail(CRM_EINVAL, "%s: x or m_x is NULL", fn);
    crm_clv_fit_options o;
    crm_status s = resolve_fit_opt(&o, opt, fn);
    if (s)
        return s;
    crm__clv_ggdata d, ds;
    memset(&ds, 0, sizeof ds);
    s = crm__clv_gg_init(&d, x, m_x, n, fn);
    if (s)
        return s;
    if (d.n < 2) {
        crm__clv_gg_free(&d);
        return crm__fail(CRM_EINVAL, "%s: %zu customers with x > 0 and m_x > 0; at least 2 "
                                     "needed", fn, d.n);
    }
    double mean = 0.0;
    for (size_t i = 0; i < d.n; i++)
        mean += d.m[i];
    mean /= (double)d.n;
    size_t k = sub_stride(d.n), m = 0;
    double *sbuf = NULL;
    if (k) {
        double *xs = NULL;
        s = crm__alloc_array((void **)&xs, d.n, sizeof(double), 0, "clv subsample");
        if (!s) {
            for (size_t i = 0; i < d.n; i++)
                xs[i] = d.xv[d.ix[i]];
            s = subsample(&sbuf, &m, k, xs, d.m, NULL, NULL, d.n);
            crm__free(xs);
        }
        if (!s)
            s = crm__clv_gg_init(&ds, sbuf, sbuf + m, m, fn);
    }
    if (!s) {
        fit_ctx ctx = { .kind = CRM_CLV_GAMMA_GAMMA, .gd = &d, .scale = (double)d.n };
        fit_ctx sctx = { .kind = CRM_CLV_GAMMA_GAMMA, .gd = &ds, .scale = (double)ds.n };
        s = run_fit(out, CRM_CLV_GAMMA_GAMMA, &ctx, k ? &sctx : NULL, o.unit, d.n, mean, 0.0,
                    &o, fn);
    }
    crm__clv_gg_free(&ds);
    crm__clv_gg_free(&d);
    crm__free(sbuf);
    return s;
}

CRM_API crm_status crm_clv_model_new(crm_clv_model **out, int kind, const double *params,
                                     uint32_t unit)
{
    static const char fn[] = "crm_clv_model_new";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!params)
        return crm__fail(CRM_EINVAL, "%s: params is NULL", fn);
    if (kind < CRM_CLV_BGNBD || kind > CRM_CLV_GAMMA_GAMMA)
        return crm__fail(CRM_EINVAL, "%s: kind = %d is not a model kind (1..3)", fn, kind);
    if (unit != CRM_CLV_UNIT_DAY && unit != CRM_CLV_UNIT_WEEK)
        return crm__fail(CRM_EINVAL, "%s: unit = %u is not CRM_CLV_UNIT_DAY (1) or "
                                     "CRM_CLV_UNIT_WEEK (7)", fn, unit);
    int d = nparams_of(kind);
    for (int i = 0; i < d; i++)
        if (!(params[i] > 0.0 && params[i] < INFINITY))
            return crm__fail(CRM_EINVAL, "%s: params[%d] (%s) = %g is not positive and finite",
                             fn, i, param_names[kind][i], params[i]);
    crm_clv_model *m = crm__malloc(sizeof *m);
    if (!m)
        return crm__fail(CRM_ENOMEM, "%s: out of memory", fn);
    memset(m, 0, sizeof *m);
    m->info.version = CRM_CLV_FIT_INFO_VERSION;
    m->info.kind = kind;
    m->info.unit = unit;
    m->info.nparams = (uint32_t)d;
    for (int i = 0; i < d; i++)
        m->info.params[i] = params[i];
    *out = m;
    return CRM_OK;
}

CRM_API void crm_clv_model_free(crm_clv_model *m)
{
    crm__free(m);
}

CRM_API crm_status crm_clv_model_info(const crm_clv_model *m, crm_clv_fit_info *info)
{
    if (!m || !info)
        return crm__fail(CRM_EINVAL, "crm_clv_model_info: %s is NULL", m ? "info" : "m");
    return crm__versioned_out(info, &m->info, info_size, CRM_CLV_FIT_INFO_VERSION,
                              "crm_clv_fit_info");
}

CRM_API crm_status crm_clv_loglik(double *loglik, double *grad, int kind,
                                  const double *params, const double *x, const double *a,
                                  const double *b, size_t n)
{
    static const char fn[] = "crm_clv_loglik";
    if (!loglik || !params)
        return crm__fail(CRM_EINVAL, "%s: %s is NULL", fn, loglik ? "params" : "loglik");
    if (kind < CRM_CLV_BGNBD || kind > CRM_CLV_GAMMA_GAMMA)
        return crm__fail(CRM_EINVAL, "%s: kind = %d is not a model kind (1..3)", fn, kind);
    int dpar = nparams_of(kind);
    for (int i = 0; i < dpar; i++)
        if (!(params[i] > 0.0 && params[i] < INFINITY))
            return crm__fail(CRM_EINVAL, "%s: params[%d] (%s) = %g is not positive and finite",
                             fn, i, param_names[kind][i], params[i]);
    if (n && (!x || !a || (kind != CRM_CLV_GAMMA_GAMMA && !b)))
        return crm__fail(CRM_EINVAL, "%s: a data column is NULL", fn);
    double ll = 0.0, g[4] = { 0 };
    int bad = 0;
    crm_status s;
    if (kind == CRM_CLV_GAMMA_GAMMA) {
        crm__clv_ggdata d;
        s = crm__clv_gg_init(&d, x, a, n, fn);
        if (s)
            return s;
        bad = crm__clv_gg_ll(&d, params, &ll, g);
        crm__clv_gg_free(&d);
    } else {
        s = crm__clv_check_rows(x, a, b, n, fn);
        if (s)
            return s;
        crm__clv_data d;
        s = crm__clv_data_init(&d, x, a, b, NULL, n, kind == CRM_CLV_PARETO_NBD);
        if (s)
            return s;
        bad = kind == CRM_CLV_BGNBD ? crm__clv_bg_ll(&d, params, &ll, g)
                                    : crm__clv_pnbd_ll(&d, params, &ll, g);
        crm__clv_data_free(&d);
    }
    if (bad)
        return crm__fail(CRM_EDATA, "%s: the log-likelihood is not finite at these "
                                    "parameters", fn);
    *loglik = ll;
    if (grad)
        memcpy(grad, g, (size_t)dpar * sizeof(double));
    return CRM_OK;
}

/* ---- predictions --------------------------------------------------------- */

static crm_status check_purchase_model(const crm_clv_model *m, const void *out, const char *fn)
{
    if (!out || !m)
        return crm__fail(CRM_EINVAL, "%s: %s is NULL", fn, out ? "m" : "out");
    if (m->info.kind != CRM_CLV_BGNBD && m->info.kind != CRM_CLV_PARETO_NBD)
        return crm__fail(CRM_EINVAL, "%s: m is a spend model, not BG/NBD or Pareto/NBD", fn);
    return CRM_OK;
}

/* Purchase model, out and a column of n values (NULL allowed when n = 0). */
static crm_status check_purchase_input(const crm_clv_model *m, const void *out,
                                       const double *col, size_t n, const char *name,
                                       const char *fn)
{
    crm_status s = check_purchase_model(m, out, fn);
    if (!s && n && !col)
        s = crm__fail(CRM_EINVAL, "%s: %s is NULL", fn, name);
    return s;
}

static crm_status check_cols(const crm_clv_model *m, void *out, const double *x,
                             const double *t_x, const double *T, size_t n, const char *fn)
{
    crm_status s = check_purchase_model(m, out, fn);
    if (s)
        return s;
    if (n && (!x || !t_x || !T))
        return crm__fail(CRM_EINVAL, "%s: x, t_x or T is NULL", fn);
    return crm__clv_check_rows(x, t_x, T, n, fn);
}

static double palive1(const crm_clv_model *m, double x, double tx, double T,
                      crm__clv_cache *hc)
{
    return m->info.kind == CRM_CLV_BGNBD ? crm__clv_bg_palive(m->info.params, x, tx, T)
                                          : crm__clv_pnbd_palive(m->info.params, x, tx, T, hc);
}

static double cond1(const crm_clv_model *m, double x, double T, double t)
{
    return m->info.kind == CRM_CLV_BGNBD ? crm__clv_bg_cond(m->info.params, x, T, t)
                                          : crm__clv_pnbd_cond(m->info.params, x, T, t);
}

CRM_API crm_status crm_clv_p_alive(double *out, const crm_clv_model *m, const double *x,
                                   const double *t_x, const double *T, size_t n)
{
    crm_status s = check_cols(m, out, x, t_x, T, n, "crm_clv_p_alive");
    if (s)
        return s;
    crm__clv_cache hc = { 0 };
    if (m->info.kind == CRM_CLV_PARETO_NBD && (s = crm__clv_cache_init(&hc, 2 * n)))
        return s;
    for (size_t i = 0; i < n; i++)
        out[i] = palive1(m, x[i], t_x[i], T[i], &hc);
    crm__clv_cache_free(&hc);
    return CRM_OK;
}

/* The per-call caches of the prediction loops: c keyed by (x, T) for every
 * model, hc (2n slots) only for Pareto/NBD (zeroed otherwise). Both are
 * freed again on failure. */
static crm_status caches_init(const crm_clv_model *m, size_t n, crm__clv_cache *c,
                              crm__clv_cache *hc)
{
    memset(hc, 0, sizeof *hc);
    crm_status s = crm__clv_cache_init(c, n);
    if (!s && m->info.kind == CRM_CLV_PARETO_NBD && (s = crm__clv_cache_init(hc, 2 * n)))
        crm__clv_cache_free(c);
    return s;
}

CRM_API crm_status crm_clv_expected_purchases(double *out, const crm_clv_model *m, double t,
                                              const double *x, const double *t_x,
                                              const double *T, size_t n)
{
    static const char fn[] = "crm_clv_expected_purchases";
    crm_status s = check_cols(m, out, x, t_x, T, n, fn);
    if (s)
        return s;
    if (!(t >= 0.0 && t < INFINITY))
        return crm__fail(CRM_EINVAL, "%s: t = %g is not finite and >= 0", fn, t);
    crm__clv_cache c, hc;
    s = caches_init(m, n, &c, &hc);
    if (s)
        return s;
    for (size_t i = 0; i < n; i++) {
        size_t k = crm__clv_cache_slot(&c, x[i], T[i]);
        double h;
        if (c.kx[k] == x[i] && c.kt[k] == T[i]) {
            h = c.val[k];
        } else {
            h = cond1(m, x[i], T[i], t);
            c.kx[k] = x[i];
            c.kt[k] = T[i];
            c.val[k] = h;
        }
        out[i] = palive1(m, x[i], t_x[i], T[i], &hc) * h;
    }
    crm__clv_cache_free(&c);
    crm__clv_cache_free(&hc);
    return CRM_OK;
}

CRM_API crm_status crm_clv_expected_purchases_new(double *out, const crm_clv_model *m,
                                                  const double *t, size_t n)
{
    static const char fn[] = "crm_clv_expected_purchases_new";
    crm_status s = check_purchase_input(m, out, t, n, "t", fn);
    if (s)
        return s;
    for (size_t i = 0; i < n; i++)
        if (!(t[i] >= 0.0 && t[i] < INFINITY))
            return crm__fail(CRM_EDATA, "%s: t[%zu] = %g is not finite and >= 0", fn, i, t[i]);
    for (size_t i = 0; i < n; i++)
        out[i] = m->info.kind == CRM_CLV_BGNBD ? crm__clv_bg_cond(m->info.params, 0.0, 0.0, t[i])
                                                : crm__clv_pnbd_new(m->info.params, t[i]);
    return CRM_OK;
}

CRM_API crm_status crm_clv_prob_purchases(double *out, const crm_clv_model *m, double t,
                                          const double *k, size_t n)
{
    static const char fn[] = "crm_clv_prob_purchases";
    crm_status s = check_purchase_input(m, out, k, n, "k", fn);
    if (s)
        return s;
    if (!(t >= 0.0 && t < INFINITY))
        return crm__fail(CRM_EINVAL, "%s: t = %g is not finite and >= 0", fn, t);
    for (size_t i = 0; i < n; i++)
        if (!(k[i] >= 0.0 && k[i] <= 1e9 && k[i] == floor(k[i])))
            return crm__fail(CRM_EDATA, "%s: k[%zu] = %g is not an integer in [0, 1e9]", fn,
                             i, k[i]);
    for (size_t i = 0; i < n; i++)
        out[i] = m->info.kind == CRM_CLV_BGNBD ? crm__clv_bg_pmf(m->info.params, t, k[i])
                                                : crm__clv_pnbd_pmf(m->info.params, t, k[i]);
    return CRM_OK;
}

static double spend1(const double *p, double x, double mx)
{
    const double pp = p[0], q = p[1], g = p[2];
    double den = pp * x + q - 1.0;
    if (!(den > 0.0))
        return INFINITY;
    return pp * (g + (x > 0.0 ? x * mx : 0.0)) / den;
}

static crm_status check_spend(const crm_clv_model *m, const double *x, const double *m_x,
                              size_t n, const char *fn)
{
    if (!m || m->info.kind != CRM_CLV_GAMMA_GAMMA)
        return crm__fail(CRM_EINVAL, "%s: the spend model is %s", fn,
                         m ? "not a Gamma-Gamma model" : "NULL");
    if (n && (!x || !m_x))
        return crm__fail(CRM_EINVAL, "%s: x or m_x is NULL", fn);
    crm_status s = crm__clv_check_x(x, n, fn);
    if (s)
        return s;
    for (size_t i = 0; i < n; i++)
        if (x[i] > 0.0 && !(m_x[i] >= 0.0 && m_x[i] < INFINITY))
            return crm__fail(CRM_EDATA, "%s: m_x[%zu] = %g is not finite and >= 0", fn, i,
                             m_x[i]);
    return CRM_OK;
}

CRM_API crm_status crm_clv_expected_spend(double *out, const crm_clv_model *m,
                                          const double *x, const double *m_x, size_t n)
{
    static const char fn[] = "crm_clv_expected_spend";
    if (!out)
        return crm__fail(CRM_EINVAL, "%s: out is NULL", fn);
    crm_status s = check_spend(m, x, m_x, n, fn);
    if (s)
        return s;
    for (size_t i = 0; i < n; i++)
        out[i] = spend1(m->info.params, x[i], m_x[i]);
    return CRM_OK;
}

CRM_API crm_status crm_clv_value(double *out, const crm_clv_model *m,
                                 const crm_clv_model *spend, const double *x,
                                 const double *t_x, const double *T, const double *m_x,
                                 size_t n, double horizon, double period,
                                 double discount_rate)
{
    static const char fn[] = "crm_clv_value";
    crm_status s = check_cols(m, out, x, t_x, T, n, fn);
    if (s)
        return s;
    s = check_spend(spend, x, m_x, n, fn);
    if (s)
        return s;
    if (!(horizon > 0.0 && horizon < INFINITY) || !(period > 0.0 && period < INFINITY)
        || !(horizon / period <= 1e5))
        return crm__fail(CRM_EINVAL, "%s: horizon = %g, period = %g: need both > 0, finite "
                                     "and at most 1e5 periods", fn, horizon, period);
    if (!(discount_rate > -1.0 && discount_rate < INFINITY))
        return crm__fail(CRM_EINVAL, "%s: discount_rate = %g is not > -1 and finite", fn,
                         discount_rate);
    double kmax = ceil(horizon / period - 1e-12);
    if (kmax < 1.0)
        kmax = 1.0;
    uint32_t K = (uint32_t)kmax;
    crm__clv_cache c, hc;
    s = caches_init(m, n, &c, &hc);
    if (s)
        return s;
    double ld = log1p(discount_rate);
    for (size_t i = 0; i < n; i++) {
        size_t slot = crm__clv_cache_slot(&c, x[i], T[i]);
        double disc;
        if (c.kx[slot] == x[i] && c.kt[slot] == T[i]) {
            disc = c.val[slot];
        } else {
            double prev = 0.0;
            disc = 0.0;
            for (uint32_t k = 1; k <= K; k++) {
                double tk = k == K ? horizon : k * period;
                double cur = cond1(m, x[i], T[i], tk);
                disc += (cur - prev) * exp(-(double)k * ld);
                prev = cur;
            }
            c.kx[slot] = x[i];
            c.kt[slot] = T[i];
            c.val[slot] = disc;
        }
        double pa = palive1(m, x[i], t_x[i], T[i], &hc);
        out[i] = (disc == 0.0 || pa == 0.0) ? 0.0
                                            : spend1(spend->info.params, x[i], m_x[i]) * pa * disc;
    }
    crm__clv_cache_free(&c);
    crm__clv_cache_free(&hc);
    return CRM_OK;
}
