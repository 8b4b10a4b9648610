/* crm-demo report sections, one function per module. Each prints its part
 * of the report for the loaded orders and returns 0, or prints the error
 * and returns 1. */
#ifndef CRM_EXAMPLES_DEMO_SECTIONS_H
#define CRM_EXAMPLES_DEMO_SECTIONS_H

#include "crm/crm.h"

typedef struct demo_input {
    const crm_order *orders;
    size_t n;
    int64_t asof;                 /* snapshot day */
    const crm_profiles *profiles; /* built once by main */
} demo_input;

int demo_population(const demo_input *in);
/* rfm: */
int demo_rfm(const demo_input *in);
/* segment: */
int demo_segment(const demo_input *in);
/* lifecycle: */
int demo_lifecycle(const demo_input *in);
/* clv: */
int demo_clv(const demo_input *in);
/* fcap: */
int demo_fcap(const demo_input *in);
/* attribution: */
int demo_attribution(const demo_input *in);

#endif
