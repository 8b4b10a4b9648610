/*
 * RFM benchmark: from an in-memory order array (tests/gen) to a segment per
 * customer with the default map (rf10): crm_rfm_score_orders (the fast
 * path), and crm_profiles_build + crm_rfm_score for comparison.
 * Reports the best of 3 runs in ns per order (and the scoring step alone),
 * and the peak memory the first run adds beyond the input, per customer.
 * usage: bench_rfm ORDERS CUSTOMERS [shuffle] [qcut_rank|rfm_r]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../benchutil.h"
#include "gen.h"

#include "crm/rfm.h"

/* CPU seconds of this process: with other jobs on the machine, wall time
 * measures the contention; the library is single-threaded, so on an idle
 * machine both agree. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fputs("usage: bench_rfm ORDERS CUSTOMERS [shuffle] [qcut_rank|rfm_r]\n", stderr);
        return 2;
    }
    gen_params p = gen_defaults();
    p.orders = (size_t)atof(argv[1]);
    p.customers = (size_t)atof(argv[2]);
    p.seed = 42;
    crm_rfm_options opt;
    crm_rfm_options_init(&opt, CRM_RFM_OPTIONS_VERSION);
    const char *tie = "ntile";
    for (int i = 3; i < argc; i++) {
        p.shuffle |= !strcmp(argv[i], "shuffle");
        if (!strcmp(argv[i], "qcut_rank") || !strcmp(argv[i], "rfm_r")) {
            tie = argv[i];
            opt.tie = !strcmp(argv[i], "rfm_r") ? CRM_RFM_TIE_RFM_R : CRM_RFM_TIE_QCUT_RANK;
        }
    }
    size_t n;
    crm_order *o = gen_orders(&p, &n);
    if (!o) {
        fputs("out of memory\n", stderr);
        return 1;
    }
    /* first the fast path, straight from the orders (its peak is measured
     * on fresh pages) */
    size_t customers = 0;
    double best_fast = 1e30, best_fast_cpu = 1e30;
    long peak_fast = -1;
    for (int rep = 0; rep < 3; rep++) {
        if (rep == 0)
            bench_peak_reset();
        double c0 = cpu_now(), t0 = bench_now();
        crm_rfm_result *res;
        if (crm_rfm_score_orders(&res, o, n, p.end_day, &opt) != CRM_OK) {
            fprintf(stderr, "score failed: %s\n", crm_last_error());
            return 1;
        }
        double t1 = bench_now(), c1 = cpu_now();
        if (rep == 0)
            peak_fast = bench_peak_added();
        customers = crm_rfm_count(res);
        if (!crm_rfm_segment(res)) {
            fputs("no segment column\n", stderr);
            return 1;
        }
        crm_rfm_free(res);
        if (t1 - t0 < best_fast)
            best_fast = t1 - t0;
        if (c1 - c0 < best_fast_cpu)
            best_fast_cpu = c1 - c0;
    }
    double best = 1e30, best_score = 1e30, best_cpu = 1e30, best_cpu_score = 1e30;
    long peak = -1;
    for (int rep = 0; rep < 3; rep++) {
        if (rep == 0)
            bench_peak_reset();
        double c0 = cpu_now(), t0 = bench_now();
        crm_profiles *prof;
        crm_rfm_result *res;
        if (crm_profiles_build(&prof, o, n, p.end_day, NULL) != CRM_OK) {
            fprintf(stderr, "build failed: %s\n", crm_last_error());
            return 1;
        }
        double c1 = cpu_now(), t1 = bench_now();
        if (crm_rfm_score(&res, prof, &opt) != CRM_OK) {
            fprintf(stderr, "score failed: %s\n", crm_last_error());
            return 1;
        }
        double t2 = bench_now(), c2 = cpu_now();
        if (rep == 0)
            peak = bench_peak_added();
        if (crm_rfm_count(res) != customers || !crm_rfm_segment(res)) {
            fputs("the two paths disagree on the customers\n", stderr);
            return 1;
        }
        crm_rfm_free(res);
        crm_profiles_free(prof);
        if (t2 - t0 < best)
            best = t2 - t0;
        if (t2 - t1 < best_score)
            best_score = t2 - t1;
        if (c2 - c0 < best_cpu)
            best_cpu = c2 - c0;
        if (c2 - c1 < best_cpu_score)
            best_cpu_score = c2 - c1;
    }
    char name[160];
    snprintf(name, sizeof name, "rfm crm_rfm_score_orders n=%zu customers=%zu order=%s tie=%s",
             n, customers, p.shuffle ? "shuffled" : "chronological", tie);
    bench_report(name, "order", best_fast, n, peak_fast, customers, "customer");
    snprintf(name, sizeof name, "  crm_rfm_score_orders, CPU time");
    bench_report(name, "order", best_fast_cpu, n, -1, customers, "customer");
    snprintf(name, sizeof name, "rfm profiles+score n=%zu customers=%zu order=%s tie=%s", n,
             customers, p.shuffle ? "shuffled" : "chronological", tie);
    bench_report(name, "order", best, n, peak, customers, "customer");
    snprintf(name, sizeof name, "  scoring step only (wall)");
    bench_report(name, "order", best_score, n, -1, customers, "customer");
    snprintf(name, sizeof name, "  orders->segments, CPU time");
    bench_report(name, "order", best_cpu, n, -1, customers, "customer");
    snprintf(name, sizeof name, "  scoring step only, CPU time");
    bench_report(name, "order", best_cpu_score, n, -1, customers, "customer");
    free(o);
    return 0;
}
