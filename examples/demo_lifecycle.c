/* crm-demo lifecycle section: the Monday funnel (customers and revenue per
 * stage with the scenario each stage runs), second-purchase conversion and a
 * cohort retention table by first-order month. */
#include <math.h>
#include <stdio.h>

#include "demo_sections.h"

#define COHORT_MONTHS 13 /* k = 0..12 shown */

static int fail(crm_lifecycle *t, crm_lifecycle_cohorts *c)
{
    fprintf(stderr, "crm-demo: %s\n", crm_last_error());
    crm_lifecycle_free(t);
    crm_lifecycle_cohorts_free(c);
    return 1;
}

static void print_funnel(const crm_lifecycle_funnel *f)
{
    uint64_t customers = 0;
    for (int s = 0; s < CRM_LIFECYCLE_STAGES; s++)
        customers += f->customers[s];
    printf("Lifecycle funnel\n");
    printf("  %-12s %-30s %9s %7s %14s\n", "stage", "scenario", "customers", "share", "revenue");
    for (int s = 0; s < CRM_LIFECYCLE_STAGES; s++)
        printf("  %-12s %-30s %9llu %6.1f%% %14.2f\n", crm_lifecycle_stage_name(s),
               crm_lifecycle_scenario_name(s), (unsigned long long)f->customers[s],
               customers ? 100.0 * (double)f->customers[s] / (double)customers : 0.0,
               (double)f->revenue[s] / 100.0);
    if (f->valid & CRM_FUNNEL_HAS_CONVERSION)
        printf("  second-purchase conversion: %.1f%% (%llu of %llu first buyers old enough)\n",
               100.0 * f->second_purchase_conversion, (unsigned long long)f->conversion_hits,
               (unsigned long long)f->conversion_base);
    else
        printf("  second-purchase conversion: n/a (no first buyer is old enough)\n");
}

static void print_cohorts(const crm_lifecycle_cohorts *c)
{
    size_t rows = crm_lifecycle_cohorts_rows(c), cols = crm_lifecycle_cohorts_columns(c);
    size_t shown = cols < COHORT_MONTHS ? cols : COHORT_MONTHS;
    const int32_t *month = crm_lifecycle_cohorts_month(c);
    const uint64_t *size = crm_lifecycle_cohorts_size(c);
    const double *share = crm_lifecycle_cohorts_share(c);
    printf("\nCohort retention (%% of the cohort buying in month k after the first)\n");
    printf("  %-7s %6s", "cohort", "size");
    for (size_t k = 0; k < shown; k++)
        printf(" %4s%-2zu", "k", k);
    printf("\n");
    for (size_t r = 0; r < rows; r++) {
        printf("  %04d-%02d %6llu", 1970 + month[r] / 12, month[r] % 12 + 1,
               (unsigned long long)size[r]);
        for (size_t k = 0; k < shown; k++) {
            double v = share[r * cols + k];
            if (isnan(v))
                printf(" %6s", "");
            else
                printf(" %5.1f%%", 100.0 * v);
        }
        printf("\n");
    }
}

int demo_lifecycle(const demo_input *in)
{
    crm_lifecycle *t = NULL;
    crm_lifecycle_cohorts *c = NULL;
    crm_lifecycle_funnel f = { .version = CRM_LIFECYCLE_FUNNEL_VERSION };
    if (crm_lifecycle_build(&t, in->profiles, NULL, 0, NULL, NULL) != CRM_OK ||
        crm_lifecycle_get_funnel(t, &f) != CRM_OK ||
        crm_lifecycle_cohorts_build(&c, in->orders, in->n, in->asof) != CRM_OK)
        return fail(t, c);
    printf("\n");
    print_funnel(&f);
    print_cohorts(c);
    crm_lifecycle_free(t);
    crm_lifecycle_cohorts_free(c);
    return 0;
}
