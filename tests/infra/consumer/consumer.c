/*
 * A tiny program that uses libcrm the way an outside project does: only the
 * installed header <crm/crm.h> and the library. Built by check-consumer.sh
 * twice: vendored as a meson subproject, and against an installed copy found
 * with pkg-config. Exit 0 when the library works.
 */
#include <crm/crm.h>

#include <stdio.h>

int main(void)
{
    /* Two customers, three orders, as of day 20000 (2024-10-04). */
    const crm_order orders[] = {
        {42, INT64_C(20000) * 86400 - 3600, 1250},
        {7, INT64_C(19990) * 86400, 990},
        {42, INT64_C(19995) * 86400, 300},
    };
    crm_profiles *p = NULL;
    crm_status s = crm_profiles_build(&p, orders, sizeof orders / sizeof orders[0], 20000, NULL);
    if (s != CRM_OK) {
        fprintf(stderr, "crm_profiles_build: %s: %s\n", crm_status_str(s), crm_last_error());
        return 1;
    }
    size_t n = crm_profiles_count(p);
    const uint64_t *id = crm_profiles_customer_id(p);
    const uint32_t *freq = crm_profiles_frequency(p);
    int ok = n == 2 && id[0] == 7 && id[1] == 42 && freq[0] == 1 && freq[1] == 2;
    printf("libcrm %s: %zu customers (%s)\n", crm_version_string(), n, ok ? "ok" : "WRONG");
    crm_profiles_free(p);
    return ok && crm_version_number() / 10000 == CRM_VERSION_MAJOR ? 0 : 1;
}
