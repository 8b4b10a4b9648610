/*
 * crm-demo: what a loyalty program or POS back office does with libcrm each
 * night: load the day's order export, build customer profiles, print the
 * report. Usage: crm-demo [orders.csv] [--asof YYYY-MM-DD]
 * Without a file it reads the bundled synthetic sample.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_orders.h"
#include "demo_sections.h"

#ifndef CRM_DEMO_SAMPLE
#define CRM_DEMO_SAMPLE "examples/data/sample_orders.csv"
#endif

static int usage(void)
{
    fputs("usage: crm-demo [orders.csv] [--asof YYYY-MM-DD]\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = CRM_DEMO_SAMPLE;
    long long asof = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--asof")) {
            if (i + 1 >= argc || (asof = csv_parse_day(argv[++i])) < 0)
                return usage();
        } else if (argv[i][0] == '-') {
            return usage();
        } else {
            path = argv[i];
        }
    }
    char err[512];
    size_t n;
    crm_order *orders = csv_read_orders(path, &n, err, sizeof err);
    if (!orders) {
        fprintf(stderr, "crm-demo: %s\n", err);
        return 2;
    }
    if (asof < 0) { /* default: the day of the last order */
        asof = 0;
        for (size_t i = 0; i < n; i++)
            if (orders[i].ts >= 0 && orders[i].ts / 86400 > asof)
                asof = orders[i].ts / 86400;
    }
    crm_profiles *profiles = NULL;
    if (crm_profiles_build(&profiles, orders, n, asof, NULL) != CRM_OK) {
        fprintf(stderr, "crm-demo: %s\n", crm_last_error());
        free(orders);
        return 2;
    }
    printf("libcrm %s demo: %zu order rows from %s, as of day %lld\n\n", crm_version_string(), n,
           path, asof);
    demo_input in = { orders, n, asof, profiles };
    int rc = demo_population(&in);
    /* Later sections, one line under each module's marker:
     * rc |= demo_MODULE(&in); */
    /* rfm: */
    rc |= demo_rfm(&in);
    /* segment: */
    rc |= demo_segment(&in);
    /* lifecycle: */
    rc |= demo_lifecycle(&in);
    /* clv: */
    rc |= demo_clv(&in);
    /* fcap: */
    rc |= demo_fcap(&in);
    /* attribution: */
    rc |= demo_attribution(&in);
    crm_profiles_free(profiles);
    free(orders);
    return rc;
}
