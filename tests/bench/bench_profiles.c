/*
 * Profile build benchmark: in-memory synthetic orders (tests/gen), one
 * profile table per run. Reports the best of `reps` runs in ns per order, and
 * the peak memory the FIRST build adds beyond the input (fresh pages, as a
 * nightly job sees it), per customer.
 * usage: bench_profiles ORDERS CUSTOMERS [shuffle] [mergeable]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "gen.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fputs("usage: bench_profiles ORDERS CUSTOMERS [shuffle] [mergeable]\n", stderr);
        return 2;
    }
    gen_params p = gen_defaults();
    p.orders = (size_t)atof(argv[1]);
    p.customers = (size_t)atof(argv[2]);
    p.seed = 42;
    int mergeable = 0;
    for (int i = 3; i < argc; i++) {
        p.shuffle |= !strcmp(argv[i], "shuffle");
        mergeable |= !strcmp(argv[i], "mergeable");
    }
    size_t n;
    crm_order *o = gen_orders(&p, &n);
    if (!o) {
        fputs("out of memory\n", stderr);
        return 1;
    }
    crm_profiles_options opt;
    crm_profiles_options_init(&opt, CRM_PROFILES_OPTIONS_VERSION);
    opt.mergeable = (uint32_t)mergeable;
    double best = 1e30;
    long peak = -1;
    size_t customers = 0;
    for (int rep = 0; rep < 3; rep++) {
        if (rep == 0)
            bench_peak_reset();
        double t0 = bench_now();
        crm_profiles *prof;
        if (crm_profiles_build(&prof, o, n, p.end_day, &opt) != CRM_OK) {
            fprintf(stderr, "build failed: %s\n", crm_last_error());
            return 1;
        }
        double dt = bench_now() - t0;
        if (rep == 0)
            peak = bench_peak_added();
        customers = crm_profiles_count(prof);
        crm_profiles_free(prof);
        if (dt < best)
            best = dt;
    }
    char name[128];
    snprintf(name, sizeof name, "profiles n=%zu customers=%zu order=%s%s", n, customers,
             p.shuffle ? "shuffled" : "chronological", mergeable ? " mergeable" : "");
    bench_report(name, "order", best, n, peak, customers, "customer");
    free(o);
    return 0;
}
