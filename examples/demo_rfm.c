/* crm-demo RFM section: scores with the default rule and map (ntile, rf10),
 * the segment table with shares and revenue, the thresholds used, and the
 * lint of the map in use. */
#include <stdio.h>
#include <stdlib.h>

#include "demo_sections.h"

static const char *const dim_name[3] = { "R (on -recency_days)", "F (orders)", "M (minor units)" };

int demo_rfm(const demo_input *in)
{
    crm_rfm_result *res = NULL;
    if (crm_rfm_score(&res, in->profiles, NULL) != CRM_OK) {
        fprintf(stderr, "crm-demo: %s\n", crm_last_error());
        return 1;
    }
    size_t labels = crm_rfm_segment_count(res);
    printf("\nRFM segments (ntile, 5 bins, map rf10), %zu customers\n", crm_rfm_count(res));
    printf("  %-20s %9s %7s %9s %16s %8s %8s %12s\n", "segment", "customers", "share", "orders",
           "revenue", "avg R", "avg F", "avg M");
    for (size_t l = 0; l < labels; l++) {
        crm_rfm_segment_stats s = { .version = CRM_RFM_SEGMENT_STATS_VERSION };
        if (crm_rfm_segment_summary(res, l, &s) != CRM_OK) {
            fprintf(stderr, "crm-demo: %s\n", crm_last_error());
            crm_rfm_free(res);
            return 1;
        }
        if (s.customers)
            printf("  %-20s %9llu %6.1f%% %9llu %16.2f %8.1f %8.2f %12.2f\n",
                   crm_rfm_segment_name(res, l), (unsigned long long)s.customers,
                   100.0 * s.share, (unsigned long long)s.orders, (double)s.revenue / 100.0,
                   s.mean_recency, s.mean_frequency, s.mean_monetary / 100.0);
        else
            printf("  %-20s %9d %6.1f%% %9d %16.2f %8s %8s %12s\n",
                   crm_rfm_segment_name(res, l), 0, 0.0, 0, 0.0, "n/a", "n/a", "n/a");
    }
    printf("  thresholds (score = 1 + #{cuts <= value}):\n");
    for (int d = 0; d < 3; d++) {
        size_t n;
        const int64_t *c = crm_rfm_cuts(res, d, &n);
        printf("    %-22s", dim_name[d]);
        for (size_t j = 0; j < n; j++)
            printf(" %lld", (long long)c[j]);
        printf("\n");
    }
    const crm_rfm_map *map = crm_rfm_result_map(res);
    uint8_t status[CRM_RFM_BOXES_MAX + 1];
    size_t others = 0;
    if (crm_rfm_map_lint(map, status, &others) != CRM_OK) {
        fprintf(stderr, "crm-demo: %s\n", crm_last_error());
        crm_rfm_free(res);
        return 1;
    }
    size_t bad = 0;
    printf("  map lint:");
    for (size_t l = 0; l < crm_rfm_map_labels(map); l++) {
        if (status[l] == CRM_RFM_LINT_OK)
            continue;
        printf(" %s %s;", crm_rfm_map_label(map, l),
               status[l] == CRM_RFM_LINT_UNREACHABLE ? "unreachable" : "partly shadowed");
        bad++;
    }
    printf(" %zu segment(s) flagged, %zu of %u cells fall to Others\n", bad, others,
           crm_rfm_map_bins(map) * crm_rfm_map_bins(map) * crm_rfm_map_bins(map));
    crm_rfm_free(res);
    return 0;
}
