/*
 * Internal layout of a profile table, shared by lib/profiles.c and the
 * modules that build tables by other means (lib/partial: loading a
 * serialised partial). Not installed, not part of the ABI.
 */
#ifndef CRM_PROFILES_IMPL_H
#define CRM_PROFILES_IMPL_H

#include "core/core.h"
#include "crm/profiles.h"

struct crm_profiles {
    int64_t asof;
    size_t n;
    uint64_t *customer_id;
    int32_t *first_day, *last_day, *recency_days, *tenure_days;
    int32_t *prev_day, *second_day;
    uint32_t *frequency, *purchase_days, *last_day_orders;
    int64_t *monetary;
    double *gap_avg;
    /* population totals */
    uint64_t orders, repeaters;
    int64_t revenue, lifetime_sum;
    /* mergeable tables only */
    int mergeable;
    size_t *day_off;   /* n + 1 offsets into days */
    int32_t *days;     /* distinct purchase days per customer, ascending */
    size_t n_refund_only;
    uint64_t *ro_id;   /* refund-only customers, ascending id */
    int64_t *ro_money;
};

/* A table with every column allocated for n rows (values undefined). */
crm_status crm__profiles_table_new(crm_profiles **out, size_t n, int64_t asof);
/* Allocate the merge data of p (day lists of `days` days, `refund_only`
 * refund-only customers) and mark p mergeable; day_off[0] = 0. On failure
 * the caller frees p with crm_profiles_free. */
crm_status crm__profiles_merge_data_new(crm_profiles *p, size_t days, size_t refund_only);
/* Derived columns (recency, tenure, gap_avg) and population totals from the
 * stored columns; CRM_EOVERFLOW when total revenue overflows. */
crm_status crm__profiles_table_finish(crm_profiles *p);

#endif /* CRM_PROFILES_IMPL_H */
