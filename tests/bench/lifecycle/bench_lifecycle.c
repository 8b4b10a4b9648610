/*
 * Lifecycle benchmark on in-memory synthetic orders (tests/gen), single
 * threaded. Reports, best of 3 runs, in ns per order:
 *   - "orders -> stages": crm_profiles_build + crm_lifecycle_build (the issue's
 *     <= 40 ns/order target at 1e7 orders / 1e6 customers),
 *   - the stage step alone (crm_lifecycle_build on a built profile table),
 *   - cohort retention (crm_lifecycle_cohorts_build),
 * and the peak memory the first run of each adds beyond the input. The
 * machine is shared, so each line is followed by the thread CPU time of the
 * same (best) run: wall time includes waiting for a CPU, CPU time does not.
 * usage: bench_lifecycle ORDERS CUSTOMERS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "benchutil.h"
#include "crm/crm.h"
#include "gen.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void cpu_line(const char *what, double cpu, size_t n)
{
    printf("  (%s: thread CPU %.1f ns/order, %.3f s)\n", what, 1e9 * cpu / (double)n, cpu);
}

static int fail(const char *what)
{
    fprintf(stderr, "%s failed: %s\n", what, crm_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fputs("usage: bench_lifecycle ORDERS CUSTOMERS\n", stderr);
        return 2;
    }
    gen_params p = gen_defaults();
    p.orders = (size_t)atof(argv[1]);
    p.customers = (size_t)atof(argv[2]);
    p.seed = 42;
    size_t n;
    crm_order *o = gen_orders(&p, &n);
    if (!o) {
        fputs("out of memory\n", stderr);
        return 1;
    }
    double best_all = 1e30, best_stage = 1e30, best_cohort = 1e30;
    double cpu_all = 0, cpu_stage = 0, cpu_cohort = 0;
    long peak_all = -1, peak_cohort = -1;
    size_t customers = 0, cohorts = 0;
    for (int rep = 0; rep < 3; rep++) {
        if (rep == 0)
            bench_peak_reset();
        double c0 = cpu_now(), t0 = bench_now();
        crm_profiles *prof;
        crm_lifecycle *t;
        if (crm_profiles_build(&prof, o, n, p.end_day, NULL) != CRM_OK)
            return fail("crm_profiles_build");
        double t1 = bench_now(), c1 = cpu_now();
        if (crm_lifecycle_build(&t, prof, NULL, 0, NULL, NULL) != CRM_OK)
            return fail("crm_lifecycle_build");
        double t2 = bench_now(), c2 = cpu_now();
        if (rep == 0)
            peak_all = bench_peak_added();
        customers = crm_lifecycle_count(t);
        crm_lifecycle_free(t);
        crm_profiles_free(prof);
        if (t2 - t0 < best_all) {
            best_all = t2 - t0;
            cpu_all = c2 - c0;
        }
        if (t2 - t1 < best_stage) {
            best_stage = t2 - t1;
            cpu_stage = c2 - c1;
        }

        if (rep == 0)
            bench_peak_reset();
        c0 = cpu_now();
        t0 = bench_now();
        crm_lifecycle_cohorts *c;
        if (crm_lifecycle_cohorts_build(&c, o, n, p.end_day) != CRM_OK)
            return fail("crm_lifecycle_cohorts_build");
        t1 = bench_now();
        c1 = cpu_now();
        if (rep == 0)
            peak_cohort = bench_peak_added();
        cohorts = crm_lifecycle_cohorts_rows(c);
        crm_lifecycle_cohorts_free(c);
        if (t1 - t0 < best_cohort) {
            best_cohort = t1 - t0;
            cpu_cohort = c1 - c0;
        }
    }
    char name[160];
    snprintf(name, sizeof name, "lifecycle orders -> stages n=%zu customers=%zu", n, customers);
    bench_report(name, "order", best_all, n, peak_all, customers, "customer");
    cpu_line("orders -> stages", cpu_all, n);
    snprintf(name, sizeof name, "lifecycle stage step only n=%zu customers=%zu", n, customers);
    bench_report(name, "order", best_stage, n, -1, customers, "customer");
    cpu_line("stage step", cpu_stage, n);
    snprintf(name, sizeof name, "lifecycle cohort retention n=%zu cohorts=%zu", n, cohorts);
    bench_report(name, "order", best_cohort, n, peak_cohort, customers, "customer");
    cpu_line("cohort retention", cpu_cohort, n);
    free(o);
    return 0;
}
