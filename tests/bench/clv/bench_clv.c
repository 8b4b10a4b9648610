/*
 * clv benchmark, single thread: synthetic orders (tests/gen) -> summary in
 * weeks -> BG/NBD, Pareto/NBD and Gamma-Gamma fits -> P(alive) + E[Y(52)]
 * for every customer -> CLV (52 weekly periods). Best of `reps` runs per
 * step (fits: 1 run each at 1e6 customers); peak memory added by the first
 * run of each step.
 * usage: bench_clv ORDERS CUSTOMERS
 *        bench_clv sim CUSTOMERS   (the heavy buyers simulated from
 *        BG/NBD r=2, alpha=0.5, a=0.5, b=20, T ~ U(52, 104) weeks, continuous
 *        times: every T distinct; BG/NBD and Pareto/NBD fits)
 */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
#include "crm/crm.h"
#include "gen.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what)
{
    fprintf(stderr, "%s failed: %s\n", what, crm_last_error());
    return 1;
}

/* Gamma(shape, rate) from the generator's Gamma(shape, 1). */
static double rgamma(gen_rng *r, double shape, double rate)
{
    return gen_rng_gamma(r, shape) / rate;
}

static int bench_sim(size_t n)
{
    gen_rng g;
    gen_rng_seed(&g, 2024);
    double *x = malloc(n * sizeof *x), *tx = malloc(n * sizeof *tx), *T = malloc(n * sizeof *T);
    if (!x || !tx || !T)
        return fail("malloc");
    for (size_t i = 0; i < n; i++) {
        double lam = rgamma(&g, 2.0, 0.5), u = rgamma(&g, 0.5, 1.0), v = rgamma(&g, 20.0, 1.0);
        double p = u / (u + v), TT = 52.0 + 52.0 * gen_rng_unit(&g), t = 0.0, k = 0.0, last = 0.0;
        for (;;) {
            t += -log(gen_rng_unit(&g)) / lam;
            if (t > TT)
                break;
            k += 1.0;
            last = t;
            if (gen_rng_unit(&g) < p)
                break;
        }
        x[i] = k;
        tx[i] = last;
        T[i] = TT;
    }
    crm_clv_fit_options fo;
    crm_clv_fit_options_init(&fo, CRM_CLV_FIT_OPTIONS_VERSION);
    fo.unit = CRM_CLV_UNIT_WEEK;
    for (int k = CRM_CLV_BGNBD; k <= CRM_CLV_PARETO_NBD; k++) {
        crm_clv_model *m = NULL;
        bench_peak_reset();
        double t0 = bench_now(), c0 = cpu_now();
        crm_status st = crm_clv_fit(&m, k, x, tx, T, n, &fo);
        double dt = bench_now() - t0, cpu = cpu_now() - c0;
        long peak = bench_peak_added();
        if (st)
            return fail("fit");
        crm_clv_fit_info fi = { .version = CRM_CLV_FIT_INFO_VERSION };
        crm_clv_model_info(m, &fi);
        char name[200];
        snprintf(name, sizeof name, "clv heavy buyers (continuous) %s fit n=%zu (cpu %.3f s; "
                 "%.4g %.4g %.4g %.4g, %u evals)", k == CRM_CLV_BGNBD ? "BG/NBD" : "Pareto/NBD",
                 n, cpu, fi.params[0], fi.params[1], fi.params[2], fi.params[3], fi.evaluations);
        bench_report(name, "customer", dt, n, peak, n, "customer");
        crm_clv_model_free(m);
    }
    free(x);
    free(tx);
    free(T);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "sim"))
        return bench_sim((size_t)atof(argv[2]));
    if (argc < 3) {
        fputs("usage: bench_clv ORDERS CUSTOMERS\n", stderr);
        return 2;
    }
    gen_params p = gen_defaults();
    p.orders = (size_t)atof(argv[1]);
    p.customers = (size_t)atof(argv[2]);
    p.seed = 7;
    size_t n;
    crm_order *o = gen_orders(&p, &n);
    if (!o)
        return fail("gen");
    crm_clv_summary_options so;
    crm_clv_summary_options_init(&so, CRM_CLV_SUMMARY_OPTIONS_VERSION);
    so.unit = CRM_CLV_UNIT_WEEK;
    crm_clv_summary *s = NULL;
    double best = 1e30;
    long peak = -1;
    for (int rep = 0; rep < 3; rep++) {
        if (rep == 0)
            bench_peak_reset();
        double t0 = bench_now();
        crm_clv_summary_free(s);
        s = NULL;
        if (crm_clv_summary_build(&s, o, n, p.end_day, &so))
            return fail("summary");
        double dt = bench_now() - t0;
        if (rep == 0)
            peak = bench_peak_added();
        if (dt < best)
            best = dt;
    }
    size_t nc = crm_clv_summary_count(s);
    char name[160];
    snprintf(name, sizeof name, "clv summary n=%zu orders", n);
    bench_report(name, "order", best, n, peak, nc, "customer");
    const double *x = crm_clv_summary_x(s), *tx = crm_clv_summary_t_x(s),
                 *T = crm_clv_summary_tenure(s), *mx = crm_clv_summary_m_x(s);

    crm_clv_fit_options fo;
    crm_clv_fit_options_init(&fo, CRM_CLV_FIT_OPTIONS_VERSION);
    fo.unit = CRM_CLV_UNIT_WEEK;
    crm_clv_model *m[3] = { NULL, NULL, NULL };
    const char *names[3] = { "BG/NBD fit", "Pareto/NBD fit", "Gamma-Gamma fit" };
    for (int k = 0; k < 3; k++) {
        bench_peak_reset();
        double t0 = bench_now(), c0 = cpu_now();
        crm_status st = k < 2 ? crm_clv_fit(&m[k], k + 1, x, tx, T, nc, &fo)
                              : crm_clv_fit_spend(&m[k], x, mx, nc, &fo);
        double dt = bench_now() - t0, cpu = cpu_now() - c0;
        peak = bench_peak_added();
        if (st)
            return fail(names[k]);
        crm_clv_fit_info fi = { .version = CRM_CLV_FIT_INFO_VERSION };
        crm_clv_model_info(m[k], &fi);
        snprintf(name, sizeof name, "clv %s n=%zu (cpu %.3f s; %.4g %.4g %.4g %.4g, LL %.1f, %u it, %u evals, %u/%u starts)",
                 names[k], nc, cpu, fi.params[0], fi.params[1], fi.params[2], fi.params[3], fi.loglik,
                 fi.iterations, fi.evaluations, fi.starts_converged, fi.starts);
        bench_report(name, "customer", dt, nc, peak, nc, "customer");
    }
    double *out = malloc(nc * sizeof *out), *out2 = malloc(nc * sizeof *out2);
    if (!out || !out2)
        return fail("malloc");
    for (int k = 0; k < 2; k++) {
        best = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            if (rep == 0)
                bench_peak_reset();
            double t0 = bench_now();
            if (crm_clv_p_alive(out, m[k], x, tx, T, nc)
                || crm_clv_expected_purchases(out2, m[k], 52, x, tx, T, nc))
                return fail("predict");
            double dt = bench_now() - t0;
            if (rep == 0)
                peak = bench_peak_added();
            if (dt < best)
                best = dt;
        }
        snprintf(name, sizeof name, "clv %s P(alive)+E[Y(52)] n=%zu", k ? "Pareto/NBD" : "BG/NBD", nc);
        bench_report(name, "customer", best, nc, peak, nc, "customer");
        best = 1e30;
        for (int rep = 0; rep < 2; rep++) {
            double t0 = bench_now();
            if (crm_clv_value(out, m[k], m[2], x, tx, T, mx, nc, 52, 1, 0.002))
                return fail("value");
            double dt = bench_now() - t0;
            if (dt < best)
                best = dt;
        }
        snprintf(name, sizeof name, "clv %s CLV 52 weekly periods n=%zu", k ? "Pareto/NBD" : "BG/NBD", nc);
        bench_report(name, "customer", best, nc, -1, nc, "customer");
    }
    free(out);
    free(out2);
    for (int k = 0; k < 3; k++)
        crm_clv_model_free(m[k]);
    crm_clv_summary_free(s);
    free(o);
    return 0;
}
