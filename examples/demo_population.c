#include <stdio.h>

#include "demo_sections.h"

static void money(const char *label, double minor, int valid)
{
    if (valid)
        printf("  %-22s %14.2f\n", label, minor / 100.0);
    else
        printf("  %-22s %14s\n", label, "n/a");
}

int demo_population(const demo_input *in)
{
    crm_population_summary s = { .version = CRM_POPULATION_SUMMARY_VERSION };
    if (crm_profiles_summary(in->profiles, &s) != CRM_OK) {
        fprintf(stderr, "crm-demo: %s\n", crm_last_error());
        return 1;
    }
    printf("Population summary\n");
    printf("  %-22s %14llu\n", "customers", (unsigned long long)s.customers);
    printf("  %-22s %14llu\n", "orders", (unsigned long long)s.orders);
    printf("  %-22s %14llu\n", "repeaters", (unsigned long long)s.repeaters);
    money("revenue (net)", (double)s.revenue, 1);
    money("ARPU", s.arpu, s.valid & CRM_SUMMARY_HAS_ARPU);
    money("average check", s.average_check, s.valid & CRM_SUMMARY_HAS_AVERAGE_CHECK);
    if (s.valid & CRM_SUMMARY_HAS_MEAN_FREQUENCY)
        printf("  %-22s %14.3f\n", "mean frequency", s.mean_frequency);
    else
        printf("  %-22s %14s\n", "mean frequency", "n/a");
    if (s.valid & CRM_SUMMARY_HAS_MEAN_LIFETIME)
        printf("  %-22s %14.1f\n", "mean lifetime (days)", s.mean_lifetime);
    else
        printf("  %-22s %14s\n", "mean lifetime (days)", "n/a");
    return 0;
}
