/* Internals of the clv module (not installed, not part of the ABI). */
#ifndef CRM_CLV_INTERNAL_H
#define CRM_CLV_INTERNAL_H

#include <math.h>

#include "core/core.h"
#include "crm/clv.h"

/* ---- special functions (special.c), positive arguments ------------------ */

double crm__clv_lgamma(double x);
double crm__clv_digamma(double x);
/* log(exp(a) + exp(b)) without overflow. */
static inline double crm__clv_lse(double a, double b)
{
    double m = a > b ? a : b;
    if (m == -INFINITY)
        return -INFINITY;
    return m + log1p(exp(-fabs(a - b)));
}
/* (1 - exp(e * L)) / e, with the limit -L at e = 0 (L <= 0). */
static inline double crm__clv_expm1_ratio(double e, double L)
{
    return e == 0.0 ? -L : -expm1(e * L) / e;
}

/* ---- optimiser (optim.c) ------------------------------------------------- */

#define CRM__CLV_MAXP 4

/* Objective to MINIMISE at log-parameters th[d]: f and df/dth; returns 0 when
 * finite, nonzero when the point is outside the numerically usable domain. */
typedef int (*crm__clv_obj)(void *ctx, const double *th, double *f, double *g);

typedef struct crm__clv_opt {
    double th[CRM__CLV_MAXP];
    double f, g[CRM__CLV_MAXP];
    double gmax;
    uint32_t iter, evals;
    double H[CRM__CLV_MAXP][CRM__CLV_MAXP]; /* final inverse-Hessian estimate */
    int converged;  /* 1 converged, 0 not */
    const char *why; /* reason when not converged */
} crm__clv_opt;

/* Quasi-Newton (BFGS) from th0 in d <= 4 dimensions; H0 is a starting
 * inverse-Hessian estimate (e.g. from a subsample fit) or NULL. */
void crm__clv_bfgs(crm__clv_obj fn, void *ctx, int d, const double *th0,
                   const double (*H0)[CRM__CLV_MAXP], uint32_t max_iter, double gtol,
                   crm__clv_opt *res);
/* Standard errors of exp(th) from the Hessian of f (finite differences of the
 * analytic gradient at th); +inf where not identified. Returns evaluations
 * used. */
uint32_t crm__clv_stderr(crm__clv_obj fn, void *ctx, int d, const double *th, double scale,
                         double *se);

/* ---- validated, de-duplicated purchase data (prep.c) --------------------- */

/* Distinct values of one column and each row's index into them. */
typedef struct crm__clv_uniq {
    double *v;       /* distinct values */
    size_t nv;
    uint32_t *idx;   /* per row */
} crm__clv_uniq;

/* Distinct (x, tau) pairs and each row's index into them. */
typedef struct crm__clv_pairs {
    uint32_t *idx;   /* per row */
    double *x, *tau; /* distinct pairs */
    size_t np;
    double *val;     /* evaluator scratch, 5 per pair */
} crm__clv_pairs;

typedef struct crm__clv_data {
    size_t n;
    const double *x, *tx, *T;  /* borrowed rows */
    crm__clv_uniq ux, ut, uT;
    crm__clv_pairs pt, pT;     /* (x, t_x) and (x, T): Pareto/NBD only */
    const double *w; /* borrowed row weights (customers per row), or NULL = 1 */
    double wsum;     /* customers: sum of the weights */
    double *cnt;     /* customers per distinct x */
    double *scratch; /* evaluator work space, 4 * (ut.nv + uT.nv) doubles */
    double *scr2;    /* a second block, 4 * ux.nv */
    double mean_x, mean_T;
} crm__clv_data;

/* Check rows ("x[i] = ..." messages) for purchase models. */
crm_status crm__clv_check_rows(const double *x, const double *tx, const double *T, size_t n,
                               const char *fn);
crm_status crm__clv_check_x(const double *x, size_t n, const char *fn);
crm_status crm__clv_data_init(crm__clv_data *d, const double *x, const double *tx,
                              const double *T, const double *w, size_t n, int pairs);
void crm__clv_data_free(crm__clv_data *d);

/* ---- direct-mapped cache of per-(x, t) values (prep.c) ------------------- */

/* Real data have far fewer distinct (x, T) or (x, t_x) than rows: a
 * prediction's expensive part is computed once per distinct pair. A slot
 * holds one key; a collision evicts. An empty cache (mask 0, no arrays) is
 * valid and never hits. */
typedef struct crm__clv_cache {
    double *kx, *kt, *val;
    size_t mask;
} crm__clv_cache;

crm_status crm__clv_cache_init(crm__clv_cache *c, size_t n);
void crm__clv_cache_free(crm__clv_cache *c);
static inline size_t crm__clv_cache_slot(const crm__clv_cache *c, double x, double t)
{
    uint64_t a, b;
    double t0 = t + 0.0;
    memcpy(&a, &x, 8);
    memcpy(&b, &t0, 8);
    return (size_t)crm__mix64(a * UINT64_C(0x9E3779B97F4A7C15) ^ b) & c->mask;
}

/* ---- fitting (model.c) ---------------------------------------------------- */

/* crm_clv_fit on rows with optional weights (customers per row); out, x,
 * t_x, T already checked non-NULL. */
crm_status crm__clv_fit_rows(crm_clv_model **out, int kind, const double *x, const double *t_x,
                             const double *T, const double *w, size_t n,
                             const crm_clv_fit_options *opt, const char *fn);

/* ---- models -------------------------------------------------------------- */

/* Log-likelihood sum and gradient wrt natural parameters (g may be NULL);
 * return 0 when finite. */
int crm__clv_bg_ll(const crm__clv_data *d, const double *p, double *ll, double *g);
int crm__clv_pnbd_ll(const crm__clv_data *d, const double *p, double *ll, double *g);

/* Per-customer pieces: P(alive), and the expected purchases in (T, T + t]
 * of a customer alive at T with x repeats (so E[Y(t)] = P(alive) * cond). */
double crm__clv_bg_palive(const double *p, double x, double tx, double T);
double crm__clv_bg_cond(const double *p, double x, double T, double t);
double crm__clv_bg_pmf(const double *p, double t, double k);
double crm__clv_pnbd_palive(const double *p, double x, double tx, double T,
                            crm__clv_cache *hc);
double crm__clv_pnbd_cond(const double *p, double x, double T, double t);
double crm__clv_pnbd_pmf(const double *p, double t, double k);
double crm__clv_pnbd_new(const double *p, double t);

/* Gamma-Gamma: data are (x, m) rows with x > 0. */
typedef struct crm__clv_ggdata {
    size_t n;           /* rows with x > 0 */
    double *m;          /* m_x */
    uint32_t *ix;       /* index into xv */
    double *xv, *cnt;   /* distinct x, rows per x */
    size_t nx;
    double sum_lm, sum_xlm; /* sum ln m, sum x ln m over rows (x ln x added per x) */
    double *scratch;    /* 3 * nx */
} crm__clv_ggdata;
crm_status crm__clv_gg_init(crm__clv_ggdata *d, const double *x, const double *m, size_t n,
                            const char *fn);
void crm__clv_gg_free(crm__clv_ggdata *d);
int crm__clv_gg_ll(const crm__clv_ggdata *d, const double *p, double *ll, double *g);

#endif
